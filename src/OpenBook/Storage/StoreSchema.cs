using Microsoft.Data.Sqlite;

namespace OpenBook.Storage;

/// <summary>
/// Versioned schema. Each migration runs in its own transaction and bumps <c>PRAGMA user_version</c>; a database
/// from a newer OpenBook is refused rather than damaged.
/// </summary>
internal static class StoreSchema
{
    private static readonly string[] Migrations =
    [
        // v1: collections, documents, chunks, change log, history, embedding cache
        """
        CREATE TABLE collections(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at INTEGER NOT NULL,
            embedding_model TEXT NULL);
        CREATE TABLE documents(
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES collections(id),
            source_key TEXT NOT NULL,
            path TEXT NOT NULL,
            display_path TEXT NOT NULL,
            title TEXT NULL,
            content_hash TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime INTEGER NOT NULL,
            tags TEXT NOT NULL DEFAULT '[]',
            acl TEXT NOT NULL DEFAULT '[]',
            ingested_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            chunk_count INTEGER NOT NULL,
            UNIQUE(collection_id, source_key));
        CREATE INDEX documents_path ON documents(collection_id, path);
        CREATE TABLE chunks(
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: derived indexes key on it
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            text TEXT NOT NULL,
            page INTEGER NULL,
            headings TEXT NOT NULL DEFAULT '[]',
            char_start INTEGER NOT NULL,
            char_end INTEGER NOT NULL,
            token_count INTEGER NOT NULL,
            text_hash TEXT NOT NULL);
        CREATE INDEX chunks_document ON chunks(document_id, idx);
        CREATE TABLE chunk_log(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            chunk_id INTEGER NOT NULL,
            document_id INTEGER NOT NULL,
            added INTEGER NOT NULL);
        CREATE TABLE metadata_log(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            document_id INTEGER NOT NULL,
            at INTEGER NOT NULL);
        CREATE TABLE ingest_history(
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            collection TEXT NOT NULL,
            source_key TEXT NOT NULL,
            op TEXT NOT NULL,
            content_hash TEXT NULL);
        CREATE TABLE embeddings(
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY(model, text_hash)) WITHOUT ROWID;
        """,
        // v2: API keys, conversations and ingestion jobs of `openbook serve` (ServerTables.cs)
        ServerTables.Migration,
    ];

    /// <summary>Latest schema version this build knows.</summary>
    public static int LatestVersion => Migrations.Length;

    public static int CurrentVersion(SqliteConnection c)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA user_version";
        return Convert.ToInt32(cmd.ExecuteScalar());
    }

    public static void Migrate(SqliteConnection c)
    {
        var version = CurrentVersion(c);
        if (version > LatestVersion)
            throw new OpenBookException(
                $"Store '{c.DataSource}' has schema version {version}; this OpenBook understands up to {LatestVersion}. Upgrade OpenBook.");
        for (var v = version; v < LatestVersion; v++)
        {
            using var tx = c.BeginTransaction();
            using (var cmd = c.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = Migrations[v] + $"\nPRAGMA user_version = {v + 1};";
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }
}
