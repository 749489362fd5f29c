using System.Text.Json;
using System.Text.Json.Nodes;

using OpenBook.Models.Kernels;

namespace OpenBook.Models.Formats;

/// <summary>
/// The fields of a Hugging Face <c>config.json</c> the engine uses, with HF defaults where a key is absent.
/// Read with <see cref="Load"/>; the parsed JSON is kept in <see cref="Raw"/> so writers can keep unknown keys.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>architectures[0], e.g. "LlamaForCausalLM".</summary>
    public required string Architecture { get; init; }
    /// <summary>model_type, e.g. "llama".</summary>
    public string ModelType { get; init; } = "";
    /// <summary>hidden_size.</summary>
    public required int HiddenSize { get; init; }
    /// <summary>intermediate_size.</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>num_hidden_layers.</summary>
    public required int NumHiddenLayers { get; init; }
    /// <summary>num_attention_heads.</summary>
    public required int NumAttentionHeads { get; init; }
    /// <summary>num_key_value_heads (defaults to num_attention_heads).</summary>
    public required int NumKeyValueHeads { get; init; }
    /// <summary>head_dim (defaults to hidden_size / num_attention_heads).</summary>
    public required int HeadDim { get; init; }
    /// <summary>vocab_size.</summary>
    public required int VocabSize { get; init; }
    /// <summary>rms_norm_eps.</summary>
    public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>rope_theta.</summary>
    public double RopeTheta { get; init; } = 10000;
    /// <summary>rope_scaling, or null.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>tie_word_embeddings (lm_head shares model.embed_tokens.weight).</summary>
    public bool TieWordEmbeddings { get; init; }
    /// <summary>max_position_embeddings.</summary>
    public int MaxPositionEmbeddings { get; init; } = 2048;
    /// <summary>torch_dtype ("float32", "bfloat16", "float16").</summary>
    public string TorchDtype { get; init; } = "float32";
    /// <summary>bos_token_id, or null.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>eos_token_id(s); HF allows a single id or a list.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>attention_bias (Llama key); Qwen2 always has q/k/v biases.</summary>
    public bool AttentionBias { get; init; }
    /// <summary>mlp_bias (Llama key).</summary>
    public bool MlpBias { get; init; }
    /// <summary>sliding_window when active (Mistral), else null.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>hidden_act; only "silu" is supported.</summary>
    public string HiddenAct { get; init; } = "silu";
    /// <summary>The parsed config.json as read (kept so writers can round-trip unknown keys).</summary>
    public JsonObject? Raw { get; init; }

    /// <summary>
    /// config.json text for this configuration (the keys transformers reads for Llama/Qwen2/Mistral; rope_scaling
    /// is not written, so only configs without it round-trip exactly).
    /// </summary>
    public string ToJson()
    {
        string type = ModelType != "" ? ModelType : Architecture switch
        {
            "Qwen2ForCausalLM" => "qwen2",
            "MistralForCausalLM" => "mistral",
            _ => "llama",
        };
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(Architecture), ["model_type"] = type, ["hidden_size"] = HiddenSize, ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers, ["num_attention_heads"] = NumAttentionHeads, ["num_key_value_heads"] = NumKeyValueHeads,
            ["head_dim"] = HeadDim, ["vocab_size"] = VocabSize, ["rms_norm_eps"] = RmsNormEps, ["rope_theta"] = RopeTheta,
            ["tie_word_embeddings"] = TieWordEmbeddings, ["max_position_embeddings"] = MaxPositionEmbeddings, ["torch_dtype"] = TorchDtype,
            ["hidden_act"] = HiddenAct, ["attention_bias"] = AttentionBias, ["mlp_bias"] = MlpBias,
        };
        if (BosTokenId is { } bos) o["bos_token_id"] = bos;
        if (EosTokenIds.Count == 1) o["eos_token_id"] = EosTokenIds[0];
        else if (EosTokenIds.Count > 1) o["eos_token_id"] = new JsonArray(EosTokenIds.Select(e => (JsonNode?)e).ToArray());
        if (SlidingWindow is { } w) { o["sliding_window"] = w; o["use_sliding_window"] = true; }
        if (RopeScaling is not null) throw new InvalidOperationException("ToJson does not write rope_scaling.");
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Reads <c>config.json</c> from a model directory (or a path to the file itself).</summary>
    public static ModelConfig Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file)) throw new OpenBookException($"{file}: missing config.json (a Hugging Face model directory needs config.json, model.safetensors and tokenizer.json).");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(file)) as JsonObject ?? throw new OpenBookException($"{file}: expected a JSON object.");
        }
        catch (JsonException e)
        {
            throw new OpenBookException($"{file}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e);
        }
        return Parse(root, file);
    }

    /// <summary>Parses a config.json object; <paramref name="source"/> names the file in error messages.</summary>
    public static ModelConfig Parse(JsonObject root, string source = "config.json")
    {
        int Int(string key, int? fallback = null)
        {
            var node = root[key];
            if (node is null)
                return fallback ?? throw new OpenBookException($"{source}: missing required field '{key}'.");
            try { return node.GetValue<int>(); }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            { throw new OpenBookException($"{source}: field '{key}' must be an integer, found {node.ToJsonString()}.", e); }
        }
        double Dbl(string key, double fallback)
        {
            var node = root[key];
            if (node is null) return fallback;
            try { return node.GetValue<double>(); }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            { throw new OpenBookException($"{source}: field '{key}' must be a number, found {node.ToJsonString()}.", e); }
        }
        bool Bool(string key, bool fallback) => root[key] is JsonNode n ? n.GetValue<bool>() : fallback;

        var archs = root["architectures"] as JsonArray;
        string arch = archs is { Count: > 0 } ? archs[0]!.GetValue<string>()
            : throw new OpenBookException($"{source}: missing 'architectures' (e.g. [\"LlamaForCausalLM\"]).");
        int hidden = Int("hidden_size"), heads = Int("num_attention_heads");
        string modelType = root["model_type"]?.GetValue<string>() ?? "";
        bool useSliding = root["use_sliding_window"]?.GetValue<bool>() ?? modelType == "mistral";
        int? window = root["sliding_window"] is JsonNode sw && sw.GetValueKind() == JsonValueKind.Number && useSliding ? sw.GetValue<int>() : null;

        return new ModelConfig
        {
            Architecture = arch,
            ModelType = modelType,
            HiddenSize = hidden,
            IntermediateSize = Int("intermediate_size"),
            NumHiddenLayers = Int("num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = Int("num_key_value_heads", heads),
            HeadDim = root["head_dim"] is JsonNode hd && hd.GetValueKind() == JsonValueKind.Number ? hd.GetValue<int>() : hidden / heads,
            VocabSize = Int("vocab_size"),
            RmsNormEps = Dbl("rms_norm_eps", 1e-6),
            RopeTheta = Dbl("rope_theta", 10000),
            RopeScaling = ParseRopeScaling(root["rope_scaling"], source),
            TieWordEmbeddings = Bool("tie_word_embeddings", false),
            MaxPositionEmbeddings = Int("max_position_embeddings", 2048),
            TorchDtype = root["torch_dtype"]?.GetValue<string>() ?? root["dtype"]?.GetValue<string>() ?? "float32",
            BosTokenId = root["bos_token_id"] is JsonNode b && b.GetValueKind() == JsonValueKind.Number ? b.GetValue<int>() : null,
            EosTokenIds = ParseIds(root["eos_token_id"]),
            AttentionBias = Bool("attention_bias", false),
            MlpBias = Bool("mlp_bias", false),
            SlidingWindow = window,
            HiddenAct = root["hidden_act"]?.GetValue<string>() ?? "silu",
            Raw = root,
        };
    }

    internal static IReadOnlyList<int> ParseIds(JsonNode? node) => node switch
    {
        null => [],
        JsonArray a => a.Select(x => x!.GetValue<int>()).ToArray(),
        _ when node.GetValueKind() == JsonValueKind.Number => [node.GetValue<int>()],
        _ => [],
    };

    private static RopeScaling? ParseRopeScaling(JsonNode? node, string source)
    {
        if (node is not JsonObject o) return null;
        string type = o["rope_type"]?.GetValue<string>() ?? o["type"]?.GetValue<string>()
            ?? throw new OpenBookException($"{source}: rope_scaling has no 'rope_type'.");
        double? D(string k) => o[k] is JsonNode n ? n.GetValue<double>() : null;
        return new RopeScaling
        {
            Type = type,
            Factor = D("factor") ?? 1,
            LowFreqFactor = D("low_freq_factor"),
            HighFreqFactor = D("high_freq_factor"),
            OriginalMaxPositionEmbeddings = D("original_max_position_embeddings"),
        };
    }

    /// <summary>Number of parameters implied by the shapes (embeddings counted once when tied).</summary>
    public long ParameterCount()
    {
        long h = HiddenSize, q = (long)NumAttentionHeads * HeadDim, kv = (long)NumKeyValueHeads * HeadDim, i = IntermediateSize;
        long perLayer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h;
        return VocabSize * h * (TieWordEmbeddings ? 1 : 2) + NumHiddenLayers * perLayer + h;
    }
}

/// <summary>Defaults from <c>generation_config.json</c> (all optional).</summary>
public sealed record GenerationConfig
{
    /// <summary>bos_token_id.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>eos_token_id (single or list).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>pad_token_id.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>do_sample.</summary>
    public bool? DoSample { get; init; }
    /// <summary>temperature.</summary>
    public float? Temperature { get; init; }
    /// <summary>top_k.</summary>
    public int? TopK { get; init; }
    /// <summary>top_p.</summary>
    public float? TopP { get; init; }
    /// <summary>repetition_penalty.</summary>
    public float? RepetitionPenalty { get; init; }
    /// <summary>max_new_tokens.</summary>
    public int? MaxNewTokens { get; init; }

    /// <summary>Reads generation_config.json from a model directory; returns null when the file is absent.</summary>
    public static GenerationConfig? Load(string directory)
    {
        string file = Path.Combine(directory, "generation_config.json");
        if (!File.Exists(file)) return null;
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(file)) as JsonObject ?? throw new OpenBookException($"{file}: expected a JSON object."); }
        catch (JsonException e) { throw new OpenBookException($"{file}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e); }
        int? I(string k) => o[k] is JsonNode n && n.GetValueKind() == JsonValueKind.Number ? n.GetValue<int>() : null;
        float? F(string k) => o[k] is JsonNode n && n.GetValueKind() == JsonValueKind.Number ? n.GetValue<float>() : null;
        return new GenerationConfig
        {
            BosTokenId = I("bos_token_id"),
            EosTokenIds = ModelConfig.ParseIds(o["eos_token_id"]),
            PadTokenId = I("pad_token_id"),
            DoSample = o["do_sample"] is JsonNode d ? d.GetValue<bool>() : null,
            Temperature = F("temperature"),
            TopK = I("top_k"),
            TopP = F("top_p"),
            RepetitionPenalty = F("repetition_penalty"),
            MaxNewTokens = I("max_new_tokens"),
        };
    }
}
