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

    /// <summary>
    /// Parses a config.json object; <paramref name="source"/> names the file in error messages. Every field is
    /// type- and range-checked (config.json is untrusted input): one clear error names the file and the field.
    /// </summary>
    public static ModelConfig Parse(JsonObject root, string source = "config.json")
    {
        var f = new JsonFields(root, source);
        if (root["architectures"] is not JsonArray { Count: > 0 } archs)
            throw new OpenBookException($"{source}: missing 'architectures' (e.g. [\"LlamaForCausalLM\"]).");
        if (archs[0] is not { } a0 || a0.GetValueKind() != JsonValueKind.String)
            throw new OpenBookException($"{source}: field 'architectures[0]' must be a string such as \"LlamaForCausalLM\", found {archs[0]?.ToJsonString() ?? "null"}.");
        string arch = a0.GetValue<string>();
        int hidden = f.Int("hidden_size", null, 1, 1 << 20);
        int heads = f.Int("num_attention_heads", null, 1, hidden);
        int kvHeads = f.Int("num_key_value_heads", heads, 1, heads);
        if (heads % kvHeads != 0) throw f.Error("num_key_value_heads", $"must divide num_attention_heads ({heads}), found {kvHeads}");
        int? headDim = f.OptionalInt("head_dim", 1, 1 << 16);
        if (headDim is null && hidden % heads != 0)
            throw f.Error("num_attention_heads", $"must divide hidden_size ({hidden}) when head_dim is not given, found {heads}");
        int vocab = f.Int("vocab_size", null, 1, 1 << 24);
        string modelType = f.String("model_type", "")!;
        bool useSliding = f.Bool("use_sliding_window", modelType == "mistral");
        int? window = useSliding && root["sliding_window"] is JsonNode sw && sw.GetValueKind() == JsonValueKind.Number ? f.Int("sliding_window", null, 1) : null;
        if (root["sliding_window"] is JsonNode sw2 && sw2.GetValueKind() is not (JsonValueKind.Number or JsonValueKind.Null))
            throw f.Error("sliding_window", $"must be an integer or null, found {sw2.ToJsonString()}");

        return new ModelConfig
        {
            Architecture = arch,
            ModelType = modelType,
            HiddenSize = hidden,
            IntermediateSize = f.Int("intermediate_size", null, 1, 1 << 22),
            NumHiddenLayers = f.Int("num_hidden_layers", null, 1, 1024),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim ?? hidden / heads,
            VocabSize = vocab,
            RmsNormEps = f.Number("rms_norm_eps", 1e-6, max: 1, positive: true),
            RopeTheta = f.Number("rope_theta", 10000, positive: true),
            RopeScaling = ParseRopeScaling(f.Child("rope_scaling")),
            TieWordEmbeddings = f.Bool("tie_word_embeddings", false),
            MaxPositionEmbeddings = f.Int("max_position_embeddings", 2048, 1, 1 << 24),
            TorchDtype = f.String("torch_dtype") ?? f.String("dtype") ?? "float32",
            BosTokenId = f.Has("bos_token_id") ? f.Ids("bos_token_id", vocab - 1) is [var b] ? b : throw f.Error("bos_token_id", "must be one token id") : null,
            EosTokenIds = f.Ids("eos_token_id", vocab - 1),
            AttentionBias = f.Bool("attention_bias", false),
            MlpBias = f.Bool("mlp_bias", false),
            SlidingWindow = window,
            HiddenAct = f.String("hidden_act", "silu")!,
            Raw = root,
        };
    }

    internal static IReadOnlyList<int> ParseIds(JsonNode? node, string source = "config.json", string key = "eos_token_id") =>
        new JsonFields(new JsonObject { [key] = node?.DeepClone() }, source).Ids(key);

    private static RopeScaling? ParseRopeScaling(JsonFields? o)
    {
        if (o is null) return null;
        string type = o.String("rope_type") ?? o.String("type") ?? throw o.Error("rope_type", "is missing");
        return new RopeScaling
        {
            Type = type,
            Factor = o.Number("factor", 1, positive: true),
            LowFreqFactor = o.OptionalNumber("low_freq_factor", positive: true),
            HighFreqFactor = o.OptionalNumber("high_freq_factor", positive: true),
            OriginalMaxPositionEmbeddings = o.OptionalNumber("original_max_position_embeddings", positive: true),
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
        var f = JsonFields.Load(file);
        return new GenerationConfig
        {
            BosTokenId = f.Has("bos_token_id") ? f.Ids("bos_token_id") is [var b] ? b : throw f.Error("bos_token_id", "must be one token id") : null,
            EosTokenIds = f.Ids("eos_token_id"),
            PadTokenId = f.Has("pad_token_id") ? f.Ids("pad_token_id") is [var p] ? p : throw f.Error("pad_token_id", "must be one token id") : null,
            DoSample = f.OptionalBool("do_sample"),
            Temperature = (float?)f.OptionalNumber("temperature", 0, 100),
            TopK = f.OptionalInt("top_k", 0),
            TopP = (float?)f.OptionalNumber("top_p", 0, 1),
            RepetitionPenalty = (float?)f.OptionalNumber("repetition_penalty", positive: true),
            MaxNewTokens = f.OptionalInt("max_new_tokens", 1),
        };
    }
}
