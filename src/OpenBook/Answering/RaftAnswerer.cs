using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace OpenBook.Answering;

/// <summary>
/// Answers with the RAFT prompt a RAFT adapter was trained on (system prompt, retrieved passages in
/// &lt;DOCUMENT&gt; tags, the question), then reads the chain-of-thought reply: the final answer after
/// <c>&lt;ANSWER&gt;:</c>, and as citations the passages its <c>##begin_quote##</c> quotes come from verbatim.
/// Quotes found in no passage are counted in <see cref="RaftAnswer.UnverifiedQuotes"/>. Conversation history is not
/// part of the RAFT training prompt and is not sent.
/// </summary>
public sealed class RaftAnswerer(IChatClient client, ChatOptions? chatOptions = null) : IAnswerer
{
    /// <inheritdoc />
    public AnswerPrompt Prompt => AnswerPrompt.Raft;

    /// <summary>The messages sent for <paramref name="question"/> over <paramref name="passages"/>.</summary>
    public static IReadOnlyList<ChatMessage> Messages(string question, IReadOnlyList<SearchHit> passages) =>
    [
        new(ChatRole.System, RaftPrompt.SystemPrompt),
        new(ChatRole.User, RaftPrompt.Instruction(passages.Select(p => p.Text).ToList(), question)),
    ];

    /// <summary>Asks the model and parses its reply, with the quote counts.</summary>
    public async Task<RaftAnswer> AnswerAsync(string question, IReadOnlyList<SearchHit> passages, CancellationToken cancellationToken = default)
    {
        var response = await client.GetResponseAsync(Messages(question, passages), chatOptions, cancellationToken).ConfigureAwait(false);
        return Parse(response.Text, passages, response.ModelId, response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
    }

    /// <inheritdoc />
    public async Task<Answer> AnswerAsync(AnswerRequest request, CancellationToken cancellationToken = default) =>
        (await AnswerAsync(request.Question, request.Passages, cancellationToken).ConfigureAwait(false)).Answer;

    /// <summary>
    /// Streams the raw reply (reasoning, quotes and the final answer as the model writes them), then the parsed answer.
    /// </summary>
    public async IAsyncEnumerable<AnswerUpdate> StreamAsync(AnswerRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(Messages(request.Question, request.Passages), chatOptions, cancellationToken).ConfigureAwait(false))
        {
            updates.Add(u);
            if (u.Text.Length > 0) yield return new AnswerUpdate(u.Text);
        }
        var response = updates.ToChatResponse();
        yield return new AnswerUpdate("", Parse(response.Text, request.Passages, response.ModelId, response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount).Answer);
    }

    /// <summary>Reads a RAFT reply against the passages it was given.</summary>
    public static RaftAnswer Parse(string reply, IReadOnlyList<SearchHit> passages, string? model = null, long? inputTokens = null, long? outputTokens = null)
    {
        var final = RaftPrompt.FinalAnswer(reply) ?? reply.Trim();
        var collapsed = passages.Select(p => RaftPrompt.Collapse(p.Text)).ToList();
        var cited = new List<int>();
        int unverified = 0;
        var quotes = RaftPrompt.Quotes(reply);
        foreach (var q in quotes)
        {
            var needle = RaftPrompt.Collapse(q);
            int index = needle.Length == 0 ? -1 : collapsed.FindIndex(p => p.Contains(needle, StringComparison.Ordinal));
            if (index < 0) unverified++;
            else if (!cited.Contains(index)) cited.Add(index);
        }
        bool refused = final.Contains("don't know", StringComparison.OrdinalIgnoreCase) ||
                       final.Contains(Answer.NotInDocuments.TrimEnd('.'), StringComparison.OrdinalIgnoreCase);
        var answer = new Answer
        {
            Text = refused ? Answer.NotInDocuments : final,
            Mode = AnswerMode.Llm,
            Prompt = AnswerPrompt.Raft,
            Found = !refused,
            Citations = cited.Select(i =>
            {
                var h = passages[i];
                return new Citation(i + 1, h.Source, h.Page, h.Text, h.Headings, h.ChunkId);
            }).ToList(),
            Retrieved = passages,
            Reasoning = reply,
            Model = model,
            InputTokens = inputTokens,
            OutputTokens = outputTokens,
        };
        return new RaftAnswer(answer, reply, quotes.Count, unverified);
    }
}

/// <summary>A parsed RAFT reply: the answer (with quote-backed citations), the raw chain of thought, and quote counts.</summary>
public sealed record RaftAnswer(Answer Answer, string Reasoning, int Quotes, int UnverifiedQuotes);
