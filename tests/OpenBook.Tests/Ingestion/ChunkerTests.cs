using OpenBook.Ingestion;

namespace OpenBook.Tests.Ingestion;

public class ChunkerTests
{
    private static string Words(int n, string word = "policy") => string.Join(' ', Enumerable.Range(0, n).Select(i => $"{word}{i % 7}"));

    [Fact]
    public void Every_chunk_is_an_exact_slice_within_budget()
    {
        var paragraphs = Enumerable.Range(0, 12).Select(p => string.Join(' ', Enumerable.Range(0, 40).Select(s => $"Sentence {p}.{s} about leave rules."))).ToList();
        var doc = new LoadedDocument("leave.md", "Leave", [new DocumentSection(string.Join("\n\n", paragraphs), ["Leave", "Vacation"])]);
        var chunker = new Chunker(new ChunkingOptions { ChunkTokens = 64, OverlapTokens = 8 });
        var chunks = chunker.Split(doc);
        var full = doc.FullText;
        Assert.True(chunks.Count > 10);
        for (var i = 0; i < chunks.Count; i++)
        {
            var c = chunks[i];
            Assert.Equal(i, c.Index);
            Assert.Equal(full[c.CharStart..c.CharEnd], c.Text);
            Assert.InRange(c.TokenCount, 1, 64);
            Assert.Equal(ApproximateTokenCounter.Instance.CountTokens(c.Text), c.TokenCount);
            Assert.Equal(["Leave", "Vacation"], c.Headings);
        }
        // Consecutive chunks overlap (the next one starts before the previous one ends) but always move forward.
        for (var i = 1; i < chunks.Count; i++)
        {
            Assert.True(chunks[i].CharStart > chunks[i - 1].CharStart);
            Assert.True(chunks[i].CharStart <= chunks[i - 1].CharEnd);
        }
        // Together they cover the whole text.
        Assert.Equal(0, chunks[0].CharStart);
        Assert.Equal(full.Length, chunks[^1].CharEnd);
    }

    [Fact]
    public void Chunks_never_cross_sections_and_keep_page_and_heading_path()
    {
        var doc = new LoadedDocument("handbook/leave.pdf", null,
        [
            new DocumentSection(Words(150), ["Vacation"], 2),
            new DocumentSection(Words(150, "carry"), ["Vacation", "Carry-over"], 3),
        ]);
        var chunks = new Chunker(new ChunkingOptions { ChunkTokens = 48, OverlapTokens = 8 }).Split(doc);
        var full = doc.FullText;
        var boundary = doc.Sections[0].Text.Length;
        Assert.All(chunks, c => Assert.True(c.CharEnd <= boundary || c.CharStart >= boundary + LoadedDocument.SectionSeparator.Length));
        var second = chunks.Where(c => c.CharStart > boundary).ToList();
        Assert.NotEmpty(second);
        Assert.All(second, c => Assert.Equal(3, c.Page));
        Assert.All(second, c => Assert.Equal(["Vacation", "Carry-over"], c.Headings));
        Assert.Equal("handbook/leave.pdf p.3 › Vacation › Carry-over", CitationFormat.Format("handbook/leave.pdf", second[0]));
        Assert.All(chunks.Where(c => c.CharEnd <= boundary), c => Assert.Equal(2, c.Page));
    }

    [Fact]
    public void Tiny_sibling_sections_merge_under_their_common_heading()
    {
        var doc = new LoadedDocument("it.md", null,
        [
            new DocumentSection("Passwords need 14 characters.", ["IT", "Passwords"]),
            new DocumentSection("VPN is required off-site.", ["IT", "VPN"]),
            new DocumentSection(Words(300), ["Security"]),
        ]);
        var chunks = new Chunker().Split(doc);
        Assert.Equal("Passwords need 14 characters.\n\nVPN is required off-site.", chunks[0].Text);
        Assert.Equal(["IT"], chunks[0].Headings);
        Assert.All(chunks.Skip(1), c => Assert.Equal(["Security"], c.Headings));
    }

    [Fact]
    public void Split_prefers_sentence_ends()
    {
        var text = string.Join(' ', Enumerable.Range(0, 60).Select(i => $"Rule number {i} applies to every employee."));
        var chunks = new Chunker(new ChunkingOptions { ChunkTokens = 40, OverlapTokens = 0 }).Split(new LoadedDocument("r.txt", null, [new DocumentSection(text, [])]));
        Assert.All(chunks.SkipLast(1), c => Assert.EndsWith(".", c.Text));
    }

    [Theory]
    [InlineData(4, 0)]
    [InlineData(64, -1)]
    [InlineData(64, 40)]
    public void Bad_options_are_rejected_with_the_setting_named(int size, int overlap)
    {
        var e = Assert.Throws<OpenBookException>(() => new Chunker(new ChunkingOptions { ChunkTokens = size, OverlapTokens = overlap }));
        Assert.Contains(size < 8 ? "chunk size" : "overlap", e.Message);
    }
}
