using System.Text.Json;
using System.Text.Json.Nodes;
using OpenBook.Models.Formats.Tokenization;

namespace OpenBook.Models.Formats.Gguf;

/// <summary>GGUF token types (llama.cpp's llama_token_type / gguf-py TokenType).</summary>
internal enum GgufTokenType
{
    Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
}

/// <summary>
/// A tokenizer as GGUF metadata, the way llama.cpp's convert_hf_to_gguf.py writes it: <c>tokenizer.ggml.model</c>
/// "gpt2" (byte-level BPE: tokens, token types, merges, pre-tokenizer name) or "llama" (SentencePiece-style BPE with
/// byte fallback: tokens, scores, token types), the special token ids, add_bos/add_eos, and the chat templates.
/// Ids the tokenizer lacks up to the model's vocab_size become "[PAD{id}]" tokens of type UNUSED, as the converter pads.
/// </summary>
internal sealed class GgufVocabulary
{
    /// <summary>tokenizer.json larger than this is refused (real ones are a few MB; Qwen2's is 7 MB).</summary>
    public const long MaxTokenizerBytes = 64L << 20;

    public required string Model { get; init; }
    public string? Pre { get; init; }
    public required IReadOnlyList<string> Tokens { get; init; }
    public required IReadOnlyList<int> TokenTypes { get; init; }
    public IReadOnlyList<float>? Scores { get; init; }
    public IReadOnlyList<string>? Merges { get; init; }
    public int? BosId { get; init; }
    public int? EosId { get; init; }
    public int? UnkId { get; init; }
    public int? PadId { get; init; }
    public bool? AddBos { get; init; }
    public bool? AddEos { get; init; }
    public bool? AddSpacePrefix { get; init; }
    public string? ChatTemplate { get; init; }
    public IReadOnlyDictionary<string, string> NamedChatTemplates { get; init; } = new Dictionary<string, string>();

    public void WriteTo(GgufWriter w)
    {
        w.Add("tokenizer.ggml.model", Model);
        if (Pre is not null) w.Add("tokenizer.ggml.pre", Pre);
        w.Add("tokenizer.ggml.tokens", Tokens);
        if (Scores is not null) w.Add("tokenizer.ggml.scores", Scores);
        w.Add("tokenizer.ggml.token_type", TokenTypes);
        if (Merges is not null) w.Add("tokenizer.ggml.merges", Merges);
        if (BosId is { } bos) w.Add("tokenizer.ggml.bos_token_id", (uint)bos);
        if (EosId is { } eos) w.Add("tokenizer.ggml.eos_token_id", (uint)eos);
        if (UnkId is { } unk) w.Add("tokenizer.ggml.unknown_token_id", (uint)unk);
        if (PadId is { } pad) w.Add("tokenizer.ggml.padding_token_id", (uint)pad);
        if (AddBos is { } ab) w.Add("tokenizer.ggml.add_bos_token", ab);
        if (AddEos is { } ae) w.Add("tokenizer.ggml.add_eos_token", ae);
        if (AddSpacePrefix is { } asp) w.Add("tokenizer.ggml.add_space_prefix", asp);
        if (ChatTemplate is not null) w.Add("tokenizer.chat_template", ChatTemplate);
        foreach (var (name, template) in NamedChatTemplates) w.Add($"tokenizer.chat_template.{name}", template);
    }

    /// <summary>
    /// A stand-in vocabulary for random-weight benchmark models that have no tokenizer: the 256 byte-level symbols,
    /// then "[PAD{id}]" up to <paramref name="vocabSize"/>, no merges. Enough for llama.cpp to load the file and run token ids.
    /// </summary>
    public static GgufVocabulary Placeholder(int vocabSize)
    {
        var tokens = new List<string>(vocabSize);
        var types = new List<int>(vocabSize);
        for (int i = 0; i < vocabSize; i++)
        {
            tokens.Add(i < 256 ? ByteLevelAlphabet.Encode([(byte)i]) : $"[PAD{i}]");
            types.Add((int)(i < 256 ? GgufTokenType.Normal : GgufTokenType.Unused));
        }
        return new GgufVocabulary { Model = "gpt2", Pre = "default", Tokens = tokens, TokenTypes = types, Merges = [], AddBos = false, AddEos = false };
    }

    /// <summary>Reads tokenizer.json (+ tokenizer_config.json, chat_template.jinja) of <paramref name="directory"/>.</summary>
    public static GgufVocabulary FromDirectory(string directory, ModelConfig config)
    {
        string path = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(path))
            throw new OpenBookException($"{path}: file not found (GGUF export needs the model's tokenizer; pass --tokenizer DIR when it lives elsewhere).");
        if (new FileInfo(path).Length > MaxTokenizerBytes)
            throw new OpenBookException($"{path}: larger than {MaxTokenizerBytes >> 20} MB; refusing to read it.");
        var hf = HfTokenizer.FromFile(path); // validates the file and resolves special tokens and chat templates
        JsonObject root;
        try { root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new OpenBookException($"{path}: expected a JSON object."); }
        catch (JsonException ex) { throw new OpenBookException($"{path}: invalid JSON at line {ex.LineNumber + 1}: {ex.Message}"); }
        var model = root["model"] as JsonObject ?? throw new OpenBookException($"{path}: field 'model' is missing.");
        bool byteFallback = model["byte_fallback"]?.GetValue<bool>() ?? false;
        bool byteLevel = ContainsType(root["pre_tokenizer"], "ByteLevel") || ContainsType(root["decoder"], "ByteLevel");
        if (!byteLevel && !byteFallback)
            throw new OpenBookException($"{path}: only byte-level BPE (GPT-2 / Llama-3 / Qwen2 style) and SentencePiece-style BPE with byte_fallback can be written to GGUF.");

        // Id → token over the model vocabulary and the added tokens.
        var byId = new Dictionary<int, string>();
        foreach (var (token, id) in model["vocab"] as JsonObject ?? throw new OpenBookException($"{path}: field 'model.vocab' is missing."))
            byId[id!.GetValue<int>()] = token;
        var added = hf.AddedTokens.ToDictionary(a => a.Id);
        foreach (var a in added.Values) byId[a.Id] = a.Content;
        int vocabSize = config.VocabSize;
        int maxId = byId.Keys.DefaultIfEmpty(-1).Max();
        if (maxId >= vocabSize)
            throw new OpenBookException($"{path}: token id {maxId} is outside the model's vocab_size {vocabSize} (config.json).");

        var mergeRank = new Dictionary<string, int>(StringComparer.Ordinal);
        var merges = new List<string>();
        foreach (var m in model["merges"] as JsonArray ?? [])
        {
            string merge = m switch
            {
                JsonValue v => v.GetValue<string>(),
                JsonArray pair when pair.Count == 2 => pair[0]!.GetValue<string>() + " " + pair[1]!.GetValue<string>(),
                _ => throw new OpenBookException($"{path}: merge {merges.Count} is neither \"a b\" nor [\"a\", \"b\"]."),
            };
            merges.Add(merge);
            mergeRank.TryAdd(merge.Replace(" ", ""), merges.Count - 1);
        }

        var tokens = new List<string>(vocabSize);
        var types = new List<int>(vocabSize);
        var scores = byteLevel ? null : new List<float>(vocabSize);
        for (int i = 0; i < vocabSize; i++)
        {
            if (!byId.TryGetValue(i, out var token))
            {
                tokens.Add($"[PAD{i}]");
                types.Add((int)GgufTokenType.Unused);
                scores?.Add(-1000f);
                continue;
            }
            GgufTokenType type;
            if (added.TryGetValue(i, out var a))
                type = a.Special || LooksSpecial(token) ? GgufTokenType.Control : GgufTokenType.UserDefined;
            else if (!byteLevel && token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token.EndsWith('>'))
                type = GgufTokenType.Byte;
            else type = GgufTokenType.Normal;
            if (!byteLevel && token == hf.UnkToken) type = GgufTokenType.Unknown;
            tokens.Add(token);
            types.Add((int)type);
            // SentencePiece merges the pair whose result scores highest; a BPE merge's rank orders the same way.
            scores?.Add(type == GgufTokenType.Normal && mergeRank.TryGetValue(token, out int rank) ? -rank - 1 : 0f);
        }

        var templates = new Dictionary<string, string>(hf.ChatTemplates.Where(t => t.Key != "default"));
        string? template = hf.ChatTemplate;
        string jinja = Path.Combine(directory, "chat_template.jinja");
        if (File.Exists(jinja) && new FileInfo(jinja).Length < (4 << 20)) template = File.ReadAllText(jinja);

        return new GgufVocabulary
        {
            Model = byteLevel ? "gpt2" : "llama",
            Pre = byteLevel ? PreTokenizerName(root["pre_tokenizer"]) : null,
            Tokens = tokens,
            TokenTypes = types,
            Scores = scores,
            Merges = byteLevel ? merges : null,
            BosId = hf.BosTokenId ?? config.BosTokenId,
            EosId = hf.EosTokenId ?? (config.EosTokenIds.Count > 0 ? config.EosTokenIds[0] : null),
            UnkId = hf.UnkToken is null ? null : hf.TokenToId(hf.UnkToken),
            PadId = hf.PadTokenId,
            AddBos = hf.AddsBos,
            AddEos = AddsEos(hf),
            AddSpacePrefix = byteLevel ? null : ContainsType(root["normalizer"], "Prepend") || PrependsMetaspace(root["pre_tokenizer"]),
            ChatTemplate = template,
            NamedChatTemplates = templates,
        };
    }

    private static bool AddsEos(HfTokenizer hf)
    {
        var with = hf.Encode("a", addSpecialTokens: true);
        var without = hf.Encode("a", addSpecialTokens: false);
        return hf.EosTokenId is { } eos && with.Length > without.Length && with[^1] == eos;
    }

    /// <summary>
    /// llama.cpp's name for a byte-level pre-tokenizer (it selects the split regex from it): "llama-bpe" for Llama-3's
    /// regex, "qwen2" for Qwen2's, "smollm" for individual digits + GPT-2 byte-level, "gpt-2" for plain GPT-2; else "default".
    /// </summary>
    internal static string PreTokenizerName(JsonNode? pre)
    {
        string text = pre?.ToJsonString() ?? "";
        string Escaped(string pattern) => JsonValue.Create(pattern)!.ToJsonString().Trim('"');
        if (text.Contains(Escaped(TokenizerPresets.Llama3Pattern), StringComparison.Ordinal)) return "llama-bpe";
        if (text.Contains(Escaped(TokenizerPresets.Qwen2Pattern), StringComparison.Ordinal)) return "qwen2";
        if (ContainsType(pre, "Digits") && ContainsType(pre, "ByteLevel")) return "smollm";
        if (pre is JsonObject { } o && (string?)o["type"] == "ByteLevel" && (o["use_regex"]?.GetValue<bool>() ?? true)) return "gpt-2";
        return "default";
    }

    private static bool ContainsType(JsonNode? node, string type) => node switch
    {
        JsonObject o => (o["type"] is JsonValue v && v.TryGetValue<string>(out var s) && s == type) || o.Any(p => ContainsType(p.Value, type)),
        JsonArray a => a.Any(x => ContainsType(x, type)),
        _ => false,
    };

    private static bool PrependsMetaspace(JsonNode? pre) => pre switch
    {
        JsonObject o when (string?)o["type"] == "Metaspace" => (string?)o["prepend_scheme"] != "never" && (o["add_prefix_space"]?.GetValue<bool>() ?? true),
        JsonObject o => o.Any(p => PrependsMetaspace(p.Value)),
        JsonArray a => a.Any(PrependsMetaspace),
        _ => false,
    };

    /// <summary>Added tokens the converter treats as control tokens even when not marked special (&lt;|…|&gt; and the like).</summary>
    private static bool LooksSpecial(string token) =>
        token is "<pad>" or "<mask>" || (token.StartsWith("<|", StringComparison.Ordinal) && token.EndsWith("|>", StringComparison.Ordinal));
}
