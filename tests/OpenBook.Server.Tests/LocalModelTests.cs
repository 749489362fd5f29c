using System.ClientModel;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenBook.Runtime;
using OpenBook.Storage;

namespace OpenBook.Server.Tests;

/// <summary>
/// The server with a local language model (<c>--model DIR</c>): a randomly initialised tiny Llama model from
/// <see cref="ModelInit"/> (its text is noise; this checks the serving path, not answers) answers as
/// <c>openbook-rag</c> through the official .NET OpenAI client, plain and streamed.
/// </summary>
public sealed class LocalModelTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "openbook-server-model-tests", Guid.NewGuid().ToString("N"));
    private OpenBookServer _server = null!;
    private string _key = "";

    public async Task InitializeAsync()
    {
        var store = Path.Combine(_root, "store");
        var model = Path.Combine(_root, "tiny");
        await using (var book = await Book.OpenAsync(store))
        {
            await book.IngestAsync([Path.Combine(ServerFixture.Samples, "hr")], new IngestOptions { Collection = "hr" });
            _key = new ApiKeyStore(book.Store).Add("user", null, admin: false).Key;
            await ModelInit.CreateAsync(new ModelInitRequest { OutputDirectory = model, Shape = InitShape.Tiny, VocabSize = 512 }, book);
        }
        _server = await ServerFixture.StartAsync(new ServerOptions { Store = store, Urls = "http://127.0.0.1:0", RateLimitPerMinute = 0, Model = model, MaxTokens = 8 });
    }

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private OpenAIClient Client() => new(new ApiKeyCredential(_key), new OpenAIClientOptions { Endpoint = new Uri(new Uri(_server.Urls[0]), "/v1") });

    [Fact]
    public async Task Openbook_rag_answers_plain_and_streamed_and_the_stream_adds_up_to_the_answer()
    {
        var models = (await Client().GetOpenAIModelClient().GetModelsAsync()).Value.Select(m => m.Id).ToList();
        Assert.Equal([ServedModels.Extractive, ServedModels.Rag], models);

        IChatClient chat = Client().GetChatClient(ServedModels.Rag).AsIChatClient();
        var response = await chat.GetResponseAsync(ConversationTests.Berlin);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.InRange(response.Usage!.OutputTokenCount!.Value, 1, 8); // --max-tokens caps the answer
        Assert.True(response.Usage.InputTokenCount > 0);

        // Greedy decoding: the streamed deltas add up to the plain answer (the reply trimmed, as the answer is).
        var streamed = new List<string>();
        await foreach (var u in chat.GetStreamingResponseAsync(ConversationTests.Berlin)) streamed.Add(u.Text);
        Assert.Equal(response.Text, string.Concat(streamed));

        // A follow-up goes through the model's rewrite (or the rule when the model's rewrite drops "Boston").
        using var http = new HttpClient { BaseAddress = new Uri(_server.Urls[0]) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", _key);
        using var res = await http.PostAsync("/v1/chat/completions", ConversationTests.JsonContent(new
        {
            model = ServedModels.Rag,
            messages = new object[] { new { role = "user", content = ConversationTests.Berlin }, new { role = "assistant", content = response.Text }, new { role = "user", content = "And in Boston?" } },
        }));
        var body = JsonDocument.Parse(await res.Content.ReadAsStringAsync()).RootElement;
        Assert.True(res.IsSuccessStatusCode, body.ToString());
        var extra = body.GetProperty("openbook");
        Assert.Equal("llm", extra.GetProperty("mode").GetString());
        Assert.Contains(extra.GetProperty("rewrite").GetString(), new[] { "model", "rule" });
        Assert.Contains("Boston", extra.GetProperty("retrieval_query").GetString());
    }
}

public sealed class StreamedTextTests
{
    [Theory]
    [InlineData(new[] { "\n", "\n", "\n" }, "")]
    [InlineData(new[] { "  Thirty", " days", " [1].", "\n\n" }, "Thirty days [1].")]
    [InlineData(new[] { "a", " ", "\n", "b " }, "a \nb")]
    public void Deltas_and_the_rest_add_up_to_the_trimmed_reply(string[] deltas, string expected)
    {
        var t = new StreamedText();
        var sent = string.Concat(deltas.Select(t.Add));
        var final = string.Concat(deltas).Trim();
        Assert.Equal(expected, final);
        Assert.Equal(final, sent + t.Rest(final));
        Assert.False(sent.EndsWith(' ') || sent.StartsWith(' '));
    }

    [Fact]
    public void A_final_text_that_replaced_the_reply_is_sent_when_nothing_was()
    {
        var t = new StreamedText();
        Assert.Equal("", t.Add("  \n"));
        Assert.Equal(Answer.NotInDocuments, t.Rest(Answer.NotInDocuments));
        var u = new StreamedText();
        Assert.Equal("Maybe", u.Add("Maybe"));
        Assert.Equal("", u.Rest(Answer.NotInDocuments)); // what was sent is not its beginning: nothing to add
    }
}
