using System.Text;
using OpenBook.Storage;

namespace OpenBook.Tests.Storage;

public class ServerTablesTests
{
    [Fact]
    public void Api_keys_are_stored_only_as_hashes_and_can_be_revoked()
    {
        using var dir = new TempDir();
        string key;
        using (var store = DocumentStore.Open(dir.Path))
        {
            var keys = new ApiKeyStore(store);
            var (record, k) = keys.Add("alice", ["hr", " hr ", "it"], admin: false);
            key = k;
            Assert.StartsWith("ob_", key);
            Assert.True(key.Length >= 40);
            Assert.Equal(["hr", "it"], record.Groups);
            Assert.Equal("alice", keys.Authenticate(key)?.Name);
            Assert.Null(keys.Authenticate(key + "x"));
            Assert.Throws<OpenBookException>(() => keys.Add("alice", null, false));
            Assert.True(keys.Add("root", null, admin: true).Record.IsAdmin);
            Assert.True(keys.Revoke("alice"));
            Assert.False(keys.Revoke("alice"));
            Assert.Null(keys.Authenticate(key));
            Assert.NotNull(keys.List().Single(x => x.Name == "alice").RevokedAt);
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var bytes = File.ReadAllBytes(Path.Combine(dir.Path, DocumentStore.DatabaseFileName));
        var wal = Path.Combine(dir.Path, DocumentStore.DatabaseFileName + "-wal");
        var all = Encoding.Latin1.GetString(bytes) + (File.Exists(wal) ? Encoding.Latin1.GetString(File.ReadAllBytes(wal)) : "");
        Assert.DoesNotContain(key[3..], all);
        Assert.Contains(ApiKeyStore.Hash(key), all);
    }

    [Fact]
    public void Conversations_are_read_only_by_their_owner()
    {
        using var dir = new TempDir();
        using var store = DocumentStore.Open(dir.Path);
        var conversations = new ConversationStore(store);
        var c = conversations.Create(1, "What is the annual vacation entitlement in Berlin?");
        var answer = new Answer
        {
            Text = "30 working days [1]", Mode = AnswerMode.Extractive, Found = true,
            Citations = [new Citation(1, "hr/vacation-policy.md", null, "Berlin (HQ) | 30 working days", ["Vacation"], 42)],
        };
        conversations.AppendTurn(c.Id, "What is the annual vacation entitlement in Berlin?", "What is the annual vacation entitlement in Berlin?", answer);
        var messages = conversations.Messages(1, c.Id);
        Assert.Equal(2, messages.Count);
        Assert.Null(messages[0].RetrievalQuery);
        Assert.Equal(42, messages[1].Citations.Single().ChunkId);
        Assert.Empty(conversations.Messages(2, c.Id));
        Assert.Null(conversations.Get(2, c.Id));
        Assert.Empty(conversations.List(2));
        Assert.False(conversations.Delete(2, c.Id));
        Assert.True(conversations.Delete(1, c.Id));
        Assert.Empty(conversations.Messages(1, c.Id));
    }

    [Fact]
    public void A_version_1_store_is_migrated_and_keeps_its_documents()
    {
        using var dir = new TempDir();
        using (var store = DocumentStore.Open(dir.Path))
            store.ReplaceDocument(DocumentStoreTests.Doc("a.md"), DocumentStoreTests.Chunks("hello"));
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dir.Path, DocumentStore.DatabaseFileName)};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "DROP TABLE api_keys; DROP TABLE conversation_messages; DROP TABLE conversations; DROP TABLE ingest_jobs; PRAGMA user_version = 1;";
            cmd.ExecuteNonQuery();
        }
        using var reopened = DocumentStore.Open(dir.Path);
        Assert.Equal(StoreSchema.LatestVersion, reopened.SchemaVersion);
        Assert.Single(reopened.ListDocuments());
        Assert.Empty(new ApiKeyStore(reopened).List());
    }
}
