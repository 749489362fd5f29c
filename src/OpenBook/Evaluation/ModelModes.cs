using OpenBook.Retrieval;
using Microsoft.Extensions.AI;
using OpenBook.Answering;

namespace OpenBook.Evaluation;

/// <summary>The model alone, closed-book: the question is sent without any document ("base", or "ft" with a fine-tuned model).</summary>
public sealed class ClosedBookMode(IChatClient client, string name, string modelName, ChatOptions? chatOptions = null) : IEvalMode
{
    /// <summary>System prompt: answer briefly, admit when unsure (so refusals can be counted).</summary>
    public const string SystemPrompt = "Answer the question briefly. If you do not know the answer, reply exactly: I don't know.";

    /// <inheritdoc />
    public string Name => name;

    /// <inheritdoc />
    public string Description => $"{modelName} alone, no documents";

    /// <inheritdoc />
    public bool UsesRetrieval => false;

    /// <inheritdoc />
    public async Task<ModeAnswer> AnswerAsync(EvalQuestion question, CancellationToken cancellationToken)
    {
        var response = await client.GetResponseAsync(
            [new ChatMessage(ChatRole.System, SystemPrompt), new ChatMessage(ChatRole.User, question.Question)], chatOptions, cancellationToken).ConfigureAwait(false);
        var text = response.Text.Trim();
        var refused = AnswerMetrics.IsRefusal(text);
        return new ModeAnswer(text, refused, [], [], response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
    }
}

/// <summary>
/// A model mode that answers from retrieved passages: it searches the book for the top <paramref name="k"/> passages,
/// then answers with them (or with any context a distractor sweep hands it).
/// </summary>
public abstract class RetrievalModelMode(Book book, string name, int k, SearchMode searchMode, SearchFilter? filter = null) : IContextEvalMode
{
    /// <inheritdoc />
    public string Name => name;

    /// <inheritdoc />
    public abstract string Description { get; }

    /// <inheritdoc />
    public bool UsesRetrieval => true;

    /// <summary>How the passages were retrieved, for <see cref="Description"/>.</summary>
    protected string RetrievalDescription => $"the top {k} passages ({book.DescribeSearchMode(searchMode)} retrieval)";

    /// <inheritdoc />
    public async Task<ModeAnswer> AnswerAsync(EvalQuestion question, CancellationToken cancellationToken)
    {
        var hits = await book.SearchAsync(question.Question, new SearchOptions { K = k, Mode = searchMode, Filter = filter }, cancellationToken).ConfigureAwait(false);
        return await AnswerWithContextAsync(question, hits, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public abstract Task<ModeAnswer> AnswerWithContextAsync(EvalQuestion question, IReadOnlyList<SearchHit> context, CancellationToken cancellationToken);
}

/// <summary>Open-book: retrieval, then the model answers from numbered passages with [n] citations ("rag").</summary>
public sealed class RetrievalAugmentedMode(Book book, IChatClient client, string name, string modelName, int k = 5, SearchMode searchMode = SearchMode.Auto,
    ChatOptions? chatOptions = null, SearchFilter? filter = null) : RetrievalModelMode(book, name, k, searchMode, filter)
{
    private readonly GroundedAnswerer _answerer = new(client, chatOptions: chatOptions);

    /// <inheritdoc />
    public override string Description => $"{modelName} with {RetrievalDescription}, cite [n]";

    /// <inheritdoc />
    public override async Task<ModeAnswer> AnswerWithContextAsync(EvalQuestion question, IReadOnlyList<SearchHit> context, CancellationToken cancellationToken)
    {
        var answer = await _answerer.AnswerAsync(question.Question, context, cancellationToken).ConfigureAwait(false);
        return new ModeAnswer(answer.Text, !answer.Found || AnswerMetrics.IsRefusal(answer.Text), answer.Citations, context, answer.InputTokens, answer.OutputTokens);
    }
}

/// <summary>
/// RAFT ("raft"): retrieval, then the model is prompted exactly as RAFT training formats its examples (the passages in
/// &lt;DOCUMENT&gt; tags, then the question; see <see cref="RaftAnswerer"/>). The final answer is read after
/// <c>&lt;ANSWER&gt;:</c> (the whole reply when the marker is missing); the citations are the passages its
/// <c>##begin_quote##</c> quotes come from verbatim (whitespace collapsed), and quotes found in no passage are counted.
/// </summary>
public sealed class RaftMode(Book book, IChatClient client, string name, string modelName, int k = 5, SearchMode searchMode = SearchMode.Auto,
    ChatOptions? chatOptions = null, SearchFilter? filter = null) : RetrievalModelMode(book, name, k, searchMode, filter)
{
    private readonly RaftAnswerer _answerer = new(client, chatOptions ?? new ChatOptions { Temperature = 0, MaxOutputTokens = 256 });

    /// <inheritdoc />
    public override string Description => $"{modelName} with {RetrievalDescription} in the RAFT prompt, verbatim quotes";

    /// <inheritdoc />
    public override async Task<ModeAnswer> AnswerWithContextAsync(EvalQuestion question, IReadOnlyList<SearchHit> context, CancellationToken cancellationToken)
    {
        var raft = await _answerer.AnswerAsync(question.Question, context, cancellationToken).ConfigureAwait(false);
        var a = raft.Answer;
        return new ModeAnswer(a.Text, !a.Found || AnswerMetrics.IsRefusal(a.Text), a.Citations, context, a.InputTokens, a.OutputTokens, raft.Quotes, raft.UnverifiedQuotes);
    }
}
