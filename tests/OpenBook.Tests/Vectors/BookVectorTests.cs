using Microsoft.Extensions.AI;
using OpenBook.Retrieval;
using OpenBook.Retrieval.Lexical;

namespace OpenBook.Tests.Vectors;

/// <summary>
/// Test double for an embedding model: hashes each stemmed word of the text into one of 64 buckets (bag of words),
/// L2-normalised. Deterministic, so texts sharing words are close. Counts the texts it embeds.
/// </summary>
internal sealed class BagOfWordsEmbedder : IEmbeddingGenerator<string, Embedding<float>>
{
    public int Embedded;

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var result = new GeneratedEmbeddings<Embedding<float>>();
        foreach (var text in values)
        {
            Interlocked.Increment(ref Embedded);
            var v = new float[64];
            foreach (var term in TextAnalyzer.Default.Terms(text)) v[(int)((uint)StableHash(term) % 64)] += 1;
            var norm = MathF.Sqrt(v.Sum(x => x * x));
            if (norm == 0) v[0] = norm = 1;
            result.Add(new Embedding<float>(v.Select(x => x / norm).ToArray()));
        }
        return Task.FromResult(result);
    }

    private static int StableHash(string s)
    {
        var h = 17;
        foreach (var c in s) h = h * 31 + c;
        return h;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;
    public void Dispose() { }
}

/// <summary>Test double for a cross-encoder: scores a passage by how often it contains the word "receipts".</summary>
internal sealed class KeywordReranker : OpenBook.Retrieval.Hybrid.IReranker
{
    public List<long> Seen { get; } = [];

    public Task<IReadOnlyList<OpenBook.Retrieval.Hybrid.RankedChunk>> RerankAsync(string query, IReadOnlyList<OpenBook.Retrieval.Hybrid.RerankCandidate> candidates,
        int? top = null, CancellationToken cancellationToken = default)
    {
        Seen.AddRange(candidates.Select(c => c.ChunkId));
        IReadOnlyList<OpenBook.Retrieval.Hybrid.RankedChunk> ranked = candidates
            .Select(c => new OpenBook.Retrieval.Hybrid.RankedChunk(c.ChunkId, c.Text.Split(' ').Count(w => w.StartsWith("receipts", StringComparison.Ordinal))))
            .OrderByDescending(c => c.Score).Take(top ?? int.MaxValue).ToList();
        return Task.FromResult(ranked);
    }
}

public class BookVectorTests
{
    [Fact]
    public async Task A_reranker_reorders_the_first_stage_results_and_never_sees_filtered_chunks()
    {
        using var dir = new TempDir();
        Corpus(dir);
        dir.File("secret/receipts.md", "# Receipts\n\nReceipts receipts receipts for the board are kept apart.\n");
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));
        await book.IngestAsync([Path.Combine(dir.Path, "docs")]);
        await book.IngestAsync([Path.Combine(dir.Path, "secret")], new IngestOptions { Acl = ["board"] });
        var reranker = new KeywordReranker();
        var hits = await book.SearchAsync("vacation travel expenses wifi", new SearchOptions { K = 2, Reranker = reranker, Filter = new SearchFilter { Groups = ["staff"] } });
        Assert.Equal(2, hits.Count);
        Assert.Equal("docs/expenses.md", hits[0].Source);
        Assert.Equal([1, 2], hits.Select(h => h.Rank));
        Assert.Equal(3, reranker.Seen.Count); // the three visible chunks, never the board's
    }

    private static BookOptions With(BagOfWordsEmbedder embedder, string model = "test/bag-of-words") =>
        new() { Embeddings = new EmbeddingSettings { Generator = embedder, ModelId = model } };

    private static void Corpus(TempDir dir)
    {
        dir.File("docs/leave.md", "# Leave\n\nUnused vacation days carry over until the end of March.\n");
        dir.File("docs/vpn.md", "# VPN\n\nAlways connect through the company VPN on hotel wifi.\n");
        dir.File("docs/expenses.md", "# Expenses\n\nSubmit receipts for travel expenses within thirty days.\n");
        dir.File("secret/salaries.md", "# Salaries\n\nSalary bands and vacation bonuses are reviewed every April.\n");
    }

    [Fact]
    public async Task Embeddings_are_cached_so_reingest_computes_only_changed_chunks()
    {
        using var dir = new TempDir();
        Corpus(dir);
        var embedder = new BagOfWordsEmbedder();
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"), With(embedder));
        var first = await book.IngestAsync([Path.Combine(dir.Path, "docs")], new IngestOptions { Collection = "hr", Embed = true });
        Assert.Equal(3, first.Embedding!.Chunks);
        Assert.Equal(3, first.Embedding.Computed);
        Assert.Equal(3, embedder.Embedded);

        var again = await book.IngestAsync([Path.Combine(dir.Path, "docs")], new IngestOptions { Collection = "hr", Embed = true });
        Assert.Equal(0, again.Embedding!.Chunks);
        Assert.Equal(3, embedder.Embedded);

        dir.File("docs/vpn.md", "# VPN\n\nAlways connect through the company VPN on public wifi.\n");
        var changed = await book.IngestAsync([Path.Combine(dir.Path, "docs")], new IngestOptions { Collection = "hr", Embed = true });
        Assert.Equal(1, changed.Embedding!.Computed);
        Assert.Equal(4, embedder.Embedded);
        Assert.Equal(3, book.VectorIndex()!.Count);
    }

    [Fact]
    public async Task Every_mode_finds_the_passage_and_filters_hold_in_every_mode()
    {
        using var dir = new TempDir();
        Corpus(dir);
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"), With(new BagOfWordsEmbedder()));
        await book.IngestAsync([Path.Combine(dir.Path, "docs")], new IngestOptions { Collection = "hr", Embed = true });
        await book.IngestAsync([Path.Combine(dir.Path, "secret")], new IngestOptions { Collection = "hr", Acl = ["payroll"], Embed = true });

        foreach (var mode in new[] { SearchMode.Lexical, SearchMode.Vector, SearchMode.Hybrid })
        {
            var hits = await book.SearchAsync("vacation days carry over", new SearchOptions { K = 4, Mode = mode, Filter = new SearchFilter { Groups = ["staff"] } });
            Assert.Equal("docs/leave.md", hits[0].Source);
            Assert.DoesNotContain(hits, h => h.Source == "secret/salaries.md");
            var asPayroll = await book.SearchAsync("salary bands vacation bonuses", new SearchOptions { K = 4, Mode = mode, Filter = new SearchFilter { Groups = ["payroll"] } });
            Assert.Equal("secret/salaries.md", asPayroll[0].Source);
            var collection = await book.SearchAsync("vacation", new SearchOptions { K = 4, Mode = mode, Filter = new SearchFilter { Collections = ["other"] } });
            Assert.Empty(collection);
        }
        // Auto is hybrid when a model is configured: ranks come from both lists.
        var auto = await book.SearchAsync("hotel wifi", new SearchOptions { K = 2 });
        Assert.Equal("docs/vpn.md", auto[0].Source);
        // MMR keeps the best passage first.
        var mmr = await book.SearchAsync("travel expenses receipts", new SearchOptions { K = 2, Mode = SearchMode.Hybrid, MmrLambda = 0.5 });
        Assert.Equal("docs/expenses.md", mmr[0].Source);
    }

    [Fact]
    public async Task Vector_index_is_persisted_and_rebuilt_from_the_cache_without_the_model()
    {
        using var dir = new TempDir();
        Corpus(dir);
        var store = Path.Combine(dir.Path, "store");
        var embedder = new BagOfWordsEmbedder();
        string indexPath;
        await using (var book = await Book.OpenAsync(store, With(embedder)))
        {
            await book.IngestAsync([Path.Combine(dir.Path, "docs")], new IngestOptions { Collection = "hr", Embed = true });
            indexPath = book.VectorIndexPath;
        }
        Assert.True(File.Exists(indexPath));
        await using (var book = await Book.OpenAsync(store, With(embedder)))
        {
            Assert.Equal(3, book.VectorIndex()!.Count);
            Assert.Equal("loaded", book.VectorIndexStatus);
        }
        var bytes = File.ReadAllBytes(indexPath);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(indexPath, bytes);
        var before = embedder.Embedded;
        await using (var book = await Book.OpenAsync(store, With(embedder)))
        {
            Assert.Equal(3, book.VectorIndex()!.Count);
            Assert.StartsWith("rebuilt", book.VectorIndexStatus);
            var hits = await book.SearchAsync("hotel wifi", new SearchOptions { K = 1, Mode = SearchMode.Vector });
            Assert.Equal("docs/vpn.md", hits[0].Source);
        }
        Assert.Equal(before + 1, embedder.Embedded); // only the query was embedded
    }

    [Fact]
    public async Task Vector_storage_is_recorded_in_the_index_file_kept_on_reopen_and_changed_only_when_asked()
    {
        using var dir = new TempDir();
        Corpus(dir);
        var store = Path.Combine(dir.Path, "store");
        var embedder = new BagOfWordsEmbedder();
        BookOptions Storage(OpenBook.Retrieval.Vectors.VectorStorage? s) =>
            new() { Embeddings = new EmbeddingSettings { Generator = embedder, ModelId = "test/bag-of-words", Storage = s } };
        string indexPath;
        await using (var book = await Book.OpenAsync(store, Storage(OpenBook.Retrieval.Vectors.VectorStorage.Int8)))
        {
            await book.IngestAsync([Path.Combine(dir.Path, "docs")], new IngestOptions { Collection = "hr", Embed = true });
            indexPath = book.VectorIndexPath;
            var hits = await book.SearchAsync("hotel wifi", new SearchOptions { K = 1, Mode = SearchMode.Vector });
            Assert.Equal("docs/vpn.md", hits[0].Source);
        }
        static int Quantization(string path) => (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(File.ReadAllBytes(path).AsSpan(36));
        Assert.Equal(2, Quantization(indexPath));
        await using (var book = await Book.OpenAsync(store, Storage(null))) // no choice given: the file's storage stays
        {
            Assert.Equal(OpenBook.Retrieval.Vectors.VectorStorage.Int8, book.VectorIndex()!.Storage);
            Assert.True(book.VectorIndex()!.SearchesCodes);
            Assert.Equal("loaded", book.VectorIndexStatus);
            var hits = await book.SearchAsync("hotel wifi", new SearchOptions { K = 1, Mode = SearchMode.Vector });
            Assert.Equal("docs/vpn.md", hits[0].Source);
        }
        await using (var book = await Book.OpenAsync(store, Storage(OpenBook.Retrieval.Vectors.VectorStorage.BFloat16)))
        {
            Assert.Equal(OpenBook.Retrieval.Vectors.VectorStorage.BFloat16, book.VectorIndex()!.Storage);
            Assert.StartsWith("rebuilt (vector storage int8 → bf16)", book.VectorIndexStatus);
            book.SaveIndexes();
        }
        Assert.Equal(1, Quantization(indexPath));
    }

    [Fact]
    public async Task Switching_the_model_of_a_collection_is_explicit()
    {
        using var dir = new TempDir();
        Corpus(dir);
        var store = Path.Combine(dir.Path, "store");
        await using (var book = await Book.OpenAsync(store, With(new BagOfWordsEmbedder(), "model-a")))
            await book.IngestAsync([Path.Combine(dir.Path, "docs")], new IngestOptions { Collection = "hr", Embed = true });
        await using (var book = await Book.OpenAsync(store, With(new BagOfWordsEmbedder(), "model-b")))
        {
            var e = await Assert.ThrowsAsync<OpenBookException>(() => book.IngestAsync([Path.Combine(dir.Path, "docs")], new IngestOptions { Collection = "hr", Embed = true }));
            Assert.Contains("reembed", e.Message);
            var report = await book.ReembedAsync("hr");
            Assert.Equal(3, report.Computed);
            Assert.Equal("model-b", book.Store.CollectionEmbeddingModel("hr"));
            Assert.Equal("docs/leave.md", (await book.SearchAsync("vacation carry over", new SearchOptions { K = 1, Mode = SearchMode.Vector }))[0].Source);
        }
    }

    [Fact]
    public async Task Vector_search_without_a_model_says_how_to_get_one()
    {
        using var dir = new TempDir();
        Corpus(dir);
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));
        await book.IngestAsync([Path.Combine(dir.Path, "docs")]);
        var e = await Assert.ThrowsAsync<OpenBookException>(() => book.SearchAsync("vacation", new SearchOptions { Mode = SearchMode.Vector }));
        Assert.Contains("--embed", e.Message);
        Assert.NotEmpty(await book.SearchAsync("vacation", new SearchOptions { Mode = SearchMode.Auto }));
    }
}
