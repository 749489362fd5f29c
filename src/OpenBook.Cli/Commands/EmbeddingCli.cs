using System.CommandLine;
using OpenBook.Runtime;

namespace OpenBook.Cli.Commands;

/// <summary>The <c>--embed</c>, <c>--mode</c> and <c>--rerank</c> options, and opening a store with the right embedding model.</summary>
internal static class EmbeddingCli
{
    public static readonly Option<string?> Embed = new("--embed")
    {
        Description = "Embedding model: a sentence-transformers directory, a Hugging Face id pulled with `openbook models pull`, openai:MODEL, or http://HOST/v1#MODEL",
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
    public static async Task<BookSession> OpenAsync(ParseResult r, CancellationToken ct, SearchMode? mode = null, string? storeDirectory = null, bool mustExist = true)
    {
        var session = await BookSession.OpenAsync(storeDirectory ?? r.GetValue(Cli.Store)!, new BookSessionOptions
        {
            Embed = TryGet(r, Embed), Mode = mode ?? (TryGet(r, Mode) is var m && m != default ? m : SearchMode.Auto), Rerank = TryGet(r, Rerank), MustExist = mustExist,
        }, ct);
        foreach (var w in session.Warnings) Cli.Warn(w);
        return session;
    }

    /// <summary>An option's value, or null when the command does not have it.</summary>
    private static T? TryGet<T>(ParseResult r, Option<T> option) => r.CommandResult.Command.Options.Contains(option) ? r.GetValue(option) : default;
}
