using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace OpenBook.Storage;

/// <summary>
/// The source of truth: a SQLite database (WAL) holding collections, documents, chunks, the chunk change log that
/// derived indexes follow, the ingest history and the embedding cache. Every document is written in one
/// transaction, so a crash at any moment leaves either the old or the new version of it.
/// Thread-safe: each call uses its own pooled connection.
/// </summary>
public sealed class DocumentStore : IDisposable
{
    /// <summary>File name of the database inside the store directory.</summary>
    public const string DatabaseFileName = "openbook.db";

    private readonly string _connectionString;

    private DocumentStore(string directory)
    {
        Directory = System.IO.Path.GetFullPath(directory);
        DatabasePath = System.IO.Path.Combine(Directory, DatabaseFileName);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            DefaultTimeout = 30,
            Pooling = true,
        }.ToString();
    }

    /// <summary>The store directory.</summary>
    public string Directory { get; }

    /// <summary>Path of the SQLite database.</summary>
    public string DatabasePath { get; }

    /// <summary>Test hook: called after each chunk row is inserted inside a document's transaction (simulates a crash when it throws).</summary>
    internal Action<int>? AfterChunkInserted { get; set; }

    /// <summary>Opens (creating if needed) the store in <paramref name="directory"/> and migrates its schema.</summary>
    public static DocumentStore Open(string directory)
    {
        try
        {
            System.IO.Directory.CreateDirectory(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OpenBookException($"Cannot create store directory '{directory}': {ex.Message}", ex);
        }
        var store = new DocumentStore(directory);
        try
        {
            using var c = store.Connect();
            Exec(c, "PRAGMA journal_mode=WAL;");
            StoreSchema.Migrate(c);
        }
        catch (SqliteException ex)
        {
            throw new OpenBookException($"Cannot open store '{store.DatabasePath}': {ex.Message}", ex);
        }
        return store;
    }

    internal SqliteConnection Connect()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        Exec(c, "PRAGMA synchronous=NORMAL;");
        return c;
    }

    private static void Exec(SqliteConnection c, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        cmd.ExecuteNonQuery();
    }

    private static SqliteCommand Command(SqliteConnection c, string sql, SqliteTransaction? tx = null, params (string Name, object? Value)[] args)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    /// <summary>The schema version of the database.</summary>
    public int SchemaVersion
    {
        get
        {
            using var c = Connect();
            return StoreSchema.CurrentVersion(c);
        }
    }

    /// <summary>The latest chunk change sequence number (0 when empty).</summary>
    public long Sequence
    {
        get
        {
            using var c = Connect();
            using var cmd = Command(c, "SELECT COALESCE(MAX(seq), 0) FROM chunk_log");
            return (long)cmd.ExecuteScalar()!;
        }
    }

    /// <summary>Hex SHA-256 of bytes.</summary>
    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Hex SHA-256 of UTF-8 text.</summary>
    public static string Hash(string text) => Hash(Encoding.UTF8.GetBytes(text));

    /// <summary>Finds a document by collection and source key.</summary>
    public DocumentRecord? FindDocument(string collection, string sourceKey)
    {
        using var c = Connect();
        using var cmd = Command(c, DocumentSelect + " WHERE col.name = $c AND d.source_key = $k", null, ("$c", collection), ("$k", sourceKey));
        return ReadDocuments(cmd).FirstOrDefault();
    }

    /// <summary>Gets a document by id.</summary>
    public DocumentRecord? GetDocument(long id)
    {
        using var c = Connect();
        using var cmd = Command(c, DocumentSelect + " WHERE d.id = $id", null, ("$id", id));
        return ReadDocuments(cmd).FirstOrDefault();
    }

    /// <summary>Documents, optionally of one collection, ordered by display path.</summary>
    public IReadOnlyList<DocumentRecord> ListDocuments(string? collection = null)
    {
        using var c = Connect();
        using var cmd = collection is null
            ? Command(c, DocumentSelect + " ORDER BY col.name, d.display_path, d.source_key")
            : Command(c, DocumentSelect + " WHERE col.name = $c ORDER BY d.display_path, d.source_key", null, ("$c", collection));
        return ReadDocuments(cmd).ToList();
    }

    /// <summary>Documents whose source file path is <paramref name="path"/> (several for JSONL/CSV files).</summary>
    public IReadOnlyList<DocumentRecord> DocumentsOfFile(string collection, string path)
    {
        using var c = Connect();
        using var cmd = Command(c, DocumentSelect + " WHERE col.name = $c AND d.path = $p", null, ("$c", collection), ("$p", path));
        return ReadDocuments(cmd).ToList();
    }

    private const string DocumentSelect =
        "SELECT d.id, col.name, d.source_key, d.path, d.display_path, d.title, d.content_hash, d.size, d.mtime, d.tags, d.acl, d.ingested_at, d.updated_at, d.chunk_count " +
        "FROM documents d JOIN collections col ON col.id = d.collection_id";

    private static IEnumerable<DocumentRecord> ReadDocuments(SqliteCommand cmd)
    {
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            yield return new DocumentRecord
            {
                Id = r.GetInt64(0),
                Collection = r.GetString(1),
                SourceKey = r.GetString(2),
                Path = r.GetString(3),
                DisplayPath = r.GetString(4),
                Title = r.IsDBNull(5) ? null : r.GetString(5),
                ContentHash = r.GetString(6),
                Size = r.GetInt64(7),
                Modified = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8)),
                Tags = JsonList(r.GetString(9)),
                Acl = JsonList(r.GetString(10)),
                IngestedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(11)),
                UpdatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(12)),
                ChunkCount = r.GetInt32(13),
            };
        }
    }

    private static string[] JsonList(string json) => JsonSerializer.Deserialize(json, StoreJson.Default.StringArray) ?? [];
    private static string ToJson(IReadOnlyList<string> list) => JsonSerializer.Serialize(list as string[] ?? [.. list], StoreJson.Default.StringArray);

    /// <summary>
    /// Inserts or replaces a document and all its chunks in ONE transaction (old chunks deleted, new ones inserted,
    /// both recorded in the change log). Returns the document id.
    /// </summary>
    public long ReplaceDocument(DocumentWrite doc, IReadOnlyList<ChunkWrite> chunks)
    {
        using var c = Connect();
        using var tx = c.BeginTransaction();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var collectionId = EnsureCollection(c, tx, doc.Collection, now);

        long? existing = null;
        using (var find = Command(c, "SELECT id FROM documents WHERE collection_id = $c AND source_key = $k", tx, ("$c", collectionId), ("$k", doc.SourceKey)))
            if (find.ExecuteScalar() is long id) existing = id;

        long docId;
        if (existing is { } oldId)
        {
            DeleteChunks(c, tx, oldId);
            using var upd = Command(c,
                "UPDATE documents SET path=$p, display_path=$dp, title=$t, content_hash=$h, size=$s, mtime=$m, tags=$tags, acl=$acl, updated_at=$now, chunk_count=$n WHERE id=$id",
                tx, ("$p", doc.Path), ("$dp", doc.DisplayPath), ("$t", doc.Title), ("$h", doc.ContentHash), ("$s", doc.Size),
                ("$m", doc.Modified.ToUnixTimeMilliseconds()), ("$tags", ToJson(doc.Tags)), ("$acl", ToJson(doc.Acl)), ("$now", now),
                ("$n", chunks.Count), ("$id", oldId));
            upd.ExecuteNonQuery();
            docId = oldId;
        }
        else
        {
            using var ins = Command(c,
                "INSERT INTO documents(collection_id, source_key, path, display_path, title, content_hash, size, mtime, tags, acl, ingested_at, updated_at, chunk_count) " +
                "VALUES($c, $k, $p, $dp, $t, $h, $s, $m, $tags, $acl, $now, $now, $n) RETURNING id",
                tx, ("$c", collectionId), ("$k", doc.SourceKey), ("$p", doc.Path), ("$dp", doc.DisplayPath), ("$t", doc.Title),
                ("$h", doc.ContentHash), ("$s", doc.Size), ("$m", doc.Modified.ToUnixTimeMilliseconds()), ("$tags", ToJson(doc.Tags)),
                ("$acl", ToJson(doc.Acl)), ("$now", now), ("$n", chunks.Count));
            docId = (long)ins.ExecuteScalar()!;
        }

        using (var insChunk = Command(c,
                   "INSERT INTO chunks(document_id, idx, text, page, headings, char_start, char_end, token_count, text_hash) " +
                   "VALUES($d, $i, $text, $page, $h, $cs, $ce, $tc, $th) RETURNING id", tx))
        using (var log = Command(c, "INSERT INTO chunk_log(chunk_id, document_id, added) VALUES($id, $d, 1)", tx))
        {
            var pd = insChunk.Parameters.Add("$d", SqliteType.Integer);
            var pi = insChunk.Parameters.Add("$i", SqliteType.Integer);
            var ptext = insChunk.Parameters.Add("$text", SqliteType.Text);
            var ppage = insChunk.Parameters.Add("$page", SqliteType.Integer);
            var ph = insChunk.Parameters.Add("$h", SqliteType.Text);
            var pcs = insChunk.Parameters.Add("$cs", SqliteType.Integer);
            var pce = insChunk.Parameters.Add("$ce", SqliteType.Integer);
            var ptc = insChunk.Parameters.Add("$tc", SqliteType.Integer);
            var pth = insChunk.Parameters.Add("$th", SqliteType.Text);
            var lid = log.Parameters.Add("$id", SqliteType.Integer);
            var ld = log.Parameters.Add("$d", SqliteType.Integer);
            for (var i = 0; i < chunks.Count; i++)
            {
                var ch = chunks[i];
                pd.Value = docId; pi.Value = ch.Index; ptext.Value = ch.Text; ppage.Value = (object?)ch.Page ?? DBNull.Value;
                ph.Value = ToJson(ch.Headings); pcs.Value = ch.CharStart; pce.Value = ch.CharEnd; ptc.Value = ch.TokenCount;
                pth.Value = Hash(ch.Text);
                var chunkId = (long)insChunk.ExecuteScalar()!;
                lid.Value = chunkId; ld.Value = docId;
                log.ExecuteNonQuery();
                AfterChunkInserted?.Invoke(i);
            }
        }

        AddHistory(c, tx, doc.Collection, doc.SourceKey, existing is null ? "add" : "update", doc.ContentHash, now);
        tx.Commit();
        return docId;
    }

    /// <summary>Updates tags and ACL of a document whose content did not change (no re-chunking).</summary>
    public void UpdateMetadata(long documentId, IReadOnlyList<string> tags, IReadOnlyList<string> acl)
    {
        using var c = Connect();
        using var tx = c.BeginTransaction();
        using (var cmd = Command(c, "UPDATE documents SET tags=$t, acl=$a, updated_at=$now WHERE id=$id", tx,
                   ("$t", ToJson(tags)), ("$a", ToJson(acl)), ("$now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), ("$id", documentId)))
            cmd.ExecuteNonQuery();
        // Filters are evaluated on document metadata, so indexes need no change; bump the log so caches notice.
        using (var bump = Command(c, "INSERT INTO metadata_log(document_id, at) VALUES($id, $now)", tx,
                   ("$id", documentId), ("$now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())))
            bump.ExecuteNonQuery();
        tx.Commit();
    }

    /// <summary>Records that a file was seen unchanged (for the change-frequency statistics).</summary>
    public void RecordUnchanged(string collection, string sourceKey, string contentHash)
    {
        using var c = Connect();
        AddHistory(c, null, collection, sourceKey, "unchanged", contentHash, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    /// <summary>Removes a document and its chunks (one transaction). Returns false when it did not exist.</summary>
    public bool RemoveDocument(long documentId)
    {
        using var c = Connect();
        using var tx = c.BeginTransaction();
        string? collection = null, key = null, hash = null;
        using (var find = Command(c, "SELECT col.name, d.source_key, d.content_hash FROM documents d JOIN collections col ON col.id=d.collection_id WHERE d.id=$id", tx, ("$id", documentId)))
        using (var r = find.ExecuteReader())
            if (r.Read()) { collection = r.GetString(0); key = r.GetString(1); hash = r.GetString(2); }
        if (collection is null) return false;
        DeleteChunks(c, tx, documentId);
        using (var del = Command(c, "DELETE FROM documents WHERE id=$id", tx, ("$id", documentId))) del.ExecuteNonQuery();
        AddHistory(c, tx, collection, key!, "remove", hash, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        tx.Commit();
        return true;
    }

    private static void DeleteChunks(SqliteConnection c, SqliteTransaction tx, long documentId)
    {
        using (var log = Command(c, "INSERT INTO chunk_log(chunk_id, document_id, added) SELECT id, document_id, 0 FROM chunks WHERE document_id=$d", tx, ("$d", documentId)))
            log.ExecuteNonQuery();
        using var del = Command(c, "DELETE FROM chunks WHERE document_id=$d", tx, ("$d", documentId));
        del.ExecuteNonQuery();
    }

    private static long EnsureCollection(SqliteConnection c, SqliteTransaction tx, string name, long now)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new OpenBookException("Collection name must not be empty.");
        using (var ins = Command(c, "INSERT OR IGNORE INTO collections(name, created_at) VALUES($n, $now)", tx, ("$n", name), ("$now", now)))
            ins.ExecuteNonQuery();
        using var get = Command(c, "SELECT id FROM collections WHERE name=$n", tx, ("$n", name));
        return (long)get.ExecuteScalar()!;
    }

    private static void AddHistory(SqliteConnection c, SqliteTransaction? tx, string collection, string key, string op, string? hash, long now)
    {
        using var cmd = Command(c, "INSERT INTO ingest_history(at, collection, source_key, op, content_hash) VALUES($at, $c, $k, $op, $h)", tx,
            ("$at", now), ("$c", collection), ("$k", key), ("$op", op), ("$h", hash));
        cmd.ExecuteNonQuery();
    }

    /// <summary>The embedding model recorded for a collection (null: none yet, or no such collection).</summary>
    public string? CollectionEmbeddingModel(string collection)
    {
        using var c = Connect();
        using var cmd = Command(c, "SELECT embedding_model FROM collections WHERE name=$n", null, ("$n", collection));
        return cmd.ExecuteScalar() as string;
    }

    /// <summary>Records the embedding model of a collection (created if needed); null clears it.</summary>
    public void SetCollectionEmbeddingModel(string collection, string? model)
    {
        using var c = Connect();
        using var tx = c.BeginTransaction();
        EnsureCollection(c, tx, collection, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        using (var cmd = Command(c, "UPDATE collections SET embedding_model=$m WHERE name=$n", tx, ("$m", model), ("$n", collection)))
            cmd.ExecuteNonQuery();
        tx.Commit();
    }

    /// <summary>Names of the collections whose recorded embedding model is <paramref name="model"/>.</summary>
    public IReadOnlyList<string> CollectionsEmbeddedWith(string model)
    {
        using var c = Connect();
        using var cmd = Command(c, "SELECT name FROM collections WHERE embedding_model=$m ORDER BY name", null, ("$m", model));
        using var r = cmd.ExecuteReader();
        var names = new List<string>();
        while (r.Read()) names.Add(r.GetString(0));
        return names;
    }

    /// <summary>Chunks by id (missing ids are skipped), in the order of <paramref name="ids"/>.</summary>
    public IReadOnlyList<ChunkRecord> GetChunks(IReadOnlyList<long> ids)
    {
        if (ids.Count == 0) return [];
        using var c = Connect();
        var found = new Dictionary<long, ChunkRecord>();
        foreach (var batch in ids.Distinct().Chunk(500))
        {
            using var cmd = c.CreateCommand();
            var names = new List<string>();
            for (var i = 0; i < batch.Length; i++)
            {
                names.Add("$p" + i);
                cmd.Parameters.AddWithValue("$p" + i, batch[i]);
            }
            cmd.CommandText = ChunkSelect + $" WHERE ch.id IN ({string.Join(',', names)})";
            foreach (var ch in ReadChunks(cmd)) found[ch.Id] = ch;
        }
        return ids.Where(found.ContainsKey).Select(id => found[id]).ToList();
    }

    /// <summary>All chunks of a document, in order.</summary>
    public IReadOnlyList<ChunkRecord> ChunksOfDocument(long documentId)
    {
        using var c = Connect();
        using var cmd = Command(c, ChunkSelect + " WHERE ch.document_id=$d ORDER BY ch.idx", null, ("$d", documentId));
        return ReadChunks(cmd).ToList();
    }

    /// <summary>Streams every chunk (for rebuilding derived indexes), in id order.</summary>
    public IEnumerable<ChunkRecord> AllChunks(string? collection = null)
    {
        using var c = Connect();
        using var cmd = collection is null
            ? Command(c, ChunkSelect + " ORDER BY ch.id")
            : Command(c, ChunkSelect + " WHERE col.name=$c ORDER BY ch.id", null, ("$c", collection));
        foreach (var ch in ReadChunks(cmd)) yield return ch;
    }

    private const string ChunkSelect =
        "SELECT ch.id, ch.document_id, ch.idx, ch.text, ch.page, ch.headings, ch.char_start, ch.char_end, ch.token_count, ch.text_hash, d.display_path, col.name " +
        "FROM chunks ch JOIN documents d ON d.id = ch.document_id JOIN collections col ON col.id = d.collection_id";

    private static IEnumerable<ChunkRecord> ReadChunks(SqliteCommand cmd)
    {
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            yield return new ChunkRecord
            {
                Id = r.GetInt64(0),
                DocumentId = r.GetInt64(1),
                Index = r.GetInt32(2),
                Text = r.GetString(3),
                Page = r.IsDBNull(4) ? null : r.GetInt32(4),
                Headings = JsonList(r.GetString(5)),
                CharStart = r.GetInt32(6),
                CharEnd = r.GetInt32(7),
                TokenCount = r.GetInt32(8),
                TextHash = r.GetString(9),
                Source = r.GetString(10),
                Collection = r.GetString(11),
            };
        }
    }

    /// <summary>Chunk changes after <paramref name="sequence"/>, in order.</summary>
    public IEnumerable<ChunkChange> ChangesSince(long sequence)
    {
        using var c = Connect();
        using var cmd = Command(c, "SELECT seq, chunk_id, document_id, added FROM chunk_log WHERE seq > $s ORDER BY seq", null, ("$s", sequence));
        using var r = cmd.ExecuteReader();
        while (r.Read()) yield return new ChunkChange(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3) != 0);
    }

    /// <summary>Document attributes used to evaluate filters (id → collection, tags, ACL).</summary>
    public DocumentCatalog LoadCatalog()
    {
        using var c = Connect();
        using var cmd = Command(c, "SELECT d.id, col.name, d.tags, d.acl FROM documents d JOIN collections col ON col.id=d.collection_id");
        using var r = cmd.ExecuteReader();
        var entries = new List<DocumentCatalog.Entry>();
        while (r.Read())
            entries.Add(new DocumentCatalog.Entry(r.GetInt64(0), r.GetString(1), JsonList(r.GetString(2)), JsonList(r.GetString(3))));
        return new DocumentCatalog(entries);
    }

    /// <summary>A number that changes whenever documents, chunks or document metadata change (cache key for catalogs).</summary>
    public (long Chunks, long Metadata) ChangeStamp()
    {
        using var c = Connect();
        using var cmd = Command(c, "SELECT (SELECT COALESCE(MAX(seq),0) FROM chunk_log), (SELECT COALESCE(MAX(seq),0) FROM metadata_log)");
        using var r = cmd.ExecuteReader();
        r.Read();
        return (r.GetInt64(0), r.GetInt64(1));
    }

    /// <summary>Ingest history, newest last.</summary>
    public IReadOnlyList<IngestEvent> History(string? collection = null)
    {
        using var c = Connect();
        using var cmd = collection is null
            ? Command(c, "SELECT at, collection, source_key, op, content_hash FROM ingest_history ORDER BY id")
            : Command(c, "SELECT at, collection, source_key, op, content_hash FROM ingest_history WHERE collection=$c ORDER BY id", null, ("$c", collection));
        using var r = cmd.ExecuteReader();
        var list = new List<IngestEvent>();
        while (r.Read())
            list.Add(new IngestEvent(DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(0)), r.GetString(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4)));
        return list;
    }

    /// <summary>Store statistics.</summary>
    public StoreStats Stats()
    {
        using var c = Connect();
        var per = new List<CollectionStats>();
        using (var cmd = Command(c,
                   "SELECT col.name, COUNT(d.id), COALESCE(SUM(d.chunk_count),0), COALESCE(SUM(d.size),0), MAX(d.updated_at), col.embedding_model " +
                   "FROM collections col LEFT JOIN documents d ON d.collection_id = col.id GROUP BY col.id ORDER BY col.name"))
        using (var r = cmd.ExecuteReader())
            while (r.Read())
                per.Add(new CollectionStats(r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetInt64(3),
                    r.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)), r.IsDBNull(5) ? null : r.GetString(5)));
        long chars, tokens;
        using (var cmd = Command(c, "SELECT COALESCE(SUM(LENGTH(text)),0), COALESCE(SUM(token_count),0) FROM chunks"))
        using (var r = cmd.ExecuteReader()) { r.Read(); chars = r.GetInt64(0); tokens = r.GetInt64(1); }
        long seq;
        using (var cmd = Command(c, "SELECT COALESCE(MAX(seq),0) FROM chunk_log")) seq = (long)cmd.ExecuteScalar()!;
        var dbBytes = new[] { DatabasePath, DatabasePath + "-wal" }.Where(File.Exists).Sum(f => new FileInfo(f).Length);
        return new StoreStats(per.Count, per.Sum(p => p.Documents), per.Sum(p => p.Chunks), per.Sum(p => p.SourceBytes), chars, tokens, dbBytes, seq, per);
    }

    /// <summary>Runs SQLite's integrity check and the store's own consistency checks; returns the problems found (empty when consistent).</summary>
    public IReadOnlyList<string> CheckConsistency()
    {
        using var c = Connect();
        var problems = new List<string>();
        using (var cmd = Command(c, "PRAGMA integrity_check"))
        {
            var result = cmd.ExecuteScalar() as string;
            if (result != "ok") problems.Add("sqlite integrity_check: " + result);
        }
        using (var cmd = Command(c,
                   "SELECT d.source_key, d.chunk_count, (SELECT COUNT(*) FROM chunks ch WHERE ch.document_id=d.id) AS n FROM documents d WHERE d.chunk_count <> n"))
        using (var r = cmd.ExecuteReader())
            while (r.Read()) problems.Add($"{r.GetString(0)}: expected {r.GetInt32(1)} chunks, found {r.GetInt32(2)}");
        using (var cmd = Command(c,
                   "SELECT COUNT(*) FROM chunks ch WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.id=ch.document_id)"))
        {
            var orphans = (long)cmd.ExecuteScalar()!;
            if (orphans > 0) problems.Add($"{orphans} chunks without a document");
        }
        return problems;
    }

    /// <inheritdoc />
    public void Dispose() => SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
}

/// <summary>Source-generated JSON for the store's list columns (works with trimming and AOT).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class StoreJson : System.Text.Json.Serialization.JsonSerializerContext;
