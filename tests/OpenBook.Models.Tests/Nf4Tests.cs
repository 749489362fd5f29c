using OpenBook.Models.Architectures;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;
using OpenBook.Models.Tests.FineTuning;

namespace OpenBook.Models.Tests;

public class Nf4Tests
{
    internal static float[] Normal(int n, int seed, float std = 1f)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())) * std).ToArray();
    }

    private static float[] Dequantized(Nf4.Quantized q)
    {
        var back = new float[q.Length];
        Nf4.Dequantize(q, 0, back);
        return back;
    }

    [Fact]
    public void Level_table_and_absmax_map_are_bitsandbytes()
    {
        Assert.Equal(16, Nf4.Levels.Length);
        Assert.Equal(-1f, Nf4.Levels[0]);
        Assert.Equal(0f, Nf4.Levels[7]);
        Assert.Equal(1f, Nf4.Levels[15]);
        Assert.Equal(0.3038072f, Nf4.MaxGap, 6); // between −1 and −0.6961928

        // create_dynamic_map(signed=True): 127 positive and 127 negative fraction values, 0 and 1.
        var map = Nf4.AbsmaxCode;
        Assert.Equal(256, map.Length);
        Assert.Equal(256, map.Distinct().Count());
        for (int i = 1; i < 256; i++) Assert.True(map[i] > map[i - 1]);
        Assert.Equal(1f, map[255]);
        Assert.Equal(0f, map[127]);
        Assert.Equal(127, map.Count(v => v < 0));
        Assert.Equal(-0.99296875f, map[0], 6);          // −(0.1 + 0.9·63.5/64)
        Assert.Equal(0.55e-6f, map[128], 12);            // 10⁻⁶ · (0.1 + 1)/2, the only 10⁻⁶ entry
        Assert.Equal(0.9 / 64, Nf4.AbsmaxCodeMaxGap, 5); // the 64 steps of [0.1, 1] at exponent 10⁰
    }

    [Theory]
    [InlineData(64 * 300)]
    [InlineData(1000)]              // not a multiple of the block
    [InlineData(64 * 256 * 2 + 37)] // three absmax groups, the last one partial
    [InlineData(1)]
    public void Round_trip_error_is_within_the_derived_bound(int n)
    {
        // Absmax values vary from block to block (per-block std), so the double quantisation is really exercised.
        var w = Normal(n, n, 0.05f);
        for (int i = 0; i < n; i++) w[i] *= 0.2f + (i / Nf4.BlockSize % 7) * 0.3f;
        var q = Nf4.Quantize(w);
        var back = Dequantized(q);
        for (int b = 0; b < q.Blocks; b++)
        {
            int start = b * Nf4.BlockSize, end = Math.Min(n, start + Nf4.BlockSize);
            float absmax = 0;
            for (int i = start; i < end; i++) absmax = Math.Max(absmax, Math.Abs(w[i]));
            float stored = q.BlockAbsmax(b);
            // |a − â| ≤ s·G/2 (nearest entry of the 8-bit map, s = the group's max |absmax − mean|); slack for float rounding.
            float absmaxBound = q.AbsmaxScales[b / Nf4.AbsmaxGroup] * Nf4.AbsmaxCodeMaxGap / 2 + 1e-7f;
            Assert.True(Math.Abs(stored - absmax) <= absmaxBound, $"block {b}: absmax {absmax} stored {stored} (bound {absmaxBound})");
            // |w − ŵ| ≤ a·g/2 + |a − â|.
            float bound = absmax * Nf4.MaxGap / 2 + absmaxBound + 1e-6f;
            for (int i = start; i < end; i++) Assert.True(Math.Abs(w[i] - back[i]) <= bound, $"{i}: {w[i]} → {back[i]} (bound {bound})");
        }
        if (n < 1000) return;
        // NF4 spends its levels on a normal distribution: the typical error is far below the worst case.
        double rms = Math.Sqrt(w.Zip(back, (a, c) => (double)(a - c) * (a - c)).Average());
        double std = Math.Sqrt(w.Average(v => (double)v * v));
        Assert.InRange(rms / std, 0.03, 0.15);
    }

    [Fact]
    public void Values_on_the_levels_keep_their_codes_and_reconstruct_exactly_when_the_absmax_does()
    {
        // Equal absmax in every block: deviations from the mean are 0, so â == a and level·a comes back bit for bit.
        int n = 64 * 40;
        var rng = new Random(2);
        var codes = new int[n];
        var w = new float[n];
        for (int i = 0; i < n; i++)
        {
            codes[i] = i % Nf4.BlockSize == 0 ? 15 : rng.Next(16); // every block reaches its absmax with level +1
            w[i] = Nf4.Levels[codes[i]] * 0.375f;
        }
        var q = Nf4.Quantize(w);
        Assert.Equal(w, Dequantized(q));

        // Varying absmax: codes are still exact (chosen against the exact absmax), values are level·â.
        for (int i = 0; i < n; i++) w[i] = Nf4.Levels[codes[i]] * (0.1f + i / Nf4.BlockSize * 0.05f);
        q = Nf4.Quantize(w);
        var back = Dequantized(q);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(codes[i], q.Code(i));
            Assert.Equal(Nf4.Levels[codes[i]] * q.BlockAbsmax(i / Nf4.BlockSize), back[i]);
        }
    }

    [Fact]
    public void Zero_blocks_reconstruct_exactly_next_to_large_ones()
    {
        var w = new float[64 * 5 + 10];
        Normal(64, 1, 3f).CopyTo(w, 64);      // block 1 large
        Normal(10, 2, 0.01f).CopyTo(w, 64 * 5); // partial last block small
        var back = Dequantized(Nf4.Quantize(w));
        foreach (int b in new[] { 0, 2, 3, 4 })
            for (int i = b * 64; i < (b + 1) * 64; i++) Assert.Equal(0f, back[i]);
        Assert.All(Dequantized(Nf4.Quantize(new float[77])), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Codes_are_packed_high_nibble_first_and_ties_go_to_the_lower_level()
    {
        var q = Nf4.Quantize([1f, -1f, 0f]);
        Assert.Equal(0xF0, q.Codes[0]);
        Assert.Equal(0x70, q.Codes[1]); // element 2 (level 0 = code 7) in the high nibble; the pad nibble stays 0
        float midpoint = (Nf4.Levels[7] + Nf4.Levels[8]) / 2;
        q = Nf4.Quantize([1f, midpoint, MathF.BitIncrement(midpoint)]);
        Assert.Equal(7, q.Code(1));
        Assert.Equal(8, q.Code(2));
    }

    [Fact]
    public void Partial_ranges_dequantise_like_the_whole_tensor()
    {
        // Odd starts, block-crossing runs and runs long enough for the vector path (32 codes at a time).
        var q = Nf4.Quantize(Normal(64 * 9 + 21, 4, 0.3f));
        var all = Dequantized(q);
        foreach (var (start, count) in new[] { (0, 597), (1, 63), (3, 200), (64, 64), (95, 130), (150, 447), (596, 1), (33, 32) })
        {
            var part = new float[count];
            Nf4.Dequantize(q, start, part);
            Assert.Equal(all.AsSpan(start, count).ToArray(), part);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => Nf4.Dequantize(q, 590, new float[8]));
    }

    [Theory]
    [InlineData(1536, 576)] // SmolLM2-135M MLP
    [InlineData(7, 9)]      // one partial block
    public void Byte_size_counts_codes_absmax_scales_and_mean(int rows, int cols)
    {
        var m = WeightMatrix.FromF32(Normal(rows * cols, 1, 0.02f), rows, cols).ConvertTo(WeightFormat.Nf4);
        long n = (long)rows * cols, blocks = (n + 63) / 64, groups = (blocks + 255) / 256;
        Assert.Equal((n + 1) / 2 + blocks + 4 * groups + 4, m.ByteSize);
        if (n > 100_000) Assert.InRange((double)m.ByteSize / (n * 4), 0.1289, 0.1290); // (½ + 1/64 + 4/16384) / 4 bytes
    }

    [Fact]
    public void ToFloat_and_ReadRow_match_Dequantize()
    {
        int rows = 13, cols = 37; // odd: rows start at odd flat indices and straddle blocks
        var w = Normal(rows * cols, 9, 0.1f);
        var m = WeightMatrix.FromF32(w, rows, cols).ConvertTo(WeightFormat.Nf4);
        var expected = Dequantized(Nf4.Quantize(w));
        Assert.Equal(expected, m.ToFloat());
        var row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            m.ReadRow(r, row);
            Assert.Equal(expected.AsSpan(r * cols, cols).ToArray(), row);
        }
    }

    [Fact]
    public void ConvertLinears_quantises_only_the_decoder_projections()
    {
        var model = TinyModels.Model(TinyModels.Config(tied: false));
        var embedding = model.EmbedTokens;
        var head = model.LmHead.Weight;
        long fp32 = model.FrozenLinearBytes();
        Assert.Equal(model.FrozenLinearParameters() * 4, fp32);
        model.ConvertLinears(WeightFormat.Nf4);
        Assert.All(model.Layers.SelectMany(l => l.Linears()), l => Assert.Equal(WeightFormat.Nf4, l.Weight.Format));
        Assert.Same(embedding, model.EmbedTokens);
        Assert.Same(head, model.LmHead.Weight);
        Assert.Equal(model.Layers.SelectMany(l => l.Linears()).Sum(l => l.Weight.ByteSize), model.FrozenLinearBytes());
        Assert.True(model.FrozenLinearBytes() < 0.3 * fp32, $"{model.FrozenLinearBytes()} vs fp32 {fp32}");
    }

    [Fact]
    public void Nf4_model_gives_the_logits_of_its_dequantised_weights()
    {
        string dir = ModelFixtureTests.FixtureDir("mistral");
        var nf4 = ModelLoader.Load(dir, new ModelLoadOptions { WeightFormat = WeightFormat.Nf4 });
        Assert.All(nf4.Linears(), l => Assert.Equal(WeightFormat.Nf4, l.Weight.Format));
        Assert.Equal(WeightFormat.Nf4, nf4.EmbedTokens.Format);
        var dequantised = ModelLoader.Load(dir, new ModelLoadOptions { WeightFormat = WeightFormat.Nf4 }).ConvertWeights(WeightFormat.F32);
        var f32 = ModelLoader.Load(dir);
        int[] ids = [1, 200, 201, 202, 9, 9, 5, 6, 7, 8, 10, 11]; // 12 > SmallBatchRows: packed SGEMM on NF4 row panels
        float[] Logits(LlamaForCausalLM model)
        {
            var cache = model.CreateCache(1, 16);
            var prefill = model.Forward(ids, cache, LogitsMode.AllPositions);
            return [.. prefill, .. model.Forward([3], cache)]; // + one decode step: the streaming kernel
        }
        var a = Logits(nf4);
        var b = Logits(dequantised);
        float scale = b.Max(Math.Abs);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4f * scale, $"logit {i}: {a[i]} vs {b[i]}");
        // 4-bit everything (embedding included) on a tiny random model: close to fp32, not equal (measured cosine ≈ 0.91).
        var c = Logits(f32);
        double dot = 0, na = 0, nc = 0;
        for (int i = 0; i < a.Length; i++) { dot += a[i] * c[i]; na += a[i] * a[i]; nc += c[i] * c[i]; }
        Assert.InRange(dot / Math.Sqrt(na * nc), 0.8, 0.999);
        Assert.True(nf4.DecodeWeightBytes() * 7 < f32.DecodeWeightBytes());
    }

    [Theory]
    [InlineData("qwen2-bf16")]
    [InlineData("llama-untied-sharded")]
    public void QLoRA_loading_quantises_each_projection_as_read_and_equals_converting_afterwards(string fixture)
    {
        var dir = ModelFixtureTests.FixtureDir(fixture);
        var direct = ModelLoader.Load(dir, OpenBook.Models.FineTuning.FineTuneJob.QLoraLoadOptions);
        var converted = ModelLoader.Load(dir);
        converted.ConvertWeights(WeightFormat.Bf16);
        converted.ConvertLinears(WeightFormat.Nf4);

        Assert.All(direct.Layers.SelectMany(l => l.Linears()), l => Assert.Equal(WeightFormat.Nf4, l.Weight.Format));
        Assert.Equal(WeightFormat.Bf16, direct.EmbedTokens.Format);
        Assert.Equal(WeightFormat.Bf16, direct.LmHead.Weight.Format);
        Assert.Equal(OpenBook.Models.FineTuning.FineTuneJob.FrozenBytes(converted, fp32: false), OpenBook.Models.FineTuning.FineTuneJob.FrozenBytes(direct, fp32: false));
        var tokens = new[] { 1, 5, 9, 2, 7 };
        var a = direct.Forward(tokens, direct.CreateCache(1, tokens.Length), LogitsMode.AllPositions);
        var b = converted.Forward(tokens, converted.CreateCache(1, tokens.Length), LogitsMode.AllPositions);
        if (fixture == "qwen2-bf16")
        {
            Assert.Equal(b, a); // bf16 checkpoint: quantised from the same values
            return;
        }
        // fp32 checkpoint: loading quantises the fp32 values themselves (converting afterwards quantised bf16-rounded ones).
        var fp32 = ModelLoader.Load(dir);
        var expected = fp32.Layers[1].DownProj.Weight.ConvertTo(WeightFormat.Nf4).ToFloat();
        Assert.Equal(expected, direct.Layers[1].DownProj.Weight.ToFloat());
    }
}
