using Microsoft.Extensions.AI;
using OpenBook.Embeddings;
using OpenBook.Storage;

namespace OpenBook.Onnx.Tests;

/// <summary>Counts what reaches the wrapped generator.</summary>
internal sealed class CountingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner) : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
{
    public List<string> Seen { get; } = [];

    public override Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = values.ToList();
        lock (Seen) Seen.AddRange(list);
        return base.GenerateAsync(list, options, cancellationToken);
    }
}

public sealed class EmbeddingCacheTests
{
    private static readonly string[] Texts = ["How do I reset my password?", "Hybrid search fuses lexical and dense rankings.", "retrieval"];

    [Fact]
    public async Task Second_pass_is_served_from_the_store_and_equals_the_computed_vectors()
    {
        using var tmp = new TempDir();
        using var encoder = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert"));
        var counting = new CountingGenerator(encoder);
        List<float[]> first;
        using (var store = DocumentStore.Open(tmp.Path))
        {
            var cached = new CachingEmbeddingGenerator(counting, new EmbeddingCache(store), encoder.ModelId);
            first = (await cached.GenerateAsync(Texts)).Select(e => e.Vector.ToArray()).ToList();
            Assert.Equal(Texts, counting.Seen);
            Assert.Equal((0, 3), (cached.Hits, cached.Misses));
            Assert.Equal(3, new EmbeddingCache(store).Count(encoder.ModelId));
        }

        counting.Seen.Clear();
        using (var store = DocumentStore.Open(tmp.Path)) // reopened: the cache is persistent
        {
            var cached = new CachingEmbeddingGenerator(counting, new EmbeddingCache(store), encoder.ModelId);
            var again = await cached.GenerateAsync([Texts[2], Texts[0], "a new sentence", Texts[1]]);
            Assert.Equal(["a new sentence"], counting.Seen); // only the miss was computed
            Assert.Equal((3, 1), (cached.Hits, cached.Misses));
            Assert.Equal(first[2], again[0].Vector.ToArray());
            Assert.Equal(first[0], again[1].Vector.ToArray());
            Assert.Equal(first[1], again[3].Vector.ToArray());
            Fixtures.AssertClose((await encoder.GenerateAsync(["a new sentence"]))[0].Vector.Span, again[2].Vector.Span, 0, "miss");
        }
    }

    [Fact]
    public async Task Duplicates_are_computed_once_and_keys_separate_models_and_query_kind()
    {
        using var tmp = new TempDir();
        using var store = DocumentStore.Open(tmp.Path);
        using var encoder = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert"));
        var counting = new CountingGenerator(encoder);
        var cache = new EmbeddingCache(store);
        var a = new CachingEmbeddingGenerator(counting, cache, "model-a");
        await a.GenerateAsync(["same", "same", "other", "same"]);
        Assert.Equal(["same", "other"], counting.Seen);

        var b = new CachingEmbeddingGenerator(counting, cache, "model-b");
        await b.GenerateAsync(["same"]);
        Assert.Equal(1, b.Misses); // another model id never reuses model-a's vectors

        await a.GenerateAsync(["same"], EmbeddingInput.WithKind(EmbeddingInputKind.Query));
        Assert.Equal(3, a.Misses); // a query is cached apart from the same text as passage
        Assert.NotEqual(CachingEmbeddingGenerator.TextHash("same"), CachingEmbeddingGenerator.TextHash("same", EmbeddingInputKind.Query));

        Assert.Equal(3, cache.Remove("model-a"));
        Assert.Equal(0, cache.Count("model-a"));
        Assert.Equal(1, cache.Count("model-b"));
    }

    [Fact]
    public void Vectors_round_trip_bit_exactly_and_many_keys_are_chunked()
    {
        using var tmp = new TempDir();
        using var store = DocumentStore.Open(tmp.Path);
        var cache = new EmbeddingCache(store);
        var rng = new Random(5);
        var entries = Enumerable.Range(0, 1200).Select(i => new KeyValuePair<string, float[]>(
            DocumentStore.Hash(i.ToString()), [(float)rng.NextDouble(), float.Epsilon, -0f, float.MaxValue, i])).ToList();
        cache.Put("m", entries);
        var back = cache.Get("m", entries.Select(e => e.Key).Append("missing").ToList());
        Assert.Equal(1200, back.Count);
        foreach (var (k, v) in entries) Assert.Equal(v, back[k]);
    }
}
