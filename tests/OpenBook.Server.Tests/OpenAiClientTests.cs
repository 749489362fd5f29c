using System.ClientModel;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenBook.Storage;

namespace OpenBook.Server.Tests;

/// <summary>The official OpenAI clients against the server on 127.0.0.1: .NET (through Microsoft.Extensions.AI.OpenAI) and npm.</summary>
[Collection("server")]
public sealed class OpenAiClientTests(ServerFixture f)
{
    private OpenAIClient Client(string key) => new(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(f.Url, "/v1") });

    [Fact]
    public async Task Dotnet_client_lists_models_and_answers_with_citations_plain_and_streamed()
    {
        var models = (await Client(f.Alice).GetOpenAIModelClient().GetModelsAsync()).Value.Select(m => m.Id).ToList();
        Assert.Contains(ServedModels.Extractive, models);

        IChatClient chat = Client(f.Alice).GetChatClient(ServedModels.Extractive).AsIChatClient();
        var response = await chat.GetResponseAsync(ConversationTests.Berlin);
        Assert.Matches(@"\[1\]", response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);

        var streamed = new List<string>();
        await foreach (var u in chat.GetStreamingResponseAsync(ConversationTests.Berlin)) streamed.Add(u.Text);
        Assert.Equal(response.Text, string.Concat(streamed));

        // A follow-up with the conversation in the messages: retrieval uses the rewritten query.
        var follow = await chat.GetResponseAsync([
            new(ChatRole.User, ConversationTests.Berlin), new(ChatRole.Assistant, response.Text), new(ChatRole.User, "And in Boston?"),
        ]);
        Assert.Matches(@"\[\d\]", follow.Text);
    }

    [Fact]
    public async Task Dotnet_client_sees_401_for_an_unknown_key_and_404_for_an_unknown_model()
    {
        var unauthorized = await Assert.ThrowsAsync<ClientResultException>(() => Client("ob_wrong").GetChatClient(ServedModels.Extractive).CompleteChatAsync("hi"));
        Assert.Equal(401, unauthorized.Status);
        var unknown = await Assert.ThrowsAsync<ClientResultException>(() => Client(f.Alice).GetChatClient("gpt-4o").CompleteChatAsync("hi"));
        Assert.Equal(404, unknown.Status);
    }

    [Fact]
    public async Task Dotnet_embedding_client_gets_the_stores_encoder_vectors()
    {
        using var dir = new TempStore();
        var encoder = Path.Combine(AppContext.BaseDirectory, "fixtures", "tiny-bert");
        string key;
        using (var store = DocumentStore.Open(dir.Path)) key = new ApiKeyStore(store).Add("e", null, false).Key;
        await using var server = await ServerFixture.StartAsync(new ServerOptions { Store = dir.Path, Urls = "http://127.0.0.1:0", Embed = encoder });
        var client = new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(new Uri(server.Urls[0]), "/v1") });
        IEmbeddingGenerator<string, Embedding<float>> generator = client.GetEmbeddingClient("tiny-bert").AsIEmbeddingGenerator();
        var vectors = await generator.GenerateAsync(["vacation days in Berlin", "VPN setup", "vacation days in Berlin"]);
        Assert.Equal(3, vectors.Count);
        Assert.True(vectors[0].Vector.Length > 0);
        Assert.Equal(vectors[0].Vector.ToArray(), vectors[2].Vector.ToArray());
        Assert.NotEqual(vectors[0].Vector.ToArray(), vectors[1].Vector.ToArray());
        Assert.All(vectors[0].Vector.ToArray(), x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public async Task Npm_openai_client_lists_models_answers_and_streams_a_follow_up()
    {
        var node = FindOnPath("node") ?? throw new InvalidOperationException("node is not installed: the npm openai client test needs node and npm (apt-get install nodejs npm).");
        var dir = NodeProject();
        var run = await RunAsync(node, dir, "openai-client.mjs", new Uri(f.Url, "/v1").ToString(), f.Alice, ConversationTests.Berlin, "And in Boston?");
        Assert.True(run.Code == 0, $"node openai-client.mjs exited {run.Code}: {run.Err}");
        var r = JsonDocument.Parse(run.Out.Trim().Split('\n')[^1]).RootElement;
        Assert.Contains(ServedModels.Extractive, r.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
        Assert.Matches(@"\[1\]", r.GetProperty("answer").GetString());
        Assert.Equal("stop", r.GetProperty("finish").GetString());
        Assert.NotEmpty(r.GetProperty("citations").EnumerateArray());
        Assert.True(r.GetProperty("chunks").GetInt32() >= 3);
        Assert.Equal("What is the annual vacation entitlement in Boston?", r.GetProperty("followUp").GetProperty("retrieval_query").GetString());
        Assert.Contains(r.GetProperty("followUpCitations").EnumerateArray(), c => c.GetProperty("text").GetString()!.Contains(ConversationTests.BostonRow));
        Assert.Equal(401, r.GetProperty("unauthorized").GetInt32());
    }

    /// <summary>The node/ folder beside the tests, with its npm dependencies installed (npm ci from package-lock.json, once).</summary>
    private static string NodeProject()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "node");
        if (Directory.Exists(Path.Combine(dir, "node_modules", "openai"))) return dir;
        var npm = FindOnPath("npm") ?? throw new InvalidOperationException("npm is not installed: the npm openai client test needs it (apt-get install npm).");
        var install = RunAsync(npm, dir, "ci", "--no-audit", "--no-fund").GetAwaiter().GetResult();
        if (install.Code != 0) throw new InvalidOperationException($"npm ci in {dir} failed ({install.Code}): {install.Err}");
        return dir;
    }

    internal static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(p => Path.Combine(p, name)).FirstOrDefault(File.Exists);

    internal static async Task<(int Code, string Out, string Err)> RunAsync(string exe, string dir, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(entireProcessTree: true); throw new TimeoutException($"{exe} {string.Join(' ', args)} ran past 5 minutes"); }
        return (p.ExitCode, await o, await e);
    }
}
