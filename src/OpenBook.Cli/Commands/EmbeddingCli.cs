using System.CommandLine;
using OpenBook.Runtime;

namespace OpenBook.Cli.Commands;

/// <summary>The <c>--embed</c>, <c>--mode</c> and <c>--rerank</c> options, and opening a store with the right embedding model.</summary>
internal static class EmbeddingCli
{
    public static readonly Option<string?> Embed = new("--embed")
    {
        Description = "Embedding model: minilm or arctic-xs (built in, -int8 for the int8 variant), a sentence-transformers directory, a Hugging Face id pulled with `openbook models pull`, openai:MODEL, or http://HOST/v1#MODEL",
    };

    public static readonly Option<bool> NoEmbed = new("--no-embed")
    {
        Description = $"Lexical only: compute no vectors (default: the collection's recorded model, else the built-in {OpenBook.Onnx.EmbeddingModels.DefaultIngestModel})",
    };

    public static readonly Option<string?> VectorStorage = new("--vector-storage")
    {
        Description = "What the vector index stores and walks: f32, bf16, or int8 (candidates re-ranked exactly from float32 kept in the index file); default: keep the index's own (f32 for a new one)",
    };

    public static readonly Option<SearchMode> Mode = new("--mode")
    {
        Description = "Retrieval: lexical (BM25), vector, hybrid (RRF of both), or auto (hybrid when the store has embeddings)",
        DefaultValueFactory = _ => SearchMode.Auto,
    };

    public static readonly Option<string?> Rerank = new("--rerank")
    {
        Description = "Cross-encoder model directory (ms-marco-MiniLM layout, ONNX) that re-scores the first 20 results",
    };

    /// <summary>Opens the <c>--store</c> as a <see cref="BookSession"/> (<c>--embed</c>, <c>--mode</c>, <c>--rerank</c>); prints its warnings.</summary>
    /// <param name="embedSpec">The model to open instead of <c>--embed</c> (ingest's default, <see cref="IngestEmbedding.Spec"/>).</param>
    public static async Task<BookSession> OpenAsync(ParseResult r, CancellationToken ct, SearchMode? mode = null, string? storeDirectory = null, bool mustExist = true,
        string? embedSpec = null)
    {
        var session = await BookSession.OpenAsync(storeDirectory ?? r.GetValue(Cli.Store)!, new BookSessionOptions
        {
            Embed = embedSpec ?? TryGet(r, Embed), Mode = mode ?? TryGet(r, Mode), Rerank = TryGet(r, Rerank), MustExist = mustExist, // no --mode option: default(SearchMode) is Auto
            VectorStorage = TryGet(r, VectorStorage) is { } storage ? OpenBook.Retrieval.Vectors.VectorStorageNames.Parse(storage) : null,
        }, ct);
        foreach (var w in session.Warnings) Cli.Warn(w);
        return session;
    }

    /// <summary>The model an ingest into <paramref name="collection"/> embeds with (<c>--embed</c>, <c>--no-embed</c>, else <see cref="IngestEmbedding.Spec"/>).</summary>
    public static string? IngestSpec(ParseResult r, string store, string collection) =>
        IngestEmbedding.Spec(store, collection, TryGet(r, Embed), TryGet(r, NoEmbed));

    /// <summary>An option's value, or null when the command does not have it.</summary>
    private static T? TryGet<T>(ParseResult r, Option<T> option) => r.CommandResult.Command.Options.Contains(option) ? r.GetValue(option) : default;
}
