using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OpenBook.Models.Kernels;

/// <summary>
/// Weight-only int8 quantization with one fp32 scale per output channel (row of a [out, in] weight):
/// <c>w[j,i] ≈ scale[j]·q[j,i]</c>, <c>scale[j] = max|w[j,:]| / 127</c>, symmetric, round to nearest.
/// Activations stay fp32; the matmul widens int8 to fp32 on the fly and applies the scale once per output.
/// </summary>
public static unsafe class Int8Weights
{
    /// <summary>Quantizes a row-major [rows, cols] fp32 matrix; returns the int8 values and per-row scales.</summary>
    public static (sbyte[] Values, float[] Scales) Quantize(ReadOnlySpan<float> w, int rows, int cols)
    {
        if (w.Length != (long)rows * cols) throw new ArgumentException("Weight length does not match rows×cols.");
        var q = new sbyte[w.Length];
        var scales = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            var row = w.Slice(r * cols, cols);
            float max = 0f;
            foreach (var v in row) max = Math.Max(max, Math.Abs(v));
            float scale = max / 127f;
            scales[r] = scale;
            float inv = scale == 0f ? 0f : 1f / scale;
            for (int i = 0; i < cols; i++) q[(long)r * cols + i] = (sbyte)Math.Clamp(MathF.Round(row[i] * inv), -127f, 127f);
        }
        return (q, scales);
    }

    /// <summary>Writes <c>scale·q</c> into <paramref name="dst"/>.</summary>
    public static void Dequantize(ReadOnlySpan<sbyte> q, float scale, Span<float> dst)
    {
        for (int i = 0; i < q.Length; i++) dst[i] = q[i] * scale;
    }

    /// <summary>Σ x[i]·q[i] (unscaled) with int8 widened to fp32 on the fly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(float* x, sbyte* q, int n)
    {
        int i = 0;
        float sum = 0f;
        if (Avx512F.IsSupported)
        {
            Vector512<float> acc0 = default, acc1 = default;
            for (; i <= n - 32; i += 32)
            {
                var w0 = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(q + i)));
                var w1 = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(q + i + 16)));
                acc0 = Avx512F.FusedMultiplyAdd(w0, Vector512.Load(x + i), acc0);
                acc1 = Avx512F.FusedMultiplyAdd(w1, Vector512.Load(x + i + 16), acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Avx2.IsSupported)
        {
            // Four independent accumulators: one FMA chain would wait on its own latency every step.
            Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            for (; i <= n - 32; i += 32)
            {
                acc0 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + i)), Vector256.Load(x + i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + i + 8)), Vector256.Load(x + i + 8), acc1);
                acc2 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + i + 16)), Vector256.Load(x + i + 16), acc2);
                acc3 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + i + 24)), Vector256.Load(x + i + 24), acc3);
            }
            for (; i <= n - 8; i += 8)
                acc0 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + i)), Vector256.Load(x + i), acc0);
            sum = Vector256.Sum((acc0 + acc1) + (acc2 + acc3));
        }
        for (; i < n; i++) sum += x[i] * q[i];
        return sum;
    }
}
