using System.Numerics.Tensors;

namespace OpenBook.Retrieval.Hybrid;

/// <summary>
/// Maximal Marginal Relevance (Carbonell &amp; Goldstein, 1998): picks results one at a time, each maximising
/// <c>λ·sim(query, d) − (1−λ)·max_{s ∈ selected} sim(d, s)</c> with cosine similarity, so near-duplicate chunks
/// do not crowd the top of the list.
/// </summary>
public static class Mmr
{
    /// <summary>
    /// Re-orders <paramref name="candidates"/> for diversity and returns the first <paramref name="k"/>.
    /// </summary>
    /// <param name="candidates">Candidate chunks (e.g. the fused top-N); ties keep this order.</param>
    /// <param name="queryVector">The query embedding.</param>
    /// <param name="vectors">Embedding of every candidate, by chunk id (same dimension as the query).</param>
    /// <param name="lambda">1 = pure relevance (query similarity order), 0 = pure diversity. Must lie in [0, 1].</param>
    /// <param name="k">How many to select.</param>
    /// <returns>The selected candidates (with their original scores) in selection order.</returns>
    public static IReadOnlyList<RankedChunk> Select(
        IReadOnlyList<RankedChunk> candidates, ReadOnlySpan<float> queryVector,
        IReadOnlyDictionary<long, float[]> vectors, double lambda, int k)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(vectors);
        if (!(lambda >= 0 && lambda <= 1)) throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "MMR lambda must lie in [0, 1].");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "MMR k must be non-negative.");

        int n = candidates.Count;
        var vecs = new float[n][];
        var relevance = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (!vectors.TryGetValue(candidates[i].ChunkId, out var v))
                throw new ArgumentException($"MMR: no vector for chunk {candidates[i].ChunkId}.", nameof(vectors));
            if (v.Length != queryVector.Length)
                throw new ArgumentException($"MMR: chunk {candidates[i].ChunkId} has dimension {v.Length}, the query {queryVector.Length}.", nameof(vectors));
            vecs[i] = v;
            relevance[i] = Cosine(queryVector, v);
        }

        var maxSimToSelected = new double[n];
        Array.Fill(maxSimToSelected, double.NegativeInfinity);
        var taken = new bool[n];
        var result = new List<RankedChunk>(Math.Min(k, n));
        while (result.Count < Math.Min(k, n))
        {
            int best = -1;
            double bestScore = double.NegativeInfinity;
            for (int i = 0; i < n; i++)
            {
                if (taken[i]) continue;
                double redundancy = result.Count == 0 ? 0 : maxSimToSelected[i];
                double score = lambda * relevance[i] - (1 - lambda) * redundancy;
                if (score > bestScore) (best, bestScore) = (i, score);
            }
            taken[best] = true;
            result.Add(candidates[best]);
            for (int i = 0; i < n; i++)
                if (!taken[i]) maxSimToSelected[i] = Math.Max(maxSimToSelected[i], Cosine(vecs[i], vecs[best]));
        }
        return result;
    }

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float na = TensorPrimitives.Norm(a), nb = TensorPrimitives.Norm(b);
        return na == 0 || nb == 0 ? 0 : TensorPrimitives.Dot(a, b) / ((double)na * nb);
    }
}
