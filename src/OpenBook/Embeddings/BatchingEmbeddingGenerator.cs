using Microsoft.Extensions.AI;

namespace OpenBook.Embeddings;

/// <summary>
/// Splits large requests into batches of at most <see cref="BatchSize"/> inputs (remote APIs cap the inputs per
/// request) and concatenates the results in input order, summing token usage.
/// </summary>
public sealed class BatchingEmbeddingGenerator : DelegatingEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>Wraps <paramref name="inner"/>.</summary>
    public BatchingEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, int batchSize) : base(inner)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        BatchSize = batchSize;
    }

    /// <summary>Maximum inputs per inner call.</summary>
    public int BatchSize { get; }

    /// <inheritdoc />
    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var texts = values as IReadOnlyList<string> ?? values.ToList();
        if (texts.Count <= BatchSize) return await base.GenerateAsync(texts, options, cancellationToken).ConfigureAwait(false);

        var all = new GeneratedEmbeddings<Embedding<float>>(texts.Count);
        foreach (var batch in texts.Chunk(BatchSize))
        {
            var part = await base.GenerateAsync(batch, options, cancellationToken).ConfigureAwait(false);
            if (part.Count != batch.Length)
                throw new InvalidOperationException($"Embedding generator returned {part.Count} vectors for {batch.Length} inputs.");
            all.AddRange(part);
            if (part.Usage is { } u)
            {
                all.Usage ??= new UsageDetails();
                all.Usage.Add(u);
            }
        }
        return all;
    }
}
