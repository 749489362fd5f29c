namespace OpenBook.Models.Kernels;

/// <summary>
/// 4-bit NormalFloat (NF4) weights as in QLoRA (Dettmers et al. 2023) / bitsandbytes: the flattened weight is cut into
/// blocks of <see cref="BlockSize"/> values; each block is scaled by its absolute maximum and every value is rounded to
/// the nearest of the 16 NF4 levels (quantiles of a standard normal, exact 0 and ±1), two 4-bit codes per byte.
/// Double quantisation: the per-block fp32 absmax values are themselves stored in 8 bits — their mean is subtracted and
/// each group of <see cref="AbsmaxGroup"/> is quantised symmetrically with one fp32 scale (bitsandbytes uses a dynamic
/// 8-bit code here; a linear code is used instead — same storage, simpler to audit).
/// <para>
/// Error bound per element: |w − ŵ| ≤ a·g/2 + |δa| where a is the block absmax, g the widest gap between adjacent
/// NF4 levels (0.3038, between −1 and −0.6962) and δa the absmax's own 8-bit error (≤ half a step of its group's scale);
/// reconstruction multiplies the level by the dequantised absmax, so the level's magnitude (≤ 1) bounds the second term.
/// </para>
/// </summary>
public static class Nf4
{
    /// <summary>Values per absmax block.</summary>
    public const int BlockSize = 64;
    /// <summary>Absmax values per second-level (double-quantisation) scale.</summary>
    public const int AbsmaxGroup = 256;

    /// <summary>The 16 NF4 levels (bitsandbytes' table), ascending.</summary>
    public static readonly float[] Levels =
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f,
        -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    /// <summary>The widest gap between adjacent levels.</summary>
    public static readonly float MaxGap = Enumerable.Range(1, 15).Max(i => Levels[i] - Levels[i - 1]);

    private static readonly float[] Midpoints = Enumerable.Range(1, 15).Select(i => (Levels[i - 1] + Levels[i]) / 2).ToArray();

    /// <summary>Quantised storage of one tensor.</summary>
    public sealed record Quantized(int Length, byte[] Codes, sbyte[] Absmax, float[] AbsmaxScales, float AbsmaxMean)
    {
        /// <summary>Bytes held: codes, 8-bit absmax, second-level scales and the mean.</summary>
        public long ByteSize => Codes.Length + Absmax.Length + AbsmaxScales.Length * 4L + 4;

        /// <summary>The dequantised absmax of block <paramref name="block"/>.</summary>
        public float BlockAbsmax(int block) => Absmax[block] * AbsmaxScales[block / AbsmaxGroup] + AbsmaxMean;
    }

    /// <summary>Quantises <paramref name="values"/>.</summary>
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
        // Double quantisation of the absmax values.
        float mean = blocks == 0 ? 0 : (float)absmax.Average(a => (double)a);
        int groups = (blocks + AbsmaxGroup - 1) / AbsmaxGroup;
        var scales = new float[groups];
        var q8 = new sbyte[blocks];
        for (int g = 0; g < groups; g++)
        {
            int start = g * AbsmaxGroup, end = Math.Min(blocks, start + AbsmaxGroup);
            float max = 0;
            for (int b = start; b < end; b++) max = Math.Max(max, Math.Abs(absmax[b] - mean));
            scales[g] = max / 127f;
            float inv = max == 0 ? 0 : 127f / max;
            for (int b = start; b < end; b++) q8[b] = (sbyte)Math.Clamp(MathF.Round((absmax[b] - mean) * inv), -127, 127);
        }
        var result = new Quantized(n, new byte[(n + 1) / 2], q8, scales, mean);
        // Codes are chosen against the dequantised absmax, so the stored scale is the one reconstruction uses.
        for (int b = 0; b < blocks; b++)
        {
            float a = result.BlockAbsmax(b), inv = a == 0 ? 0 : 1f / a;
            int start = b * BlockSize, end = Math.Min(n, start + BlockSize);
            for (int i = start; i < end; i++)
            {
                int code = Code(values[i] * inv);
                if ((i & 1) == 0) result.Codes[i >> 1] |= (byte)code;
                else result.Codes[i >> 1] |= (byte)(code << 4);
            }
        }
        return result;
    }

    /// <summary>Index of the nearest level to <paramref name="x"/> (x in [−1, 1] up to rounding).</summary>
    private static int Code(float x)
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

    /// <summary>Dequantises elements <c>[start, start + dst.Length)</c> into <paramref name="dst"/>.</summary>
    public static void Dequantize(Quantized q, long start, Span<float> dst)
    {
        long i = start;
        int k = 0;
        while (k < dst.Length)
        {
            int block = (int)(i / BlockSize);
            float a = q.BlockAbsmax(block);
            long blockEnd = Math.Min((long)(block + 1) * BlockSize, q.Length);
            for (; i < blockEnd && k < dst.Length; i++, k++)
            {
                byte packed = q.Codes[i >> 1];
                int code = (i & 1) == 0 ? packed & 0xF : packed >> 4;
                dst[k] = Levels[code] * a;
            }
        }
    }
}
