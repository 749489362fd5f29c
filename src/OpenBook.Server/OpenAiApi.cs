using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.AI;
using OpenBook.Runtime;
using OpenBook.Runtime.Reports;

namespace OpenBook.Server;

/// <summary>
/// The OpenAI-compatible endpoints: <c>GET /v1/models</c>, <c>POST /v1/chat/completions</c> (JSON or server-sent
/// events) and <c>POST /v1/embeddings</c>. A chat completion answers the last user message from the documents the
/// key may read, with the earlier messages as the conversation (follow-ups are rewritten into standalone retrieval
/// queries); the text cites <c>[n]</c>, and the extra <c>citations</c> field lists the passages.
/// </summary>
internal static class OpenAiApi
{
    /// <summary>Most messages in one request.</summary>
    private const int MaxMessages = 200;
    /// <summary>Most inputs in one embeddings request.</summary>
    private const int MaxEmbeddingInputs = 256;
    /// <summary>Longest text of one message or embedding input.</summary>
    private const int MaxTextChars = 32_000;

    public static void Map(IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("OpenAI-compatible");
        v1.MapGet("/models", (ServedModels models) => Results.Json(new ModelListJson("list", [.. models.All.Select(m => new ModelJson(m.Id, "model", 0, "openbook", m.Description))]))).WithSummary("The served models: openbook-extractive, openbook-rag (with --model), one per adapter");
        v1.MapPost("/chat/completions", ChatCompletions).WithSummary("Answer the last user message from the documents (stream: server-sent events)")
            .Accepts<JsonObject>("application/json");
        v1.MapPost("/embeddings", Embeddings).WithSummary("Vectors from the store's embedding model").Accepts<JsonObject>("application/json");
    }

    private static async Task ChatCompletions(HttpContext http, Asker asker, ServedModels models)
    {
        var ct = http.RequestAborted;
        var caller = ApiKeyMiddleware.Caller(http);
        JsonObject body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<JsonObject>(http.Request.Body, cancellationToken: ct) ?? throw new JsonException("empty body");
        }
        catch (JsonException e)
        {
            await Errors.BadRequest($"request body: {e.Message}").ExecuteAsync(http);
            return;
        }
        var modelId = body["model"]?.GetValueKind() == JsonValueKind.String ? body["model"]!.GetValue<string>() : null;
        if (models.Find(modelId) is not { } model)
        {
            await Errors.Result(404, "model_not_found", $"model '{modelId}' is not served; GET /v1/models lists them.").ExecuteAsync(http);
            return;
        }
        if (!TryMessages(body, out var history, out var question, out var error))
        {
            await Errors.BadRequest(error).ExecuteAsync(http);
            return;
        }
        int? k = body["top_k"]?.GetValueKind() == JsonValueKind.Number ? body["top_k"]!.GetValue<int>() : null;
        var stream = body["stream"]?.GetValueKind() == JsonValueKind.True;
        var includeUsage = body["stream_options"] is JsonObject so && so["include_usage"]?.GetValueKind() == JsonValueKind.True;
        var prepared = await asker.PrepareAsync(question, history, model, caller.Access, null, k, ct);
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (!stream)
        {
            var answer = await asker.AskAsync(prepared, ct);
            await Results.Json(new JsonObject
            {
                ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = model.Id,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = answer.Text }, ["finish_reason"] = "stop",
                }),
                ["usage"] = Usage(answer),
                ["citations"] = Citations(answer),
                ["openbook"] = Extra(answer, prepared),
            }).ExecuteAsync(http);
            return;
        }
        var sse = new ServerSentEvents(http);
        await sse.StartAsync();
        JsonObject Chunk(JsonObject delta, string? finish) => new()
        {
            ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = model.Id,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
        };
        await sse.DataAsync(Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null));
        var text = new StreamedText();
        await foreach (var update in asker.StreamAsync(prepared, ct))
        {
            if (update.Completed is { } done)
            {
                if (text.Rest(done.Text) is { Length: > 0 } rest) await sse.DataAsync(Chunk(new JsonObject { ["content"] = rest }, null));
                var last = Chunk(new JsonObject(), "stop");
                last["citations"] = Citations(done);
                last["openbook"] = Extra(done, prepared);
                await sse.DataAsync(last);
                if (includeUsage)
                    await sse.DataAsync(new JsonObject
                    {
                        ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = model.Id, ["choices"] = new JsonArray(), ["usage"] = Usage(done),
                    });
            }
            else if (text.Add(update.TextDelta) is { Length: > 0 } delta)
                await sse.DataAsync(Chunk(new JsonObject { ["content"] = delta }, null));
        }
        await sse.DoneAsync();
    }

    /// <summary>The last message must be the user's question; earlier user and assistant messages are the conversation (system messages are ignored: the answerer has its own).</summary>
    private static bool TryMessages(JsonObject body, out List<ChatMessage> history, out string question, out string error)
    {
        history = [];
        question = "";
        error = "";
        if (body["messages"] is not JsonArray messages || messages.Count == 0)
        {
            error = "messages: give at least one message.";
            return false;
        }
        if (messages.Count > MaxMessages)
        {
            error = $"messages: at most {MaxMessages}.";
            return false;
        }
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i] is not JsonObject m || m["role"]?.GetValueKind() != JsonValueKind.String)
            {
                error = $"messages[{i}]: needs a role.";
                return false;
            }
            var role = m["role"]!.GetValue<string>();
            var text = ContentText(m["content"]);
            if (text is null || text.Length > MaxTextChars)
            {
                error = $"messages[{i}].content: give text (at most {MaxTextChars} characters).";
                return false;
            }
            if (i == messages.Count - 1)
            {
                if (role != "user" || string.IsNullOrWhiteSpace(text))
                {
                    error = $"messages[{i}]: the last message must be the user's question.";
                    return false;
                }
                question = text;
            }
            else if (role is "user" or "assistant") history.Add(new ChatMessage(role == "user" ? ChatRole.User : ChatRole.Assistant, text));
        }
        return true;
    }

    /// <summary>A message's text: a string, or the text parts of a content array.</summary>
    private static string? ContentText(JsonNode? content) => content switch
    {
        null => "",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonArray parts => string.Join("\n", parts.OfType<JsonObject>().Where(p => p["type"]?.ToString() == "text").Select(p => p["text"]?.ToString() ?? "")),
        _ => null,
    };

    private static JsonArray Citations(Answer answer) =>
        JsonSerializer.SerializeToNode(answer.Citations.Select(CitationJson.Of).ToList(), JsonSerializerOptions.Web)!.AsArray();

    private static JsonObject Extra(Answer answer, PreparedQuestion q) => new()
    {
        ["found"] = answer.Found,
        ["mode"] = answer.Mode == AnswerMode.Llm ? "llm" : "extractive",
        ["retrieval_query"] = q.Query.Query,
        ["rewrite"] = q.Query.Method,
    };

    private static JsonObject Usage(Answer a) => new()
    {
        ["prompt_tokens"] = a.InputTokens ?? 0, ["completion_tokens"] = a.OutputTokens ?? 0, ["total_tokens"] = (a.InputTokens ?? 0) + (a.OutputTokens ?? 0),
    };

    private static async Task<IResult> Embeddings(HttpContext http, BookSession session)
    {
        var ct = http.RequestAborted;
        if (session.Embeddings is not { } generator)
            return Errors.BadRequest("this server has no embedding model: ingest with --embed, or start it with --embed MODEL.");
        JsonObject? body;
        try { body = await JsonSerializer.DeserializeAsync<JsonObject>(http.Request.Body, cancellationToken: ct); }
        catch (JsonException e) { return Errors.BadRequest($"request body: {e.Message}"); }
        var inputs = body?["input"] switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => [v.GetValue<string>()],
            JsonArray a when a.All(x => x?.GetValueKind() == JsonValueKind.String) => a.Select(x => x!.GetValue<string>()).ToList(),
            _ => (List<string>?)null,
        };
        if (inputs is null || inputs.Count == 0 || inputs.Count > MaxEmbeddingInputs || inputs.Any(s => s.Length is 0 or > MaxTextChars))
            return Errors.BadRequest($"input: give a string or 1 to {MaxEmbeddingInputs} non-empty strings of at most {MaxTextChars} characters (token arrays are not accepted).");
        var base64 = body!["encoding_format"]?.ToString() == "base64";
        var vectors = await generator.GenerateAsync(inputs, cancellationToken: ct);
        var tokens = inputs.Sum(s => Math.Max(1, s.Length / 4));
        return Results.Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(vectors.Select((e, i) => (JsonNode)new JsonObject
            {
                ["object"] = "embedding", ["index"] = i,
                ["embedding"] = base64 ? Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(e.Vector.Span)) : new JsonArray(e.Vector.ToArray().Select(f => (JsonNode)f).ToArray()),
            }).ToArray()),
            ["model"] = body["model"]?.ToString() ?? "openbook-embeddings",
            ["usage"] = new JsonObject { ["prompt_tokens"] = tokens, ["total_tokens"] = tokens },
        });
    }
}

/// <summary>
/// Makes a stream's deltas add up to the final answer's text, which is the reply trimmed: whitespace before the first
/// word is dropped and whitespace is held back until more text follows it; at the end, <see cref="Rest"/> gives what
/// the final text has beyond what was sent (e.g. the held-back inner whitespace, or the whole text when the answer
/// replaced a reply that was all whitespace).
/// </summary>
internal sealed class StreamedText
{
    private readonly System.Text.StringBuilder _sent = new();
    private string _pending = "";

    /// <summary>What to send for <paramref name="delta"/> (possibly empty).</summary>
    public string Add(string delta)
    {
        var s = _pending + delta;
        if (_sent.Length == 0) s = s.TrimStart();
        var body = s.TrimEnd();
        _pending = s[body.Length..];
        _sent.Append(body);
        return body;
    }

    /// <summary>The part of <paramref name="final"/> not sent yet, when what was sent is its beginning (else empty).</summary>
    public string Rest(string final)
    {
        var sent = _sent.ToString();
        return final.Length > sent.Length && final.StartsWith(sent, StringComparison.Ordinal) ? final[sent.Length..] : "";
    }
}

/// <summary>Writes <c>text/event-stream</c> responses, flushing each event.</summary>
internal sealed class ServerSentEvents(HttpContext http)
{
    public async Task StartAsync()
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    public Task DataAsync(JsonNode data, string? eventName = null) => WriteAsync((eventName is null ? "" : $"event: {eventName}\n") + "data: " + data.ToJsonString() + "\n\n");

    public Task EventAsync<T>(string eventName, T data) => WriteAsync($"event: {eventName}\ndata: {JsonSerializer.Serialize(data, JsonSerializerOptions.Web)}\n\n");

    public Task DoneAsync() => WriteAsync("data: [DONE]\n\n");

    private async Task WriteAsync(string text)
    {
        await http.Response.WriteAsync(text, http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }
}
