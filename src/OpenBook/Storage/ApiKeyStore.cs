using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace OpenBook.Storage;

/// <summary>An API key as stored: never the key itself, only its SHA-256 hash and first characters.</summary>
/// <param name="Id">Row id.</param>
/// <param name="Name">Unique name given at creation.</param>
/// <param name="Prefix">The key's first characters (to recognise it in a list).</param>
/// <param name="Groups">ACL groups the key reads as.</param>
/// <param name="Scopes">Extra rights: <see cref="ApiKeyStore.AdminScope"/> for ingestion and removal.</param>
/// <param name="CreatedAt">Creation time.</param>
/// <param name="RevokedAt">Revocation time, or null while the key is valid.</param>
public sealed record ApiKeyRecord(long Id, string Name, string Prefix, IReadOnlyList<string> Groups, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt)
{
    /// <summary>Whether the key carries the admin scope.</summary>
    public bool IsAdmin => Scopes.Contains(ApiKeyStore.AdminScope, StringComparer.OrdinalIgnoreCase);

    /// <summary>The access scope requests made with this key read as.</summary>
    public AccessScope Access => AccessScope.ForGroups(Groups);
}

/// <summary>
/// API keys of the chat server, in the store's database. A key is 32 random bytes (base64url, prefixed "ob_"); only its
/// SHA-256 is kept, so a copy of the database does not give access.
/// </summary>
public sealed class ApiKeyStore(DocumentStore store)
{
    /// <summary>The scope that allows uploading and removing documents.</summary>
    public const string AdminScope = "admin";

    private const string KeyPrefix = "ob_";

    /// <summary>Creates a key; returns its record and the key, which is shown once and never stored.</summary>
    public (ApiKeyRecord Record, string Key) Add(string name, IEnumerable<string>? groups, bool admin)
    {
        name = (name ?? "").Trim();
        if (name.Length is 0 or > 100 || name.Any(char.IsControl)) throw new OpenBookException("key name: give 1 to 100 printable characters.");
        var key = KeyPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var g = AccessScope.ForGroups(groups).Groups;
        string[] scopes = admin ? [AdminScope] : [];
        var now = DateTimeOffset.UtcNow;
        using var c = store.Connect();
        if (Find(c, name) is not null) throw new OpenBookException($"key name '{name}' is taken; revoke it or pick another name.");
        using var cmd = c.CreateCommand();
        cmd.CommandText = "INSERT INTO api_keys(name, key_hash, prefix, groups, scopes, created_at) VALUES ($n, $h, $p, $g, $s, $t) RETURNING id";
        cmd.Parameters.AddWithValue("$n", name);
        cmd.Parameters.AddWithValue("$h", Hash(key));
        cmd.Parameters.AddWithValue("$p", key[..(KeyPrefix.Length + 6)]);
        cmd.Parameters.AddWithValue("$g", JsonSerializer.Serialize(g));
        cmd.Parameters.AddWithValue("$s", JsonSerializer.Serialize(scopes));
        cmd.Parameters.AddWithValue("$t", now.ToUnixTimeMilliseconds());
        var id = (long)cmd.ExecuteScalar()!;
        return (new ApiKeyRecord(id, name, key[..(KeyPrefix.Length + 6)], g, scopes, now, null), key);
    }

    /// <summary>Every key, revoked ones included.</summary>
    public IReadOnlyList<ApiKeyRecord> List()
    {
        using var c = store.Connect();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, name, prefix, groups, scopes, created_at, revoked_at FROM api_keys ORDER BY id";
        using var r = cmd.ExecuteReader();
        var list = new List<ApiKeyRecord>();
        while (r.Read()) list.Add(Read(r));
        return list;
    }

    /// <summary>The valid (not revoked) key whose hash matches <paramref name="key"/>, or null.</summary>
    public ApiKeyRecord? Authenticate(string? key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 200) return null;
        using var c = store.Connect();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, name, prefix, groups, scopes, created_at, revoked_at FROM api_keys WHERE key_hash = $h AND revoked_at IS NULL";
        cmd.Parameters.AddWithValue("$h", Hash(key));
        using var r = cmd.ExecuteReader();
        return r.Read() ? Read(r) : null;
    }

    /// <summary>Revokes the key named <paramref name="nameOrId"/> (its name or id); false when there is no such valid key.</summary>
    public bool Revoke(string nameOrId)
    {
        using var c = store.Connect();
        var record = Find(c, nameOrId) ?? (long.TryParse(nameOrId, out var id) ? List().FirstOrDefault(k => k.Id == id) : null);
        if (record is null || record.RevokedAt is not null) return false;
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE api_keys SET revoked_at = $t WHERE id = $id";
        cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$id", record.Id);
        return cmd.ExecuteNonQuery() == 1;
    }

    /// <summary>Hex SHA-256 of the key's UTF-8 bytes (what is stored).</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static ApiKeyRecord? Find(SqliteConnection c, string name)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, name, prefix, groups, scopes, created_at, revoked_at FROM api_keys WHERE name = $n";
        cmd.Parameters.AddWithValue("$n", name);
        using var r = cmd.ExecuteReader();
        return r.Read() ? Read(r) : null;
    }

    private static ApiKeyRecord Read(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2),
        JsonSerializer.Deserialize<string[]>(r.GetString(3)) ?? [], JsonSerializer.Deserialize<string[]>(r.GetString(4)) ?? [],
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5)), r.IsDBNull(6) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)));
}
