using Microsoft.Extensions.AI;
using OpenBook.Answering;
using OpenBook.Models.Tests.Chat;
using OpenBook.OpenAI;
using OpenBook.Runtime;

namespace OpenBook.Models.Tests.Integration;

/// <summary>
/// The library's answer path, in-process: <see cref="Book.AskAsync(string, AskOptions?, CancellationToken)"/> with a
/// local model directory (a tiny random model made by <see cref="ModelInit"/>) and with an OpenAI-compatible endpoint.
/// </summary>
public sealed class AskAsyncTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "openbook-ask-" + Guid.NewGuid().ToString("N"));
    private Book _book = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "docs"));
        await File.WriteAllTextAsync(Path.Combine(_dir, "docs", "leave.md"),
            "# Leave\n\n## Berlin\n\nStaff in Berlin get 30 working days of vacation.\n\n## Boston\n\nStaff in Boston get 20 days of paid time off.\n");
        await File.WriteAllTextAsync(Path.Combine(_dir, "docs", "secret.md"), "# Salaries\n\nThe salary band of a senior engineer is 90,000 EUR.\n");
        _book = await Book.OpenAsync(Path.Combine(_dir, "store"));
        await _book.IngestAsync([Path.Combine(_dir, "docs", "leave.md")], new IngestOptions());
        await _book.IngestAsync([Path.Combine(_dir, "docs", "secret.md")], new IngestOptions { Collection = "hr", Acl = ["hr"] });
    }

    public async Task DisposeAsync()
    {
        await _book.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_local_model_directory_answers_grounded_with_the_passages_it_was_given()
    {
        var model = await ModelInit.CreateAsync(new ModelInitRequest { OutputDirectory = Path.Combine(_dir, "model"), VocabSize = 300 }, _book);
        using var chat = ChatModels.Open(model.Path);
        Assert.Equal(AnswerPrompt.Grounded, chat.Prompt);
        var options = new AskOptions { K = 2, Answerer = chat.Answerer(maxOutputTokens: 8) };
        var answer = await _book.AskAsync("How many vacation days in Berlin?", options);
        Assert.Equal(AnswerMode.Llm, answer.Mode);
        Assert.Equal(AnswerPrompt.Grounded, answer.Prompt);
        Assert.NotEmpty(answer.Retrieved);
        Assert.All(answer.Retrieved, h => Assert.Equal("default", h.Collection)); // the hr document is not visible without the group
        Assert.True(answer.InputTokens > 20, $"prompt tokens {answer.InputTokens}");
        Assert.InRange(answer.OutputTokens ?? 0, 1, 8);

        // Streaming gives the same greedy text, delta by delta, then the whole answer.
        var text = "";
        Answer? final = null;
        await foreach (var u in _book.AskStreamingAsync("How many vacation days in Berlin?", options))
            if (u.Completed is { } done) final = done;
            else text += u.TextDelta;
        Assert.NotNull(final);
        Assert.Equal(answer.Text, final.Text);
        Assert.Equal(answer.Text, text.Trim());
    }

    [Fact]
    public async Task An_openai_compatible_endpoint_answers_with_history_and_the_callers_groups()
    {
        using var server = new FakeOpenAiServer();
        using var client = RemoteChatClient.Create(new RemoteModelOptions { Endpoint = new Uri(server.BaseUrl), Model = "tiny-chat", ApiKey = "k", MaxRetries = 0 });
        var history = new List<ChatMessage> { new(ChatRole.User, "How many vacation days in Berlin?"), new(ChatRole.Assistant, "30 working days [1].") };
        var answer = await _book.AskAsync("And the salary band?", new AskOptions
        {
            Answerer = new GroundedAnswerer(client), History = history, RetrievalQuery = "salary band senior engineer",
            Filter = new Retrieval.SearchFilter { Groups = ["hr"] },
        });
        Assert.Equal(AnswerMode.Llm, answer.Mode);
        Assert.Contains(answer.Retrieved, h => h.Text.Contains("90,000"));
        var request = Assert.Single(server.Requests);
        var messages = request.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(["system", "user", "assistant", "user"], messages.Select(m => m.GetProperty("role").GetString()));
        Assert.Contains("90,000", messages[^1].GetProperty("content").GetString());
        Assert.Equal(12, answer.InputTokens); // as the fake server reports

        // Without the group, the restricted passage never reaches the model.
        await _book.AskAsync("salary band senior engineer", new AskOptions { Answerer = new GroundedAnswerer(client) });
        Assert.DoesNotContain("90,000", server.Requests.Last().GetProperty("messages").EnumerateArray().Last().GetProperty("content").GetString());
    }
}
