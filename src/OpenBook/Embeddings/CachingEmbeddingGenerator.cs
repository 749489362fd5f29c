using Microsoft.Extensions.AI;
using OpenBook.Storage;

namespace OpenBook.Embeddings;

/// <summary>
/// Looks every input up in an <see cref="IEmbeddingCache"/> and sends only the misses (deduplicated) to the inner
/// generator, then stores what it computed. Re-ingesting unchanged chunks therefore computes nothing.
/// The key is (<see cref="ModelId"/>, SHA-256 of the text, with the input kind for queries).
/// </summary>
public sealed class CachingEmbeddingGenerator : DelegatingEmbeddingGenerator<string, Embedding<float>>
{
    private readonly IEmbeddingCache _cache;
    private long _hits, _misses;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The generator that computes misses.</param>
    /// <param name="cache">Where vectors are kept (e.g. <see cref="EmbeddingCache"/> over the document store).</param>
    /// <param name="modelId">Exact id of the model the inner generator runs (cache key part).</param>
    public CachingEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, IEmbeddingCache cache, string modelId)
        : base(inner)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        _cache = cache;
        ModelId = modelId;
    }

    /// <summary>The model id used as cache key.</summary>
    public string ModelId { get; }

    /// <summary>Inputs served from the cache so far.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Inputs computed by the inner generator so far (after deduplication).</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>The cache key of <paramref name="text"/> embedded as <paramref name="kind"/>.</summary>
    public static string TextHash(string text, EmbeddingInputKind kind = EmbeddingInputKind.Passage) =>
        DocumentStore.Hash(kind == EmbeddingInputKind.Passage ? text : $"{kind}\0{text}");

    /// <inheritdoc />
    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var texts = values as IReadOnlyList<string> ?? values.ToList();
        var kind = EmbeddingInput.KindOf(options);
        var hashes = texts.Select(t => TextHash(t, kind)).ToArray();
        var found = new Dictionary<string, float[]>(_cache.Get(ModelId, hashes.ToHashSet()));

        var missing = new List<(string Hash, string Text)>();
        var queued = new HashSet<string>();
        for (int i = 0; i < texts.Count; i++)
            if (!found.ContainsKey(hashes[i]) && queued.Add(hashes[i])) missing.Add((hashes[i], texts[i]));

        UsageDetails? usage = null;
        if (missing.Count > 0)
        {
            var computed = await base.GenerateAsync(missing.Select(m => m.Text), options, cancellationToken).ConfigureAwait(false);
            if (computed.Count != missing.Count)
                throw new InvalidOperationException($"Embedding generator returned {computed.Count} vectors for {missing.Count} inputs.");
            var fresh = new List<KeyValuePair<string, float[]>>(missing.Count);
            for (int i = 0; i < missing.Count; i++)
            {
                var v = computed[i].Vector.ToArray();
                found[missing[i].Hash] = v;
                fresh.Add(new(missing[i].Hash, v));
            }
            _cache.Put(ModelId, fresh);
            usage = computed.Usage;
        }
        Interlocked.Add(ref _misses, missing.Count);
        Interlocked.Add(ref _hits, texts.Count - missing.Count);

        var result = new GeneratedEmbeddings<Embedding<float>>(texts.Count) { Usage = usage };
        foreach (var h in hashes) result.Add(new Embedding<float>(found[h]) { ModelId = ModelId });
        return result;
    }
}
