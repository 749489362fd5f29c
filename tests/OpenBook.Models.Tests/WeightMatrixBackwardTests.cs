using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.Tests;

/// <summary>
/// <see cref="WeightMatrix.Multiply"/> (dy·W, the input gradient of a frozen linear) and <see cref="WeightMatrix.MultiplyTransposed"/>
/// in every storage format against the scalar reference on the dequantised weights: odd shapes, several K blocks, more than
/// one N chunk, the streaming and the SGEMM paths, beta ≠ 0.
/// </summary>
public class WeightMatrixBackwardTests
{
    public static TheoryData<WeightFormat, int, int> Shapes()
    {
        var data = new TheoryData<WeightFormat, int, int>();
        foreach (var format in Enum.GetValues<WeightFormat>())
        {
            data.Add(format, 70, 45);    // odd columns: NF4 rows start mid-byte and straddle blocks
            data.Add(format, 300, 64);   // k = 300 > KC for dy·W (two K blocks), NF4 rows aligned with blocks
            data.Add(format, 33, 1090);  // n = 1090 > NC for dy·W (two N chunks), ragged last panel
        }
        return data;
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * (1 + Math.Abs(expected[i])), $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Input_gradient_matches_the_reference(WeightFormat format, int rows, int cols)
    {
        var w = WeightMatrix.FromF32(Nf4Tests.Normal(rows * cols, rows + cols, 0.1f), rows, cols).ConvertTo(format);
        var dense = w.ToFloat();
        foreach (int m in new[] { 1, 9, 97 })
        foreach (float beta in new[] { 0f, 1f, -0.5f })
        {
            var dy = Nf4Tests.Normal(m * rows, m + 1);
            var dx = Nf4Tests.Normal(m * cols, m + 2);
            var expected = (float[])dx.Clone();
            ReferenceKernels.Sgemm(Transpose.No, Transpose.No, m, cols, rows, dy, rows, dense, cols, expected, cols, 1f, beta);
            w.Multiply(dy, m, dx, beta);
            AssertClose(expected, dx, $"{format} {rows}×{cols} m={m} beta={beta} dx");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_product_matches_the_reference(WeightFormat format, int rows, int cols)
    {
        var w = WeightMatrix.FromF32(Nf4Tests.Normal(rows * cols, rows * cols, 0.1f), rows, cols).ConvertTo(format);
        var dense = w.ToFloat();
        foreach (int m in new[] { 1, WeightMatrix.SmallBatchRows, 41 }) // streaming (≤ SmallBatchRows) and packed SGEMM
        {
            var x = Nf4Tests.Normal(m * cols, m + 3);
            var y = Nf4Tests.Normal(m * rows, m + 4);
            var expected = (float[])y.Clone();
            ReferenceKernels.Sgemm(Transpose.No, Transpose.Yes, m, rows, cols, x, cols, dense, cols, expected, rows, 1f, 0.5f);
            w.MultiplyTransposed(x, m, y, beta: 0.5f);
            AssertClose(expected, y, $"{format} {rows}×{cols} m={m} y");
        }
    }

    [Theory]
    [InlineData(WeightFormat.Bf16)]
    [InlineData(WeightFormat.Nf4)]
    public void Several_products_of_one_input_match_one_at_a_time(WeightFormat format)
    {
        int cols = 96, m = 3;
        var matrices = new[] { 64, 130 }.Select((r, i) => WeightMatrix.FromF32(Nf4Tests.Normal(r * cols, 20 + i, 0.1f), r, cols).ConvertTo(format)).ToArray();
        var x = Nf4Tests.Normal(m * cols, 22);
        var outputs = matrices.Select(w => new float[m * w.Rows]).ToArray();
        WeightMatrix.MultiplyTransposedMany(x, m, matrices, outputs);
        for (int i = 0; i < matrices.Length; i++)
        {
            var single = new float[m * matrices[i].Rows];
            matrices[i].MultiplyTransposed(x, m, single);
            Assert.Equal(single, outputs[i]);
        }
    }

    [Fact]
    public void Shape_errors_name_the_operand()
    {
        var w = WeightMatrix.FromF32(new float[6], 2, 3).ConvertTo(WeightFormat.Nf4);
        Assert.Contains("dy", Assert.Throws<ArgumentException>(() => w.Multiply(new float[3], 2, new float[6])).Message);
        Assert.Contains("dx", Assert.Throws<ArgumentException>(() => w.Multiply(new float[4], 2, new float[5])).Message);
    }
}
