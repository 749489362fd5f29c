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

    // ---------------------------------------------------------------- quantised kernels

    /// <summary>
    /// Σ u[i]·w[i] for unsigned 8-bit codes <paramref name="u"/> and signed query codes <paramref name="w"/> in [−63, 63]
    /// (the bound keeps AVX2's pairwise 16-bit sums, <c>vpmaddubsw</c>, from saturating: 2·255·63 &lt; 32767).
    /// AVX2 where present (32 codes per step), scalar otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int DotU8S8(byte* u, sbyte* w, int n)
    {
        int i = 0, sum = 0;
        if (Avx2.IsSupported && n >= 32)
        {
            var ones = Vector256.Create((short)1);
            Vector256<int> s0 = Vector256<int>.Zero, s1 = Vector256<int>.Zero;
            for (; i <= n - 64; i += 64)
            {
                s0 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(u + i), Avx.LoadVector256(w + i)), ones);
                s1 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(u + i + 32), Avx.LoadVector256(w + i + 32)), ones);
            }
            for (; i <= n - 32; i += 32)
                s0 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(u + i), Avx.LoadVector256(w + i)), ones);
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < n; i++) sum += u[i] * w[i];
        return sum;
    }

    /// <summary>The scalar reference of <see cref="DotU8S8"/> (tests compare the two).</summary>
    internal static int DotU8S8Scalar(byte* u, sbyte* w, int n)
    {
        int sum = 0;
        for (int i = 0; i < n; i++) sum += u[i] * w[i];
        return sum;
    }

    /// <summary>Rounds a float to bfloat16 (round to nearest even; NaN stays NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ushort ToBFloat16(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        if (float.IsNaN(x)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>The float a bfloat16 stands for.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float FromBFloat16(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>Distance (index convention) between a float query and a bfloat16 vector: ‖q−b‖² for L2, −q·b otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float DistanceBf16(float* q, ushort* b, int n, bool l2)
    {
        int i = 0;
        float sum = 0;
        if (Avx2.IsSupported && Fma.IsSupported && n >= 8)
        {
            Vector256<float> s0 = Vector256<float>.Zero, s1 = Vector256<float>.Zero;
            if (l2)
            {
                for (; i <= n - 16; i += 16)
                {
                    var d0 = Avx.LoadVector256(q + i) - Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(b + i), 16).AsSingle();
                    var d1 = Avx.LoadVector256(q + i + 8) - Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(b + i + 8), 16).AsSingle();
                    s0 = Fma.MultiplyAdd(d0, d0, s0);
                    s1 = Fma.MultiplyAdd(d1, d1, s1);
                }
                for (; i <= n - 8; i += 8)
                {
                    var d = Avx.LoadVector256(q + i) - Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(b + i), 16).AsSingle();
                    s0 = Fma.MultiplyAdd(d, d, s0);
                }
            }
            else
            {
                for (; i <= n - 16; i += 16)
                {
                    s0 = Fma.MultiplyAdd(Avx.LoadVector256(q + i), Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(b + i), 16).AsSingle(), s0);
                    s1 = Fma.MultiplyAdd(Avx.LoadVector256(q + i + 8), Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(b + i + 8), 16).AsSingle(), s1);
                }
                for (; i <= n - 8; i += 8)
                    s0 = Fma.MultiplyAdd(Avx.LoadVector256(q + i), Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(b + i), 16).AsSingle(), s0);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < n; i++)
        {
            float v = FromBFloat16(b[i]);
            sum += l2 ? (q[i] - v) * (q[i] - v) : q[i] * v;
        }
        return l2 ? sum : -sum;
    }

    /// <summary>The scalar reference of <see cref="DistanceBf16"/>.</summary>
    internal static float DistanceBf16Scalar(float* q, ushort* b, int n, bool l2)
    {
        float sum = 0;
        for (int i = 0; i < n; i++)
        {
            float v = FromBFloat16(b[i]);
            sum += l2 ? (q[i] - v) * (q[i] - v) : q[i] * v;
        }
        return l2 ? sum : -sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Prefetch(void* p)
    {
        if (Sse.IsSupported) Sse.Prefetch0(p);
    }
}
