using OpenBook.Embeddings;

namespace OpenBook.Onnx;

/// <summary>How token vectors become one sentence vector (sentence-transformers <c>Pooling</c> module).</summary>
public enum PoolingMode
{
    /// <summary>Average of the non-padding token vectors.</summary>
    Mean,

    /// <summary>The <c>[CLS]</c> token's vector.</summary>
    Cls,

    /// <summary>Element-wise maximum over the non-padding tokens.</summary>
    Max,

    /// <summary>Sum of the token vectors divided by √(token count).</summary>
    MeanSqrtLength,
}

/// <summary>
/// What a sentence-transformers model directory says: the ONNX file, pooling (<c>modules.json</c> +
/// <c>1_Pooling/config.json</c>), whether a <c>Normalize</c> module follows, <c>max_seq_length</c>
/// (<c>sentence_bert_config.json</c>) and query/passage prompts (<c>config_sentence_transformers.json</c>).
/// </summary>
/// <param name="Directory">The model directory.</param>
/// <param name="ModelPath">The ONNX file used.</param>
/// <param name="Quantized">Whether <paramref name="ModelPath"/> is an int8 variant.</param>
/// <param name="Pooling">Pooling mode.</param>
/// <param name="Normalize">L2-normalise the pooled vector.</param>
/// <param name="MaxSequenceLength">Tokens per input, special tokens included; longer inputs are truncated.</param>
/// <param name="Dimension">Embedding dimension declared by the directory (null if it declares none).</param>
/// <param name="Prompts">Query/passage prefixes declared by the directory (<see cref="EmbeddingPrefixes.None"/> if none).</param>
public sealed record SentenceEncoderLayout(
    string Directory, string ModelPath, bool Quantized, PoolingMode Pooling, bool Normalize, int MaxSequenceLength,
    int? Dimension, EmbeddingPrefixes Prompts)
{
    /// <summary>fp32 graph locations, in the order tried.</summary>
    public static readonly IReadOnlyList<string> ModelFiles = ["onnx/model.onnx", "model.onnx"];

    /// <summary>int8 graph locations (Hugging Face Optimum / Xenova names), in the order tried.</summary>
    public static readonly IReadOnlyList<string> QuantizedModelFiles =
        ["onnx/model_quantized.onnx", "onnx/model_qint8_avx512_vnni.onnx", "onnx/model_qint8_avx512.onnx", "onnx/model_int8.onnx", "model_quantized.onnx"];

    /// <summary>Reads the layout of <paramref name="directory"/>.</summary>
    /// <param name="directory">A sentence-transformers / Hugging Face model directory.</param>
    /// <param name="quantized">Use an int8 graph (see <see cref="QuantizedModelFiles"/>).</param>
    /// <param name="modelFile">Explicit ONNX file relative to the directory (overrides <paramref name="quantized"/>'s search).</param>
    public static SentenceEncoderLayout Load(string directory, bool quantized = false, string? modelFile = null)
    {
        if (!System.IO.Directory.Exists(directory)) throw new OpenBookException($"Model directory '{directory}' does not exist.");
        directory = Path.GetFullPath(directory);
        var modelPath = FindModelFile(directory, quantized, modelFile);

        var modulesPath = Path.Combine(directory, "modules.json");
        var modules = ModelJson.TryRead(modulesPath);
        string? poolingDir = "1_Pooling";
        bool normalize = false;
        if (modules is { } m)
        {
            if (m.ValueKind != System.Text.Json.JsonValueKind.Array) throw new OpenBookException($"'{modulesPath}' must be a JSON array of modules.");
            poolingDir = null;
            int i = 0;
            foreach (var module in m.EnumerateArray())
            {
                var type = ModelJson.String(module, "type", modulesPath) ?? throw new OpenBookException($"'{modulesPath}': module {i} has no field 'type'.");
                var path = ModelJson.String(module, "path", modulesPath) ?? "";
                if (type.EndsWith(".Pooling", StringComparison.Ordinal)) poolingDir = path;
                else if (type.EndsWith(".Normalize", StringComparison.Ordinal)) normalize = true;
                else if (!type.EndsWith(".Transformer", StringComparison.Ordinal))
                    throw new OpenBookException($"'{modulesPath}': module {i} has type '{type}'; supported: Transformer, Pooling, Normalize.");
                i++;
            }
            if (poolingDir is null) throw new OpenBookException($"'{modulesPath}' lists no sentence_transformers.models.Pooling module.");
        }

        var poolingPath = Path.Combine(directory, poolingDir, "config.json");
        var pooling = PoolingMode.Mean;
        int? dimension = null;
        if (ModelJson.TryRead(poolingPath) is { } pc)
        {
            pooling = ReadPooling(pc, poolingPath);
            dimension = ModelJson.Int(pc, "word_embedding_dimension", poolingPath);
        }
        else if (modules is not null)
            throw new OpenBookException($"Model file missing: '{poolingPath}' (named by modules.json's Pooling module).");

        var configPath = Path.Combine(directory, "config.json");
        var config = ModelJson.TryRead(configPath);
        dimension ??= ModelJson.Int(config, "hidden_size", configPath);
        int? maxPositions = ModelJson.Int(config, "max_position_embeddings", configPath);

        var stPath = Path.Combine(directory, "sentence_bert_config.json");
        var tcPath = Path.Combine(directory, "tokenizer_config.json");
        int? tokenizerMax = ModelJson.Int(ModelJson.TryRead(tcPath), "model_max_length", tcPath);
        if (tokenizerMax >= 100_000) tokenizerMax = null; // HF writes 1e30 for "no limit"
        int maxLength = ModelJson.Int(ModelJson.TryRead(stPath), "max_seq_length", stPath) ?? tokenizerMax ?? maxPositions ?? 512;
        if (maxPositions is int mp) maxLength = Math.Min(maxLength, mp);
        if (maxLength < 2) throw new OpenBookException($"'{stPath}': field 'max_seq_length' must be at least 2, found {maxLength}.");

        var promptsPath = Path.Combine(directory, "config_sentence_transformers.json");
        var prompts = ModelJson.Field(ModelJson.TryRead(promptsPath), "prompts");
        var prefixes = prompts is null
            ? EmbeddingPrefixes.None
            : new EmbeddingPrefixes(
                ModelJson.String(prompts, "query", promptsPath) ?? "",
                ModelJson.String(prompts, "passage", promptsPath) ?? ModelJson.String(prompts, "document", promptsPath) ?? "");

        return new SentenceEncoderLayout(directory, modelPath, quantized || IsQuantizedName(modelPath),
            pooling, normalize, maxLength, dimension, prefixes);
    }

    private static bool IsQuantizedName(string path) =>
        Path.GetFileName(path).Contains("quant", StringComparison.OrdinalIgnoreCase) || Path.GetFileName(path).Contains("int8", StringComparison.OrdinalIgnoreCase);

    internal static string FindModelFile(string directory, bool quantized, string? modelFile)
    {
        if (modelFile is not null)
        {
            var p = Path.Combine(directory, modelFile);
            return File.Exists(p) ? p : throw new OpenBookException($"Model file missing: '{p}'.");
        }
        var candidates = quantized ? QuantizedModelFiles : ModelFiles;
        foreach (var c in candidates)
        {
            var p = Path.Combine(directory, c);
            if (File.Exists(p)) return p;
        }
        throw new OpenBookException(
            $"No {(quantized ? "int8 " : "")}ONNX model in '{directory}': looked for {string.Join(", ", candidates)}.");
    }

    private static PoolingMode ReadPooling(System.Text.Json.JsonElement config, string path)
    {
        foreach (var unsupported in new[] { "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken" })
            if (ModelJson.Bool(config, unsupported, path) == true)
                throw new OpenBookException($"'{path}': field '{unsupported}' is true; supported pooling: cls, mean, max, mean_sqrt_len.");
        var modes = new List<PoolingMode>();
        if (ModelJson.Bool(config, "pooling_mode_cls_token", path) == true) modes.Add(PoolingMode.Cls);
        if (ModelJson.Bool(config, "pooling_mode_mean_tokens", path) == true) modes.Add(PoolingMode.Mean);
        if (ModelJson.Bool(config, "pooling_mode_max_tokens", path) == true) modes.Add(PoolingMode.Max);
        if (ModelJson.Bool(config, "pooling_mode_mean_sqrt_len_tokens", path) == true) modes.Add(PoolingMode.MeanSqrtLength);
        return modes.Count switch
        {
            1 => modes[0],
            0 => throw new OpenBookException($"'{path}': no pooling_mode_* field is true (expected one of pooling_mode_cls_token, pooling_mode_mean_tokens, pooling_mode_max_tokens, pooling_mode_mean_sqrt_len_tokens)."),
            _ => throw new OpenBookException($"'{path}': {modes.Count} pooling_mode_* fields are true; OpenBook supports exactly one."),
        };
    }
}
