using Microsoft.Extensions.AI;
using OpenBook.Answering;
using OpenBook.Retrieval;
using OpenBook.Runtime;

namespace OpenBook.Server;

/// <summary>A question ready to be answered: what the answerer is asked and with which options.</summary>
/// <param name="Question">What the answerer is given: the question, or for extractive answers (which see no history) the standalone query.</param>
/// <param name="Options">Retrieval and answering options (access filter, history, retrieval query).</param>
/// <param name="Query">The standalone retrieval query and how it was obtained.</param>
internal sealed record PreparedQuestion(string Question, AskOptions Options, FollowUpQuery Query);

/// <summary>Turns a question, its conversation and the caller's access into a <see cref="PreparedQuestion"/>.</summary>
internal sealed class Asker(BookSession session, ServedModels models, ServerOptions options)
{
    public Book Book => session.Book;

    /// <summary>
    /// Rewrites a follow-up into a standalone retrieval query (the configured model, else the rule), keeps the last
    /// <see cref="ServerOptions.HistoryMessages"/> messages for the prompt, and searches as <paramref name="scope"/>.
    /// </summary>
    public async Task<PreparedQuestion> PrepareAsync(string question, IReadOnlyList<ChatMessage> history, ServedModel model, AccessScope scope,
        IReadOnlyList<string>? collections, int? k, CancellationToken ct)
    {
        var query = await FollowUp.RewriteAsync(question, history, models.Rewriter, ct).ConfigureAwait(false);
        var ask = new AskOptions
        {
            K = Math.Clamp(k ?? options.K, 1, 50),
            Filter = new SearchFilter { Groups = scope.Groups, AllAccess = scope.AllAccess, Collections = collections is { Count: > 0 } ? collections : null },
            Reranker = session.Reranker,
            Answerer = model.Answerer,
            History = history.TakeLast(options.HistoryMessages).ToList(),
            RetrievalQuery = query.Query,
        };
        return new PreparedQuestion(model.Answerer is null ? query.Query : question, ask, query);
    }

    public Task<Answer> AskAsync(PreparedQuestion q, CancellationToken ct) => session.Book.AskAsync(q.Question, q.Options, ct);

    public IAsyncEnumerable<AnswerUpdate> StreamAsync(PreparedQuestion q, CancellationToken ct) => session.Book.AskStreamingAsync(q.Question, q.Options, ct);
}
