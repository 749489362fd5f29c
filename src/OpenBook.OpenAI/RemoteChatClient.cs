using System.ClientModel;
using System.ClientModel.Primitives;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using OpenAI;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace OpenBook.OpenAI;

/// <summary>An OpenAI-compatible endpoint (OpenAI, Azure OpenAI's v1 API, Ollama, vLLM, llama.cpp server).</summary>
public sealed record RemoteModelOptions
{
    /// <summary>Base URL including the API version path, e.g. <c>http://localhost:11434/v1</c>.</summary>
    public required Uri Endpoint { get; init; }

    /// <summary>Model (deployment) name sent with each request.</summary>
    public required string Model { get; init; }

    /// <summary>API key (sent as a bearer token); null for servers that need none.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Retries after the first attempt for transient failures (network, 408, 429, 5xx, timeouts).</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>Delay before the first retry; doubles each retry (with jitter).</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Time limit per attempt (for streaming: until the first token arrives).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Parses <c>openai:URL#model</c> (e.g. <c>openai:http://localhost:11434/v1#llama3.2</c>). The key comes from
    /// <paramref name="apiKey"/> or the <c>OPENAI_API_KEY</c> environment variable.
    /// </summary>
    public static RemoteModelOptions Parse(string spec, string? apiKey = null)
    {
        const string prefix = "openai:";
        if (!spec.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            throw new OpenBookException($"model \"{spec}\": a remote model is written openai:URL#model (e.g. openai:http://localhost:11434/v1#llama3.2)");
        var rest = spec[prefix.Length..];
        var hash = rest.LastIndexOf('#');
        if (hash <= 0 || hash == rest.Length - 1)
            throw new OpenBookException($"model \"{spec}\": missing #model after the URL (e.g. openai:https://api.openai.com/v1#gpt-4o-mini)");
        if (!Uri.TryCreate(rest[..hash], UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new OpenBookException($"model \"{spec}\": \"{rest[..hash]}\" is not an http(s) URL");
        return new RemoteModelOptions
        {
            Endpoint = uri, Model = rest[(hash + 1)..],
            ApiKey = apiKey ?? Environment.GetEnvironmentVariable("OPENAI_API_KEY"),
        };
    }
}

/// <summary>
/// Creates <see cref="IChatClient"/>s for OpenAI-compatible endpoints with Microsoft.Extensions.AI.OpenAI,
/// wrapped with Polly retries (exponential backoff with jitter) and per-attempt timeouts.
/// </summary>
public static class RemoteChatClient
{
    /// <summary>The chat client for an endpoint.</summary>
    public static IChatClient Create(RemoteModelOptions options)
    {
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = options.Endpoint,
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0), // retries are Polly's, below
            NetworkTimeout = options.Timeout,
        };
        var inner = new global::OpenAI.Chat.ChatClient(options.Model, new ApiKeyCredential(options.ApiKey ?? "no-key"), clientOptions).AsIChatClient();
        return new ResilientChatClient(inner, options);
    }

    /// <summary>Whether a failure is worth retrying.</summary>
    internal static bool IsTransient(Exception ex) => ex switch
    {
        ClientResultException c => c.Status is 0 or 408 or 429 or >= 500,
        HttpRequestException or TimeoutRejectedException or IOException => true,
        _ => false,
    };
}

/// <summary>Retries and time-limits the calls of an inner chat client (streaming: only until the first update).</summary>
internal sealed class ResilientChatClient : DelegatingChatClient
{
    private readonly RemoteModelOptions _options;
    private readonly ResiliencePipeline _pipeline;

    public ResilientChatClient(IChatClient inner, RemoteModelOptions options) : base(inner)
    {
        _options = options;
        var builder = new ResiliencePipelineBuilder();
        if (options.MaxRetries > 0)
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e && RemoteChatClient.IsTransient(e)),
                MaxRetryAttempts = options.MaxRetries,
                Delay = options.InitialBackoff,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            });
        _pipeline = builder.AddTimeout(options.Timeout).Build();
    }

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? messages.ToList();
        try
        {
            return await _pipeline.ExecuteAsync(async ct => await base.GetResponseAsync(list, options, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is not OpenBookException)
        {
            throw Describe(ex);
        }
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? messages.ToList();
        IAsyncEnumerator<ChatResponseUpdate>? stream = null;
        CancellationTokenSource? attemptToken = null;
        ChatResponseUpdate? first = null;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                attemptToken?.Dispose();
                attemptToken = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attemptToken.CancelAfter(_options.Timeout); // until the first update
                try
                {
                    stream = base.GetStreamingResponseAsync(list, options, attemptToken.Token).GetAsyncEnumerator(attemptToken.Token);
                    if (await stream.MoveNextAsync().ConfigureAwait(false)) first = stream.Current;
                    attemptToken.CancelAfter(Timeout.InfiniteTimeSpan);
                    break;
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
                    stream = null;
                    var failure = ex is OperationCanceledException ? new TimeoutRejectedException($"no answer within {_options.Timeout.TotalSeconds:0} s") : ex;
                    if (!RemoteChatClient.IsTransient(failure) || attempt >= _options.MaxRetries) throw Describe(failure);
                    await Task.Delay(_options.InitialBackoff * (1 << Math.Min(attempt, 6)), cancellationToken).ConfigureAwait(false);
                }
            }
            if (first is null) yield break;
            yield return first;
            while (await stream.MoveNextAsync().ConfigureAwait(false)) yield return stream.Current;
        }
        finally
        {
            if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
            attemptToken?.Dispose();
        }
    }

    private OpenBookException Describe(Exception ex)
    {
        var where = $"{_options.Endpoint} (model {_options.Model})";
        return ex switch
        {
            ClientResultException { Status: 401 or 403 } => new OpenBookException($"{where}: the server refused the API key (HTTP 401/403); set OPENAI_API_KEY or --api-key.", ex),
            ClientResultException { Status: 404 } c => new OpenBookException($"{where}: not found (HTTP 404): check the base URL (it usually ends in /v1) and the model name. {c.Message}", ex),
            ClientResultException c => new OpenBookException($"{where}: HTTP {c.Status}: {c.Message}", ex),
            TimeoutRejectedException => new OpenBookException($"{where}: no answer within {_options.Timeout.TotalSeconds:0} s (after {_options.MaxRetries + 1} attempts)", ex),
            _ => new OpenBookException($"{where}: {ex.Message}", ex),
        };
    }
}
