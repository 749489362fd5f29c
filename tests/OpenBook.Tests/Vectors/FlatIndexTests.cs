using OpenBook.Bench;
using OpenBook.Retrieval.Vectors;

namespace OpenBook.Tests.Vectors;

public class FlatIndexTests
{
    private const int Dims = 24;

    [Theory]
    [InlineData(VectorMetric.Cosine)]
    [InlineData(VectorMetric.DotProduct)]
    [InlineData(VectorMetric.L2)]
    public void Search_returns_the_exact_top_k_in_order(VectorMetric metric)
    {
        var data = SyntheticVectors.Uniform(3000, Dims, seed: 3);
        using var index = new FlatIndex(Dims, metric, initialCapacity: 16); // forces growth
        for (int i = 0; i < 3000; i++) index.Add(i + 100, VectorTestData.Row(data, i, Dims));
        var queries = SyntheticVectors.Uniform(20, Dims, seed: 4);
        for (int qi = 0; qi < 20; qi++)
        {
            var q = VectorTestData.Row(queries, qi, Dims);
            var hits = index.Search(q, 10);
            Assert.Equal(VectorTestData.BruteForce(data, Dims, q, 10, metric, idOffset: 100), hits.Select(h => h.Id));
            Assert.True(hits.Zip(hits.Skip(1)).All(p => p.First.Distance <= p.Second.Distance));
            Assert.Equal(VectorTestData.Distance(q, VectorTestData.Row(data, (int)hits[0].Id - 100, Dims), metric), hits[0].Distance, 1e-3);
        }
    }

    [Fact]
    public void Large_scans_split_over_threads_and_batches_agree_with_single_queries()
    {
        const int dims = 64;
        var data = VectorTestData.Clustered(70_000, dims); // 4.5M floats: the scan is split across threads
        using var index = new FlatIndex(dims, VectorMetric.Cosine, 70_000);
        for (int i = 0; i < 70_000; i++) index.Add(i, VectorTestData.Row(data, i, dims));
        var queries = VectorTestData.Clustered(40, dims, seed: 99);
        var batch = index.SearchBatch(queries, 5);
        for (int qi = 0; qi < 40; qi++)
        {
            var q = VectorTestData.Row(queries, qi, dims);
            Assert.Equal(index.Search(q, 5).Select(h => h.Id), batch[qi].Select(h => h.Id));
        }
        var q0 = VectorTestData.Row(queries, 0, dims);
        Assert.Equal(VectorTestData.BruteForce(data, dims, q0, 5, VectorMetric.Cosine), index.Search(q0, 5).Select(h => h.Id));
    }

    [Fact]
    public void Filter_and_remove_are_honoured()
    {
        var data = SyntheticVectors.Uniform(500, Dims, seed: 5);
        using var index = new FlatIndex(Dims, VectorMetric.L2);
        for (int i = 0; i < 500; i++) index.Add(i, VectorTestData.Row(data, i, Dims));
        var q = VectorTestData.Row(data, 17, Dims);
        Assert.Equal(17, index.Search(q, 1)[0].Id);
        Assert.True(index.Remove(17));
        Assert.False(index.Remove(17));
        Assert.False(index.Contains(17));
        Assert.Equal(499, index.Count);
        Func<long, bool>? none = null;
        Assert.Equal(index.Search(q, 5).Select(h => h.Id), index.Search(q, 5, none).Select(h => h.Id));
        Func<long, bool> odd = id => id % 2 == 1;
        var hits = index.Search(q, 50, odd);
        Assert.Equal(50, hits.Count);
        Assert.All(hits, h => Assert.True(h.Id % 2 == 1 && h.Id != 17));
        Assert.Equal(VectorTestData.BruteForce(data, Dims, q, 50, VectorMetric.L2, id => id % 2 == 1 && id != 17), hits.Select(h => h.Id));
    }

    [Fact]
    public void Adding_an_existing_id_replaces_its_vector()
    {
        using var index = new FlatIndex(2, VectorMetric.L2);
        index.Add(1, [0, 0]);
        index.Add(2, [5, 5]);
        index.Add(1, [10, 10]);
        Assert.Equal(2, index.Count);
        Assert.Equal(1, index.Search([9, 9], 1)[0].Id);
        Assert.Throws<ArgumentException>(() => index.Add(3, [1, 2, 3]));
    }
}
