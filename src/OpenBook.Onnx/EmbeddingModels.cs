using Microsoft.Extensions.AI;
using OpenBook.Embeddings;
using OpenBook.Onnx.Remote;
using OpenBook.Storage;

namespace OpenBook.Onnx;

/// <summary>An embedding generator ready for ingestion and search, with the id its vectors are cached under.</summary>
/// <param name="Generator">The generator (local ONNX encoder or remote client).</param>
/// <param name="CacheModelId">Key of its vectors in the embedding cache (includes a fingerprint of local model files).</param>
/// <param name="Dimension">Embedding dimension if known before the first call.</param>
public sealed record EmbeddingModel(IEmbeddingGenerator<string, Embedding<float>> Generator, string CacheModelId, int? Dimension) : IDisposable
{
    /// <summary>This model behind a <see cref="CachingEmbeddingGenerator"/> over the store's embedding cache.</summary>
    public CachingEmbeddingGenerator WithCache(DocumentStore store) => new(Generator, new EmbeddingCache(store), CacheModelId);

    /// <inheritdoc />
    public void Dispose() => Generator.Dispose();
}

/// <summary>
/// Opens an embedding model from the spec a user types (<c>openbook ingest --embed SPEC</c>):
/// <list type="bullet">
/// <item>a directory path: a local sentence-transformers model run with ONNX Runtime;</item>
/// <item>a Hugging Face id (<c>sentence-transformers/all-MiniLM-L6-v2</c>): that model under the models directory
/// (<c>$OPENBOOK_MODELS</c>, default <c>~/.cache/openbook/models/ID</c>, where <c>openbook models pull</c> puts it);</item>
/// <item><c>openai:MODEL</c>: the OpenAI API (<c>OPENAI_API_KEY</c>);</item>
/// <item><c>http(s)://HOST/v1#MODEL</c>: any OpenAI-compatible server (Ollama, vLLM, LM Studio).</item>
/// </list>
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
    /// <param name="remote">Options for remote models (the spec's model and endpoint override these).</param>
    public static EmbeddingModel Open(string spec, OnnxEncoderOptions? local = null, RemoteEmbeddingOptions? remote = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        if (spec.StartsWith("openai:", StringComparison.OrdinalIgnoreCase))
            return Remote(spec["openai:".Length..], null, remote);
        if (spec.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || spec.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            int hash = spec.LastIndexOf('#');
            if (hash < 0 || hash == spec.Length - 1)
                throw new OpenBookException($"Embedding model '{spec}': name the model after '#', e.g. http://localhost:11434/v1#nomic-embed-text.");
            return Remote(spec[(hash + 1)..], new Uri(spec[..hash]), remote);
        }

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

    private static EmbeddingModel Remote(string model, Uri? endpoint, RemoteEmbeddingOptions? options)
    {
        if (string.IsNullOrWhiteSpace(model)) throw new OpenBookException("Remote embedding model name is empty.");
        var o = (options ?? new RemoteEmbeddingOptions { Model = model }) with { Model = model, Endpoint = endpoint ?? options?.Endpoint };
        var id = o.Endpoint is null ? $"openai:{model}" : $"{o.Endpoint.GetLeftPart(UriPartial.Authority)}#{model}";
        if (o.Dimensions is int d) id += $"@{d}";
        return new EmbeddingModel(RemoteEmbeddings.Create(o), id, o.Dimensions);
    }
}
