using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.Tests;

public class Nf4Tests
{
    private static float[] Normal(int n, int seed, float std = 1f)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())) * std).ToArray();
    }

    [Theory]
    [InlineData(64 * 300)]
    [InlineData(1000)]   // not a multiple of the block
    [InlineData(64 * 256 * 2 + 37)] // more than one absmax group
    public void Round_trip_error_is_within_the_blockwise_bound(int n)
    {
        var w = Normal(n, n, 0.05f);
        var q = Nf4.Quantize(w);
        var back = new float[n];
        Nf4.Dequantize(q, 0, back);
        int blocks = (n + Nf4.BlockSize - 1) / Nf4.BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            int start = b * Nf4.BlockSize, end = Math.Min(n, start + Nf4.BlockSize);
            float absmax = 0;
            for (int i = start; i < end; i++) absmax = Math.Max(absmax, Math.Abs(w[i]));
            float stored = q.BlockAbsmax(b);
            float scaleError = q.AbsmaxScales[b / Nf4.AbsmaxGroup] / 2 * 1.0001f;
            Assert.True(Math.Abs(stored - absmax) <= scaleError + 1e-7f, $"block {b}: absmax {absmax} stored {stored}");
            float bound = stored * Nf4.MaxGap / 2 + Math.Abs(stored - absmax) + 1e-6f;
            for (int i = start; i < end; i++) Assert.True(Math.Abs(w[i] - back[i]) <= bound, $"{i}: {w[i]} → {back[i]} (bound {bound})");
        }
        // NF4 spends its levels on a normal distribution: the typical error is far below the worst case.
        double rms = Math.Sqrt(w.Zip(back, (a, c) => (double)(a - c) * (a - c)).Average());
        double std = Math.Sqrt(w.Average(v => (double)v * v));
        Assert.InRange(rms / std, 0.01, 0.15);
    }

    [Fact]
    public void Values_on_the_levels_and_zero_blocks_reconstruct_exactly()
    {
        var w = new float[128];
        for (int i = 0; i < 64; i++) w[i] = Nf4.Levels[i % 16] * 0.5f; // absmax 0.5 reached by level ±1
        var q = Nf4.Quantize(w);
        var back = new float[128];
        Nf4.Dequantize(q, 0, back);
        // With two blocks (absmax 0.5 and 0) the absmax mean is 0.25 and both quantise exactly.
        for (int i = 0; i < 128; i++) Assert.Equal(w[i], back[i], 6);
    }

    [Fact]
    public void Nf4_storage_is_about_an_eighth_of_fp32()
    {
        var m = WeightMatrix.FromF32(Normal(1536 * 576, 1, 0.02f), 1536, 576).ConvertTo(WeightFormat.Nf4);
        double ratio = (double)m.ByteSize / (1536 * 576 * 4);
        Assert.InRange(ratio, 0.12, 0.14); // 0.5 byte per value + 1 byte per 64 values + 4 bytes per 16384
    }

    [Theory]
    [InlineData(WeightFormat.F32)]
    [InlineData(WeightFormat.Bf16)]
    [InlineData(WeightFormat.Int8)]
    [InlineData(WeightFormat.Nf4)]
    public void Products_match_the_dequantised_reference(WeightFormat format)
    {
        int rows = 70, cols = 45;
        var w = WeightMatrix.FromF32(Normal(rows * cols, 3, 0.1f), rows, cols).ConvertTo(format);
        var dense = w.ToFloat();
        foreach (int m in new[] { 3, 33 })
        {
            var x = Normal(m * cols, 5);
            var y = Normal(m * rows, 6);
            var expectedY = (float[])y.Clone();
            ReferenceKernels.Sgemm(Kernels.Transpose.No, Kernels.Transpose.Yes, m, rows, cols, x, cols, dense, cols, expectedY, rows, 1f, 0.5f);
            w.MultiplyTransposed(x, m, y, beta: 0.5f);
            for (int i = 0; i < y.Length; i++) Assert.Equal(expectedY[i], y[i], 3);

            var dy = Normal(m * rows, 7);
            var dx = Normal(m * cols, 8);
            var expectedDx = (float[])dx.Clone();
            ReferenceKernels.Sgemm(Kernels.Transpose.No, Kernels.Transpose.No, m, cols, rows, dy, rows, dense, cols, expectedDx, cols, 1f, 1f);
            w.Multiply(dy, m, dx, beta: 1f);
            for (int i = 0; i < dx.Length; i++) Assert.Equal(expectedDx[i], dx[i], 3);
        }
        var row = new float[cols];
        w.ReadRow(17, row);
        Assert.Equal(dense.AsSpan(17 * cols, cols).ToArray(), row);
    }
}
