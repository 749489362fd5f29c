using System.ClientModel;
using System.Globalization;
using Microsoft.Extensions.AI;
using Polly;
using Polly.Retry;

namespace OpenBook.OpenAI;

/// <summary>Retry settings of remote embedding calls.</summary>
public sealed record RetrySettings
{
    /// <summary>Retries after the first attempt (0 disables retrying).</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>First backoff delay; doubles each retry (with jitter).</summary>
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between attempts, also the cap on a server's <c>Retry-After</c>.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// Retries transient failures of a remote embedding generator with Polly: HTTP 408, 429 (honouring
/// <c>Retry-After</c> / <c>retry-after-ms</c>, capped at <see cref="RetrySettings.MaxDelay"/>), 5xx, network errors and
/// timeouts, with exponential backoff and jitter. Other errors (401, 400, …) fail at once.
/// </summary>
public sealed class RetryingEmbeddingGenerator : DelegatingEmbeddingGenerator<string, Embedding<float>>
{
    private readonly ResiliencePipeline _pipeline;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    public RetryingEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, RetrySettings? settings = null) : base(inner)
    {
        Settings = settings ?? new RetrySettings();
        var builder = new ResiliencePipelineBuilder();
        if (Settings.MaxRetries > 0)
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = Settings.MaxRetries,
                Delay = Settings.InitialDelay,
                MaxDelay = Settings.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && IsTransient(ex, args.Context.CancellationToken)),
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Exception) is TimeSpan t ? (TimeSpan?)Min(t, Settings.MaxDelay) : null),
                OnRetry = args =>
                {
                    Interlocked.Increment(ref _retries);
                    return ValueTask.CompletedTask;
                },
            });
        _pipeline = builder.Build();
    }

    private long _retries;

    /// <summary>The retry settings.</summary>
    public RetrySettings Settings { get; }

    /// <summary>Retries made so far.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <inheritdoc />
    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var texts = values as IReadOnlyList<string> ?? values.ToList();
        try
        {
            return await _pipeline.ExecuteAsync(
                async token => await base.GenerateAsync(texts, options, token).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        catch (ClientResultException ex)
        {
            var what = ex.Status == 0 ? ex.Message : $"HTTP {ex.Status}: {ex.Message}";
            throw new OpenBookException($"Remote embedding request failed{(IsTransient(ex, cancellationToken) ? $" after {Settings.MaxRetries} retries" : "")} ({what})", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new OpenBookException($"Remote embedding endpoint unreachable after {Settings.MaxRetries} retries: {ex.Message}", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new OpenBookException($"Remote embedding request timed out after {Settings.MaxRetries} retries.", ex);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>Whether <paramref name="ex"/> is worth retrying (not the caller's own cancellation).</summary>
    internal static bool IsTransient(Exception ex, CancellationToken callerToken) => ex switch
    {
        ClientResultException c => c.Status is 408 or 429 or >= 500 || (c.Status == 0 && c.InnerException is HttpRequestException or IOException),
        HttpRequestException => true,
        TimeoutException => true,
        OperationCanceledException => !callerToken.IsCancellationRequested, // a network timeout, not the caller
        _ => false,
    };

    /// <summary>The server's requested wait (<c>retry-after-ms</c>, <c>Retry-After</c> seconds or HTTP date), if any.</summary>
    internal static TimeSpan? RetryAfter(Exception? ex)
    {
        if (ex is not ClientResultException c || c.GetRawResponse() is not { } response) return null;
        if (response.Headers.TryGetValue("retry-after-ms", out var ms) && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var m) && m >= 0)
            return TimeSpan.FromMilliseconds(m);
        if (!response.Headers.TryGetValue("Retry-After", out var value) || value is null) return null;
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0) return TimeSpan.FromSeconds(seconds);
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
        {
            var wait = at - DateTimeOffset.UtcNow;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
        return null;
    }
}
