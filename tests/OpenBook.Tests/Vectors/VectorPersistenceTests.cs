using OpenBook.Retrieval.Vectors;

namespace OpenBook.Tests.Vectors;

public class VectorPersistenceTests
{
    private const int Dims = 16, N = 1500;

    private static HnswIndex BuildHnsw(float[] data)
    {
        var h = new HnswIndex(Dims, VectorMetric.Cosine, new HnswOptions { M = 8, EfConstruction = 64 });
        h.AddRange(Enumerable.Range(0, N).Select(i => (long)i + 10).ToArray(), data, threads: 1);
        return h;
    }

    [Fact]
    public void Hnsw_round_trip_gives_identical_results_and_stays_writable()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "v.obvec");
        var data = VectorTestData.Clustered(N, Dims);
        var queries = VectorTestData.Clustered(30, Dims, seed: 3);
        using var original = BuildHnsw(data);
        for (int i = 0; i < 100; i++) original.Remove(10 + i * 7);
        original.Save(path, stamp: 42);
        Assert.False(Directory.EnumerateFiles(dir.Path, "*.tmp", SearchOption.AllDirectories).Any());

        using var loaded = HnswIndex.Open(path, expectedDimensions: Dims, expectedMetric: VectorMetric.Cosine);
        Assert.Equal(original.Count, loaded.Count);
        Assert.Equal(original.NodeCount, loaded.NodeCount);
        for (int i = 0; i < 30; i++)
        {
            var q = queries.AsSpan(i * Dims, Dims);
            Assert.Equal(original.Search(q, 10), loaded.Search(q, 10));
        }
        Assert.False(loaded.Contains(10));
        // writes after loading (growth moves the mapped arrays into owned memory)
        for (int i = 0; i < 200; i++) loaded.Add(100_000 + i, VectorTestData.Row(data, i, Dims));
        Assert.True(loaded.Remove(11));
        Assert.Equal(original.Count + 200 - 1, loaded.Count);
        Assert.Contains(loaded.Search(VectorTestData.Row(data, 3, Dims), 3), h => h.Id == 100_003);
        // saving over the file that is still mapped by `loaded` is fine (rename, not overwrite in place)
        loaded.Save(path);
        using var again = VectorIndex.Open(path);
        Assert.IsType<HnswIndex>(again);
        Assert.Equal(loaded.Count, again.Count);
    }

    [Fact]
    public void Flat_round_trip()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "flat.obvec");
        var data = VectorTestData.Clustered(300, Dims);
        using var flat = new FlatIndex(Dims, VectorMetric.L2);
        for (int i = 0; i < 300; i++) flat.Add(i * 2, VectorTestData.Row(data, i, Dims));
        flat.Save(path);
        using var loaded = VectorIndex.Open(path, Dims, VectorMetric.L2);
        Assert.IsType<FlatIndex>(loaded);
        var q = VectorTestData.Row(data, 7, Dims);
        Assert.Equal(flat.Search(q, 5), loaded.Search(q, 5));
    }

    [Fact]
    public void Damaged_files_give_clear_errors()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "v.obvec");
        using (var h = BuildHnsw(VectorTestData.Clustered(N, Dims))) h.Save(path);
        byte[] good = File.ReadAllBytes(path);

        string Fail(byte[] bytes, Func<string, IVectorIndex>? open = null)
        {
            File.WriteAllBytes(path, bytes);
            var ex = Assert.Throws<OpenBook.Storage.IndexFileException>(() => (open ?? (p => HnswIndex.Open(p)))(path).Dispose());
            Assert.Contains(path, ex.Message);
            Assert.IsAssignableFrom<OpenBookException>(ex);
            return ex.Reason;
        }

        Assert.Contains("truncated", Fail(good[..(good.Length / 2)]));
        Assert.Contains("truncated", Fail(good[..100]));
        var flipped = (byte[])good.Clone();
        flipped[good.Length - 1000] ^= 0x40;
        Assert.Contains("checksum", Fail(flipped));
        var badMagic = (byte[])good.Clone();
        badMagic[0] = (byte)'X';
        Assert.Contains("not an OpenBook index file", Fail(badMagic));
        var badVersion = (byte[])good.Clone();
        badVersion[8] = 99;
        Assert.Contains("version 99", Fail(badVersion));
        Assert.Contains("dimensions", Fail(good, p => HnswIndex.Open(p, expectedDimensions: Dims + 1)));
        Assert.Contains("metric", Fail(good, p => HnswIndex.Open(p, expectedMetric: VectorMetric.L2)));
        Assert.Contains("Flat", Fail(good, p => FlatIndex.Open(p)));
        // a corrupt link with the checksum check skipped is still caught by validation
        var badLink = (byte[])good.Clone();
        using (var h = HnswIndex.Open(WriteTemp(dir, good))) { }
        int linksOffset = (int)BitConverter.ToInt64(good, 96 + 16 * 4);
        BitConverter.GetBytes(N + 5).CopyTo(badLink, linksOffset + 4);
        Assert.Contains("links to node", Fail(badLink, p => HnswIndex.Open(p, verifyChecksum: false)));
        File.Delete(path);
        Assert.Contains("missing", Assert.Throws<OpenBook.Storage.IndexFileException>(() => VectorIndex.Open(path)).Reason);
    }

    private static string WriteTemp(TempDir dir, byte[] bytes)
    {
        string p = Path.Combine(dir.Path, "copy.obvec");
        File.WriteAllBytes(p, bytes);
        return p;
    }
}
