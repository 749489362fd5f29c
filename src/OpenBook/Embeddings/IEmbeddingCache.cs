namespace OpenBook.Embeddings;

/// <summary>
/// Stored embeddings keyed by (model id, text hash). The model id must name the exact model (and variant, e.g. int8)
/// that produced the vectors: vectors of different models are never mixed.
/// </summary>
public interface IEmbeddingCache
{
    /// <summary>The cached vectors among <paramref name="textHashes"/> for <paramref name="model"/>, by hash (misses are absent).</summary>
    IReadOnlyDictionary<string, float[]> Get(string model, IReadOnlyCollection<string> textHashes);

    /// <summary>Stores (or replaces) vectors for <paramref name="model"/>.</summary>
    void Put(string model, IReadOnlyCollection<KeyValuePair<string, float[]>> vectors);
}
