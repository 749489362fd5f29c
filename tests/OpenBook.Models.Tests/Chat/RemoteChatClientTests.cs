using System.Text;
using Microsoft.Extensions.AI;
using OpenBook.Models.Chat;
using OpenBook.OpenAI;

namespace OpenBook.Models.Tests.Chat;

public sealed class RemoteChatClientTests : IDisposable
{
    private readonly FakeOpenAiServer _server = new();

    public void Dispose() => _server.Dispose();

    private IChatClient Client(int retries = 3, TimeSpan? timeout = null, string? key = "sk-test") => RemoteChatClient.Create(new RemoteModelOptions
    {
        Endpoint = new Uri(_server.BaseUrl), Model = "tiny-chat", ApiKey = key, MaxRetries = retries,
        InitialBackoff = TimeSpan.FromMilliseconds(20), Timeout = timeout ?? TimeSpan.FromSeconds(20),
    });

    private static readonly ChatMessage[] Question = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "When does the canteen open?")];

    [Fact]
    public async Task Sends_model_messages_and_key_and_reads_text_and_usage()
    {
        using var client = Client();
        var response = await client.GetResponseAsync(Question, new ChatOptions { Temperature = 0.2f, MaxOutputTokens = 64 });
        Assert.Equal("You said: When does the canteen open?", response.Text);
        Assert.Equal(12, response.Usage?.InputTokenCount);
        Assert.Equal(4, response.Usage?.OutputTokenCount);
        var req = Assert.Single(_server.Requests);
        Assert.Equal("tiny-chat", req.GetProperty("model").GetString());
        Assert.Equal(["system", "user"], req.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("role").GetString()));
        Assert.Equal(0.2, req.GetProperty("temperature").GetDouble(), 3);
        Assert.Equal("Bearer sk-test", Assert.Single(_server.AuthHeaders));
    }

    [Fact]
    public async Task Streams_updates_in_order()
    {
        using var client = Client();
        var text = new StringBuilder();
        var updates = 0;
        await foreach (var u in client.GetStreamingResponseAsync(Question))
        {
            text.Append(u.Text);
            updates++;
        }
        Assert.Equal("You said: When does the canteen open?", text.ToString());
        Assert.True(updates >= 3);
        Assert.True(Assert.Single(_server.Requests).GetProperty("stream").GetBoolean());
    }

    [Theory]
    [InlineData(503)]
    [InlineData(429)]
    public async Task Transient_failures_are_retried_with_backoff(int status)
    {
        _server.FailFirst = 2;
        _server.FailStatus = status;
        using var client = Client(retries: 3);
        var response = await client.GetResponseAsync(Question);
        Assert.Equal("You said: When does the canteen open?", response.Text);
        Assert.Equal(3, _server.Requests.Count);
    }

    [Fact]
    public async Task Streaming_is_retried_before_the_first_update()
    {
        _server.FailFirst = 1;
        using var client = Client(retries: 2);
        var text = new StringBuilder();
        await foreach (var u in client.GetStreamingResponseAsync(Question)) text.Append(u.Text);
        Assert.Equal("You said: When does the canteen open?", text.ToString());
        Assert.Equal(2, _server.Requests.Count);
    }

    [Fact]
    public async Task Gives_up_after_the_retries_with_a_clear_error()
    {
        _server.FailFirst = 100;
        using var client = Client(retries: 2);
        var ex = await Assert.ThrowsAsync<OpenBook.OpenBookException>(() => client.GetResponseAsync(Question));
        Assert.Contains("HTTP 503", ex.Message);
        Assert.Contains("tiny-chat", ex.Message);
        Assert.Equal(3, _server.Requests.Count);
    }

    [Fact]
    public async Task Auth_errors_are_not_retried()
    {
        _server.FailFirst = 100;
        _server.FailStatus = 401;
        using var client = Client(retries: 3);
        var ex = await Assert.ThrowsAsync<OpenBook.OpenBookException>(() => client.GetResponseAsync(Question));
        Assert.Contains("API key", ex.Message);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task A_stalled_attempt_times_out_and_the_retry_succeeds()
    {
        _server.StallFirst = TimeSpan.FromSeconds(20);
        using var client = Client(retries: 1, timeout: TimeSpan.FromSeconds(2));
        var response = await client.GetResponseAsync(Question);
        Assert.Equal("You said: When does the canteen open?", response.Text);
        Assert.Equal(2, _server.Requests.Count);
    }

    [Fact]
    public async Task Wrong_base_url_is_a_404_with_a_hint()
    {
        using var client = RemoteChatClient.Create(new RemoteModelOptions { Endpoint = new Uri(_server.Endpoint + "/wrong"), Model = "m", MaxRetries = 0 });
        var ex = await Assert.ThrowsAsync<OpenBook.OpenBookException>(() => client.GetResponseAsync(Question));
        Assert.Contains("404", ex.Message);
        Assert.Contains("/v1", ex.Message);
    }

    [Theory]
    [InlineData("openai:http://localhost:11434/v1#llama3.2", "http://localhost:11434/v1", "llama3.2")]
    [InlineData("openai:https://api.openai.com/v1#gpt-4o-mini", "https://api.openai.com/v1", "gpt-4o-mini")]
    public void Parses_model_specs(string spec, string url, string model)
    {
        var o = RemoteModelOptions.Parse(spec, apiKey: "k");
        Assert.Equal((new Uri(url), model, "k"), (o.Endpoint, o.Model, o.ApiKey));
    }

    [Theory]
    [InlineData("http://x/v1#m", "openai:URL#model")]
    [InlineData("openai:http://x/v1", "missing #model")]
    [InlineData("openai:ftp://x#m", "not an http(s) URL")]
    public void Rejects_bad_model_specs(string spec, string fragment)
    {
        var ex = Assert.Throws<OpenBook.OpenBookException>(() => RemoteModelOptions.Parse(spec));
        Assert.Contains(fragment, ex.Message);
    }
}
