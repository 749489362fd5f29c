using OpenBook.Retrieval.Vectors;

namespace OpenBook.Bench;

/// <summary>
/// Seeded synthetic data sets for tests and <c>openbook-bench vectors</c>, shaped like sentence embeddings:
/// <c>clusters</c> topic centres drawn uniformly on the unit sphere; each point is its centre plus a combination of
/// <c>intrinsicDim</c> cluster-specific random directions with Gaussian weights decaying as 1/√(1+j) (a low intrinsic
/// dimension, like embeddings of related sentences), plus small isotropic noise; then normalised to unit length.
/// Queries come from the same distribution (fresh points), not from the indexed set.
/// </summary>
public sealed class SyntheticVectors
{
    private readonly float[][] _centres;
    private readonly float[][][] _bases;
    private readonly int _dims;
    private readonly float _spread, _noise;

    /// <summary>Creates the generator (its topics are fixed by <paramref name="seed"/>).</summary>
    public SyntheticVectors(int dims, int clusters = 100, int intrinsicDim = 16, float spread = 0.35f, float noise = 0.03f, int seed = 1)
    {
        _dims = dims;
        _spread = spread;
        _noise = noise;
        var rng = new Random(seed);
        _centres = new float[clusters][];
        _bases = new float[clusters][][];
        for (int c = 0; c < clusters; c++)
        {
            _centres[c] = Unit(rng);
            _bases[c] = new float[intrinsicDim][];
            for (int j = 0; j < intrinsicDim; j++) _bases[c][j] = Unit(rng);
        }
    }

    /// <summary>Generates <paramref name="count"/> points (row-major, count × dims) from a seeded stream.</summary>
    public float[] Generate(int count, int seed)
    {
        var rng = new Random(seed);
        var data = new float[(long)count * _dims];
        for (int i = 0; i < count; i++)
        {
            var v = data.AsSpan(i * _dims, _dims);
            int c = rng.Next(_centres.Length);
            _centres[c].CopyTo(v);
            var basis = _bases[c];
            for (int j = 0; j < basis.Length; j++)
            {
                float w = (float)(Gaussian(rng) * _spread / Math.Sqrt(1 + j));
                for (int d = 0; d < _dims; d++) v[d] += w * basis[j][d];
            }
            for (int d = 0; d < _dims; d++) v[d] += (float)Gaussian(rng) * _noise;
            VectorKernels.Normalize(v);
        }
        return data;
    }

    /// <summary>Uniform random points in [−1, 1]^dims (no structure; the hard case for graphs), seeded.</summary>
    public static float[] Uniform(int count, int dims, int seed)
    {
        var rng = new Random(seed);
        var data = new float[(long)count * dims];
        for (long i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }

    private float[] Unit(Random rng)
    {
        var v = new float[_dims];
        for (int d = 0; d < _dims; d++) v[d] = (float)Gaussian(rng);
        VectorKernels.Normalize(v);
        return v;
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
