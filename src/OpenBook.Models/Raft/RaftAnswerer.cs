using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace OpenBook.Models.Raft;

/// <summary>
/// Answers with the RAFT prompt a RAFT adapter was trained on (system prompt, retrieved passages in
/// &lt;DOCUMENT&gt; tags, the question), then reads the chain-of-thought reply: the final answer after
/// <c>&lt;ANSWER&gt;:</c>, and as citations the passages its <c>##begin_quote##</c> quotes come from verbatim.
/// Quotes found in no passage are counted in <see cref="RaftAnswer.UnverifiedQuotes"/>.
/// </summary>
public sealed class RaftAnswerer(IChatClient client, ChatOptions? chatOptions = null)
{
    /// <summary>The messages sent for <paramref name="question"/> over <paramref name="passages"/>.</summary>
    public static IReadOnlyList<ChatMessage> Messages(string question, IReadOnlyList<SearchHit> passages) =>
    [
        new(ChatRole.System, RaftExport.SystemPrompt),
        new(ChatRole.User, RaftPrompt.Instruction(passages.Select(p => p.Text).ToList(), question)),
    ];

    /// <summary>Asks the model and parses its reply.</summary>
    public async Task<RaftAnswer> AnswerAsync(string question, IReadOnlyList<SearchHit> passages, CancellationToken cancellationToken = default)
    {
        var response = await client.GetResponseAsync(Messages(question, passages), chatOptions, cancellationToken).ConfigureAwait(false);
        return Parse(response.Text, passages, response.ModelId, response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
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
            Found = !refused,
            Citations = cited.Select(i =>
            {
                var h = passages[i];
                return new Citation(i + 1, h.Source, h.Page, h.Text, h.Headings, h.ChunkId);
            }).ToList(),
            Retrieved = passages,
            Model = model,
            InputTokens = inputTokens,
            OutputTokens = outputTokens,
        };
        return new RaftAnswer(answer, reply, quotes.Count, unverified);
    }
}

/// <summary>A parsed RAFT reply: the answer (with quote-backed citations), the raw chain of thought, and quote counts.</summary>
public sealed record RaftAnswer(Answer Answer, string Reasoning, int Quotes, int UnverifiedQuotes);

/// <summary>
/// <c>openbook_adapter.json</c> beside a PEFT adapter: how the adapter was trained, so <c>ask --adapter</c> and
/// <c>eval</c> prompt it the same way (<c>"prompt_format": "raft"</c> or <c>"chat"</c>).
/// </summary>
public sealed record AdapterInfo(string PromptFormat, string? BaseModel, string? Method)
{
    /// <summary>File name.</summary>
    public const string FileName = "openbook_adapter.json";

    /// <summary>Reads the file in <paramref name="adapterDirectory"/>, or returns the plain chat format when there is none.</summary>
    public static AdapterInfo Read(string adapterDirectory)
    {
        var path = Path.Combine(adapterDirectory, FileName);
        if (!File.Exists(path)) return new AdapterInfo("chat", null, null);
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            return new AdapterInfo((string?)o["prompt_format"] ?? "chat", (string?)o["base_model"], (string?)o["method"]);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new OpenBookException($"{path}: invalid ({e.Message}).");
        }
    }

    /// <summary>Writes the file into <paramref name="adapterDirectory"/>.</summary>
    public void Write(string adapterDirectory)
    {
        var o = new JsonObject { ["prompt_format"] = PromptFormat, ["base_model"] = BaseModel, ["method"] = Method };
        File.WriteAllText(Path.Combine(adapterDirectory, FileName), o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
