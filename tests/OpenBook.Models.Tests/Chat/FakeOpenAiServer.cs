using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenBook.Models.Tests.Hub;

namespace OpenBook.Models.Tests.Chat;

/// <summary>
/// An OpenAI-compatible <c>/v1/chat/completions</c> endpoint on 127.0.0.1. It replies with a fixed text derived
/// from the request (it is a protocol fake, not a model), can fail the first N requests with a status code, or
/// stall before answering.
/// </summary>
internal sealed class FakeOpenAiServer : LocalHttpServer
{
    public ConcurrentQueue<JsonElement> Requests { get; } = new();
    public ConcurrentQueue<string?> AuthHeaders { get; } = new();
    public int FailFirst { get; set; }
    public int FailStatus { get; set; } = 503;
    public TimeSpan StallFirst { get; set; }
    private int _count;

    public string BaseUrl => Endpoint + "/v1";

    protected override async Task Handle(HttpListenerContext ctx)
    {
        var n = Interlocked.Increment(ref _count);
        Log.Enqueue($"{ctx.Request.HttpMethod} {ctx.Request.Url!.AbsolutePath}");
        AuthHeaders.Enqueue(ctx.Request.Headers["Authorization"]);
        if (ctx.Request.Url.AbsolutePath != "/v1/chat/completions")
        {
            Send(ctx.Response, 404, Encoding.UTF8.GetBytes("{\"error\":{\"message\":\"not found\"}}"));
            return;
        }
        using var body = await JsonDocument.ParseAsync(ctx.Request.InputStream);
        var request = body.RootElement.Clone();
        Requests.Enqueue(request);
        if (n <= FailFirst)
        {
            Send(ctx.Response, FailStatus, Encoding.UTF8.GetBytes("{\"error\":{\"message\":\"temporarily overloaded\",\"type\":\"server_error\"}}"));
            return;
        }
        if (n == 1 && StallFirst > TimeSpan.Zero) await Task.Delay(StallFirst);

        var model = request.GetProperty("model").GetString();
        var last = request.GetProperty("messages").EnumerateArray().Last().GetProperty("content").GetString();
        var reply = $"You said: {last}";
        if (request.TryGetProperty("stream", out var s) && s.GetBoolean())
        {
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.SendChunked = true;
            var pieces = new[] { "You ", "said: ", last };
            for (var i = 0; i < pieces.Length; i++)
            {
                var chunk = JsonSerializer.Serialize(new
                {
                    id = "chatcmpl-1", @object = "chat.completion.chunk", created = 1_700_000_000, model,
                    choices = new[] { new { index = 0, delta = new { role = i == 0 ? "assistant" : null, content = pieces[i] }, finish_reason = (string?)null } },
                });
                await ctx.Response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes($"data: {chunk}\n\n"));
                await ctx.Response.OutputStream.FlushAsync();
            }
            var end = JsonSerializer.Serialize(new
            {
                id = "chatcmpl-1", @object = "chat.completion.chunk", created = 1_700_000_000, model,
                choices = new[] { new { index = 0, delta = new { }, finish_reason = "stop" } },
            });
            await ctx.Response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes($"data: {end}\n\ndata: [DONE]\n\n"));
            ctx.Response.Close();
            return;
        }
        var json = JsonSerializer.Serialize(new
        {
            id = "chatcmpl-1", @object = "chat.completion", created = 1_700_000_000, model,
            choices = new[] { new { index = 0, message = new { role = "assistant", content = reply }, finish_reason = "stop" } },
            usage = new { prompt_tokens = 12, completion_tokens = 4, total_tokens = 16 },
        });
        Send(ctx.Response, 200, Encoding.UTF8.GetBytes(json));
    }
}
