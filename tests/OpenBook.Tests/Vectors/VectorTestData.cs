using OpenBook.Bench;
using OpenBook.Retrieval.Vectors;

namespace OpenBook.Tests.Vectors;

/// <summary>Seeded data and brute-force references shared by the vector tests.</summary>
internal static class VectorTestData
{
    public static float[] Clustered(int n, int dims, int seed = 7) => new SyntheticVectors(dims, clusters: 20, intrinsicDim: 8, seed: seed).Generate(n, seed + 1);

    public static ReadOnlySpan<float> Row(float[] data, int i, int dims) => data.AsSpan(i * dims, dims);

    /// <summary>Scalar reference distance in the indexes' convention (lower is closer).</summary>
    public static double Distance(ReadOnlySpan<float> a, ReadOnlySpan<float> b, VectorMetric metric)
    {
        double dot = 0, na = 0, nb = 0, l2 = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i]; na += (double)a[i] * a[i]; nb += (double)b[i] * b[i];
            l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        }
        return metric switch
        {
            VectorMetric.Cosine => 1 - dot / Math.Sqrt(na * nb),
            VectorMetric.DotProduct => -dot,
            _ => l2,
        };
    }

    /// <summary>Brute-force top-k ids (ids are row numbers + <paramref name="idOffset"/>).</summary>
    public static long[] BruteForce(float[] data, int dims, ReadOnlySpan<float> q, int k, VectorMetric metric, Func<long, bool>? allow = null, long idOffset = 0)
    {
        int n = data.Length / dims;
        var d = new (double D, long Id)[n];
        for (int i = 0; i < n; i++) d[i] = (Distance(q, Row(data, i, dims), metric), i + idOffset);
        return d.Where(x => allow == null || allow(x.Id)).OrderBy(x => x.D).Take(k).Select(x => x.Id).ToArray();
    }

    /// <summary>Mean recall@k of <paramref name="search"/> against the exact <see cref="FlatIndex"/> answers.</summary>
    public static double Recall(IVectorIndex exact, Func<float[], IReadOnlyList<VectorHit>> search, float[] queries, int dims, int k, VectorFilter? filter = null)
    {
        int nq = queries.Length / dims;
        double sum = 0;
        for (int i = 0; i < nq; i++)
        {
            var q = queries.AsSpan(i * dims, dims).ToArray();
            var truth = exact.Search(q, k, filter).Select(h => h.Id).ToHashSet();
            sum += search(q).Count(h => truth.Contains(h.Id)) / (double)truth.Count;
        }
        return sum / nq;
    }
}
