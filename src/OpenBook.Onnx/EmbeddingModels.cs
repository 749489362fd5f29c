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
    /// <summary>
    /// Chunks to hand the generator per call when embedding a collection (<c>EmbeddingSettings.BatchSize</c>): 256 for
    /// local ONNX encoders, which sort each call by length so batches pad little (on the handbook, 64-chunk calls in
    /// document order ran the int8 MiniLM at about half the chunks per CPU-second of 300-chunk calls); 64 for remote APIs.
    /// </summary>
    public int IngestBatchSize { get; init; } = Generator is OnnxSentenceEncoder ? 256 : 64;

    /// <summary>This model behind a <see cref="CachingEmbeddingGenerator"/> over the store's embedding cache.</summary>
    public CachingEmbeddingGenerator WithCache(DocumentStore store) => new(Generator, new EmbeddingCache(store), CacheModelId);

    /// <inheritdoc />
    public void Dispose() => Generator.Dispose();
}

/// <summary>
/// Opens an embedding model from the spec a user types (<c>openbook ingest --embed SPEC</c>):
/// <list type="bullet">
/// <item>a directory path: a local sentence-transformers model run with ONNX Runtime;</item>
/// <item>a built-in encoder name (<c>minilm</c>, <c>arctic-xs</c>, <c>minilm-int8</c>…; see <see cref="BuiltInEncoders"/>), also
/// reached through its Hugging Face id when that model is not downloaded;</item>
/// <item>a Hugging Face id (<c>sentence-transformers/all-MiniLM-L6-v2</c>): that model under the models directory
/// (<c>$OPENBOOK_MODELS</c>, default <c>~/.cache/openbook/models/ID</c>, where <c>openbook models pull</c> puts it);</item>
/// <item><c>openai:MODEL</c>: the OpenAI API (<c>OPENAI_API_KEY</c>);</item>
/// <item><c>http(s)://HOST/v1#MODEL</c>: any OpenAI-compatible server (Ollama, vLLM, LM Studio).</item>
/// </list>
/// </summary>
public static class EmbeddingModels
{
    /// <summary>
    /// The model <c>openbook ingest</c> embeds with when given neither <c>--embed</c> nor <c>--no-embed</c>: the int8 MiniLM
    /// (same hit@5 as fp32 on the sample handbook, about 3× the ingest speed; see the README).
    /// </summary>
    public const string DefaultIngestModel = BuiltInEncoders.DefaultName + BuiltInEncoders.Int8Suffix;

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
        return new EmbeddingModel(encoder, encoder.CacheModelId, encoder.Layout.Dimension);
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
        return new EmbeddingModel(onnx, onnx.CacheModelId, onnx.Layout.Dimension);
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
