namespace OpenBook.Models.Kernels;

/// <summary>
/// Plain scalar definitions of the kernels (double accumulation where it matters), the ground truth the
/// optimized kernels are tested against. Slow on purpose; never used on a hot path.
/// </summary>
public static class ReferenceKernels
{
    /// <summary>Scalar <c>C = alpha·op(A)·op(B) + beta·C</c>, row-major, double accumulation.</summary>
    public static void Sgemm(Transpose transA, Transpose transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, float alpha = 1f, float beta = 0f)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transA == Transpose.No ? a[i * lda + p] : a[p * lda + i];
                    float bv = transB == Transpose.No ? b[p * ldb + j] : b[j * ldb + p];
                    sum += (double)av * bv;
                }
                c[i * ldc + j] = (float)(alpha * sum + (beta == 0f ? 0 : beta * (double)c[i * ldc + j]));
            }
    }

    /// <summary>Scalar RMSNorm of each row.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        int d = weight.Length;
        for (int r = 0; r < x.Length / d; r++)
        {
            double ss = 0;
            for (int i = 0; i < d; i++) ss += (double)x[r * d + i] * x[r * d + i];
            double inv = 1 / Math.Sqrt(ss / d + eps);
            for (int i = 0; i < d; i++) y[r * d + i] = (float)(x[r * d + i] * inv * weight[i]);
        }
    }

    /// <summary>Scalar softmax in place.</summary>
    public static void Softmax(Span<float> x)
    {
        double max = double.NegativeInfinity;
        foreach (var v in x) max = Math.Max(max, v);
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += Math.Exp(x[i] - max);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(Math.Exp(x[i] - max) / sum);
    }

    /// <summary>Scalar <c>silu(gate)·up</c>.</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            double g = gate[i];
            output[i] = (float)(g / (1 + Math.Exp(-g)) * up[i]);
        }
    }

    /// <summary>Scalar rotate-half RoPE of one token's heads, from explicit inverse frequencies.</summary>
    public static void Rope(Span<float> x, int heads, int headDim, int position, ReadOnlySpan<float> invFreq)
    {
        int half = headDim / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
            {
                double angle = (float)(position * invFreq[i]);
                double c = Math.Cos(angle), s = Math.Sin(angle);
                double a = x[h * headDim + i], b = x[h * headDim + i + half];
                x[h * headDim + i] = (float)(a * c - b * s);
                x[h * headDim + i + half] = (float)(b * c + a * s);
            }
    }

    /// <summary>Naive causal GQA attention (same layout and meaning as <see cref="Attention.Causal"/>).</summary>
    public static void CausalAttention(ReadOnlySpan<float> queries, int tokens, int start, int heads, int kvHeads, int headDim,
        ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int capacity, int window, Span<float> output)
    {
        int group = heads / kvHeads, dim = heads * headDim;
        for (int t = 0; t < tokens; t++)
        {
            int p = start + t;
            for (int h = 0; h < heads; h++)
            {
                int kvh = h / group;
                var scores = new double[p + 1];
                double max = double.NegativeInfinity;
                for (int j = 0; j <= p; j++)
                {
                    bool visible = window <= 0 || p - j < window;
                    if (!visible) { scores[j] = double.NegativeInfinity; continue; }
                    double s = 0;
                    for (int i = 0; i < headDim; i++)
                        s += (double)queries[t * dim + h * headDim + i] * keys[(kvh * capacity + j) * headDim + i];
                    scores[j] = s / Math.Sqrt(headDim);
                    max = Math.Max(max, scores[j]);
                }
                double sum = 0;
                for (int j = 0; j <= p; j++) { scores[j] = Math.Exp(scores[j] - max); sum += scores[j]; }
                for (int i = 0; i < headDim; i++)
                {
                    double o = 0;
                    for (int j = 0; j <= p; j++) o += scores[j] / sum * values[(kvh * capacity + j) * headDim + i];
                    output[t * dim + h * headDim + i] = (float)o;
                }
            }
        }
    }

    /// <summary>Scalar <c>y = x·Wᵀ</c> for an fp32 [n, k] weight.</summary>
    public static void MatMulTransposed(ReadOnlySpan<float> x, int m, ReadOnlySpan<float> w, int n, int k, Span<float> y) =>
        Sgemm(Transpose.No, Transpose.Yes, m, n, k, x, k, w, k, y, n);
}
