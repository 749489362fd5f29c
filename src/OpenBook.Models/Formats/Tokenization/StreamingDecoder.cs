namespace OpenBook.Models.Formats.Tokenization;

/// <summary>
/// Incremental detokenizer for streaming generation. Each <see cref="Append"/> returns the new text the token adds
/// (possibly empty while a multi-byte character is incomplete). Works for every decoder chain, including those
/// that strip a leading space, by decoding a small window that starts one token before the new text.
/// </summary>
public sealed class StreamingDecoder(HfTokenizer tokenizer, bool skipSpecialTokens = true)
{
    private readonly List<int> _ids = [];
    private int _prefixOffset;
    private int _readOffset;

    /// <summary>All text emitted so far.</summary>
    public string Text => _text.ToString();
    private readonly System.Text.StringBuilder _text = new();

    /// <summary>Adds one token id; returns the text it completes.</summary>
    public string Append(int id)
    {
        _ids.Add(id);
        var prefix = tokenizer.Decode(_ids.GetRange(_prefixOffset, _readOffset - _prefixOffset), skipSpecialTokens);
        var full = tokenizer.Decode(_ids.GetRange(_prefixOffset, _ids.Count - _prefixOffset), skipSpecialTokens);
        if (full.Length <= prefix.Length || full.EndsWith('\uFFFD') || !full.StartsWith(prefix, StringComparison.Ordinal)) return "";
        var delta = full[prefix.Length..];
        _prefixOffset = _readOffset;
        _readOffset = _ids.Count;
        _text.Append(delta);
        return delta;
    }

    /// <summary>Emits whatever is still held back (e.g. an incomplete character at the end of generation).</summary>
    public string Flush()
    {
        if (_readOffset == _ids.Count) return "";
        var prefix = tokenizer.Decode(_ids.GetRange(_prefixOffset, _readOffset - _prefixOffset), skipSpecialTokens);
        var full = tokenizer.Decode(_ids.GetRange(_prefixOffset, _ids.Count - _prefixOffset), skipSpecialTokens);
        _prefixOffset = _readOffset = _ids.Count;
        var delta = full.Length > prefix.Length && full.StartsWith(prefix, StringComparison.Ordinal) ? full[prefix.Length..] : "";
        _text.Append(delta);
        return delta;
    }
}
