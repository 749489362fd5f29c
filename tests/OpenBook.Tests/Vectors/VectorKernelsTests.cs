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

/// <summary>One index-file container for BM25, vector indexes and vector records: versioned, checksummed, atomic.</summary>
public class IndexFileContainerTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100_003)]
    public void A_blob_round_trips_through_the_container(int length)
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "x.idx");
        var data = new byte[length];
        new Random(length).NextBytes(data);
        OpenBook.Storage.IndexFile.WriteAtomic(path, OpenBook.Storage.IndexFileKind.Bm25, w => w.Write(data));
        Assert.Equal(data, OpenBook.Storage.IndexFile.ReadVerified(path, OpenBook.Storage.IndexFileKind.Bm25));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void A_flipped_byte_or_another_kind_is_refused()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "x.idx");
        OpenBook.Storage.IndexFile.WriteAtomic(path, OpenBook.Storage.IndexFileKind.Bm25, w => w.Write(new byte[500]));
        var kind = Assert.Throws<OpenBook.Storage.IndexFileException>(() => OpenBook.Storage.IndexFile.ReadVerified(path, OpenBook.Storage.IndexFileKind.VectorRecords));
        Assert.Contains("holds a Bm25 index", kind.Reason);
        var bytes = File.ReadAllBytes(path);
        bytes[^10] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var corrupt = Assert.Throws<OpenBook.Storage.IndexFileException>(() => OpenBook.Storage.IndexFile.ReadVerified(path, OpenBook.Storage.IndexFileKind.Bm25));
        Assert.Contains("checksum mismatch", corrupt.Reason);
    }
}
