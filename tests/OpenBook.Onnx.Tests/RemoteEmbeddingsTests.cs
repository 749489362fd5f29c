using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using OpenBook.Embeddings;
using OpenBook.OpenAI;

namespace OpenBook.Onnx.Tests;

/// <summary>A minimal OpenAI-compatible <c>POST /v1/embeddings</c> server on 127.0.0.1 (HttpListener).</summary>
internal sealed class FakeEmbeddingServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private int _requests;

    public FakeEmbeddingServer()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        Endpoint = new Uri($"http://127.0.0.1:{port}/v1");
        _loop = Task.Run(Loop);
    }

    public Uri Endpoint { get; }

    /// <summary>Respond with this status (and Retry-After: 0) to the first N requests.</summary>
    public int FailFirst { get; set; }

    public int FailStatus { get; set; } = 429;

    public int Requests => Volatile.Read(ref _requests);

    public ConcurrentQueue<JsonObject> Bodies { get; } = new();

    public ConcurrentQueue<string?> Authorizations { get; } = new();

    /// <summary>The server's deterministic vector of a text: [length, vowels, first char code].</summary>
    public static float[] VectorOf(string text) =>
        [text.Length, text.Count(c => "aeiou".Contains(c)), text.Length > 0 ? text[0] : 0];

    private async Task Loop()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            try { await Handle(ctx); }
            catch (Exception) { ctx.Response.Abort(); }
        }
    }

    private async Task Handle(HttpListenerContext ctx)
    {
        int n = Interlocked.Increment(ref _requests);
        Authorizations.Enqueue(ctx.Request.Headers["Authorization"]);
        using var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8);
        var body = JsonNode.Parse(await reader.ReadToEndAsync())!.AsObject();
        Bodies.Enqueue(body);
        var response = ctx.Response;
        if (ctx.Request.HttpMethod != "POST" || ctx.Request.Url!.AbsolutePath != "/v1/embeddings")
        {
            await Write(response, 404, """{"error":{"message":"not found","type":"invalid_request_error"}}""");
            return;
        }
        if (n <= FailFirst)
        {
            response.AddHeader("Retry-After", "0");
            await Write(response, FailStatus, """{"error":{"message":"Rate limit reached","type":"rate_limit_error"}}""");
            return;
        }
        var inputs = body["input"] is JsonArray a ? a.Select(x => x!.GetValue<string>()).ToList() : [body["input"]!.GetValue<string>()];
        bool base64 = body["encoding_format"]?.GetValue<string>() == "base64";
        var data = new JsonArray();
        for (int i = 0; i < inputs.Count; i++)
        {
            var v = VectorOf(inputs[i]);
            JsonNode embedding = base64
                ? JsonValue.Create(Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan())))
                : new JsonArray(v.Select(x => (JsonNode)JsonValue.Create(x)).ToArray());
            data.Add(new JsonObject { ["object"] = "embedding", ["index"] = i, ["embedding"] = embedding });
        }
        int tokens = inputs.Sum(t => t.Split(' ').Length);
        var json = new JsonObject
        {
            ["object"] = "list", ["data"] = data, ["model"] = body["model"]!.GetValue<string>(),
            ["usage"] = new JsonObject { ["prompt_tokens"] = tokens, ["total_tokens"] = tokens },
        };
        await Write(response, 200, json.ToJsonString());
    }

    private static async Task Write(HttpListenerResponse r, int status, string json)
    {
        r.StatusCode = status;
        r.ContentType = "application/json";
        var bytes = Encoding.UTF8.GetBytes(json);
        r.ContentLength64 = bytes.Length;
        await r.OutputStream.WriteAsync(bytes);
        r.Close();
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}

public sealed class RemoteEmbeddingsTests
{
    private static readonly RetrySettings FastRetry = new() { MaxRetries = 3, InitialDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(50) };

    private static IEmbeddingGenerator<string, Embedding<float>> Client(FakeEmbeddingServer server, int batch = 4, RetrySettings? retry = null) =>
        RemoteEmbeddings.Create(new RemoteEmbeddingOptions
        {
            Model = "test-embed", Endpoint = server.Endpoint, ApiKey = "sk-test", BatchSize = batch, Retry = retry ?? FastRetry,
        });

    [Fact]
    public async Task Batches_requests_and_keeps_input_order()
    {
        using var server = new FakeEmbeddingServer();
        using var client = Client(server, batch: 4);
        var texts = Enumerable.Range(0, 10).Select(i => $"text number {i} " + new string('a', i)).ToList();
        var result = await client.GenerateAsync(texts, EmbeddingInput.WithKind(EmbeddingInputKind.Query));

        Assert.Equal(10, result.Count);
        for (int i = 0; i < texts.Count; i++) Assert.Equal(FakeEmbeddingServer.VectorOf(texts[i]), result[i].Vector.ToArray());
        Assert.Equal(3, server.Requests); // 4 + 4 + 2
        Assert.Equal([4, 4, 2], server.Bodies.Select(b => b["input"]!.AsArray().Count));
        Assert.All(server.Bodies, b => Assert.Equal("test-embed", b["model"]!.GetValue<string>()));
        Assert.All(server.Bodies, b => Assert.DoesNotContain(EmbeddingInput.KindKey, b.ToJsonString()));
        Assert.All(server.Authorizations, a => Assert.Equal("Bearer sk-test", a));
        Assert.Equal(texts.Sum(t => t.Split(' ').Length), result.Usage!.InputTokenCount);
    }

    [Theory]
    [InlineData(429)]
    [InlineData(503)]
    public async Task Transient_errors_are_retried(int status)
    {
        using var server = new FakeEmbeddingServer { FailFirst = 2, FailStatus = status };
        using var client = Client(server);
        var result = await client.GenerateAsync(["hello", "world"]);
        Assert.Equal(FakeEmbeddingServer.VectorOf("world"), result[1].Vector.ToArray());
        Assert.Equal(3, server.Requests);
        Assert.Equal(2, client.GetService<RetryingEmbeddingGenerator>()!.Retries);
    }

    [Fact]
    public async Task Persistent_rate_limit_gives_a_clear_error_after_the_retries()
    {
        using var server = new FakeEmbeddingServer { FailFirst = 100 };
        using var client = Client(server);
        var ex = await Assert.ThrowsAsync<OpenBookException>(() => client.GenerateAsync(["hello"]));
        Assert.Contains("429", ex.Message);
        Assert.Contains("after 3 retries", ex.Message);
        Assert.Equal(4, server.Requests);
    }

    [Fact]
    public async Task Client_errors_are_not_retried()
    {
        using var server = new FakeEmbeddingServer { FailFirst = 100, FailStatus = 401 };
        using var client = Client(server);
        var ex = await Assert.ThrowsAsync<OpenBookException>(() => client.GenerateAsync(["hello"]));
        Assert.Contains("401", ex.Message);
        Assert.Equal(1, server.Requests);
    }

    [Fact]
    public async Task Unreachable_endpoint_is_reported()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        using var client = RemoteEmbeddings.Create(new RemoteEmbeddingOptions
        {
            Model = "m", Endpoint = new Uri($"http://127.0.0.1:{port}/v1"), ApiKey = "k",
            Retry = FastRetry with { MaxRetries = 1 },
        });
        var ex = await Assert.ThrowsAsync<OpenBookException>(() => client.GenerateAsync(["hello"]));
        Assert.Contains("Remote embedding", ex.Message);
    }

    [Fact]
    public void Retry_after_header_forms_are_parsed()
    {
        Assert.Null(RetryingEmbeddingGenerator.RetryAfter(new InvalidOperationException()));
        Assert.True(RetryingEmbeddingGenerator.IsTransient(new HttpRequestException("x"), CancellationToken.None));
        Assert.False(RetryingEmbeddingGenerator.IsTransient(new OperationCanceledException(), new CancellationToken(canceled: true)));
        Assert.False(RetryingEmbeddingGenerator.IsTransient(new ArgumentException(), CancellationToken.None));
    }
}
