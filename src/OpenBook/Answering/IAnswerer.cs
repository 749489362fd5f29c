using Microsoft.Extensions.AI;

namespace OpenBook.Answering;

/// <summary>What an <see cref="IAnswerer"/> answers: the question, the passages retrieved for it, and the conversation so far.</summary>
/// <param name="Question">The question as asked.</param>
/// <param name="Passages">Retrieved passages, in rank order (passage [n] is <c>Passages[n - 1]</c>).</param>
/// <param name="History">Earlier turns of the conversation (user and assistant messages), oldest first; empty for a single question.</param>
public sealed record AnswerRequest(string Question, IReadOnlyList<SearchHit> Passages, IReadOnlyList<ChatMessage> History);

/// <summary>
/// A piece of a streamed answer: text as it is produced, then one last update carrying the complete
/// <see cref="Answer"/> (text, citations, token counts).
/// </summary>
/// <param name="TextDelta">Newly produced answer text (empty in the final update).</param>
/// <param name="Completed">The whole answer, set on the final update only.</param>
public sealed record AnswerUpdate(string TextDelta, Answer? Completed = null);

/// <summary>
/// Writes an answer from retrieved passages. OpenBook ships three: extractive (no model, the default of
/// <see cref="Book.AskAsync(string, AskOptions?, CancellationToken)"/>), <see cref="GroundedAnswerer"/> (any
/// <see cref="IChatClient"/>, [n] citations) and <see cref="RaftAnswerer"/> (the prompt RAFT adapters are trained with).
/// </summary>
public interface IAnswerer
{
    /// <summary>The prompt this answerer uses.</summary>
    AnswerPrompt Prompt { get; }

    /// <summary>Answers in one go.</summary>
    Task<Answer> AnswerAsync(AnswerRequest request, CancellationToken cancellationToken = default);

    /// <summary>Streams the answer: text deltas, then a final update with the complete answer.</summary>
    IAsyncEnumerable<AnswerUpdate> StreamAsync(AnswerRequest request, CancellationToken cancellationToken = default);
}

/// <summary>The prompt an answer was produced with.</summary>
public enum AnswerPrompt
{
    /// <summary>No prompt: sentences extracted from the passages.</summary>
    Extractive,
    /// <summary>Numbered, delimited passages; the model cites [n] (<see cref="GroundedPrompt"/>).</summary>
    Grounded,
    /// <summary>The RAFT training prompt: &lt;DOCUMENT&gt; tags, quotes, <c>&lt;ANSWER&gt;:</c> (<see cref="RaftPrompt"/>).</summary>
    Raft,
}
