using Microsoft.Extensions.AI;
using OpenBook.Storage;

namespace OpenBook.Embeddings;

/// <summary>An embedding generator ready for ingestion and search, with the id its vectors are cached under.</summary>
/// <param name="Generator">The generator (local ONNX encoder or remote client).</param>
/// <param name="CacheModelId">Key of its vectors in the embedding cache (includes a fingerprint of local model files).</param>
/// <param name="Dimension">Embedding dimension if known before the first call.</param>
public sealed record EmbeddingModel(IEmbeddingGenerator<string, Embedding<float>> Generator, string CacheModelId, int? Dimension) : IDisposable
{
    /// <summary>This model behind a <see cref="CachingEmbeddingGenerator"/> over the store's embedding cache.</summary>
    public CachingEmbeddingGenerator WithCache(DocumentStore store) => new(Generator, new EmbeddingCache(store), CacheModelId);

    /// <inheritdoc />
    public void Dispose() => Generator.Dispose();
}
