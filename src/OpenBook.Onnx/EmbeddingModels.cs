using Microsoft.Extensions.AI;
using OpenBook.Embeddings;

namespace OpenBook.Onnx;

/// <summary>
/// Opens an embedding model from the spec a user types (<c>openbook ingest --embed SPEC</c>):
/// <list type="bullet">
/// <item>a directory path: a local sentence-transformers model run with ONNX Runtime;</item>
/// <item>a Hugging Face id (<c>sentence-transformers/all-MiniLM-L6-v2</c>): that model under the models directory
/// (<c>$OPENBOOK_MODELS</c>, default <c>~/.cache/openbook/models/ID</c>, where <c>openbook models pull</c> puts it);</item>
/// </list>
/// Remote specs (<c>openai:MODEL</c>, <c>http(s)://HOST/v1#MODEL</c>) are opened by OpenBook.Runtime's <c>Embedders</c>,
/// which also looks in the Hugging Face cache.
/// </summary>
public static class EmbeddingModels
{
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
            if (!Directory.Exists(cached))
                throw new OpenBookException(
                    $"Embedding model '{spec}' is neither a directory nor downloaded to '{cached}'. Run `openbook models pull {spec}`, or pass a model directory, openai:MODEL or http://HOST/v1#MODEL.");
            dir = cached;
            local = (local ?? new OnnxEncoderOptions()) with { ModelId = local?.ModelId ?? spec };
        }
        var encoder = OnnxSentenceEncoder.Load(dir, local);
        return new EmbeddingModel(encoder, encoder.CacheModelId, encoder.Layout.Dimension);
    }
}
