namespace OpenBook.Retrieval.Hybrid;

/// <summary>A chunk offered to a reranker: its id and text.</summary>
/// <param name="ChunkId">Chunk id in the store.</param>
/// <param name="Text">The chunk text the reranker reads.</param>
public readonly record struct RerankCandidate(long ChunkId, string Text);

/// <summary>
/// Re-scores the top candidates of a first-stage retriever by reading query and passage together (e.g. an ONNX
/// cross-encoder), which is slower but more precise than comparing independent embeddings.
/// </summary>
public interface IReranker
{
    /// <summary>Scores every candidate against <paramref name="query"/> and returns them best first.</summary>
    /// <param name="query">The search query.</param>
    /// <param name="candidates">First-stage results (typically the fused top-N).</param>
    /// <param name="top">Keep only the best <paramref name="top"/> (null: all).</param>
    /// <param name="cancellationToken">Cancels the scoring.</param>
    /// <returns>Candidates ordered by the reranker's score (higher is better), ties in input order.</returns>
    Task<IReadOnlyList<RankedChunk>> RerankAsync(
        string query, IReadOnlyList<RerankCandidate> candidates, int? top = null, CancellationToken cancellationToken = default);
}
