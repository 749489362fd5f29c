using Microsoft.Extensions.AI;
using OpenBook.Embeddings;
using OpenBook.Models.Hub;
using OpenBook.Onnx;
using OpenBook.OpenAI;
using OpenBook.Retrieval.Hybrid;
using OpenBook.Storage;

namespace OpenBook.Runtime;

/// <summary>
/// Opens embedding models from the specs users type: a sentence-transformers directory (ONNX), a Hugging Face id
/// (looked up in the Hugging Face cache where <c>openbook models pull</c> puts it, then in <c>$OPENBOOK_MODELS</c>),
/// <c>openai:MODEL</c> (the OpenAI API, key from OPENAI_API_KEY) or <c>http(s)://HOST/v1#MODEL</c> (any
/// OpenAI-compatible server: Ollama, vLLM, LM Studio).
/// </summary>
public static class Embedders
{
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
        if (!Directory.Exists(spec) && spec.Count(c => c == '/') == 1
            && HubCache.FindSnapshot(HubOptions.FromEnvironment().CacheDir, spec, "main") is { } snapshot)
            return EmbeddingModels.Open(snapshot, (local ?? new OnnxEncoderOptions()) with { ModelId = spec });
        return EmbeddingModels.Open(spec, local);
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

/// <summary>How <see cref="BookSession.OpenAsync"/> opens a store.</summary>
public sealed record BookSessionOptions
{
    /// <summary>Embedding model spec (see <see cref="Embedders"/>); null: the one model recorded on the store's collections, if any.</summary>
    public string? Embed { get; init; }
    /// <summary>The retrieval mode the caller will use: lexical never loads an embedding model.</summary>
    public SearchMode Mode { get; init; } = SearchMode.Auto;
    /// <summary>Cross-encoder model directory (ONNX) for reranking, or null.</summary>
    public string? Rerank { get; init; }
    /// <summary>
    /// Fail when the store does not exist yet instead of creating it (read-only commands: a mistyped path must not
    /// become an empty store).
    /// </summary>
    public bool MustExist { get; init; }
    /// <summary>Vector index storage (f32, bf16, int8; see <see cref="EmbeddingSettings.Storage"/>); null keeps the index's own.</summary>
    public OpenBook.Retrieval.Vectors.VectorStorage? VectorStorage { get; init; }
}

/// <summary>
/// A <see cref="Book"/> opened with the embedding model its collections were ingested with (or the one asked for) and
/// an optional reranker, disposed together.
/// </summary>
public sealed class BookSession : IAsyncDisposable
{
    private readonly EmbeddingModel? _model;

    private BookSession(Book book, EmbeddingModel? model, OnnxCrossEncoder? reranker, IReadOnlyList<string> warnings)
    {
        Book = book;
        _model = model;
        Reranker = reranker;
        Warnings = warnings;
    }

    /// <summary>The book.</summary>
    public Book Book { get; }
    /// <summary>The reranker, when one was asked for.</summary>
    public IReranker? Reranker { get; }
    /// <summary>The embedding generator in use, or null (lexical only).</summary>
    public IEmbeddingGenerator<string, Embedding<float>>? Embeddings => _model?.Generator;
    /// <summary>Things the caller should tell the user (e.g. a recorded embedding model that could not be opened).</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>
    /// Opens the store. The embedding model is <see cref="BookSessionOptions.Embed"/> when given; otherwise, when the
    /// mode may use vectors, the one model recorded on the store's collections. In auto mode a recorded model that cannot
    /// be opened falls back to lexical search with a warning; in vector/hybrid mode it is an error.
    /// </summary>
    public static async Task<BookSession> OpenAsync(string store, BookSessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new BookSessionOptions();
        var exists = File.Exists(Path.Combine(store, DocumentStore.DatabaseFileName));
        if (options.MustExist && !exists) throw new OpenBookException($"no OpenBook store at {store}");
        var warnings = new List<string>();
        var spec = options.Embed;
        if (spec is null && options.Mode != SearchMode.Lexical && exists)
        {
            using var s = DocumentStore.Open(store);
            var recorded = s.Stats().PerCollection.Select(c => c.EmbeddingModel).OfType<string>().Distinct().ToList();
            if (recorded.Count > 1)
                throw new OpenBookException($"The store's collections use several embedding models ({string.Join(", ", recorded)}): pick one embedding model, or one collection.");
            spec = recorded.SingleOrDefault();
        }
        EmbeddingModel? model = null;
        if (spec is not null)
        {
            try
            {
                model = Embedders.Open(spec);
            }
            catch (OpenBookException e) when (options.Embed is null && options.Mode == SearchMode.Auto)
            {
                warnings.Add($"{e.Message} Searching lexically.");
            }
        }
        OnnxCrossEncoder? reranker = null;
        try
        {
            reranker = options.Rerank is { } dir ? OnnxCrossEncoder.Load(dir) : null;
            var name = spec is not null && Directory.Exists(spec) ? Path.GetFullPath(spec) : spec;
            var bookOptions = model is null ? new BookOptions() : new BookOptions { Embeddings = new EmbeddingSettings { Generator = model.Generator, ModelId = model.CacheModelId, Name = name, BatchSize = model.IngestBatchSize, Storage = options.VectorStorage } };
            return new BookSession(await Book.OpenAsync(store, bookOptions, cancellationToken).ConfigureAwait(false), model, reranker, warnings);
        }
        catch
        {
            model?.Dispose();
            reranker?.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Book.DisposeAsync().ConfigureAwait(false);
        _model?.Dispose();
        (Reranker as IDisposable)?.Dispose();
    }
}
