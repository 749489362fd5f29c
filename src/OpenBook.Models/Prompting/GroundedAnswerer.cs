using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace OpenBook.Models.Prompting;

/// <summary>Asks an <see cref="IChatClient"/> a question grounded on retrieved passages and returns an <see cref="Answer"/>.</summary>
public sealed class GroundedAnswerer(IChatClient client, GroundedPromptOptions? promptOptions = null, ChatOptions? chatOptions = null)
{
    /// <summary>Builds the prompt, gets the reply and parses its [n] citations.</summary>
    public async Task<Answer> AnswerAsync(string question, IReadOnlyList<SearchHit> passages, CancellationToken cancellationToken = default)
    {
        var prompt = GroundedPrompt.Build(question, passages, promptOptions);
        var response = await client.GetResponseAsync(prompt.Messages, chatOptions, cancellationToken).ConfigureAwait(false);
        return prompt.ToAnswer(response.Text, response.ModelId ?? ModelId, out _, response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
    }

    /// <summary>
    /// Streams the reply's text (for the terminal); when the stream ends, <paramref name="completed"/> receives
    /// the parsed <see cref="Answer"/>.
    /// </summary>
    public async IAsyncEnumerable<string> StreamAsync(string question, IReadOnlyList<SearchHit> passages, Action<Answer> completed,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var prompt = GroundedPrompt.Build(question, passages, promptOptions);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(prompt.Messages, chatOptions, cancellationToken).ConfigureAwait(false))
        {
            updates.Add(u);
            if (u.Text.Length > 0) yield return u.Text;
        }
        var response = updates.ToChatResponse();
        completed(prompt.ToAnswer(response.Text, response.ModelId ?? ModelId, out _, response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount));
    }

    private string? ModelId => client.GetService<ChatClientMetadata>()?.DefaultModelId;
}
