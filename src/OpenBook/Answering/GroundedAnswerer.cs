using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace OpenBook.Answering;

/// <summary>
/// Asks an <see cref="IChatClient"/> (the local engine, a remote OpenAI-compatible endpoint, or a test double) a
/// question grounded on retrieved passages (<see cref="GroundedPrompt"/>) and parses its [n] citations.
/// </summary>
public sealed class GroundedAnswerer(IChatClient client, GroundedPromptOptions? promptOptions = null, ChatOptions? chatOptions = null) : IAnswerer
{
    /// <inheritdoc />
    public AnswerPrompt Prompt => AnswerPrompt.Grounded;

    /// <summary>Builds the prompt, gets the reply and parses its [n] citations.</summary>
    public Task<Answer> AnswerAsync(string question, IReadOnlyList<SearchHit> passages, CancellationToken cancellationToken = default) =>
        AnswerAsync(new AnswerRequest(question, passages, []), cancellationToken);

    /// <inheritdoc />
    public async Task<Answer> AnswerAsync(AnswerRequest request, CancellationToken cancellationToken = default)
    {
        var prompt = GroundedPrompt.Build(request.Question, request.Passages, promptOptions, request.History);
        var response = await client.GetResponseAsync(prompt.Messages, chatOptions, cancellationToken).ConfigureAwait(false);
        return prompt.ToAnswer(response.Text, response.ModelId ?? ModelId, out _, response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<AnswerUpdate> StreamAsync(AnswerRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var prompt = GroundedPrompt.Build(request.Question, request.Passages, promptOptions, request.History);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(prompt.Messages, chatOptions, cancellationToken).ConfigureAwait(false))
        {
            updates.Add(u);
            if (u.Text.Length > 0) yield return new AnswerUpdate(u.Text);
        }
        var response = updates.ToChatResponse();
        yield return new AnswerUpdate("", prompt.ToAnswer(response.Text, response.ModelId ?? ModelId, out _, response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount));
    }

    private string? ModelId => client.GetService<ChatClientMetadata>()?.DefaultModelId;
}
