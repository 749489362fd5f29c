using System.Text.Json;

namespace OpenBook.Models.Formats.Tokenization;

/// <summary>An added (often special) token of tokenizer.json.</summary>
/// <param name="Id">Token id.</param>
/// <param name="Content">Literal text of the token.</param>
/// <param name="Special">Whether it is special (skipped by <c>Decode(skipSpecialTokens: true)</c>).</param>
/// <param name="LStrip">Whether whitespace on its left is absorbed.</param>
/// <param name="RStrip">Whether whitespace on its right is absorbed.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool LStrip = false, bool RStrip = false);

/// <summary>
/// A tokenizer loaded from Hugging Face <c>tokenizer.json</c> (+ optional <c>tokenizer_config.json</c>):
/// byte-level BPE (GPT-2, SmolLM2, Qwen2, Llama-3) and SentencePiece-style BPE with byte fallback (Llama-2,
/// TinyLlama, Mistral). Added/special tokens are split out first, then each piece is normalized, pre-tokenized and
/// merged; decoding runs the tokenizer's decoder chain. Exact re-implementation of the HF pipeline for the
/// component types these checkpoints use; other component types are rejected with a clear error.
/// </summary>
public sealed class HfTokenizer
{
    private readonly Normalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly Decoder? _decoder;
    private readonly List<int> _prefixIds = [];
    private readonly List<int> _suffixIds = [];
    private readonly Dictionary<int, AddedToken> _addedById = new();
    private readonly Dictionary<string, AddedToken> _addedByContent = new(StringComparer.Ordinal);
    private readonly Dictionary<char, AddedToken[]> _addedByFirstChar = new();

    private HfTokenizer(BpeModel model, Normalizer? normalizer, PreTokenizer? preTokenizer, Decoder? decoder)
    {
        Model = model;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _decoder = decoder;
    }

    /// <summary>The BPE model (vocabulary and merges).</summary>
    public BpeModel Model { get; }

    /// <summary>Added tokens (special or not), by id.</summary>
    public IReadOnlyCollection<AddedToken> AddedTokens => _addedById.Values;

    /// <summary>Number of ids (max id + 1 over the vocabulary and added tokens).</summary>
    public int VocabSize => Math.Max(Model.VocabSize, _addedById.Count == 0 ? 0 : _addedById.Keys.Max() + 1);

    /// <summary>Beginning-of-sequence token text (tokenizer_config.json <c>bos_token</c>), or null.</summary>
    public string? BosToken { get; private set; }
    /// <summary>End-of-sequence token text (tokenizer_config.json <c>eos_token</c>), or null.</summary>
    public string? EosToken { get; private set; }
    /// <summary>Padding token text, or null.</summary>
    public string? PadToken { get; private set; }
    /// <summary>Unknown token text, or null.</summary>
    public string? UnkToken { get; private set; }
    /// <summary>Id of <see cref="BosToken"/>, or null.</summary>
    public int? BosTokenId => BosToken is null ? null : TokenToId(BosToken);
    /// <summary>Id of <see cref="EosToken"/>, or null.</summary>
    public int? EosTokenId => EosToken is null ? null : TokenToId(EosToken);
    /// <summary>Id of <see cref="PadToken"/>, or null.</summary>
    public int? PadTokenId => PadToken is null ? null : TokenToId(PadToken);

    /// <summary>The default Jinja chat template (tokenizer_config.json <c>chat_template</c>), or null.</summary>
    public string? ChatTemplate { get; private set; }

    /// <summary>Named chat templates when tokenizer_config.json lists several (e.g. "default", "tool_use").</summary>
    public IReadOnlyDictionary<string, string> ChatTemplates { get; private set; } = new Dictionary<string, string>();

    /// <summary>Whether <see cref="Encode(string, bool)"/> with special tokens adds a BOS token.</summary>
    public bool AddsBos => BosTokenId is { } b && _prefixIds.Contains(b);

    /// <summary>Loads <c>tokenizer.json</c> and, when present, <c>tokenizer_config.json</c> from a model directory.</summary>
    public static HfTokenizer FromDirectory(string directory)
    {
        var tj = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(tj))
            throw new OpenBookException($"{tj}: file not found (a model directory needs tokenizer.json)");
        return FromFile(tj);
    }

    /// <summary>
    /// Loads a <c>tokenizer.json</c> file; a <c>tokenizer_config.json</c> next to it (special tokens, chat template)
    /// is read too when present.
    /// </summary>
    public static HfTokenizer FromFile(string tokenizerJsonPath)
    {
        if (!File.Exists(tokenizerJsonPath))
            throw new OpenBookException($"{tokenizerJsonPath}: file not found");
        var tc = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerJsonPath))!, "tokenizer_config.json");
        return FromJson(File.ReadAllText(tokenizerJsonPath), File.Exists(tc) ? File.ReadAllText(tc) : null, tokenizerJsonPath);
    }

    /// <summary>Builds a tokenizer from the text of tokenizer.json and (optionally) tokenizer_config.json.</summary>
    public static HfTokenizer FromJson(string tokenizerJson, string? tokenizerConfigJson = null, string source = "tokenizer.json")
    {
        // Errors in tokenizer_config.json name that file, not tokenizer.json.
        var configSource = source.EndsWith("tokenizer.json", StringComparison.Ordinal) ? source[..^"tokenizer.json".Length] + "tokenizer_config.json" : "tokenizer_config.json";
        JsonDocument? cfg = null;
        try
        {
            cfg = tokenizerConfigJson is null ? null : JsonDocument.Parse(tokenizerConfigJson);
        }
        catch (JsonException ex)
        {
            throw new OpenBookException($"{configSource}: invalid JSON at line {ex.LineNumber + 1}: {ex.Message}", ex);
        }
        using (cfg)
        {
            HfTokenizer tok;
            try
            {
                using var doc = JsonDocument.Parse(tokenizerJson);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new OpenBookException("tokenizer.json: expected a JSON object");
                tok = Build(doc.RootElement);
            }
            catch (JsonException ex)
            {
                throw new OpenBookException($"{source}: invalid JSON at line {ex.LineNumber + 1}: {ex.Message}", ex);
            }
            catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException or ArgumentException)
            {
                throw new OpenBookException($"{source}: a field is missing or has the wrong type ({ex.Message})", ex);
            }
            catch (OpenBookException ex) when (!ex.Message.StartsWith(source, StringComparison.Ordinal))
            {
                throw new OpenBookException($"{source}: {ex.Message.Replace("tokenizer.json: ", "")}", ex);
            }
            if (cfg is null) { tok.IndexAddedTokens(); return tok; }
            try
            {
                if (cfg.RootElement.ValueKind != JsonValueKind.Object) throw new OpenBookException("expected a JSON object");
                tok.ApplyConfig(cfg.RootElement);
            }
            catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException or ArgumentException)
            {
                throw new OpenBookException($"{configSource}: a field is missing or has the wrong type ({ex.Message})", ex);
            }
            catch (OpenBookException ex) when (!ex.Message.StartsWith(configSource, StringComparison.Ordinal))
            {
                throw new OpenBookException($"{configSource}: {ex.Message.Replace("tokenizer_config.json: ", "").Replace("tokenizer.json: ", "")}", ex);
            }
            tok.IndexAddedTokens();
            return tok;
        }
    }

    /// <summary>Largest token id accepted from a tokenizer file.</summary>
    public const int MaxTokenId = (1 << 24) - 1;

    /// <summary>A token id from a tokenizer file: an integer in [0, <see cref="MaxTokenId"/>].</summary>
    private static int Id(JsonElement e, string where) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var id) && id is >= 0 and <= MaxTokenId ? id
            : throw new OpenBookException($"tokenizer.json: {where} must be a token id (an integer from 0 to {MaxTokenId}), found {e.GetRawText()}");

    private static string Text(JsonElement e, string where) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new OpenBookException($"tokenizer.json: {where} must be a string, found {e.GetRawText()}");

    private static HfTokenizer Build(JsonElement root)
    {
        var m = root.GetProperty("model");
        var type = m.TryGetProperty("type", out var t) ? t.GetString() : "BPE";
        if (type != "BPE")
            throw new OpenBookException($"tokenizer.json: model.type \"{type}\" is not supported (only BPE)");
        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (m.TryGetProperty(affix, out var a) && a.ValueKind == JsonValueKind.String && a.GetString()!.Length > 0)
                throw new OpenBookException($"tokenizer.json: model.{affix} \"{a.GetString()}\" is not supported (byte-level and SentencePiece BPE use none)");
        var vocabJson = m.GetProperty("vocab");
        var vocab = new Dictionary<string, int>(vocabJson.GetPropertyCount(), StringComparer.Ordinal);
        foreach (var p in vocabJson.EnumerateObject()) vocab[p.Name] = Id(p.Value, $"model.vocab[\"{p.Name}\"]");
        var mergesJson = m.GetProperty("merges");
        var merges = new List<(string, string)>(mergesJson.GetArrayLength());
        var mi = 0;
        foreach (var me in mergesJson.EnumerateArray())
        {
            if (me.ValueKind == JsonValueKind.String)
            {
                var s = me.GetString()!;
                var sp = s.IndexOf(' ', 1);
                if (sp < 0) throw new OpenBookException($"tokenizer.json: model.merges[{mi}] \"{s}\" is not \"left right\"");
                merges.Add((s[..sp], s[(sp + 1)..]));
            }
            else if (me.ValueKind == JsonValueKind.Array && me.GetArrayLength() == 2)
                merges.Add((Text(me[0], $"model.merges[{mi}][0]"), Text(me[1], $"model.merges[{mi}][1]")));
            else throw new OpenBookException($"tokenizer.json: model.merges[{mi}] must be \"left right\" or [left, right], found {me.GetRawText()}");
            mi++;
        }
        string? unk = m.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
        var model = new BpeModel(vocab, merges, unk,
            PreTokenizer.Bool(m, "byte_fallback", false), PreTokenizer.Bool(m, "fuse_unk", false), PreTokenizer.Bool(m, "ignore_merges", false));

        var tok = new HfTokenizer(model,
            root.TryGetProperty("normalizer", out var n) ? Normalizer.Parse(n, "normalizer") : null,
            root.TryGetProperty("pre_tokenizer", out var pt) ? PreTokenizer.Parse(pt, "pre_tokenizer") : null,
            root.TryGetProperty("decoder", out var d) ? Decoder.Parse(d, "decoder") : null)
        {
            UnkToken = unk,
        };
        if (root.TryGetProperty("added_tokens", out var added))
        {
            var ai = 0;
            foreach (var a in added.EnumerateArray())
            {
                tok.AddAddedToken(new AddedToken(Id(a.GetProperty("id"), $"added_tokens[{ai}].id"), Text(a.GetProperty("content"), $"added_tokens[{ai}].content"),
                    PreTokenizer.Bool(a, "special", false), PreTokenizer.Bool(a, "lstrip", false), PreTokenizer.Bool(a, "rstrip", false)));
                ai++;
            }
        }
        if (root.TryGetProperty("post_processor", out var pp)) tok.ParsePostProcessor(pp, "post_processor");
        return tok;
    }

    private void AddAddedToken(AddedToken a)
    {
        _addedById[a.Id] = a;
        _addedByContent[a.Content] = a;
    }

    private void IndexAddedTokens() 
    {
        _addedByFirstChar.Clear();
        foreach (var g in _addedById.Values.Where(a => a.Content.Length > 0).GroupBy(a => a.Content[0]))
            _addedByFirstChar[g.Key] = g.OrderByDescending(a => a.Content.Length).ToArray();
    }

    private void ParsePostProcessor(JsonElement e, string where)
    {
        if (e.ValueKind == JsonValueKind.Null) return;
        var type = e.GetProperty("type").GetString();
        switch (type)
        {
            case "ByteLevel":
                return;
            case "Sequence":
                var i = 0;
                foreach (var p in e.GetProperty("processors").EnumerateArray()) ParsePostProcessor(p, $"{where}.processors[{i++}]");
                return;
            case "TemplateProcessing":
                var specials = e.GetProperty("special_tokens");
                var seenA = false;
                foreach (var piece in e.GetProperty("single").EnumerateArray())
                {
                    if (piece.TryGetProperty("Sequence", out _)) { seenA = true; continue; }
                    var name = piece.GetProperty("SpecialToken").GetProperty("id").GetString()!;
                    var ids = specials.GetProperty(name).GetProperty("ids").EnumerateArray().Select(x => Id(x, $"{where}.special_tokens[\"{name}\"].ids")).ToList();
                    (seenA ? _suffixIds : _prefixIds).AddRange(ids);
                }
                return;
            default:
                throw new OpenBookException($"tokenizer.json: {where}: post_processor type \"{type}\" is not supported");
        }
    }

    private static string? TokenText(JsonElement cfg, string name) =>
        !cfg.TryGetProperty(name, out var v) ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) ? c.GetString() : null;

    private void ApplyConfig(JsonElement cfg)
    {
        if (cfg.TryGetProperty("added_tokens_decoder", out var atd) && atd.ValueKind == JsonValueKind.Object)
            foreach (var p in atd.EnumerateObject())
                if (int.TryParse(p.Name, out var id) && !_addedById.ContainsKey(id))
                    AddAddedToken(new AddedToken(
                        id is >= 0 and <= MaxTokenId ? id : throw new OpenBookException($"tokenizer_config.json: added_tokens_decoder key \"{p.Name}\" must be a token id from 0 to {MaxTokenId}"),
                        p.Value.GetProperty("content") is { ValueKind: JsonValueKind.String } content ? content.GetString()!
                            : throw new OpenBookException($"tokenizer_config.json: added_tokens_decoder[\"{p.Name}\"].content must be a string"),
                        PreTokenizer.Bool(p.Value, "special", false),
                        PreTokenizer.Bool(p.Value, "lstrip", false), PreTokenizer.Bool(p.Value, "rstrip", false)));
        BosToken = TokenText(cfg, "bos_token");
        EosToken = TokenText(cfg, "eos_token");
        PadToken = TokenText(cfg, "pad_token");
        UnkToken = TokenText(cfg, "unk_token") ?? UnkToken;
        // Llama-style fast tokenizers rebuild their post-processor from add_bos_token/add_eos_token; honour an
        // explicit true when tokenizer.json's post-processor does not already add the token.
        if (PreTokenizer.Bool(cfg, "add_bos_token", false) && BosTokenId is { } bos && !_prefixIds.Contains(bos)) _prefixIds.Insert(0, bos);
        if (PreTokenizer.Bool(cfg, "add_eos_token", false) && EosTokenId is { } eos && !_suffixIds.Contains(eos)) _suffixIds.Add(eos);
        if (cfg.TryGetProperty("chat_template", out var ct))
        {
            if (ct.ValueKind == JsonValueKind.String) ChatTemplate = ct.GetString();
            else if (ct.ValueKind == JsonValueKind.Array)
            {
                var named = ct.EnumerateArray().ToDictionary(x => x.GetProperty("name").GetString()!, x => x.GetProperty("template").GetString()!);
                ChatTemplates = named;
                ChatTemplate = named.GetValueOrDefault("default") ?? named.Values.FirstOrDefault();
            }
        }
    }

    /// <summary>The id of a token (added tokens first, then the vocabulary), or null.</summary>
    public int? TokenToId(string token) => _addedByContent.TryGetValue(token, out var a) ? a.Id : Model.TokenToId(token);

    /// <summary>The token string of an id, or null.</summary>
    public string? IdToToken(int id) => _addedById.TryGetValue(id, out var a) ? a.Content : Model.IdToToken(id);

    /// <summary>Whether the id is a special added token.</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var a) && a.Special;

    /// <summary>Encodes text to ids. With <paramref name="addSpecialTokens"/> the post-processor's tokens (e.g. BOS) are added.</summary>
    public int[] Encode(string text, bool addSpecialTokens = true) => Encode(text, addSpecialTokens, null);

    /// <summary>
    /// Encodes <paramref name="text"/> where the character ranges in <paramref name="dataSpans"/> are data (document
    /// text, a user's question): no special token is matched inside them, so their text is tokenized as plain text
    /// and cannot produce a special-token id (like transformers' <c>split_special_tokens=True</c>, for those ranges
    /// only). Outside the ranges (the chat template's own markers) special tokens are matched as usual; with no
    /// special-token text inside the ranges the ids equal <see cref="Encode(string, bool)"/>.
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens, IReadOnlyList<(int Start, int End)>? dataSpans)
    {
        bool[]? data = null;
        if (dataSpans is { Count: > 0 })
        {
            data = new bool[text.Length];
            foreach (var (start, end) in dataSpans) data.AsSpan(Math.Max(0, start), Math.Max(0, Math.Min(end, text.Length) - Math.Max(0, start))).Fill(true);
        }
        var ids = new List<int>();
        if (addSpecialTokens) ids.AddRange(_prefixIds);
        foreach (var (segment, offset, addedId) in SplitAddedTokens(text, data))
        {
            if (addedId is { } id) ids.Add(id);
            else EncodeSegment(segment, offset == 0, ids);
        }
        if (addSpecialTokens) ids.AddRange(_suffixIds);
        return ids.ToArray();
    }

    /// <summary>Number of tokens <paramref name="text"/> encodes to (no special tokens added).</summary>
    public int CountTokens(string text) => Encode(text, addSpecialTokens: false).Length;

    private void EncodeSegment(string segment, bool firstSegment, List<int> ids)
    {
        var normalized = _normalizer?.Normalize(segment) ?? segment;
        if (normalized.Length == 0) return;
        var words = _preTokenizer?.Split([normalized], firstSegment) ?? [normalized];
        foreach (var w in words) Model.Tokenize(w, ids);
    }

    /// <summary>Splits text into plain segments and added tokens (leftmost, longest match first).</summary>
    private IEnumerable<(string Text, int Offset, int? AddedId)> SplitAddedTokens(string text, bool[]? data = null)
    {
        if (_addedByFirstChar.Count == 0)
        {
            if (text.Length > 0) yield return (text, 0, null);
            yield break;
        }
        var segStart = 0;
        var i = 0;
        while (i < text.Length)
        {
            AddedToken? hit = null;
            if (_addedByFirstChar.TryGetValue(text[i], out var candidates))
                foreach (var c in candidates)
                    if (string.CompareOrdinal(text, i, c.Content, 0, c.Content.Length) == 0 && !(c.Special && InData(data, i, c.Content.Length))) { hit = c; break; }
            if (hit is null) { i++; continue; }
            var segEnd = i;
            if (hit.LStrip) while (segEnd > segStart && char.IsWhiteSpace(text[segEnd - 1])) segEnd--;
            if (segEnd > segStart) yield return (text[segStart..segEnd], segStart, null);
            yield return (hit.Content, i, hit.Id);
            i += hit.Content.Length;
            if (hit.RStrip) while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            segStart = i;
        }
        if (segStart < text.Length) yield return (text[segStart..], segStart, null);
    }

    private static bool InData(bool[]? data, int start, int length)
    {
        if (data is null) return false;
        for (var k = start; k < start + length && k < data.Length; k++)
            if (data[k]) return true;
        return false;
    }

    /// <summary>Decodes ids to text through the tokenizer's decoder.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>();
        foreach (var id in ids)
        {
            if (skipSpecialTokens && IsSpecial(id)) continue;
            var t = IdToToken(id) ?? throw new OpenBookException($"token id {id} is outside the vocabulary (size {VocabSize})");
            tokens.Add(t);
        }
        if (_decoder is null) return string.Concat(tokens);
        return string.Concat(_decoder.DecodeChain(tokens));
    }

    /// <summary>A decoder for streaming: feed ids one at a time, get text deltas that never split a UTF-8 character.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = true) => new(this, skipSpecialTokens);
}
