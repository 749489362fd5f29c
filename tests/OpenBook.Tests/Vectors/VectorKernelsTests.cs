using OpenBook.Retrieval.Vectors;

namespace OpenBook.Tests.Vectors;

public class VectorKernelsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(33)]
    [InlineData(384)]
    [InlineData(1000)]
    public void Kernels_match_scalar_reference_for_every_length(int n)
    {
        var rng = new Random(n);
        var a = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var b = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        double tol = 1e-4 * n;
        Assert.Equal(-VectorTestData.Distance(a, b, VectorMetric.DotProduct), VectorKernels.Dot(a, b), tol);
        Assert.Equal(VectorTestData.Distance(a, b, VectorMetric.L2), VectorKernels.L2Squared(a, b), tol);
        Assert.Equal(1 - VectorTestData.Distance(a, b, VectorMetric.Cosine), VectorKernels.Cosine(a, b), 1e-4);
    }

    [Fact]
    public void Normalize_gives_unit_length_and_keeps_zero_vectors()
    {
        var v = new float[] { 3, 4 };
        VectorKernels.Normalize(v);
        Assert.Equal(0.6f, v[0], 5);
        Assert.Equal(0.8f, v[1], 5);
        var z = new float[5];
        VectorKernels.Normalize(z);
        Assert.All(z, x => Assert.Equal(0f, x));
    }

    [Fact]
    public void Mismatched_lengths_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => VectorKernels.Dot(new float[3], new float[4]));
    }
}

public class XxHash64Tests
{
    [Theory]
    [InlineData("", 0xEF46DB3751D8E999UL)]
    [InlineData("abc", 0x44BC2CF5AD770999UL)]
    public void Matches_reference_vectors(string text, ulong expected) =>
        Assert.Equal(expected, OpenBook.Retrieval.Vectors.XxHash64.Hash(System.Text.Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void Streaming_in_odd_chunks_equals_one_shot()
    {
        var data = new byte[1000];
        new Random(1).NextBytes(data);
        ulong whole = OpenBook.Retrieval.Vectors.XxHash64.Hash(data);
        var h = new OpenBook.Retrieval.Vectors.XxHash64();
        int pos = 0;
        foreach (int len in new[] { 1, 7, 31, 32, 33, 64, 100, 3, 729 })
        {
            h.Append(data.AsSpan(pos, len));
            pos += len;
        }
        Assert.Equal(1000, pos);
        Assert.Equal(whole, h.Digest());
    }
}
