using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OpenBook.Models.Kernels;

/// <summary>
/// 4-bit NormalFloat (NF4) weights as in QLoRA (Dettmers et al. 2023) and bitsandbytes' <c>quantize_4bit(quant_type="nf4",
/// blocksize=64, compress_statistics=True)</c>:
/// <list type="bullet">
/// <item>the flattened row-major weight is cut into blocks of <see cref="BlockSize"/> values; each value is divided by its
/// block's absolute maximum <c>a</c> and rounded to the nearest of the 16 <see cref="Levels"/> (bitsandbytes' table: quantiles
/// of a standard normal with exact 0 and ±1; ties go to the lower level, as bitsandbytes' decision tree);</item>
/// <item>two 4-bit codes per byte, the even element in the high nibble (bitsandbytes' packing);</item>
/// <item>double quantisation: the fp32 absmax values lose their mean <c>μ</c>, then each group of <see cref="AbsmaxGroup"/>
/// is divided by its own absolute maximum <c>s</c> (one fp32 per group) and rounded to the nearest entry of bitsandbytes'
/// signed 8-bit dynamic map (<see cref="AbsmaxCode"/>), one byte per block. Reconstruction: <c>â = code[q]·s + μ</c>.</item>
/// </list>
/// Storage: ½ byte per value + 1 byte per 64 values + 4 bytes per 16 384 values + 4 bytes ≈ 0.129× fp32 (the 256-entry
/// map is a shared constant, not stored per tensor).
/// <para>
/// Error bound per element. Let <c>g</c> = <see cref="MaxGap"/> (widest gap between adjacent levels, 0.3038 between −1 and
/// −0.6962) and <c>G</c> = <see cref="AbsmaxCodeMaxGap"/> (widest gap of the 8-bit map, 0.0141). The code c is chosen
/// against the exact absmax (as bitsandbytes), so <c>|w − L[c]·a| ≤ a·g/2</c>; reconstruction uses <c>â</c> with
/// <c>|a − â| ≤ s·G/2</c> (nearest map entry, the map covering [−0.993, 1] with end gaps ≤ G/2). Since |L[c]| ≤ 1:
/// <c>|w − L[c]·â| ≤ a·g/2 + |a − â| ≤ a·g/2 + s·G/2</c>. A block of zeros reconstructs exactly (code of level 0).
/// </para>
/// </summary>
public static unsafe class Nf4
{
    /// <summary>Values per absmax block.</summary>
    public const int BlockSize = 64;
    /// <summary>Absmax values per second-level (double-quantisation) scale.</summary>
    public const int AbsmaxGroup = 256;

    /// <summary>The 16 NF4 levels (bitsandbytes' table), ascending; code i means <c>Levels[i]</c>.</summary>
    public static readonly float[] Levels =
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f,
        -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    /// <summary>The widest gap between adjacent NF4 levels.</summary>
    public static readonly float MaxGap = Enumerable.Range(1, 15).Max(i => Levels[i] - Levels[i - 1]);

    /// <summary>
    /// bitsandbytes' signed 8-bit dynamic map (<c>create_dynamic_map(signed=True, max_exponent_bits=7)</c>), ascending: for
    /// exponents 10⁻⁶…10⁰, 2ⁱ fraction steps of [0.1, 1] (midpoints of a float32 linspace), both signs, plus 0 and 1. Checked
    /// against PyTorch 1.13: equal within one float ulp (torch's own linspace rounding depends on its vectorisation).
    /// </summary>
    public static readonly float[] AbsmaxCode = CreateDynamicMap();

    /// <summary>The widest gap between adjacent entries of <see cref="AbsmaxCode"/> (also bounds the gaps to ±1 at its ends).</summary>
    public static readonly float AbsmaxCodeMaxGap = Enumerable.Range(1, 255).Max(i => AbsmaxCode[i] - AbsmaxCode[i - 1]);

    private static readonly Vector512<float> LevelsVector = Vector512.Create(Levels);

    private static readonly float[] Midpoints = Enumerable.Range(1, 15).Select(i => (Levels[i - 1] + Levels[i]) / 2).ToArray();

    /// <summary>Quantised storage of one tensor (bitsandbytes' <c>QuantState</c> with a nested state for the absmax).</summary>
    /// <param name="Length">Number of values.</param>
    /// <param name="Codes">Two 4-bit codes per byte, element 2i in the high nibble of byte i.</param>
    /// <param name="Absmax">One 8-bit index into <see cref="AbsmaxCode"/> per block.</param>
    /// <param name="AbsmaxScales">One fp32 scale per <see cref="AbsmaxGroup"/> blocks (the group's max |absmax − mean|).</param>
    /// <param name="AbsmaxMean">The mean of all block absmax values (bitsandbytes' <c>offset</c>).</param>
    public sealed record Quantized(int Length, byte[] Codes, byte[] Absmax, float[] AbsmaxScales, float AbsmaxMean)
    {
        /// <summary>Bytes held: codes, 8-bit absmax, second-level scales and the mean.</summary>
        public long ByteSize => Codes.Length + Absmax.Length + AbsmaxScales.Length * 4L + 4;

        /// <summary>Number of absmax blocks.</summary>
        public int Blocks => Absmax.Length;

        /// <summary>The dequantised absmax of block <paramref name="block"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float BlockAbsmax(int block) => AbsmaxCode[Absmax[block]] * AbsmaxScales[block / AbsmaxGroup] + AbsmaxMean;

        /// <summary>The 4-bit code of element <paramref name="index"/>.</summary>
        public int Code(long index) => (index & 1) == 0 ? Codes[index >> 1] >> 4 : Codes[index >> 1] & 0xF;
    }

    /// <summary>Quantises <paramref name="values"/> (any length; the last block may be partial). Blocks run in parallel.</summary>
    public static Quantized Quantize(ReadOnlySpan<float> values)
    {
        int n = values.Length, blocks = (n + BlockSize - 1) / BlockSize;
        var absmax = new float[blocks];
        var codes = new byte[(n + 1) / 2];
        const int blocksPerTask = 1024;
        fixed (float* pv = values)
        {
            nint v = (nint)pv;
            ParallelRanges.For((blocks + blocksPerTask - 1) / blocksPerTask, t =>
            {
                var all = new ReadOnlySpan<float>((float*)v, n);
                for (int b = t * blocksPerTask; b < Math.Min(blocks, (t + 1) * blocksPerTask); b++)
                    absmax[b] = QuantizeBlock(all, b, codes);
            }, work: 4L * n);
        }
        // Double quantisation of the absmax values (bitsandbytes' compress_statistics).
        float mean = blocks == 0 ? 0 : (float)absmax.Average(a => (double)a);
        int groups = (blocks + AbsmaxGroup - 1) / AbsmaxGroup;
        var scales = new float[groups];
        var q8 = new byte[blocks];
        for (int g = 0; g < groups; g++)
        {
            int start = g * AbsmaxGroup, end = Math.Min(blocks, start + AbsmaxGroup);
            float max = 0;
            for (int b = start; b < end; b++) max = Math.Max(max, Math.Abs(absmax[b] - mean));
            scales[g] = max;
            float inv = max == 0 ? 0 : 1f / max;
            for (int b = start; b < end; b++) q8[b] = (byte)Nearest(AbsmaxCode, (absmax[b] - mean) * inv);
        }
        return new Quantized(n, codes, q8, scales, mean);
    }

    /// <summary>Writes block <paramref name="b"/>'s codes (against its exact absmax, as bitsandbytes) and returns the absmax.</summary>
    private static float QuantizeBlock(ReadOnlySpan<float> values, int b, byte[] codes)
    {
        int start = b * BlockSize, end = Math.Min(values.Length, start + BlockSize);
        float absmax = 0;
        for (int i = start; i < end; i++) absmax = Math.Max(absmax, Math.Abs(values[i]));
        float inv = absmax == 0 ? 0 : 1f / absmax;
        for (int i = start; i < end; i++)
        {
            int code = NearestLevel(values[i] * inv);
            codes[i >> 1] |= (byte)((i & 1) == 0 ? code << 4 : code); // blocks hold an even count: no byte is shared
        }
        return absmax;
    }

    /// <summary>Index of the nearest NF4 level to <paramref name="x"/> (ties to the lower level).</summary>
    private static int NearestLevel(float x)
    {
        int lo = 0, hi = Midpoints.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >> 1;
            if (x > Midpoints[mid]) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>Index of the entry of the ascending <paramref name="table"/> nearest to <paramref name="x"/>.</summary>
    private static int Nearest(float[] table, float x)
    {
        int i = Array.BinarySearch(table, x);
        if (i >= 0) return i;
        i = ~i;
        if (i == 0) return 0;
        if (i == table.Length) return table.Length - 1;
        return x - table[i - 1] <= table[i] - x ? i - 1 : i;
    }

    private static float[] CreateDynamicMap()
    {
        var data = new List<float>();
        for (int i = 0; i < 7; i++)
        {
            int items = (1 << i) + 1;
            // torch.linspace(0.1, 1, items) in float32: start + step·j for the first half, end − step·(items−1−j) after.
            float start = 0.1f, end = 1f, step = (end - start) / (items - 1);
            var boundaries = Enumerable.Range(0, items).Select(j => j < items / 2 ? start + step * j : end - step * (items - 1 - j)).ToArray();
            double scale = Math.Pow(10, -6 + i);
            for (int j = 0; j + 1 < items; j++)
            {
                float mean = (boundaries[j] + boundaries[j + 1]) / 2f;
                data.Add((float)(scale * mean));
                data.Add((float)(-scale * mean));
            }
        }
        data.Add(0f);
        data.Add(1f);
        data.Sort();
        return [.. data];
    }

    /// <summary>Dequantises elements <c>[start, start + dst.Length)</c> into <paramref name="dst"/>.</summary>
    public static void Dequantize(Quantized q, long start, Span<float> dst)
    {
        if (start < 0 || start + dst.Length > q.Length) throw new ArgumentOutOfRangeException(nameof(start), $"Elements {start}..{start + dst.Length} outside 0..{q.Length}.");
        fixed (float* d = dst) Dequantize(q, start, d, dst.Length);
    }

    /// <summary>Dequantises <paramref name="count"/> elements from <paramref name="start"/> (unchecked; callers stay in range).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dequantize(Quantized q, long start, float* dst, int count)
    {
        fixed (byte* codes = q.Codes)
            while (count > 0)
            {
                int run = BlockRun(q, start, count, out float a);
                int k = 0;
                if ((start & 1) == 1) dst[k++] = Levels[codes[start >> 1] & 0xF] * a;
                if (Avx512F.IsSupported && run - k >= 32)
                {
                    var table = LevelsVector * a;
                    for (; k <= run - 32; k += 32)
                    {
                        var (first, second) = Decode32(codes + ((start + k) >> 1), table);
                        first.Store(dst + k);
                        second.Store(dst + k + 16);
                    }
                }
                for (; k < run; k++) dst[k] = Levels[CodeAt(codes, start + k)] * a;
                start += run;
                dst += run;
                count -= run;
            }
    }

    /// <summary>
    /// <c>Σ x[k]·ŵ[start + k]</c> over <paramref name="count"/> elements with the decode feeding the FMAs in registers (the
    /// decode-sized GEMV; about twice as fast as dequantising a row and then taking the dot). Unchecked: callers stay in range.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(Quantized q, long start, float* x, int count)
    {
        Vector512<float> acc0 = default, acc1 = default;
        float sum = 0;
        fixed (byte* codes = q.Codes)
            while (count > 0)
            {
                int run = BlockRun(q, start, count, out float a);
                int k = 0;
                if ((start & 1) == 1) { sum += Levels[codes[start >> 1] & 0xF] * a * x[0]; k = 1; }
                if (Avx512F.IsSupported && run - k >= 32)
                {
                    var table = LevelsVector * a;
                    for (; k <= run - 32; k += 32)
                    {
                        var (first, second) = Decode32(codes + ((start + k) >> 1), table);
                        acc0 = Vector512.FusedMultiplyAdd(first, Vector512.Load(x + k), acc0);
                        acc1 = Vector512.FusedMultiplyAdd(second, Vector512.Load(x + k + 16), acc1);
                    }
                }
                for (; k < run; k++) sum += Levels[CodeAt(codes, start + k)] * a * x[k];
                start += run;
                x += run;
                count -= run;
            }
        return sum + (Avx512F.IsSupported ? Vector512.Sum(acc0 + acc1) : 0f);
    }

    /// <summary>How many of <paramref name="count"/> elements from <paramref name="start"/> lie in its block, and that block's absmax.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int BlockRun(Quantized q, long start, int count, out float absmax)
    {
        int block = (int)(start / BlockSize);
        absmax = q.BlockAbsmax(block);
        return (int)Math.Min(count, (long)(block + 1) * BlockSize - start);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int CodeAt(byte* codes, long i) => (i & 1) == 0 ? codes[i >> 1] >> 4 : codes[i >> 1] & 0xF;

    /// <summary>
    /// 16 bytes (32 codes) → 32 floats: split nibbles, interleave them back into element order, zero-extend to int32 and
    /// look the levels (pre-scaled by the block's absmax) up with one <c>vpermps</c> per 16: the 16-entry table fits one register.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> First, Vector512<float> Second) Decode32(byte* codes, Vector512<float> table)
    {
        var packed = Vector128.Load(codes);
        var hi = Vector128.ShiftRightLogical(packed, 4);
        var lo = packed & Vector128.Create((byte)0x0F);
        var first = Sse2.UnpackLow(hi, lo);
        var second = Sse2.UnpackHigh(hi, lo);
        return (Avx512F.PermuteVar16x32(table, Avx512F.ConvertToVector512Int32(first)),
                Avx512F.PermuteVar16x32(table, Avx512F.ConvertToVector512Int32(second)));
    }
}
