using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenBook.Models.Kernels;

/// <summary>
/// bfloat16 helpers. A bf16 value is the upper 16 bits of an IEEE fp32, so widening is a 16-bit shift;
/// narrowing rounds to nearest even (NaN stays NaN), as PyTorch's <c>.to(torch.bfloat16)</c> does.
/// </summary>
public static unsafe class Bf16
{
    /// <summary>Widens one bf16 value to fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Rounds one fp32 value to bf16 (nearest even).</summary>
    public static ushort FromFloat(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((u >> 16) | 0x40); // quiet NaN
        u += 0x7FFF + ((u >> 16) & 1);
        return (ushort)(u >> 16);
    }

    /// <summary>Widens a bf16 span to fp32.</summary>
    public static void ToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("Destination too short.");
        fixed (ushort* s = src)
        fixed (float* d = dst)
        {
            int i = 0, n = src.Length;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= n - 32; i += 32)
                {
                    var v = Vector512.Load(s + i);
                    (Vector512.ShiftLeft(Vector512.WidenLower(v), 16)).AsSingle().Store(d + i);
                    (Vector512.ShiftLeft(Vector512.WidenUpper(v), 16)).AsSingle().Store(d + i + 16);
                }
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 16; i += 16)
                {
                    var v = Vector256.Load(s + i);
                    (Vector256.ShiftLeft(Vector256.WidenLower(v), 16)).AsSingle().Store(d + i);
                    (Vector256.ShiftLeft(Vector256.WidenUpper(v), 16)).AsSingle().Store(d + i + 8);
                }
            for (; i < n; i++) d[i] = ToFloat(s[i]);
        }
    }

    /// <summary>Rounds an fp32 span to bf16.</summary>
    public static void FromFloat(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("Destination too short.");
        for (int i = 0; i < src.Length; i++) dst[i] = FromFloat(src[i]);
    }

    /// <summary>Dot product of fp32 <paramref name="x"/> with bf16 <paramref name="w"/> (length n), widening on the fly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(float* x, ushort* w, int n)
    {
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> acc0 = default, acc1 = default;
            for (; i <= n - 32; i += 32)
            {
                var v = Vector512.Load(w + i);
                acc0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(Vector512.WidenLower(v), 16).AsSingle(), Vector512.Load(x + i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(Vector512.WidenUpper(v), 16).AsSingle(), Vector512.Load(x + i + 16), acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            // AVX2 machines: the same widening (a bf16 is the top half of an fp32), 8 lanes at a time.
            Vector256<float> acc0 = default, acc1 = default;
            for (; i <= n - 16; i += 16)
            {
                var v = Vector256.Load(w + i);
                acc0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(Vector256.WidenLower(v), 16).AsSingle(), Vector256.Load(x + i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(Vector256.WidenUpper(v), 16).AsSingle(), Vector256.Load(x + i + 8), acc1);
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++) sum += x[i] * ToFloat(w[i]);
        return sum;
    }
}
