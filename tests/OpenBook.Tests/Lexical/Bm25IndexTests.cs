using OpenBook.Retrieval.Lexical;
using OpenBook.Storage;

namespace OpenBook.Tests.Lexical;

public class Bm25IndexTests
{
    private static Bm25Index Sample()
    {
        var index = new Bm25Index();
        index.Add(1, 10, "Berlin employees receive 30 vacation days per year.");
        index.Add(2, 20, "Boston employees receive 20 vacation days per year, plus public holidays.");
        index.Add(3, 30, "Laptops are replaced every three years. Request a new laptop through the IT portal.");
        index.Add(4, 40, "Expenses above 500 EUR need approval from your manager before travel.");
        index.Add(5, 50, "The VPN client must be version 5.2 or later.");
        return index;
    }

    [Fact]
    public void Ranks_by_hand_checked_bm25_scores()
    {
        // Hand computation for "laptop replaced" over the 5 documents (k1=1.2, b=0.75):
        // doc 3 terms: laptop, replac, everi, three, year, request, new, laptop, through, portal → |d|=10, tf(laptop)=2, tf(replac)=1
        var index = Sample();
        var hits = index.Search("laptop replaced", 5);
        Assert.Single(hits);
        Assert.Equal(3, hits[0].ChunkId);

        // Analyzed lengths of docs 1..5, counted by hand (stop words "the", "it", "from", "your", "must", "be", "or" dropped).
        var lengths = new[] { 8, 11, 10, 9, 5 };
        Assert.Equal(10, TextAnalyzer.Default.Terms("Laptops are replaced every three years. Request a new laptop through the IT portal.").Count);
        var avgdl = lengths.Average();
        double Idf(int df) => Math.Log(1 + (5 - df + 0.5) / (df + 0.5));
        double Term(int tf, int dl) => tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * dl / avgdl));
        var expected = Idf(1) * Term(2, 10) + Idf(1) * Term(1, 10);
        Assert.Equal(expected, hits[0].Score, 4);
    }

    [Fact]
    public void Prefers_the_document_that_matches_the_distinguishing_term()
    {
        var hits = Sample().Search("how many vacation days do Boston staff get", 2);
        Assert.Equal([2L, 1L], hits.Select(h => h.ChunkId));
        Assert.True(hits[0].Score > hits[1].Score);
    }

    [Fact]
    public void Filter_is_applied_before_top_k()
    {
        var hits = Sample().Search("vacation days", 5, allowDocument: d => d == 10);
        Assert.Equal([1L], hits.Select(h => h.ChunkId));
    }

    [Fact]
    public void Delete_replace_and_compact()
    {
        var index = Sample();
        Assert.True(index.Remove(2));
        Assert.False(index.Remove(2));
        Assert.DoesNotContain(index.Search("Boston vacation", 5), h => h.ChunkId == 2);
        index.Add(1, 10, "Berlin office: the canteen opens at 8am.");
        Assert.Empty(index.Search("vacation", 5));
        Assert.Equal(1, index.Search("canteen", 5).Single().ChunkId);
        var before = index.Search("expenses approval travel", 5);
        index.Compact();
        Assert.Equal(0, index.DeletedFraction);
        Assert.Equal(4, index.Count);
        var after = index.Search("expenses approval travel", 5);
        Assert.Equal(before.Select(h => h.ChunkId), after.Select(h => h.ChunkId));
    }

    [Fact]
    public void Persists_round_trip_and_rejects_corruption()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "bm25.idx");
        var index = Sample();
        index.StoreSequence = 42;
        index.Remove(4);
        index.Save(path);

        var loaded = Bm25Index.Load(path);
        Assert.Equal(42, loaded.StoreSequence);
        Assert.Equal(index.Count, loaded.Count);
        foreach (var q in new[] { "vacation days Berlin", "laptop", "VPN version", "expenses" })
            Assert.Equal(index.Search(q, 5), loaded.Search(q, 5));

        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x5A;
        File.WriteAllBytes(path, bytes);
        var corrupt = Assert.Throws<IndexFileException>(() => Bm25Index.Load(path));
        Assert.Contains("checksum", corrupt.Message);

        File.WriteAllBytes(path, bytes[..10]);
        Assert.Throws<IndexFileException>(() => Bm25Index.Load(path));
        Assert.Equal("missing", Assert.Throws<IndexFileException>(() => Bm25Index.Load(path + ".nope")).Reason);

        index.Save(path);
        Assert.Throws<IndexFileException>(() => Bm25Index.Load(path, new Bm25Parameters(K1: 2.0)));
    }

    [Fact]
    public void Parameters_are_validated()
    {
        Assert.Throws<OpenBookException>(() => new Bm25Index(new Bm25Parameters(K1: -1)));
        Assert.Throws<OpenBookException>(() => new Bm25Index(new Bm25Parameters(B: 1.5)));
    }
}
