namespace OpenBook.Models.Generation;

/// <summary>Turns token ids into text (e.g. a tokenizer's Decode); must handle any prefix of a generation.</summary>
public delegate string TokenDecoder(IReadOnlyList<int> tokens);

/// <summary>
/// Incremental detokenization with stop strings. After each token the generated ids are decoded as a whole and
/// only the new, settled text is released: text ending in U+FFFD (an incomplete UTF-8 sequence of byte-level
/// BPE) and any suffix that could still grow into a stop string are held back. When a stop string appears,
/// the text is cut before it and the stream reports it stopped.
/// </summary>
public sealed class TextStream(TokenDecoder decoder, IReadOnlyList<string> stopStrings)
{
    private readonly List<int> _tokens = [];
    private string _text = "";
    private int _released;

    /// <summary>True once a stop string has been seen.</summary>
    public bool Stopped { get; private set; }

    /// <summary>All text released or releasable so far (cut before a stop string when one was seen).</summary>
    public string Text => _text;

    /// <summary>Adds a token; returns the newly released text (possibly empty).</summary>
    public string Push(int token)
    {
        if (Stopped) throw new InvalidOperationException("The stream already hit a stop string.");
        _tokens.Add(token);
        _text = decoder(_tokens);
        int stopAt = FirstStop(_text);
        if (stopAt >= 0)
        {
            Stopped = true;
            _text = _text[..stopAt];
            return Release(_text.Length);
        }
        return Release(SettledLength(_text));
    }

    /// <summary>Releases whatever is still held back (call when generation ends without a stop string).</summary>
    public string Flush() => Release(_text.Length);

    private string Release(int upTo)
    {
        if (upTo <= _released) return "";
        string delta = _text[_released..upTo];
        _released = upTo;
        return delta;
    }

    private int FirstStop(string text)
    {
        int best = -1;
        foreach (var s in stopStrings)
        {
            // Only the unreleased tail (plus the stop string's length) can hold a new occurrence.
            int from = Math.Max(0, _released - s.Length);
            int i = text.IndexOf(s, from, StringComparison.Ordinal);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }

    private int SettledLength(string text)
    {
        int end = text.Length;
        while (end > _released && text[end - 1] == '\uFFFD') end--;
        int hold = 0;
        foreach (var s in stopStrings)
            for (int k = Math.Min(s.Length - 1, end); k > hold; k--)
                if (string.CompareOrdinal(text, end - k, s, 0, k) == 0) { hold = k; break; }
        return Math.Max(_released, end - hold);
    }
}
