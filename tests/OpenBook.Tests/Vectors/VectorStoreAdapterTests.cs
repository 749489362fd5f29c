using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;
using OpenBook.Retrieval.Vectors;
using OpenBook.Retrieval.Vectors.VectorData;

namespace OpenBook.Tests.Vectors;

public class VectorStoreAdapterTests
{
    public sealed class Note
    {
        [VectorStoreKey] public int Key { get; set; }
        [VectorStoreData] public string Text { get; set; } = "";
        [VectorStoreData] public string Team { get; set; } = "";
        [VectorStoreVector(8, DistanceFunction = DistanceFunction.CosineSimilarity)] public ReadOnlyMemory<float> Embedding { get; set; }
    }

    /// <summary>A deterministic toy embedding: letter-bucket counts, so related texts are near.</summary>
    private sealed class BucketEmbedder : IEmbeddingGenerator<string, Embedding<float>>
    {
        public static float[] Embed(string text)
        {
            var v = new float[8];
            foreach (char c in text.ToLowerInvariant()) if (char.IsLetter(c)) v[c % 8] += 1;
            return v;
        }

        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(values.Select(v => new Embedding<float>(Embed(v)))));

        public object? GetService(Type serviceType, object? serviceKey = null) => null;
        public void Dispose() { }
    }

    private static readonly string[] Texts =
    [
        "reset your password from the login page", "quarterly revenue grew by ten percent", "the vpn needs a hardware token",
        "holiday requests go to your manager", "password rules: twelve characters", "revenue forecast for next year",
        "printer on floor two is broken", "expense claims within thirty days",
    ];

    private static Note[] Notes() => Texts.Select((t, i) => new Note { Key = i + 1, Text = t, Team = i % 2 == 0 ? "it" : "finance", Embedding = BucketEmbedder.Embed(t) }).ToArray();

    [Fact]
    public async Task Upsert_search_filter_get_delete_and_reload_through_the_abstraction()
    {
        using var dir = new TempDir();
        using VectorStore store = new OpenBookVectorStore(dir.Path, new BucketEmbedder());
        var notes = store.GetCollection<int, Note>("notes");
        Assert.False(await notes.CollectionExistsAsync());
        await notes.EnsureCollectionExistsAsync();
        await notes.UpsertAsync(Notes());

        var exact = await notes.SearchAsync(BucketEmbedder.Embed(Texts[2]), top: 3).ToListAsync();
        Assert.Equal(3, exact.Count);
        Assert.Equal(3, exact[0].Record.Key);
        Assert.Equal(1.0, exact[0].Score!.Value, 4);
        Assert.True(exact[0].Score >= exact[1].Score && exact[1].Score >= exact[2].Score);

        // text search goes through the embedding generator; the filter is applied inside the index search
        var filtered = await notes.SearchAsync("password reset", top: 10, new VectorSearchOptions<Note> { Filter = n => n.Team == "finance" }).ToListAsync();
        Assert.Equal(4, filtered.Count);
        Assert.All(filtered, r => Assert.Equal("finance", r.Record.Team));
        var thresholded = await notes.SearchAsync(BucketEmbedder.Embed(Texts[0]), top: 8, new VectorSearchOptions<Note> { ScoreThreshold = 0.999 }).ToListAsync();
        Assert.Single(thresholded);

        Assert.Equal("printer on floor two is broken", (await notes.GetAsync(7))!.Text);
        var it = await notes.GetAsync(n => n.Team == "it", top: 10, new FilteredRecordRetrievalOptions<Note> { OrderBy = o => o.Descending(n => n.Key) }).ToListAsync();
        Assert.Equal(new[] { 7, 5, 3, 1 }, it.Select(n => n.Key));

        await notes.DeleteAsync(3);
        Assert.Null(await notes.GetAsync(3));
        Assert.DoesNotContain(await notes.SearchAsync(BucketEmbedder.Embed(Texts[2]), top: 8).ToListAsync(), r => r.Record.Key == 3);
        await notes.UpsertAsync(new Note { Key = 1, Text = "changed", Team = "it", Embedding = BucketEmbedder.Embed("printer") });
        Assert.Equal("changed", (await notes.GetAsync(1))!.Text);

        await ((OpenBookVectorStore)store).SaveAllAsync();
        Assert.True(File.Exists(Path.Combine(dir.Path, "notes.obvec")));

        // a fresh store over the same directory sees the same collection and answers the same
        using VectorStore reopened = new OpenBookVectorStore(dir.Path);
        Assert.Equal(new[] { "notes" }, await reopened.ListCollectionNamesAsync().ToListAsync());
        var again = reopened.GetCollection<int, Note>("notes");
        Assert.True(await again.CollectionExistsAsync());
        var before = await notes.SearchAsync(BucketEmbedder.Embed("printer"), top: 4).Select(r => (r.Record.Key, r.Score)).ToListAsync();
        var after = await again.SearchAsync(BucketEmbedder.Embed("printer"), top: 4).Select(r => (r.Record.Key, r.Score)).ToListAsync();
        Assert.Equal(before, after);
        Assert.Null(await again.GetAsync(3));
        Assert.Equal("changed", (await again.GetAsync(1))!.Text);

        // a damaged index file is rebuilt from the records file
        File.WriteAllBytes(Path.Combine(dir.Path, "notes.obvec"), [1, 2, 3]);
        var rebuilt = new OpenBookVectorStore(dir.Path).GetCollection<int, Note>("notes");
        Assert.Equal(before.Select(b => b.Key), await rebuilt.SearchAsync(BucketEmbedder.Embed("printer"), top: 4).Select(r => r.Record.Key).ToListAsync());

        await reopened.EnsureCollectionDeletedAsync("notes");
        Assert.False(await reopened.CollectionExistsAsync("notes"));
    }

    [Fact]
    public async Task Dynamic_collections_use_the_definition()
    {
        var definition = new VectorStoreCollectionDefinition
        {
            Properties =
            [
                new VectorStoreKeyProperty("Id", typeof(string)),
                new VectorStoreDataProperty("Title", typeof(string)),
                new VectorStoreVectorProperty("Vec", typeof(ReadOnlyMemory<float>), 2) { DistanceFunction = DistanceFunction.EuclideanDistance, IndexKind = IndexKind.Flat },
            ],
        };
        using var dir = new TempDir();
        var store = new OpenBookVectorStore(dir.Path);
        var c = store.GetDynamicCollection("points", definition);
        await c.UpsertAsync([
            new Dictionary<string, object?> { ["Id"] = "a", ["Title"] = "origin", ["Vec"] = new ReadOnlyMemory<float>([0f, 0f]) },
            new Dictionary<string, object?> { ["Id"] = "b", ["Title"] = "far", ["Vec"] = new float[] { 3f, 4f } },
        ]);
        var hits = await c.SearchAsync(new float[] { 0f, 0f }, top: 2).ToListAsync();
        Assert.Equal(new object[] { "a", "b" }, hits.Select(h => h.Record["Id"]!));
        Assert.Equal(5.0, hits[1].Score!.Value, 4); // Euclidean distance, not squared
        await store.SaveAllAsync();
        var back = new OpenBookVectorStore(dir.Path).GetDynamicCollection("points", definition);
        var rec = await back.GetAsync((object)"b");
        Assert.Equal("far", rec!["Title"]);
        Assert.IsType<FlatIndex>(back.GetService(typeof(IVectorIndex)));
    }

    [Fact]
    public async Task Bad_records_and_unsupported_setups_are_reported()
    {
        var store = new OpenBookVectorStore();
        var notes = store.GetCollection<int, Note>("notes");
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => notes.UpsertAsync(new Note { Key = 1, Embedding = new float[3] }));
        Assert.Contains("3 dimensions", ex.Message);
        await Assert.ThrowsAsync<NotSupportedException>(async () => await notes.SearchAsync("text", top: 1).ToListAsync());
        await Assert.ThrowsAsync<InvalidOperationException>(() => ((OpenBookVectorStoreCollection<int, Note>)notes).SaveAsync());
        Assert.Throws<ArgumentException>(() => store.GetCollection<int, Note>("../escape"));
    }
}
