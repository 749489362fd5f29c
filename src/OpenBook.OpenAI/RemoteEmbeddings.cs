using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenBook.Embeddings;

namespace OpenBook.OpenAI;

/// <summary>Where and how to call an OpenAI-compatible <c>/v1/embeddings</c> endpoint.</summary>
public sealed record RemoteEmbeddingOptions
{
    /// <summary>Model name, e.g. <c>text-embedding-3-small</c>, <c>text-embedding-ada-002</c>, <c>nomic-embed-text</c>.</summary>
    public required string Model { get; init; }

    /// <summary>Base URL including <c>/v1</c> (OpenAI: https://api.openai.com/v1; Ollama: http://localhost:11434/v1; vLLM: http://host:8000/v1). Null: OpenAI.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>API key (local servers accept any non-empty key). Null: <c>OPENAI_API_KEY</c>, else "unused".</summary>
    public string? ApiKey { get; init; }

    /// <summary>Requested dimensions (text-embedding-3 models can shorten vectors); null: the model's default.</summary>
    public int? Dimensions { get; init; }

    /// <summary>Inputs per request (OpenAI accepts up to 2048).</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Timeout of one HTTP request.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>Retries with backoff for 429 / 5xx / network errors.</summary>
    public RetrySettings Retry { get; init; } = new();
}

/// <summary>
/// Remote embeddings through Microsoft.Extensions.AI.OpenAI (OpenAI, Ollama, vLLM, LM Studio and other
/// OpenAI-compatible servers): requests are split into <see cref="RemoteEmbeddingOptions.BatchSize"/> batches, each
/// retried by <see cref="RetryingEmbeddingGenerator"/> (the SDK's own retries are off so there is one policy).
/// </summary>
public static class RemoteEmbeddings
{
    /// <summary>Builds the generator pipeline: batching → retries → OpenAI embedding client.</summary>
    public static IEmbeddingGenerator<string, Embedding<float>> Create(RemoteEmbeddingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Model)) throw new OpenBookException("Remote embeddings: option 'model' is empty.");
        if (options.BatchSize < 1) throw new OpenBookException($"Remote embeddings: option 'batch size' must be at least 1, found {options.BatchSize}.");
        var key = options.ApiKey ?? Environment.GetEnvironmentVariable("OPENAI_API_KEY") ?? "unused";
        var clientOptions = new OpenAIClientOptions
        {
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = options.RequestTimeout,
        };
        if (options.Endpoint is not null) clientOptions.Endpoint = options.Endpoint;
        var client = new OpenAIClient(new ApiKeyCredential(key), clientOptions).GetEmbeddingClient(options.Model);

        IEmbeddingGenerator<string, Embedding<float>> generator = client.AsIEmbeddingGenerator(options.Dimensions);
        generator = new EmbeddingGeneratorBuilder<string, Embedding<float>>(generator)
            .ConfigureOptions(o =>
            {
                o.AdditionalProperties?.Remove(EmbeddingInput.KindKey); // OpenBook's own key: not for the server
                o.Dimensions ??= options.Dimensions;
            })
            .Build();
        generator = new RetryingEmbeddingGenerator(generator, options.Retry);
        return new BatchingEmbeddingGenerator(generator, options.BatchSize);
    }
}
