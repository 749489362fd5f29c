using System.Text.Json;

namespace OpenBook.Storage;

/// <summary>A background ingestion job of the chat server: uploaded files waiting in <see cref="Directory"/>, then ingested.</summary>
/// <param name="Id">Job id.</param>
/// <param name="Owner">API key id that uploaded the files.</param>
/// <param name="Status">"queued", "running", "done" or "failed".</param>
/// <param name="Collection">Target collection.</param>
/// <param name="Tags">Tags given to the documents.</param>
/// <param name="Acl">ACL groups given to the documents.</param>
/// <param name="Directory">Where the uploaded files wait (inside the store directory).</param>
/// <param name="Files">The uploaded file names.</param>
/// <param name="Report">The ingest report as JSON, when done.</param>
/// <param name="Error">Why it failed.</param>
public sealed record IngestJobRecord(string Id, long Owner, string Status, string Collection, IReadOnlyList<string> Tags, IReadOnlyList<string> Acl,
    string Directory, IReadOnlyList<string> Files, string? Report, string? Error, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>
/// Ingestion jobs in the store's database. A job is recorded (with its files already on disk) before it is queued,
/// so a server killed at any moment finds its unfinished jobs at the next start and runs them again: ingestion is
/// incremental, so what was committed is skipped as unchanged.
/// </summary>
public sealed class IngestJobStore(DocumentStore store)
{
    /// <summary>Records a queued job.</summary>
    public IngestJobRecord Create(long owner, string collection, IReadOnlyList<string> tags, IReadOnlyList<string> acl, string directory, IReadOnlyList<string> files, string? id = null)
    {
        var now = DateTimeOffset.UtcNow;
        var job = new IngestJobRecord(id ?? Guid.NewGuid().ToString("N"), owner, "queued", collection, tags, acl, directory, files, null, null, now, now);
        using var c = store.Connect();
        ConversationStore.Exec(c, """
            INSERT INTO ingest_jobs(id, owner, status, collection, tags, acl, directory, files, created_at, updated_at)
            VALUES ($id, $o, 'queued', $c, $t, $a, $d, $f, $now, $now)
            """, null, ("$id", job.Id), ("$o", owner), ("$c", collection), ("$t", JsonSerializer.Serialize(tags)), ("$a", JsonSerializer.Serialize(acl)),
            ("$d", directory), ("$f", JsonSerializer.Serialize(files)), ("$now", now.ToUnixTimeMilliseconds()));
        return job;
    }

    /// <summary>Sets a job's status (and its report or error).</summary>
    public void SetStatus(string id, string status, string? report = null, string? error = null)
    {
        using var c = store.Connect();
        ConversationStore.Exec(c, "UPDATE ingest_jobs SET status = $s, report = $r, error = $e, updated_at = $now WHERE id = $id", null,
            ("$id", id), ("$s", status), ("$r", report), ("$e", error), ("$now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
    }

    /// <summary>A job by id, or null.</summary>
    public IngestJobRecord? Get(string id) => Query("WHERE id = $id", ("$id", id)).FirstOrDefault();

    /// <summary>The latest jobs, newest first.</summary>
    public IReadOnlyList<IngestJobRecord> List(int limit = 100) => Query("ORDER BY created_at DESC LIMIT $l", ("$l", limit));

    /// <summary>Jobs that were queued or running when the server stopped, oldest first.</summary>
    public IReadOnlyList<IngestJobRecord> Unfinished() => Query("WHERE status IN ('queued', 'running') ORDER BY created_at");

    private List<IngestJobRecord> Query(string where, params (string, object?)[] args)
    {
        using var c = store.Connect();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, owner, status, collection, tags, acl, directory, files, report, error, created_at, updated_at FROM ingest_jobs " + where;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        using var r = cmd.ExecuteReader();
        var list = new List<IngestJobRecord>();
        static string[] Arr(string s) => JsonSerializer.Deserialize<string[]>(s) ?? [];
        while (r.Read())
            list.Add(new IngestJobRecord(r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetString(3), Arr(r.GetString(4)), Arr(r.GetString(5)), r.GetString(6),
                Arr(r.GetString(7)), r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetString(9),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(10)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(11))));
        return list;
    }
}
