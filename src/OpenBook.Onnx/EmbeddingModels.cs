using Microsoft.Extensions.AI;
using OpenBook.Embeddings;

namespace OpenBook.Onnx;

/// <summary>
/// Opens an embedding model from the spec a user types (<c>openbook ingest --embed SPEC</c>):
/// <list type="bullet">
/// <item>a directory path: a local sentence-transformers model run with ONNX Runtime;</item>
/// <item>a built-in encoder name (<c>minilm</c>, <c>arctic-xs</c>, <c>minilm-int8</c>…; see <see cref="BuiltInEncoders"/>), also
/// reached through its Hugging Face id when that model is not downloaded;</item>
/// <item>a Hugging Face id (<c>sentence-transformers/all-MiniLM-L6-v2</c>): that model under the models directory
/// (<c>$OPENBOOK_MODELS</c>, default <c>~/.cache/openbook/models/ID</c>, where <c>openbook models pull</c> puts it);</item>
/// </list>
/// Remote specs (<c>openai:MODEL</c>, <c>http(s)://HOST/v1#MODEL</c>) are opened by OpenBook.Runtime's <c>Embedders</c>,
/// which also looks in the Hugging Face cache.
/// </summary>
public static class EmbeddingModels
{
    /// <summary>
    /// The model <c>openbook ingest</c> embeds with when given neither <c>--embed</c> nor <c>--no-embed</c>: the int8 MiniLM
    /// (same hit@5 as fp32 on the sample handbook, about 3× the ingest speed; see the README).
    /// </summary>
    public const string DefaultIngestModel = BuiltInEncoders.DefaultName + BuiltInEncoders.Int8Suffix;

    /// <summary>Chunks per embedding call for local encoders (see <see cref="EmbeddingModel.IngestBatchSize"/>).</summary>
    public const int LocalIngestBatchSize = 256;

    /// <summary>Where Hugging Face model ids are looked up.</summary>
    public static string ModelsDirectory =>
        Environment.GetEnvironmentVariable("OPENBOOK_MODELS") is { Length: > 0 } d ? d
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "openbook", "models");

    /// <summary>Opens <paramref name="spec"/> (see the class summary).</summary>
    /// <param name="spec">Model spec.</param>
    /// <param name="local">Options for local ONNX models (int8, threads, batch size).</param>
    public static EmbeddingModel Open(string spec, OnnxEncoderOptions? local = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);

        string dir = spec;
        if (!Directory.Exists(dir))
        {
            var cached = Path.Combine(ModelsDirectory, spec.Replace('/', Path.DirectorySeparatorChar));
            if (!Directory.Exists(cached) && BuiltInEncoders.TryFind(spec, out var builtIn, out var int8))
                return OpenBuiltIn(builtIn, int8, local);
            if (!Directory.Exists(cached))
                throw new OpenBookException(
                    $"Embedding model '{spec}' is neither a directory, a built-in encoder ({string.Join(", ", BuiltInEncoders.All.Select(e => e.Name))}, with -int8 for the int8 variant) nor downloaded to '{cached}'. " +
                    $"Run `openbook models pull {spec}`, or pass a model directory, openai:MODEL or http://HOST/v1#MODEL.");
            dir = cached;
            local = (local ?? new OnnxEncoderOptions()) with { ModelId = local?.ModelId ?? spec };
        }
        var encoder = OnnxSentenceEncoder.Load(dir, local);
        return new EmbeddingModel(encoder, encoder.CacheModelId, encoder.Layout.Dimension) { IngestBatchSize = LocalIngestBatchSize };
    }

    /// <summary>
    /// Opens a built-in encoder (see <see cref="BuiltInEncoders"/>): materialised into the models cache on first use,
    /// hash-checked (and repaired) on every open. Its model id is the Hub id, "+int8" for the int8 variant.
    /// </summary>
    public static EmbeddingModel OpenBuiltIn(BuiltInEncoder encoder, bool int8 = false, OnnxEncoderOptions? local = null, string? modelsDirectory = null)
    {
        var materialized = BuiltInEncoders.Materialize(encoder, int8, modelsDirectory);
        var options = (local ?? new OnnxEncoderOptions()) with
        {
            ModelId = local?.ModelId ?? encoder.HubId + (int8 ? "+int8" : ""),
            Quantized = int8 || (local?.Quantized ?? false),
        };
        var onnx = OnnxSentenceEncoder.Load(materialized.Directory, options);
        return new EmbeddingModel(onnx, onnx.CacheModelId, onnx.Layout.Dimension) { IngestBatchSize = LocalIngestBatchSize };
    }
}
