using Microsoft.Extensions.AI;
using OpenBook.Evaluation;
using OpenBook.Models.Prompting;

namespace OpenBook.Models.Evaluation;

/// <summary>The model alone, closed-book: the question is sent without any document ("base", or "ft" with a fine-tuned model).</summary>
public sealed class ClosedBookMode(IChatClient client, string name, string modelName) : IEvalMode
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
            [new ChatMessage(ChatRole.System, SystemPrompt), new ChatMessage(ChatRole.User, question.Question)], cancellationToken: cancellationToken).ConfigureAwait(false);
        var text = response.Text.Trim();
        var refused = text.Contains("don't know", StringComparison.OrdinalIgnoreCase) || text.Contains(Answer.NotInDocuments, StringComparison.OrdinalIgnoreCase);
        return new ModeAnswer(text, refused, [], [], response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
    }
}

/// <summary>Open-book: retrieval, then the model answers from numbered passages with [n] citations ("rag").</summary>
public sealed class RetrievalAugmentedMode(Book book, IChatClient client, string name, string modelName, int k = 5, SearchMode searchMode = SearchMode.Auto) : IEvalMode
{
    private readonly GroundedAnswerer _answerer = new(client);

    /// <inheritdoc />
    public string Name => name;

    /// <inheritdoc />
    public string Description => $"{modelName} with the top {k} passages ({searchMode.ToString().ToLowerInvariant()} retrieval), cite [n]";

    /// <inheritdoc />
    public bool UsesRetrieval => true;

    /// <inheritdoc />
    public async Task<ModeAnswer> AnswerAsync(EvalQuestion question, CancellationToken cancellationToken)
    {
        var hits = await book.SearchAsync(question.Question, new SearchOptions { K = k, Mode = searchMode }, cancellationToken).ConfigureAwait(false);
        var answer = await _answerer.AnswerAsync(question.Question, hits, cancellationToken).ConfigureAwait(false);
        return new ModeAnswer(answer.Text, !answer.Found, answer.Citations, hits, answer.InputTokens, answer.OutputTokens);
    }
}

/// <summary>
/// RAFT: retrieval, then a RAFT-trained model answers with the RAFT prompt (documents in &lt;DOCUMENT&gt; tags) and a
/// chain of thought; citations are the passages its quotes come from verbatim ("raft").
/// </summary>
public sealed class RaftMode(Book book, IChatClient client, string name, string modelName, int k = 5, SearchMode searchMode = SearchMode.Auto) : IEvalMode
{
    private readonly Raft.RaftAnswerer _answerer = new(client, new ChatOptions { Temperature = 0, MaxOutputTokens = 256 });

    /// <inheritdoc />
    public string Name => name;

    /// <inheritdoc />
    public string Description => $"{modelName} with the top {k} passages in the RAFT prompt, quotes verified";

    /// <inheritdoc />
    public bool UsesRetrieval => true;

    /// <inheritdoc />
    public async Task<ModeAnswer> AnswerAsync(EvalQuestion question, CancellationToken cancellationToken)
    {
        var hits = await book.SearchAsync(question.Question, new SearchOptions { K = k, Mode = searchMode }, cancellationToken).ConfigureAwait(false);
        var raft = await _answerer.AnswerAsync(question.Question, hits, cancellationToken).ConfigureAwait(false);
        var a = raft.Answer;
        return new ModeAnswer(a.Text, !a.Found, a.Citations, hits, a.InputTokens, a.OutputTokens);
    }
}
