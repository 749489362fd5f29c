using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using OpenBook.Embeddings;

namespace OpenBook.Storage;

/// <summary>
/// The store's embedding cache: table <c>embeddings(model, text_hash, dim, vector)</c>, vectors as little-endian
/// float32 blobs. Chunks whose text did not change keep their vectors across re-ingests and index rebuilds.
/// </summary>
public sealed class EmbeddingCache(DocumentStore store) : IEmbeddingCache
{
    private const int MaxParameters = 500; // well under SQLite's host-parameter limit

    private readonly DocumentStore _store = store ?? throw new ArgumentNullException(nameof(store));

    /// <inheritdoc />
    public IReadOnlyDictionary<string, float[]> Get(string model, IReadOnlyCollection<string> textHashes)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentNullException.ThrowIfNull(textHashes);
        var found = new Dictionary<string, float[]>(textHashes.Count);
        if (textHashes.Count == 0) return found;
        using var c = _store.Connect();
        foreach (var part in textHashes.Distinct().Chunk(MaxParameters))
        {
            using var cmd = c.CreateCommand();
            var names = part.Select((_, i) => "$h" + i).ToArray();
            cmd.CommandText = $"SELECT text_hash, dim, vector FROM embeddings WHERE model = $m AND text_hash IN ({string.Join(',', names)})";
            cmd.Parameters.AddWithValue("$m", model);
            for (int i = 0; i < part.Length; i++) cmd.Parameters.AddWithValue(names[i], part[i]);
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var hash = r.GetString(0);
                var dim = r.GetInt32(1);
                var blob = (byte[])r[2];
                if (blob.Length != dim * sizeof(float))
                    throw new OpenBookException(
                        $"Store '{_store.DatabasePath}': embeddings row (model '{model}', text_hash {hash}) has dim {dim} but a {blob.Length}-byte vector. Run `openbook reembed` to rebuild it.");
                found[hash] = FromBytes(blob);
            }
        }
        return found;
    }

    /// <inheritdoc />
    public void Put(string model, IReadOnlyCollection<KeyValuePair<string, float[]>> vectors)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentNullException.ThrowIfNull(vectors);
        if (vectors.Count == 0) return;
        using var c = _store.Connect();
        using var tx = c.BeginTransaction();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT OR REPLACE INTO embeddings(model, text_hash, dim, vector) VALUES($m, $h, $d, $v)";
        var m = cmd.Parameters.Add("$m", SqliteType.Text);
        var h = cmd.Parameters.Add("$h", SqliteType.Text);
        var d = cmd.Parameters.Add("$d", SqliteType.Integer);
        var v = cmd.Parameters.Add("$v", SqliteType.Blob);
        m.Value = model;
        foreach (var (hash, vector) in vectors)
        {
            h.Value = hash;
            d.Value = vector.Length;
            v.Value = ToBytes(vector);
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>How many vectors are cached for <paramref name="model"/>.</summary>
    public long Count(string model)
    {
        using var c = _store.Connect();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM embeddings WHERE model = $m";
        cmd.Parameters.AddWithValue("$m", model);
        return (long)cmd.ExecuteScalar()!;
    }

    /// <summary>Drops every vector of <paramref name="model"/> (e.g. after the model files changed); returns how many.</summary>
    public int Remove(string model)
    {
        using var c = _store.Connect();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "DELETE FROM embeddings WHERE model = $m";
        cmd.Parameters.AddWithValue("$m", model);
        return cmd.ExecuteNonQuery();
    }

    private static byte[] ToBytes(float[] vector)
    {
        var bytes = MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian) ReverseEach(bytes);
        return bytes;
    }

    private static float[] FromBytes(byte[] blob)
    {
        if (!BitConverter.IsLittleEndian) ReverseEach(blob);
        return MemoryMarshal.Cast<byte, float>(blob).ToArray();
    }

    private static void ReverseEach(byte[] bytes)
    {
        for (int i = 0; i < bytes.Length; i += sizeof(float)) Array.Reverse(bytes, i, sizeof(float));
    }
}
