namespace OpenBook.Retrieval.Hybrid;

/// <summary>
/// Reciprocal Rank Fusion (Cormack, Clarke &amp; Büttcher, SIGIR 2009): a chunk's fused score is
/// <c>Σ weight_i / (k + rank_i)</c> over the lists that contain it, with 1-based ranks. Scores of the input lists are
/// ignored, so BM25 scores and cosine similarities can be fused without calibration.
/// </summary>
public static class ReciprocalRankFusion
{
    /// <summary>The usual smoothing constant from the paper.</summary>
    public const int DefaultK = 60;

    /// <summary>
    /// Fuses ranked lists (each ordered best first). A chunk listed twice in one list counts at its first rank.
    /// Ties in fused score are broken by the best single rank, then by chunk id, so the result is deterministic.
    /// </summary>
    /// <param name="lists">Ranked lists, e.g. <c>[bm25Hits, vectorHits]</c>.</param>
    /// <param name="weights">One non-negative weight per list (null: all 1).</param>
    /// <param name="k">Smoothing constant (&gt; 0); larger values flatten the rank differences.</param>
    /// <param name="top">Keep only the best <paramref name="top"/> (null: all).</param>
    /// <returns>Chunks ordered by fused score, best first; <see cref="RankedChunk.Score"/> is the fused score.</returns>
    public static IReadOnlyList<RankedChunk> Fuse(
        IReadOnlyList<IReadOnlyList<RankedChunk>> lists, IReadOnlyList<double>? weights = null, int k = DefaultK, int? top = null)
    {
        ArgumentNullException.ThrowIfNull(lists);
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "RRF k must be positive.");
        if (weights is not null && weights.Count != lists.Count)
            throw new ArgumentException($"RRF needs one weight per list: {weights.Count} weights for {lists.Count} lists.", nameof(weights));
        if (weights is not null && weights.Any(w => !(w >= 0) || double.IsInfinity(w)))
            throw new ArgumentException("RRF weights must be finite and non-negative.", nameof(weights));

        var fused = new Dictionary<long, (double Score, int BestRank)>();
        for (int l = 0; l < lists.Count; l++)
        {
            double w = weights?[l] ?? 1.0;
            var seen = new HashSet<long>();
            for (int i = 0; i < lists[l].Count; i++)
            {
                long id = lists[l][i].ChunkId;
                if (!seen.Add(id)) continue;
                int rank = i + 1;
                fused.TryGetValue(id, out var acc);
                fused[id] = (acc.Score + w / (k + rank), acc.BestRank == 0 ? rank : Math.Min(acc.BestRank, rank));
            }
        }

        var ordered = fused
            .OrderByDescending(e => e.Value.Score)
            .ThenBy(e => e.Value.BestRank)
            .ThenBy(e => e.Key)
            .Select(e => new RankedChunk(e.Key, e.Value.Score));
        return (top is int t ? ordered.Take(t) : ordered).ToList();
    }
}
