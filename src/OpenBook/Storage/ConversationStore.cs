using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace OpenBook.Storage;

/// <summary>A conversation of the chat server, owned by one API key.</summary>
public sealed record ConversationRecord(string Id, long Owner, string Title, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>One turn of a conversation.</summary>
/// <param name="Role">"user" or "assistant".</param>
/// <param name="Content">The text.</param>
/// <param name="RetrievalQuery">For a user turn: the standalone query it was retrieved with (a rewritten follow-up), if it differs.</param>
/// <param name="Found">For an assistant turn: false when the documents did not say.</param>
/// <param name="Citations">For an assistant turn: its citations.</param>
/// <param name="CreatedAt">When it was written.</param>
public sealed record ConversationMessage(string Role, string Content, string? RetrievalQuery, bool? Found, IReadOnlyList<Citation> Citations, DateTimeOffset CreatedAt);

/// <summary>
/// Conversations in the store's database. Every read takes the owner (the API key id): a key never sees another key's
/// conversations, so the passages cited in one (read under that key's access) stay with it.
/// </summary>
public sealed class ConversationStore(DocumentStore store)
{
    /// <summary>Longest title kept (the first question, shortened).</summary>
    public const int TitleLength = 80;

    /// <summary>Starts a conversation titled after its first question.</summary>
    public ConversationRecord Create(long owner, string firstQuestion)
    {
        var flat = string.Join(' ', (firstQuestion ?? "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        var title = flat.Length <= TitleLength ? flat : flat[..TitleLength] + "…";
        var now = DateTimeOffset.UtcNow;
        var record = new ConversationRecord(Guid.NewGuid().ToString("N"), owner, title, now, now);
        using var c = store.Connect();
        Exec(c, "INSERT INTO conversations(id, owner, title, created_at, updated_at) VALUES ($id, $o, $t, $now, $now)",
            ("$id", record.Id), ("$o", owner), ("$t", title), ("$now", now.ToUnixTimeMilliseconds()));
        return record;
    }

    /// <summary>The conversation, or null when it does not exist or belongs to another owner.</summary>
    public ConversationRecord? Get(long owner, string id)
    {
        using var c = store.Connect();
        return Query(c, "SELECT id, owner, title, created_at, updated_at FROM conversations WHERE id = $id AND owner = $o", ("$id", id), ("$o", owner)).FirstOrDefault();
    }

    /// <summary>The owner's conversations, most recently updated first.</summary>
    public IReadOnlyList<ConversationRecord> List(long owner, int limit = 100)
    {
        using var c = store.Connect();
        return Query(c, "SELECT id, owner, title, created_at, updated_at FROM conversations WHERE owner = $o ORDER BY updated_at DESC, id LIMIT $l",
            ("$o", owner), ("$l", limit));
    }

    /// <summary>The messages of the owner's conversation, oldest first (empty when it is not the owner's).</summary>
    public IReadOnlyList<ConversationMessage> Messages(long owner, string id)
    {
        using var c = store.Connect();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT m.role, m.content, m.retrieval_query, m.found, m.citations, m.created_at
            FROM conversation_messages m JOIN conversations v ON v.id = m.conversation_id
            WHERE v.id = $id AND v.owner = $o ORDER BY m.id
            """;
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$o", owner);
        using var r = cmd.ExecuteReader();
        var list = new List<ConversationMessage>();
        while (r.Read())
            list.Add(new ConversationMessage(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? null : r.GetInt64(3) != 0,
                JsonSerializer.Deserialize<Citation[]>(r.GetString(4)) ?? [], DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5))));
        return list;
    }

    /// <summary>Appends a question and its answer in one transaction.</summary>
    public void AppendTurn(string id, string question, string? retrievalQuery, Answer answer)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using var c = store.Connect();
        using var tx = c.BeginTransaction();
        const string insert = "INSERT INTO conversation_messages(conversation_id, role, content, retrieval_query, found, citations, created_at) VALUES ($id, $r, $c, $q, $f, $cit, $now)";
        Exec(c, insert, tx, ("$id", id), ("$r", "user"), ("$c", question), ("$q", retrievalQuery == question ? null : retrievalQuery), ("$f", null), ("$cit", "[]"), ("$now", now));
        Exec(c, insert, tx, ("$id", id), ("$r", "assistant"), ("$c", answer.Text), ("$q", null), ("$f", answer.Found ? 1 : 0),
            ("$cit", JsonSerializer.Serialize(answer.Citations)), ("$now", now));
        Exec(c, "UPDATE conversations SET updated_at = $now WHERE id = $id", tx, ("$id", id), ("$now", now));
        tx.Commit();
    }

    /// <summary>Deletes the owner's conversation; false when it is not the owner's.</summary>
    public bool Delete(long owner, string id)
    {
        using var c = store.Connect();
        return Exec(c, "DELETE FROM conversations WHERE id = $id AND owner = $o", ("$id", id), ("$o", owner)) == 1;
    }

    private static List<ConversationRecord> Query(SqliteConnection c, string sql, params (string, object?)[] args)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        using var r = cmd.ExecuteReader();
        var list = new List<ConversationRecord>();
        while (r.Read())
            list.Add(new ConversationRecord(r.GetString(0), r.GetInt64(1), r.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4))));
        return list;
    }

    private static int Exec(SqliteConnection c, string sql, params (string, object?)[] args) => Exec(c, sql, null, args);

    internal static int Exec(SqliteConnection c, string sql, SqliteTransaction? tx, params (string, object?)[] args)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        return cmd.ExecuteNonQuery();
    }
}
