using Microsoft.Extensions.AI;
using OpenBook.Models.Chat;
using OpenBook.Models.Hub;
using OpenBook.Answering;

namespace OpenBook.Models.Tests.Prompting;

public class GroundedAnswererTests
{
    /// <summary>A test double standing in for a model: replies with a fixed text and records the prompt.</summary>
    private sealed class ScriptedClient(string reply) : IChatClient
    {
        public List<ChatMessage> LastPrompt { get; } = [];

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken ct = default)
        {
            LastPrompt.AddRange(messages);
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, reply))
            {
                ModelId = "scripted", Usage = new UsageDetails { InputTokenCount = 40, OutputTokenCount = 9 },
            });
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
        {
            LastPrompt.AddRange(messages);
            foreach (var word in reply.Split(' '))
            {
                await Task.Yield();
                yield return new ChatResponseUpdate(ChatRole.Assistant, word + " ") { ModelId = "scripted" };
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;
        public void Dispose() { }
    }

    private static readonly SearchHit[] Hits =
    [
        new() { Rank = 1, Score = 2, ChunkId = 7, DocumentId = 1, Text = "Lunch is served from 12:00 to 14:00.", Source = "handbook.md", Collection = "c" },
        new() { Rank = 2, Score = 1, ChunkId = 8, DocumentId = 2, Text = "The office opens at 8:30.", Source = "office.md", Collection = "c" },
    ];

    [Fact]
    public async Task Answer_carries_citations_usage_and_model()
    {
        var client = new ScriptedClient("Lunch is served from 12:00 [1].");
        var answer = await new GroundedAnswerer(client).AnswerAsync("When is lunch?", Hits);
        Assert.True(answer.Found);
        Assert.Equal(AnswerMode.Llm, answer.Mode);
        Assert.Equal(7, Assert.Single(answer.Citations).ChunkId);
        Assert.Equal(("scripted", 40L, 9L), (answer.Model, answer.InputTokens!.Value, answer.OutputTokens!.Value));
        Assert.Equal(2, client.LastPrompt.Count);
        Assert.Contains("<passage id=\"2\" source=\"office.md\">", client.LastPrompt[1].Text);
    }

    [Fact]
    public async Task Streaming_yields_text_then_reports_the_parsed_answer()
    {
        var client = new ScriptedClient("The documents do not say.");
        Answer? final = null;
        var text = "";
        await foreach (var u in new GroundedAnswerer(client).StreamAsync(new AnswerRequest("Who is the CEO?", Hits, [])))
            if (u.Completed is { } done) final = done;
            else text += u.TextDelta;
        Assert.Equal("The documents do not say. ", text);
        Assert.NotNull(final);
        Assert.False(final.Found);
        Assert.Equal(Answer.NotInDocuments, final.Text);
    }

    [Fact]
    public void Model_specs_pick_remote_or_local_clients()
    {
        using var remote = OpenBook.Runtime.ChatModels.CreateClient("openai:http://127.0.0.1:1/v1#m", options: new OpenBook.Runtime.ChatModelOptions { ApiKey = "k" });
        Assert.Equal("m", remote.GetService<ChatClientMetadata>()!.DefaultModelId);
        var hub = new HubOptions { CacheDir = Path.Combine(Path.GetTempPath(), "ob-empty-" + Guid.NewGuid().ToString("N")) };
        var ex = Assert.Throws<OpenBookException>(() => OpenBook.Runtime.ChatModels.CreateClient("acme/not-downloaded", options: new OpenBook.Runtime.ChatModelOptions { Hub = hub }));
        Assert.Contains("openbook models pull acme/not-downloaded", ex.Message);
        ex = Assert.Throws<OpenBookException>(() => OpenBook.Runtime.ChatModels.CreateClient("./no/such/dir", options: new OpenBook.Runtime.ChatModelOptions { Hub = hub }));
        Assert.Contains("directory not found", ex.Message);
    }
}
