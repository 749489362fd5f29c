using OpenBook.Retrieval;
using OpenBook.Storage;

namespace OpenBook.Tests.Storage;

public class DocumentStoreTests
{
    internal static DocumentWrite Doc(string key, string hash = "h1", string collection = "default", string[]? tags = null, string[]? acl = null) =>
        new(collection, key, key, Path.GetFileName(key), null, hash, 10, DateTimeOffset.UnixEpoch, tags ?? [], acl ?? []);

    internal static ChunkWrite[] Chunks(params string[] texts) =>
        texts.Select((t, i) => new ChunkWrite(i, t, null, ["Heading"], i * 100, i * 100 + t.Length, t.Length / 4)).ToArray();

    [Fact]
    public void Creates_schema_and_refuses_a_newer_one()
    {
        using var dir = new TempDir();
        using (var store = DocumentStore.Open(dir.Path))
            Assert.Equal(StoreSchema.LatestVersion, store.SchemaVersion);
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dir.Path, DocumentStore.DatabaseFileName)};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA user_version = 99";
            cmd.ExecuteNonQuery();
        }
        var ex = Assert.Throws<OpenBookException>(() => DocumentStore.Open(dir.Path));
        Assert.Contains("schema version 99", ex.Message);
    }

    [Fact]
    public void Replace_swaps_chunks_and_logs_changes()
    {
        using var dir = new TempDir();
        using var store = DocumentStore.Open(dir.Path);
        var id = store.ReplaceDocument(Doc("/a.md"), Chunks("one", "two"));
        var first = store.ChunksOfDocument(id).Select(c => c.Id).ToList();
        Assert.Equal(2, first.Count);

        var id2 = store.ReplaceDocument(Doc("/a.md", "h2"), Chunks("three"));
        Assert.Equal(id, id2);
        var second = store.ChunksOfDocument(id);
        Assert.Equal("three", Assert.Single(second).Text);
        Assert.DoesNotContain(second[0].Id, first); // ids are never reused

        var changes = store.ChangesSince(0).ToList();
        Assert.Equal([true, true, false, false, true], changes.Select(c => c.Added));
        Assert.Equal(store.Sequence, changes[^1].Sequence);
        Assert.Equal(["add", "update"], store.History().Select(h => h.Operation));
        Assert.Empty(store.CheckConsistency());
    }

    [Fact]
    public void A_crash_in_the_middle_of_a_document_leaves_the_old_version()
    {
        using var dir = new TempDir();
        using var store = DocumentStore.Open(dir.Path);
        var id = store.ReplaceDocument(Doc("/a.md"), Chunks("old one", "old two"));
        store.AfterChunkInserted = i => { if (i == 2) throw new IOException("simulated crash"); };
        Assert.Throws<IOException>(() => store.ReplaceDocument(Doc("/a.md", "h2"), Chunks("new 1", "new 2", "new 3", "new 4")));
        Assert.Throws<IOException>(() => store.ReplaceDocument(Doc("/b.md"), Chunks("b1", "b2", "b3")));

        Assert.Empty(store.CheckConsistency());
        Assert.Equal(["old one", "old two"], store.ChunksOfDocument(id).Select(c => c.Text));
        Assert.Null(store.FindDocument("default", "/b.md"));
        Assert.Equal("h1", store.GetDocument(id)!.ContentHash);

        store.AfterChunkInserted = null;
        store.ReplaceDocument(Doc("/a.md", "h2"), Chunks("new 1", "new 2", "new 3", "new 4"));
        Assert.Equal(4, store.ChunksOfDocument(id).Count);
        Assert.Empty(store.CheckConsistency());
    }

    [Fact]
    public void Remove_deletes_chunks_and_records_history()
    {
        using var dir = new TempDir();
        using var store = DocumentStore.Open(dir.Path);
        var id = store.ReplaceDocument(Doc("/a.md"), Chunks("one"));
        Assert.True(store.RemoveDocument(id));
        Assert.False(store.RemoveDocument(id));
        Assert.Empty(store.AllChunks());
        Assert.Equal("remove", store.History()[^1].Operation);
        Assert.Equal(0, store.Stats().Chunks);
    }

    [Fact]
    public void Catalog_compiles_collection_tag_and_acl_filters()
    {
        using var dir = new TempDir();
        using var store = DocumentStore.Open(dir.Path);
        var pub = store.ReplaceDocument(Doc("/public.md", tags: ["policy"]), Chunks("x"));
        var hr = store.ReplaceDocument(Doc("/hr.md", tags: ["policy", "hr"], acl: ["hr"]), Chunks("x"));
        var other = store.ReplaceDocument(Doc("/it.md", collection: "it"), Chunks("x"));
        var catalog = store.LoadCatalog();

        IEnumerable<long> Allowed(SearchFilter f)
        {
            var (allow, _) = catalog.Compile(f);
            return new[] { pub, hr, other }.Where(allow);
        }

        Assert.Equal([pub, other], Allowed(SearchFilter.None));
        Assert.Equal([pub, hr, other], Allowed(new SearchFilter { Groups = ["HR"] }));
        Assert.Equal([pub, other], Allowed(new SearchFilter { Groups = ["finance"] }));
        Assert.Equal([hr], Allowed(new SearchFilter { Tags = ["hr"], Groups = ["hr"] }));
        Assert.Empty(Allowed(new SearchFilter { Tags = ["hr"] }));
        Assert.Equal([other], Allowed(new SearchFilter { Collections = ["it"] }));
        Assert.Equal([pub, hr, other], Allowed(new SearchFilter { AllAccess = true }));
        Assert.Equal(2 / 3.0, catalog.Compile(null).Selectivity, 6);
    }
}
