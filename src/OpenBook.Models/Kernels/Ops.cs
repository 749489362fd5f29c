using System.Numerics.Tensors;

namespace OpenBook.Models.Kernels;

/// <summary>
/// Element-wise and row-wise transformer kernels (vectorized through <see cref="TensorPrimitives"/>).
/// Each has a scalar counterpart in <see cref="ReferenceKernels"/>.
/// </summary>
public static class Ops
{
    /// <summary>RMSNorm over each row of length <c>weight.Length</c>: <c>y = x / sqrt(mean(x²) + eps) · weight</c> (fp32 throughout, as HF).</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y) => RmsNorm(x, weight, eps, y, default);

    /// <summary>
    /// <see cref="RmsNorm(ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float})"/> that also writes each row's
    /// 1/rms into <paramref name="rstd"/> (one per row, for the backward pass; skipped when empty).
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y, Span<float> rstd)
    {
        int d = weight.Length;
        if (x.Length % d != 0 || y.Length < x.Length) throw new ArgumentException("RmsNorm: x length must be a multiple of the weight length and y as long as x.");
        if (!rstd.IsEmpty && rstd.Length < x.Length / d) throw new ArgumentException("RmsNorm: rstd needs one entry per row.");
        for (int r = 0; r < x.Length / d; r++)
        {
            var xr = x.Slice(r * d, d);
            var yr = y.Slice(r * d, d);
            float ms = TensorPrimitives.SumOfSquares(xr) / d;
            float inv = 1f / MathF.Sqrt(ms + eps);
            if (!rstd.IsEmpty) rstd[r] = inv;
            TensorPrimitives.Multiply(xr, inv, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    /// <summary>In-place softmax of one row (max-subtracted for stability).</summary>
    public static void Softmax(Span<float> x)
    {
        if (x.IsEmpty) return;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        float sum = TensorPrimitives.Sum(x);
        TensorPrimitives.Multiply(x, 1f / sum, x);
    }

    /// <summary>
    /// SwiGLU: <c>out = silu(gate)·up</c>, where <c>silu(g) = g·sigmoid(g)</c>. <paramref name="output"/> may be the
    /// same memory as <paramref name="gate"/> or <paramref name="up"/> (works through a small stack buffer).
    /// </summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        if (up.Length != gate.Length || output.Length < gate.Length) throw new ArgumentException("SwiGlu: lengths differ.");
        Span<float> tmp = stackalloc float[512];
        for (int i = 0; i < gate.Length; i += tmp.Length)
        {
            int n = Math.Min(tmp.Length, gate.Length - i);
            var t = tmp[..n];
            var g = gate.Slice(i, n);
            TensorPrimitives.Sigmoid(g, t);
            TensorPrimitives.Multiply(t, g, t);
            TensorPrimitives.Multiply(t, up.Slice(i, n), output.Slice(i, n));
        }
    }

    /// <summary>SiLU in place: <c>x·sigmoid(x)</c>.</summary>
    public static void Silu(ReadOnlySpan<float> x, Span<float> y)
    {
        var o = y[..x.Length];
        TensorPrimitives.Sigmoid(x, o);
        TensorPrimitives.Multiply(o, x, o);
    }

    /// <summary>Index of the largest value (first one on ties, as torch.argmax).</summary>
    public static int Argmax(ReadOnlySpan<float> x) => TensorPrimitives.IndexOfMax(x);
}
