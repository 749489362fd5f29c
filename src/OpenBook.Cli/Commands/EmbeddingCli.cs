using Spectre.Console;
using System.CommandLine;
using OpenBook.Onnx;
using OpenBook.Storage;

namespace OpenBook.Cli.Commands;

/// <summary>A book opened by the CLI, with the embedding model it loaded (disposed together).</summary>
internal sealed class OpenedBook(Book book, EmbeddingModel? model) : IAsyncDisposable
{
    public Book Book { get; } = book;

    public async ValueTask DisposeAsync()
    {
        await Book.DisposeAsync();
        model?.Dispose();
    }
}

/// <summary>The <c>--embed</c> and <c>--mode</c> options, and opening a store with the right embedding model.</summary>
internal static class EmbeddingCli
{
    public static readonly Option<string?> Embed = new("--embed")
    {
        Description = "Embedding model: minilm or arctic-xs (built in, -int8 for the int8 variant), a sentence-transformers directory, a Hugging Face id pulled with `openbook models pull`, openai:MODEL, or http://HOST/v1#MODEL",
    };

    public static readonly Option<bool> NoEmbed = new("--no-embed")
    {
        Description = $"Lexical only: compute no vectors (default: the collection's recorded model, else the built-in {EmbeddingModels.DefaultIngestModel})",
    };

    /// <summary>
    /// The model an ingest embeds with: <c>--embed</c>; else nothing with <c>--no-embed</c>; else the model recorded on
    /// <paramref name="collection"/>; else <see cref="EmbeddingModels.DefaultIngestModel"/>.
    /// </summary>
    public static string? IngestSpec(ParseResult r, string store, string collection)
    {
        if (r.GetValue(Embed) is { } spec) return spec;
        if (r.GetValue(NoEmbed)) return null;
        if (File.Exists(Path.Combine(store, DocumentStore.DatabaseFileName)))
        {
            using var s = DocumentStore.Open(store);
            if (s.CollectionEmbeddingModel(collection) is { } recorded) return recorded;
        }
        return EmbeddingModels.DefaultIngestModel;
    }

    public static readonly Option<SearchMode> Mode = new("--mode")
    {
        Description = "Retrieval: lexical (BM25), vector, hybrid (RRF of both), or auto (hybrid when the store has embeddings)",
        DefaultValueFactory = _ => SearchMode.Auto,
    };

    public static readonly Option<string?> Rerank = new("--rerank")
    {
        Description = "Cross-encoder model directory (ms-marco-MiniLM layout, ONNX) that re-scores the first 20 results",
    };

    /// <summary>
    /// Opens an embedding model spec. A Hugging Face id is looked up first in the Hugging Face cache where
    /// <c>openbook models pull</c> puts it (HF_HOME/hub/models--org--name/snapshots/…), then in <c>$OPENBOOK_MODELS</c>.
    /// </summary>
    public static EmbeddingModel OpenModel(string spec)
    {
        var remote = spec.StartsWith("openai:", StringComparison.OrdinalIgnoreCase) || spec.Contains("://", StringComparison.Ordinal);
        if (!remote && !Directory.Exists(spec) && spec.Count(c => c == '/') == 1
            && OpenBook.Models.Hub.HubCache.FindSnapshot(OpenBook.Models.Hub.HubOptions.FromEnvironment().CacheDir, spec, "main") is { } snapshot)
            return EmbeddingModels.Open(snapshot, new OnnxEncoderOptions { ModelId = spec });
        return EmbeddingModels.Open(spec);
    }

    /// <summary>The cross-encoder named by <c>--rerank</c>, or null.</summary>
    public static OnnxCrossEncoder? Reranker(ParseResult r) => r.GetValue(Rerank) is { } dir ? OnnxCrossEncoder.Load(dir) : null;

    /// <summary>
    /// Opens the store. The embedding model is <c>--embed</c> when given; otherwise, when the mode may use vectors, the
    /// one model recorded on the store's collections. In auto mode a recorded model that cannot be opened falls back to
    /// lexical search with a warning; in vector/hybrid mode it is an error.
    /// </summary>
    /// <param name="r">The parsed command line.</param>
    /// <param name="ct">Cancellation.</param>
    /// <param name="mode">The retrieval the command will run.</param>
    /// <param name="storeDirectory">Store (default <c>--store</c>).</param>
    /// <param name="embedSpec">The model to open instead of <c>--embed</c> (ingest's default, <see cref="IngestSpec"/>).</param>
    public static async Task<OpenedBook> OpenAsync(ParseResult r, CancellationToken ct, SearchMode mode = SearchMode.Auto, string? storeDirectory = null, string? embedSpec = null)
    {
        var store = storeDirectory ?? r.GetValue(Cli.Store)!;
        var spec = embedSpec ?? r.GetValue(Embed);
        if (spec is null && mode != SearchMode.Lexical && File.Exists(Path.Combine(store, DocumentStore.DatabaseFileName)))
        {
            using var s = DocumentStore.Open(store);
            var recorded = s.Stats().PerCollection.Select(c => c.EmbeddingModel).OfType<string>().Distinct().ToList();
            if (recorded.Count > 1)
                throw new OpenBookException($"The store's collections use several embedding models ({string.Join(", ", recorded)}): pick one with --embed, or --collection.");
            spec = recorded.SingleOrDefault();
        }
        EmbeddingModel? model = null;
        if (spec is not null)
        {
            try
            {
                model = OpenModel(spec);
            }
            catch (OpenBookException e) when (r.GetValue(Embed) is null && mode == SearchMode.Auto)
            {
                Cli.ErrConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(e.Message)} Searching lexically.");
            }
        }
        var name = spec is not null && Directory.Exists(spec) ? Path.GetFullPath(spec) : spec;
        var options = model is null ? new BookOptions() : new BookOptions { Embeddings = new EmbeddingSettings { Generator = model.Generator, ModelId = model.CacheModelId, Name = name, BatchSize = model.IngestBatchSize } };
        try
        {
            return new OpenedBook(await Book.OpenAsync(store, options, ct), model);
        }
        catch
        {
            model?.Dispose();
            throw;
        }
    }
}
