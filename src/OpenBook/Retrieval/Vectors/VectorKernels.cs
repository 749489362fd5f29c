using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OpenBook.Retrieval.Vectors;

/// <summary>
/// SIMD distance kernels: AVX-512 (Vector512) where the CPU has it, Vector256 otherwise, scalar tail/fallback.
/// Pointer versions are the hot path of the indexes (no bounds checks); span versions are for callers.
/// </summary>
public static unsafe class VectorKernels
{
    /// <summary>Inner product a·b.</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Vector lengths differ: {a.Length} vs {b.Length}.");
        fixed (float* pa = a, pb = b) return Dot(pa, pb, a.Length);
    }

    /// <summary>Squared Euclidean distance ‖a − b‖².</summary>
    public static float L2Squared(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Vector lengths differ: {a.Length} vs {b.Length}.");
        fixed (float* pa = a, pb = b) return L2Squared(pa, pb, a.Length);
    }

    /// <summary>Cosine similarity (0 when either vector is zero).</summary>
    public static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float na = MathF.Sqrt(Dot(a, a)), nb = MathF.Sqrt(Dot(b, b));
        return na == 0 || nb == 0 ? 0 : Dot(a, b) / (na * nb);
    }

    /// <summary>Scales <paramref name="v"/> to unit length in place (a zero vector stays zero).</summary>
    public static void Normalize(Span<float> v)
    {
        float n = TensorPrimitives.Norm(v);
        if (n > 0) TensorPrimitives.Multiply(v, 1f / n, v);
    }

    /// <summary>Distance in the index's internal convention (lower is closer): ‖a−b‖² for L2, −a·b otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Distance(float* a, float* b, int n, bool l2) => l2 ? L2Squared(a, b, n) : -Dot(a, b, n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        float sum;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<float> s0 = Vector512<float>.Zero, s1 = Vector512<float>.Zero;
            for (; i <= n - 32; i += 32)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), s1);
            }
            for (; i <= n - 16; i += 16)
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
            sum = Vector512.Sum(s0 + s1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<float> s0 = Vector256<float>.Zero, s1 = Vector256<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), s1);
            }
            for (; i <= n - 8; i += 8)
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
            sum = Vector256.Sum(s0 + s1);
        }
        else sum = 0;
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float L2Squared(float* a, float* b, int n)
    {
        int i = 0;
        float sum;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<float> s0 = Vector512<float>.Zero, s1 = Vector512<float>.Zero;
            for (; i <= n - 32; i += 32)
            {
                var d0 = Vector512.Load(a + i) - Vector512.Load(b + i);
                var d1 = Vector512.Load(a + i + 16) - Vector512.Load(b + i + 16);
                s0 = Vector512.FusedMultiplyAdd(d0, d0, s0);
                s1 = Vector512.FusedMultiplyAdd(d1, d1, s1);
            }
            for (; i <= n - 16; i += 16)
            {
                var d = Vector512.Load(a + i) - Vector512.Load(b + i);
                s0 = Vector512.FusedMultiplyAdd(d, d, s0);
            }
            sum = Vector512.Sum(s0 + s1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<float> s0 = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var d = Vector256.Load(a + i) - Vector256.Load(b + i);
                s0 = Vector256.FusedMultiplyAdd(d, d, s0);
            }
            sum = Vector256.Sum(s0);
        }
        else sum = 0;
        for (; i < n; i++) { float d = a[i] - b[i]; sum += d * d; }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Prefetch(void* p)
    {
        if (Sse.IsSupported) Sse.Prefetch0(p);
    }
}
