using OpenBook.Models.Formats;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.Tests;

/// <summary>Optimized kernels against their scalar definitions in <see cref="ReferenceKernels"/>.</summary>
public class KernelTests
{
    internal static float[] RandomArray(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return a;
    }

    internal static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tol, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            float allowed = tol * Math.Max(1f, Math.Abs(e));
            Assert.True(Math.Abs(e - a) <= allowed, $"{what}[{i}]: expected {e}, got {a} (tolerance {allowed})");
        }
    }

    // m, n, k chosen to hit: tails of MR (8) and NR (32), several M blocks (MC = 96), K blocking (KC = 256),
    // and the multi-threaded path (2·m·n·k ≥ 4M flops for the large case).
    [Theory]
    [InlineData(Transpose.No, Transpose.No, 1, 1, 1)]
    [InlineData(Transpose.No, Transpose.No, 37, 45, 300)]
    [InlineData(Transpose.No, Transpose.Yes, 37, 45, 300)]
    [InlineData(Transpose.Yes, Transpose.No, 37, 45, 300)]
    [InlineData(Transpose.Yes, Transpose.Yes, 37, 45, 300)]
    [InlineData(Transpose.No, Transpose.Yes, 200, 97, 513)]
    [InlineData(Transpose.Yes, Transpose.No, 200, 97, 513)]
    [InlineData(Transpose.Yes, Transpose.Yes, 9, 33, 7)]
    [InlineData(Transpose.No, Transpose.Yes, 20, 2100, 40)]   // several N blocks (NC = 2048), one thread
    [InlineData(Transpose.No, Transpose.No, 9, 2200, 300)]    // one M block split over threads along N
    public void Sgemm_matches_reference_for_all_transpose_cases(Transpose ta, Transpose tb, int m, int n, int k)
    {
        // Leading dimensions wider than the logical rows, to test strides.
        int lda = (ta == Transpose.No ? k : m) + 3, ldb = (tb == Transpose.No ? n : k) + 5, ldc = n + 2;
        int aRows = ta == Transpose.No ? m : k, bRows = tb == Transpose.No ? k : n;
        var a = RandomArray(aRows * lda, 1);
        var b = RandomArray(bRows * ldb, 2);
        var c0 = RandomArray(m * ldc, 3);
        foreach (var (alpha, beta) in new[] { (1f, 0f), (0.5f, 1f), (2f, -0.25f) })
        {
            var expected = (float[])c0.Clone();
            var actual = (float[])c0.Clone();
            ReferenceKernels.Sgemm(ta, tb, m, n, k, a, lda, b, ldb, expected, ldc, alpha, beta);
            Sgemm.Multiply(ta, tb, m, n, k, a, lda, b, ldb, actual, ldc, alpha, beta);
            AssertClose(expected, actual, 1e-4f, $"C ({ta},{tb},{m}x{n}x{k},alpha={alpha},beta={beta})");
        }
    }

    [Fact]
    public void Sgemm_rejects_too_small_buffers()
    {
        var a = new float[10];
        Assert.Throws<ArgumentException>(() => Sgemm.Multiply(Transpose.No, Transpose.No, 4, 4, 4, a, 4, new float[16], 4, new float[16], 4));
    }

    [Theory]
    [InlineData(WeightFormat.F32, 1)]
    [InlineData(WeightFormat.F32, 3)]
    [InlineData(WeightFormat.F32, 40)]
    [InlineData(WeightFormat.Bf16, 1)]
    [InlineData(WeightFormat.Bf16, 40)]
    [InlineData(WeightFormat.Int8, 1)]
    [InlineData(WeightFormat.Int8, 8)]
    [InlineData(WeightFormat.Int8, 40)]
    public void WeightMatrix_multiply_matches_reference_on_its_stored_values(WeightFormat format, int m)
    {
        int rows = 2071, cols = 130; // more rows than one SGEMM N block
        var w = WeightMatrix.FromF32(RandomArray(rows * cols, 4, 0.1f), rows, cols).ConvertTo(format);
        var x = RandomArray(m * cols, 5);
        var expected = new float[m * rows];
        // The reference multiplies by the weights as stored (widened/dequantized), so the kernel itself is exact to fp32.
        ReferenceKernels.MatMulTransposed(x, m, w.ToFloat(), rows, cols, expected);
        var actual = new float[m * rows];
        w.MultiplyTransposed(x, m, actual);
        AssertClose(expected, actual, 1e-4f, $"{format} m={m}");
    }

    [Fact]
    public void Int8_quantization_error_is_bounded_by_half_a_step_per_row()
    {
        int rows = 17, cols = 64;
        var f = RandomArray(rows * cols, 6);
        var (q, s) = Int8Weights.Quantize(f, rows, cols);
        var back = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            Int8Weights.Dequantize(q.AsSpan(r * cols, cols), s[r], back);
            for (int i = 0; i < cols; i++) Assert.True(Math.Abs(back[i] - f[r * cols + i]) <= s[r] * 0.5001f);
        }
    }

    [Theory]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(64)]
    [InlineData(77)]
    public unsafe void Bf16_dot_matches_the_widened_scalar_sum_on_every_vector_width(int n)
    {
        var x = RandomArray(n, 3);
        var bits = new ushort[n];
        Bf16.FromFloat(RandomArray(n, 4), bits);
        double expected = 0;
        for (int i = 0; i < n; i++) expected += x[i] * (double)Bf16.ToFloat(bits[i]);
        fixed (float* px = x)
        fixed (ushort* pw = bits)
            Assert.Equal(expected, Bf16.Dot(px, pw, n), 1e-4);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(40)]
    [InlineData(64)]
    [InlineData(101)]
    public unsafe void Int8_dot_matches_the_scalar_sum_on_every_vector_width(int n)
    {
        var x = RandomArray(n, 5);
        var rng = new Random(6);
        var q = new sbyte[n];
        for (int i = 0; i < n; i++) q[i] = (sbyte)rng.Next(-127, 128);
        double expected = 0;
        for (int i = 0; i < n; i++) expected += x[i] * (double)q[i];
        fixed (float* px = x)
        fixed (sbyte* pq = q)
            Assert.Equal(expected, Int8Weights.Dot(px, pq, n), 2e-3);
    }

    [Fact]
    public void Bf16_round_trips_and_rounds_to_nearest_even()
    {
        Assert.Equal(0x3F80, Bf16.FromFloat(1f));
        Assert.Equal(1f, Bf16.ToFloat(0x3F80));
        // 1 + 2^-8 is exactly half-way between bf16 1.0 and 1.0078125: ties to even (1.0).
        Assert.Equal(0x3F80, Bf16.FromFloat(1f + 1f / 256));
        // 1 + 3·2^-8 is half-way between 1.0078125 (odd mantissa) and 1.015625: ties to even (1.015625).
        Assert.Equal(0x3F82, Bf16.FromFloat(1f + 3f / 256));
        Assert.True(float.IsNaN(Bf16.ToFloat(Bf16.FromFloat(float.NaN))));
        var src = RandomArray(77, 7);
        var bits = new ushort[77];
        Bf16.FromFloat(src, bits);
        var wide = new float[77];
        Bf16.ToFloat(bits, wide);
        for (int i = 0; i < 77; i++)
        {
            Assert.Equal(Bf16.ToFloat(bits[i]), wide[i]);
            Assert.True(Math.Abs(wide[i] - src[i]) <= Math.Abs(src[i]) / 256f);
        }
    }

    [Fact]
    public void RmsNorm_matches_reference()
    {
        int d = 67;
        var x = RandomArray(5 * d, 8, 3f);
        var w = RandomArray(d, 9);
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        ReferenceKernels.RmsNorm(x, w, 1e-5f, expected);
        Ops.RmsNorm(x, w, 1e-5f, actual);
        AssertClose(expected, actual, 1e-5f);
    }

    [Fact]
    public void Softmax_matches_reference_and_survives_large_inputs()
    {
        var x = RandomArray(101, 10, 50f);
        x[3] = 1000f;
        var expected = (float[])x.Clone();
        ReferenceKernels.Softmax(expected);
        Ops.Softmax(x);
        AssertClose(expected, x, 1e-5f);
        Assert.InRange(x.Sum(), 0.9999f, 1.0001f);
    }

    [Fact]
    public void SwiGlu_matches_reference_also_in_place()
    {
        var g = RandomArray(1111, 11, 6f);
        var u = RandomArray(1111, 12, 2f);
        var expected = new float[1111];
        var actual = new float[1111];
        ReferenceKernels.SwiGlu(g, u, expected);
        Ops.SwiGlu(g, u, actual);
        AssertClose(expected, actual, 1e-5f);
        // The model writes the result over the gate buffer.
        Ops.SwiGlu(g, u, g);
        AssertClose(expected, g, 1e-5f);
    }

    [Fact]
    public void Rope_matches_reference_at_many_positions()
    {
        int heads = 3, hd = 16;
        var rope = new RotaryEmbedding(hd, 10000);
        foreach (int pos in new[] { 0, 1, 7, 100, 3000 })
        {
            var x = RandomArray(heads * hd, 13 + pos);
            var expected = (float[])x.Clone();
            ReferenceKernels.Rope(expected, heads, hd, pos, rope.InverseFrequencies);
            rope.Apply(x, heads, pos);
            AssertClose(expected, x, 2e-5f, $"pos {pos}");
        }
        // Position 0 is the identity.
        var y = RandomArray(hd, 99);
        var y0 = (float[])y.Clone();
        rope.Apply(y, 1, 0);
        Assert.Equal(y0, y);
    }

    [Fact]
    public void Rope_inverse_frequencies_follow_hf_default_and_llama3_scaling()
    {
        int hd = 64;
        var plain = new RotaryEmbedding(hd, 500000);
        for (int i = 0; i < hd / 2; i++)
            Assert.Equal(1.0 / Math.Pow(500000, 2.0 * i / hd), plain.InverseFrequencies[i], 1e-6 * plain.InverseFrequencies[i] + 1e-12);

        var scaling = new RopeScaling { Type = "llama3", Factor = 32, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = 8192 };
        var scaled = new RotaryEmbedding(hd, 500000, scaling);
        // HF _compute_llama3_parameters, restated: wavelen < 8192/4 unchanged; > 8192/1 divided by factor; else smoothed.
        for (int i = 0; i < hd / 2; i++)
        {
            double f = plain.InverseFrequencies[i], wavelen = 2 * Math.PI / f, expected;
            if (wavelen < 2048) expected = f;
            else if (wavelen > 8192) expected = f / 32;
            else
            {
                double smooth = (8192 / wavelen - 1) / (4 - 1);
                expected = (1 - smooth) * f / 32 + smooth * f;
            }
            Assert.Equal(expected, scaled.InverseFrequencies[i], 1e-6 * expected);
        }
        Assert.Contains(Enumerable.Range(0, hd / 2), i => scaled.InverseFrequencies[i] != plain.InverseFrequencies[i]);
        Assert.Throws<OpenBookException>(() => new RotaryEmbedding(hd, 10000, new RopeScaling { Type = "yarn", Factor = 4 }));
    }

    [Theory]
    [InlineData(4, 4, 0, 5, 0)]   // MHA, prefill from 0
    [InlineData(6, 2, 0, 9, 0)]   // GQA group 3
    [InlineData(8, 2, 7, 3, 0)]   // GQA continuing after 7 cached tokens
    [InlineData(4, 1, 2, 10, 4)]  // MQA with sliding window 4
    public void Causal_attention_matches_reference(int heads, int kvHeads, int start, int tokens, int window)
    {
        int cap = 20;
        foreach (int hd in new[] { 24, 64 }) // 24: portable path; 64: Vector512 path where available
        {
            var q = RandomArray(tokens * heads * hd, 20);
            var k = RandomArray(kvHeads * cap * hd, 21);
            var v = RandomArray(kvHeads * cap * hd, 22);
            var expected = new float[tokens * heads * hd];
            var actual = new float[tokens * heads * hd];
            ReferenceKernels.CausalAttention(q, tokens, start, heads, kvHeads, hd, k, v, cap, window, expected);
            Attention.Causal(q, tokens, start, heads, kvHeads, hd, k, v, cap, window, actual);
            AssertClose(expected, actual, 1e-5f, $"headDim {hd}");
        }
    }

    [Fact]
    public void Argmax_returns_first_maximum()
    {
        Assert.Equal(2, Ops.Argmax([1f, 3f, 5f, 5f, -1f]));
    }
}
