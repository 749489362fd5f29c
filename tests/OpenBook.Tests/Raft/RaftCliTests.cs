using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using OpenBook.Tests.Cli;

namespace OpenBook.Tests.Raft;

/// <summary>
/// A scripted OpenAI-compatible chat endpoint on 127.0.0.1 (a test double, never a default): question requests get
/// questions naming words of the excerpt; answer requests get a chain of thought quoting the context's first sentence;
/// prompts with numbered passages get a fixed answer citing [1]; anything else gets "I don't know."
/// </summary>
internal sealed class ScriptedChatServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    public int Requests;
    private readonly Func<string, string?>? _script;

    /// <param name="script">Optional: replies to the last message first (null falls back to the default replies).</param>
    public ScriptedChatServer(Func<string, string?>? script = null)
    {
        _script = script;
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        BaseUrl = $"http://127.0.0.1:{port}/v1";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _ = Task.Run(Loop);
    }

    public string BaseUrl { get; }

    private async Task Loop()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (HttpListenerException) { return; }
            Interlocked.Increment(ref Requests);
            using var body = JsonDocument.Parse(await new StreamReader(ctx.Request.InputStream).ReadToEndAsync());
            var prompt = body.RootElement.GetProperty("messages").EnumerateArray().Last().GetProperty("content").GetString()!;
            var reply = _script?.Invoke(prompt) ?? Reply(prompt);
            if (body.RootElement.TryGetProperty("stream", out var stream) && stream.ValueKind == JsonValueKind.True)
            {
                // Server-sent events, as OpenAI streams: the reply in two deltas, a finish chunk, then [DONE].
                ctx.Response.ContentType = "text/event-stream";
                var half = reply.Length / 2;
                var sse = new StringBuilder();
                foreach (var (content, finish) in new[] { (reply[..half], (string?)null), (reply[half..], null), ("", "stop") })
                    sse.Append("data: ").Append(JsonSerializer.Serialize(new
                    {
                        id = "chatcmpl-test", @object = "chat.completion.chunk", created = 1_700_000_000, model = "scripted",
                        choices = new[] { new { index = 0, delta = new { role = "assistant", content }, finish_reason = finish } },
                    })).Append("\n\n");
                sse.Append("data: [DONE]\n\n");
                var stream8 = Encoding.UTF8.GetBytes(sse.ToString());
                await ctx.Response.OutputStream.WriteAsync(stream8);
                ctx.Response.Close();
                continue;
            }
            var json = JsonSerializer.Serialize(new
            {
                id = "chatcmpl-test", @object = "chat.completion", created = 1_700_000_000, model = "scripted",
                choices = new[] { new { index = 0, message = new { role = "assistant", content = reply }, finish_reason = "stop" } },
                usage = new { prompt_tokens = prompt.Length / 4, completion_tokens = reply.Length / 4, total_tokens = (prompt.Length + reply.Length) / 4 },
            });
            var bytes = Encoding.UTF8.GetBytes(json);
            ctx.Response.ContentType = "application/json";
            ctx.Response.ContentLength64 = bytes.Length;
            await ctx.Response.OutputStream.WriteAsync(bytes);
            ctx.Response.Close();
        }
    }

    private static string Reply(string prompt)
    {
        if (prompt.StartsWith("Below is an excerpt", StringComparison.Ordinal))
        {
            var excerpt = prompt[(prompt.IndexOf("Excerpt:\n", StringComparison.Ordinal) + 9)..];
            var words = excerpt.Split([' ', '\n', '.', ','], StringSplitOptions.RemoveEmptyEntries).Where(w => w.Length > 4).Distinct().Take(2).ToList();
            return string.Join("\n", words.Select(w => $"What does the handbook say about {w} in '{excerpt[..Math.Min(30, excerpt.Length)]}'?"));
        }
        if (!prompt.Contains("\nContext: ", StringComparison.Ordinal))
            return prompt.Contains("<passage id=\"1\"", StringComparison.Ordinal) ? "Unused days carry over until 31 March [1]." : "I don't know.";
        var start = prompt.IndexOf("Context: ", StringComparison.Ordinal) + 9;
        var context = prompt[start..prompt.IndexOf("\n\nAnswer the question", StringComparison.Ordinal)];
        var sentence = context.Split('\n', StringSplitOptions.RemoveEmptyEntries).First(l => l.Trim().Length > 0).Trim();
        return $"The document says ##begin_quote##{sentence}##end_quote##.\n<ANSWER>: {sentence}";
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
    }
}

public class RaftCliTests
{
    [Fact]
    public async Task Raft_generate_writes_every_format_from_a_remote_model_and_resumes()
    {
        using var dir = new TempDir();
        foreach (var topic in new[] { "vacation", "expenses", "laptops", "passwords", "parking", "travel" })
            dir.File($"docs/{topic}.md", $"# {topic}\n\nThe {topic} policy was approved in 2024 and applies to every employee. Questions about {topic} go to the help desk.\n");
        var store = Path.Combine(dir.Path, "store");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", "--no-embed", Path.Combine(dir.Path, "docs"), "--store", store, "--quiet")).Code);
        using var server = new ScriptedChatServer();
        var output = Path.Combine(dir.Path, "raft");
        var env = new Dictionary<string, string> { ["OPENAI_API_KEY"] = "test-key" };
        var args = new[] { "raft", "generate", "--model", $"openai:{server.BaseUrl}#scripted", "--store", store, "--out", output, "--questions", "2", "--distractors", "2", "--json" };
        var (code, stdout, stderr) = await CliProcess.RunAsync(env, args);
        Assert.True(code == 0, stderr);
        using (var json = JsonDocument.Parse(stdout))
        {
            Assert.Equal(6, json.RootElement.GetProperty("chunks").GetInt32());
            Assert.Equal(12, json.RootElement.GetProperty("kept").GetInt32());
        }
        foreach (var f in new[] { "raft.hf.jsonl", "raft.chat.jsonl", "raft.completion.jsonl", "raft.eval.jsonl", "summary.json" })
            Assert.True(File.Exists(Path.Combine(output, f)), f);
        Assert.Equal(6 * 3, server.Requests);
        var first = File.ReadAllText(Path.Combine(output, "raft.chat.jsonl"));

        // A rerun resumes everything from the checkpoint: no model calls, the same dataset.
        var rerun = await CliProcess.RunAsync(env, args);
        Assert.True(rerun.Code == 0, rerun.Stderr);
        Assert.Equal(6 * 3, server.Requests);
        Assert.Equal(first, File.ReadAllText(Path.Combine(output, "raft.chat.jsonl")));

        var bad = await CliProcess.RunAsync(env, [.. args[..^1], "--p", "2"]);
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("oracle probability", bad.Stderr);
    }
}
