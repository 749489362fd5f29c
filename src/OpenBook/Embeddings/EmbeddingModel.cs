using Microsoft.Extensions.AI;

namespace OpenBook.Embeddings;

/// <summary>An embedding generator ready for ingestion and search, with the id its vectors are cached under.</summary>
/// <param name="Generator">The generator (local ONNX encoder or remote client).</param>
/// <param name="CacheModelId">Key of its vectors in the embedding cache (includes a fingerprint of local model files).</param>
/// <param name="Dimension">Embedding dimension if known before the first call.</param>
public sealed record EmbeddingModel(IEmbeddingGenerator<string, Embedding<float>> Generator, string CacheModelId, int? Dimension) : IDisposable
{
    /// <summary>
    /// Chunks to hand the generator per call when embedding a collection (<see cref="EmbeddingSettings.BatchSize"/>).
    /// Local ONNX encoders sort each call by length so batches pad little, and take 256 (on the handbook, 64-chunk calls
    /// in document order ran the int8 MiniLM at about half the chunks per CPU-second of 300-chunk calls); remote APIs 64.
    /// </summary>
    public int IngestBatchSize { get; init; } = 64;

    /// <inheritdoc />
    public void Dispose() => Generator.Dispose();
}
