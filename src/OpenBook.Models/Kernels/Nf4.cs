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

    /// <summary>Quantises <paramref name="values"/> (any length; the last block may be partial).</summary>
    public static Quantized Quantize(ReadOnlySpan<float> values)
    {
        int n = values.Length, blocks = (n + BlockSize - 1) / BlockSize;
        var absmax = new float[blocks];
        for (int b = 0; b < blocks; b++)
        {
            float m = 0;
            foreach (var v in values.Slice(b * BlockSize, Math.Min(BlockSize, n - b * BlockSize))) m = Math.Max(m, Math.Abs(v));
            absmax[b] = m;
        }
        var codes = new byte[(n + 1) / 2];
        for (int b = 0; b < blocks; b++)
        {
            float inv = absmax[b] == 0 ? 0 : 1f / absmax[b];
            int start = b * BlockSize, end = Math.Min(n, start + BlockSize);
            for (int i = start; i < end; i++)
            {
                int code = NearestLevel(values[i] * inv);
                codes[i >> 1] |= (byte)((i & 1) == 0 ? code << 4 : code);
            }
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
                int block = (int)(start / BlockSize);
                float a = q.BlockAbsmax(block);
                int run = (int)Math.Min(count, (long)(block + 1) * BlockSize - start);
                int k = 0;
                if ((start & 1) == 1)
                {
                    dst[0] = Levels[codes[start >> 1] & 0xF] * a;
                    k = 1;
                }
                if (Avx512F.IsSupported && run - k >= 32)
                {
                    var table = LevelsVector * a;
                    for (; k <= run - 32; k += 32) Decode32(codes + ((start + k) >> 1), table, dst + k);
                }
                for (; k < run; k++)
                {
                    long i = start + k;
                    byte packed = codes[i >> 1];
                    dst[k] = Levels[(i & 1) == 0 ? packed >> 4 : packed & 0xF] * a;
                }
                start += run;
                dst += run;
                count -= run;
            }
    }

    /// <summary>
    /// 16 bytes (32 codes) → 32 floats: split nibbles, interleave them back into element order, zero-extend to int32 and
    /// look the levels (pre-scaled by the block's absmax) up with one <c>vpermps</c> per 16: the 16-entry table fits one register.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Decode32(byte* codes, Vector512<float> table, float* dst)
    {
        var packed = Vector128.Load(codes);
        var hi = Vector128.ShiftRightLogical(packed, 4);
        var lo = packed & Vector128.Create((byte)0x0F);
        var first = Sse2.UnpackLow(hi, lo);
        var second = Sse2.UnpackHigh(hi, lo);
        Avx512F.PermuteVar16x32(table, Avx512F.ConvertToVector512Int32(first)).Store(dst);
        Avx512F.PermuteVar16x32(table, Avx512F.ConvertToVector512Int32(second)).Store(dst + 16);
    }
}
