using System.Buffers.Binary;
using OpenBook.Retrieval.Vectors;
using OpenBook.Storage;

namespace OpenBook.Tests.Vectors;

/// <summary>bf16 / int8 storage: kernels against their scalar references, recall against exact search, index files.</summary>
public unsafe class QuantizedVectorTests
{
    private const int Dims = 72, N = 3000; // 72: the SIMD loops run and leave a tail
    private static readonly HnswOptions Small = new() { M = 12, EfConstruction = 100, EfSearch = 64, InitialCapacity = 64 };

    [Fact]
    public void Int8_kernel_matches_its_scalar_reference_at_every_length()
    {
        var rng = new Random(5);
        for (int n = 1; n <= 200; n += 7)
        {
            var u = new byte[n];
            var w = new sbyte[n];
            rng.NextBytes(u);
            for (int i = 0; i < n; i++) w[i] = (sbyte)rng.Next(-63, 64);
            u[0] = 255; w[0] = -63; // extremes: no saturation of the 16-bit pair sums
            fixed (byte* pu = u) fixed (sbyte* pw = w)
                Assert.Equal(VectorKernels.DotU8S8Scalar(pu, pw, n), VectorKernels.DotU8S8(pu, pw, n));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Bf16_kernel_matches_its_scalar_reference(bool l2)
    {
        var rng = new Random(6);
        for (int n = 1; n <= 100; n += 5)
        {
            var q = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
            var b = Enumerable.Range(0, n).Select(_ => VectorKernels.ToBFloat16((float)rng.NextDouble() - 0.5f)).ToArray();
            fixed (float* pq = q) fixed (ushort* pb = b)
            {
                float simd = VectorKernels.DistanceBf16(pq, pb, n, l2), scalar = VectorKernels.DistanceBf16Scalar(pq, pb, n, l2);
                Assert.True(Math.Abs(simd - scalar) <= 1e-4f * Math.Max(1, Math.Abs(scalar)), $"n={n}: {simd} vs {scalar}");
            }
        }
    }

    [Fact]
    public void Bf16_rounds_to_nearest_even()
    {
        Assert.Equal(1f, VectorKernels.FromBFloat16(VectorKernels.ToBFloat16(1f)));
        // 1 + 2^-8 is halfway between two bf16 values (1 and 1 + 2^-7): ties go to the even one, 1
        Assert.Equal(1f, VectorKernels.FromBFloat16(VectorKernels.ToBFloat16(1f + 1f / 256)));
        Assert.Equal(1f + 1f / 128, VectorKernels.FromBFloat16(VectorKernels.ToBFloat16(1f + 1.5f / 256)));
        Assert.Equal(-0.5f, VectorKernels.FromBFloat16(VectorKernels.ToBFloat16(-0.5f)));
        Assert.True(float.IsNaN(VectorKernels.FromBFloat16(VectorKernels.ToBFloat16(float.NaN))));
    }

    private static (HnswIndex Index, FlatIndex Exact, float[] Data) Build(VectorMetric metric, VectorStorage storage)
    {
        var data = VectorTestData.Clustered(N, Dims);
        var hnsw = new HnswIndex(Dims, metric, Small with { Storage = storage });
        var exact = new FlatIndex(Dims, metric, N);
        var ids = Enumerable.Range(0, N).Select(i => (long)i * 5 + 1).ToArray();
        hnsw.AddRange(ids, data, threads: 1);
        for (int i = 0; i < N; i++) exact.Add(ids[i], VectorTestData.Row(data, i, Dims));
        return (hnsw, exact, data);
    }

    [Theory]
    [InlineData(VectorMetric.Cosine, VectorStorage.Int8)]
    [InlineData(VectorMetric.L2, VectorStorage.Int8)]
    [InlineData(VectorMetric.DotProduct, VectorStorage.Int8)]
    [InlineData(VectorMetric.Cosine, VectorStorage.BFloat16)]
    [InlineData(VectorMetric.L2, VectorStorage.BFloat16)]
    public void Quantised_hnsw_recall_against_exact_search_is_high(VectorMetric metric, VectorStorage storage)
    {
        var (hnsw, exact, _) = Build(metric, storage);
        var (f32, _, _) = Build(metric, VectorStorage.Float32);
        using (hnsw) using (exact) using (f32)
        {
            Assert.Equal(storage == VectorStorage.BFloat16, hnsw.SearchesCodes); // int8 needs its range fitted first
            hnsw.TrainQuantizer();
            Assert.True(hnsw.SearchesCodes);
            var queries = VectorTestData.Clustered(200, Dims, seed: 1234);
            double recall = VectorTestData.Recall(exact, q => hnsw.Search(q, 10, null, efSearch: 200), queries, Dims, 10);
            double reference = VectorTestData.Recall(exact, q => f32.Search(q, 10, null, efSearch: 200), queries, Dims, 10);
            Assert.True(recall >= 0.95 && recall >= reference - 0.02, $"{storage} recall@10 {recall:F3}, float32 {reference:F3}");
            // distances are exact (re-ranked from float32), not the codes' approximations
            var q0 = queries.AsSpan(0, Dims).ToArray();
            var hit = hnsw.Search(q0, 1)[0];
            var truth = exact.Search(q0, 1)[0];
            if (hit.Id == truth.Id) Assert.Equal(truth.Distance, hit.Distance, 4);
            // filtered search still honours the filter on the codes (walk and scan)
            var filter = new VectorFilter(id => id % 10 == 1, 0.5);
            Assert.All(hnsw.Search(q0, 10, filter), h => Assert.Equal(1, h.Id % 10));
            hnsw.ExactFallbackSelectivity = 2;
            Assert.All(hnsw.Search(q0, 10, filter), h => Assert.Equal(1, h.Id % 10));
        }
    }

    [Fact]
    public void Without_rerank_int8_orders_worse_than_with_it()
    {
        var (hnsw, exact, _) = Build(VectorMetric.Cosine, VectorStorage.Int8);
        using (hnsw) using (exact)
        {
            hnsw.TrainQuantizer();
            var queries = VectorTestData.Clustered(200, Dims, seed: 99);
            hnsw.RerankCandidates = 10; // k: the codes alone decide the top 10
            double codesOnly = VectorTestData.Recall(exact, q => hnsw.Search(q, 10), queries, Dims, 10);
            hnsw.RerankCandidates = null;
            double reranked = VectorTestData.Recall(exact, q => hnsw.Search(q, 10), queries, Dims, 10);
            Assert.True(reranked > codesOnly, $"re-ranked {reranked:F3}, codes only {codesOnly:F3}");
        }
    }

    [Theory]
    [InlineData(VectorStorage.Int8)]
    [InlineData(VectorStorage.BFloat16)]
    public void Quantised_flat_index_is_near_exact_and_round_trips(VectorStorage storage)
    {
        using var dir = new TempDir();
        var data = VectorTestData.Clustered(N, Dims);
        using var exact = new FlatIndex(Dims, VectorMetric.Cosine, N);
        using var flat = new FlatIndex(Dims, VectorMetric.Cosine, 16, storage);
        for (int i = 0; i < N; i++) { exact.Add(i, VectorTestData.Row(data, i, Dims)); flat.Add(i, VectorTestData.Row(data, i, Dims)); }
        flat.TrainQuantizer();
        Assert.True(flat.Remove(7) && exact.Remove(7)); // the last row moves into the hole, codes included
        var queries = VectorTestData.Clustered(100, Dims, seed: 77);
        double recall = VectorTestData.Recall(exact, q => flat.Search(q, 10), queries, Dims, 10);
        Assert.True(recall >= 0.99, $"{storage} flat recall@10 {recall:F3}");

        string path = Path.Combine(dir.Path, "flat.obvec");
        flat.Save(path);
        using (var loaded = FlatIndex.Open(path, Dims, VectorMetric.Cosine))
        {
            Assert.Equal(storage, loaded.Storage);
            Assert.Equal(flat.Count, loaded.Count);
            for (int i = 0; i < 20; i++)
            {
                var q = queries.AsSpan(i * Dims, Dims);
                Assert.Equal(flat.Search(q, 10).Select(h => h.Id), loaded.Search(q, 10).Select(h => h.Id));
            }
            // writable after opening (the mapped float32 rows move into owned memory when it grows)
            for (int i = 0; i < 40; i++) loaded.Add(50_000 + i, VectorTestData.Row(data, i, Dims));
            Assert.Equal(50_000 + 3, loaded.Search(VectorTestData.Row(data, 3, Dims), 2).Select(h => h.Id).Max());
        }
        Assert.IsType<FlatIndex>(VectorIndex.Open(path)).Dispose();
    }

    [Theory]
    [InlineData(VectorStorage.Int8)]
    [InlineData(VectorStorage.BFloat16)]
    public void Quantised_hnsw_round_trips_with_identical_results(VectorStorage storage)
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "q.obvec");
        var (hnsw, exact, data) = Build(VectorMetric.Cosine, storage);
        using (hnsw) using (exact)
        {
            for (int i = 0; i < 50; i++) hnsw.Remove(1 + i * 25);
            hnsw.Save(path, stamp: 9); // int8: fits the range on save
            Assert.True(hnsw.SearchesCodes);
            using var file = new IndexFileReader(path, verifyChecksum: true);
            Assert.Equal(2, file.Header.Version);
            Assert.Equal((int)storage, file.Header.Quantization);
            file.Dispose();
            using var loaded = HnswIndex.Open(path, Dims, VectorMetric.Cosine);
            Assert.Equal(storage, loaded.Storage);
            Assert.True(loaded.SearchesCodes);
            Assert.Equal(hnsw.Count, loaded.Count);
            var queries = VectorTestData.Clustered(30, Dims, seed: 3);
            for (int i = 0; i < 30; i++)
            {
                var q = queries.AsSpan(i * Dims, Dims);
                Assert.Equal(hnsw.Search(q, 10), loaded.Search(q, 10));
            }
            // the codes and links are in memory, the float32 vectors in the mapped file
            Assert.True(loaded.SearchMemoryBytes < loaded.MemoryBytes);
            Assert.True(loaded.SearchMemoryBytes < hnsw.SearchMemoryBytes); // the in-memory original holds float32 and codes
            loaded.Add(777_777, VectorTestData.Row(data, 5, Dims));
            Assert.Contains(loaded.Search(VectorTestData.Row(data, 5, Dims), 3), h => h.Id == 777_777);
        }
    }

    [Fact]
    public void Float32_files_keep_the_version_1_format_and_old_files_still_read()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "f.obvec");
        var data = VectorTestData.Clustered(500, Dims);
        using (var h = new HnswIndex(Dims, VectorMetric.Cosine, Small))
        {
            h.AddRange(Enumerable.Range(0, 500).Select(i => (long)i).ToArray(), data, threads: 1);
            h.Save(path);
        }
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));  // version 1: what older builds wrote
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(36))); // quantization 0
        using (var old = HnswIndex.Open(path))
        {
            Assert.Equal(VectorStorage.Float32, old.Storage);
            Assert.Equal(500, old.Count);
        }
        // a version-1 header claiming quantised codes is not a file any build wrote
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(36), 2);
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<IndexFileException>(() => HnswIndex.Open(path, verifyChecksum: false));
        Assert.Contains("version 1", ex.Reason);
        // a future version is refused (rebuild), not misread
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), 3);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("format version 3", Assert.Throws<IndexFileException>(() => HnswIndex.Open(path, verifyChecksum: false)).Reason);
    }

    [Fact]
    public void Corrupt_or_truncated_quantised_files_raise_IndexFileException()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "c.obvec");
        var (hnsw, exact, _) = Build(VectorMetric.L2, VectorStorage.Int8);
        using (hnsw) using (exact) hnsw.Save(path);
        var good = File.ReadAllBytes(path);
        long codesAt;
        using (var f = new IndexFileReader(path, verifyChecksum: false))
            codesAt = BinaryPrimitives.ReadInt64LittleEndian(good.AsSpan(96 + 16 * 6)); // section 6: the int8 codes
        var bad = (byte[])good.Clone();
        bad[codesAt + 100] ^= 0x5A;
        File.WriteAllBytes(path, bad);
        Assert.Contains("checksum", Assert.Throws<IndexFileException>(() => HnswIndex.Open(path)).Reason);
        File.WriteAllBytes(path, good.AsSpan(0, good.Length - 64).ToArray());
        Assert.Throws<IndexFileException>(() => VectorIndex.Open(path));
        // an int8 range with a zero scale is caught even without the checksum pass
        long rangeAt = BinaryPrimitives.ReadInt64LittleEndian(good.AsSpan(96 + 16 * 7));
        bad = (byte[])good.Clone();
        BinaryPrimitives.WriteSingleLittleEndian(bad.AsSpan((int)rangeAt + 4 * Dims), 0f);
        File.WriteAllBytes(path, bad);
        Assert.Contains("scale", Assert.Throws<IndexFileException>(() => HnswIndex.Open(path, verifyChecksum: false)).Reason);
    }
}
