using System.Collections.Concurrent;

namespace OpenBook.Embeddings;

/// <summary>
/// A bounded in-memory <see cref="IEmbeddingCache"/> for vectors not worth storing: the extractive answerer's
/// candidate sentences and table rows, which recur from question to question because the same passages are retrieved
/// again. When it holds <see cref="Capacity"/> vectors it starts over (simple, and a cache miss only costs an encode).
/// </summary>
internal sealed class MemoryEmbeddingCache(int capacity = 16_384) : IEmbeddingCache
{
    private readonly ConcurrentDictionary<(string Model, string Hash), float[]> _vectors = new();

    /// <summary>Most vectors held before the cache is cleared.</summary>
    public int Capacity { get; } = capacity;

    /// <inheritdoc />
    public IReadOnlyDictionary<string, float[]> Get(string model, IReadOnlyCollection<string> textHashes)
    {
        var found = new Dictionary<string, float[]>();
        foreach (var h in textHashes)
            if (_vectors.TryGetValue((model, h), out var v)) found[h] = v;
        return found;
    }

    /// <inheritdoc />
    public void Put(string model, IReadOnlyCollection<KeyValuePair<string, float[]>> vectors)
    {
        if (_vectors.Count + vectors.Count > Capacity) _vectors.Clear();
        foreach (var (h, v) in vectors) _vectors[(model, h)] = v;
    }
}
