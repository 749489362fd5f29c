using Microsoft.Extensions.AI;
using OpenBook.Embeddings;
using OpenBook.Answering;
using OpenBook.Retrieval;
using OpenBook.Retrieval.Lexical;
using OpenBook.Storage;

namespace OpenBook;

/// <summary>Options for opening a <see cref="Book"/>.</summary>
public sealed record BookOptions
{
    /// <summary>BM25 parameters (changing them rebuilds the lexical index).</summary>
    public Bm25Parameters Bm25 { get; init; } = new();
    /// <summary>Embedding model for vector and hybrid search (null: lexical only).</summary>
    public EmbeddingSettings? Embeddings { get; init; }
}

/// <summary>
/// The library entry point: a store directory with its documents, chunks and indexes.
/// <code>
/// await using var book = await Book.OpenAsync(".openbook");
/// await book.IngestAsync(["docs/"], new IngestOptions { Collection = "handbook" });
/// var hits = await book.SearchAsync("how many vacation days in Berlin?");
/// var answer = await book.AskAsync("how many vacation days in Berlin?");
/// </code>
/// Thread-safe for concurrent searches; ingestion runs one at a time per instance.
/// </summary>
public sealed partial class Book : IAsyncDisposable, IDisposable
{
    private readonly BookOptions _options;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly Lock _indexLock = new();
    private Bm25Index? _bm25;
    private bool _bm25Dirty;
    private (DocumentCatalog Catalog, (long, long) Stamp)? _catalog;

    private Book(DocumentStore store, BookOptions options)
    {
        Store = store;
        _options = options;
    }

    /// <summary>The underlying SQLite store (source of truth).</summary>
    public DocumentStore Store { get; }

    /// <summary>The store directory.</summary>
    public string Directory => Store.Directory;

    /// <summary>Path of the persisted BM25 index (derived data).</summary>
    public string LexicalIndexPath => Path.Combine(Store.Directory, "indexes", "bm25.idx");

    /// <summary>Opens (creating if needed) a store directory.</summary>
    public static Task<Book> OpenAsync(string directory, BookOptions? options = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.Run(() => new Book(DocumentStore.Open(directory), options ?? new BookOptions()), cancellationToken);
    }

    /// <summary>How the lexical index was obtained on first use: loaded, rebuilt (and why), or caught up from the change log.</summary>
    public string? LexicalIndexStatus { get; private set; }

    /// <summary>The BM25 index, loaded from disk or rebuilt from the store, and caught up with the store's change log.</summary>
    public Bm25Index LexicalIndex()
    {
        lock (_indexLock)
        {
            if (_bm25 is null)
            {
                try
                {
                    _bm25 = Bm25Index.Load(LexicalIndexPath, _options.Bm25);
                    LexicalIndexStatus = "loaded";
                }
                catch (IndexFileException ex)
                {
                    _bm25 = RebuildLexical();
                    LexicalIndexStatus = ex.Reason == "missing" ? "built" : $"rebuilt ({ex.Reason})";
                    _bm25Dirty = true;
                }
            }
            CatchUp(_bm25);
            return _bm25;
        }
    }

    private Bm25Index RebuildLexical()
    {
        var index = new Bm25Index(_options.Bm25) { StoreSequence = Store.Sequence };
        foreach (var batch in Store.AllChunks().Chunk(8192)) AddChunks(index, batch);
        return index;
    }

    private static void AddChunks(Bm25Index index, IReadOnlyList<ChunkRecord> chunks) =>
        index.AddRange(chunks.Select(c => (c.Id, c.DocumentId, IndexedText(c.Text, c.Headings))).ToList());

    /// <summary>Text indexed for a chunk: the heading path counts as part of it.</summary>
    private static string IndexedText(string text, IReadOnlyList<string> headings) =>
        headings.Count == 0 ? text : string.Join(" ", headings) + "\n" + text;

    private void CatchUp(Bm25Index index)
    {
        var (last, seq) = LatestChanges(index.StoreSequence);
        if (last.Count == 0) return;
        foreach (var change in last.Values.Where(c => !c.Added)) index.Remove(change.ChunkId);
        var added = last.Values.Where(c => c.Added).Select(c => c.ChunkId).ToList();
        foreach (var batch in added.Chunk(8192)) AddChunks(index, Store.GetChunks(batch));
        index.StoreSequence = seq;
        _bm25Dirty = true;
    }

    /// <summary>The last change of each chunk touched after <paramref name="sequence"/>, and the newest sequence seen.</summary>
    private (Dictionary<long, ChunkChange> Last, long Sequence) LatestChanges(long sequence)
    {
        var last = new Dictionary<long, ChunkChange>();
        foreach (var change in Store.ChangesSince(sequence))
        {
            last[change.ChunkId] = change;
            sequence = change.Sequence;
        }
        return (last, sequence);
    }

    /// <summary>Writes derived indexes that changed since they were loaded.</summary>
    public void SaveIndexes()
    {
        lock (_indexLock)
        {
            if (_options.Embeddings is not null) SaveVectorIndex();
            if (_bm25 is null || !_bm25Dirty) return;
            _bm25.Save(LexicalIndexPath);
            _bm25Dirty = false;
        }
    }

    /// <summary>Document attributes for filters, cached until the store changes.</summary>
    public DocumentCatalog Catalog()
    {
        var stamp = Store.ChangeStamp();
        lock (_indexLock)
        {
            if (_catalog is { } c && c.Stamp == stamp) return c.Catalog;
            var catalog = Store.LoadCatalog();
            _catalog = (catalog, stamp);
            return catalog;
        }
    }

    /// <summary>Searches the documents (BM25) and returns the top passages the filter allows.</summary>
    public Task<IReadOnlyList<SearchHit>> SearchAsync(string query, SearchOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SearchOptions();
        if (options.K <= 0) throw new OpenBookException($"k must be positive (got {options.K}).");
        return Task.Run(async () =>
        {
            var mode = ResolveMode(options.Mode);
            var first = options.Reranker is null ? options : options with { K = Math.Max(options.K, options.RerankCandidates) };
            var hits = mode == SearchMode.Lexical ? Search(query, first) : await SearchVectorsAsync(query, first, mode, cancellationToken).ConfigureAwait(false);
            return options.Reranker is null ? hits : await RerankAsync(query, hits, options, cancellationToken).ConfigureAwait(false);
        }, cancellationToken);
    }

    private static async Task<IReadOnlyList<SearchHit>> RerankAsync(string query, IReadOnlyList<SearchHit> hits, SearchOptions options, CancellationToken ct)
    {
        var byId = hits.ToDictionary(h => h.ChunkId);
        var ranked = await options.Reranker!.RerankAsync(query, hits.Select(h => new Retrieval.Hybrid.RerankCandidate(h.ChunkId, h.Text)).ToList(), options.K, ct)
            .ConfigureAwait(false);
        return ranked.Select((r, i) => byId[r.ChunkId] with { Rank = i + 1, Score = r.Score }).ToList();
    }

    /// <summary>Searches with the default options and <paramref name="k"/> results.</summary>
    public Task<IReadOnlyList<SearchHit>> SearchAsync(string query, int k, SearchFilter? filter = null, CancellationToken cancellationToken = default) =>
        SearchAsync(query, new SearchOptions { K = k, Filter = filter }, cancellationToken);

    private IReadOnlyList<SearchHit> Search(string query, SearchOptions options)
    {
        var index = LexicalIndex();
        var (allow, _) = Catalog().Compile(options.Filter);
        var hits = index.Search(query, options.K, allow);
        return ToHits(hits.Select(h => (h.ChunkId, (double)h.Score)).ToList());
    }

    private IReadOnlyList<SearchHit> ToHits(IReadOnlyList<(long ChunkId, double Score)> ranked)
    {
        var chunks = Store.GetChunks(ranked.Select(r => r.ChunkId).ToList()).ToDictionary(c => c.Id);
        var result = new List<SearchHit>(ranked.Count);
        foreach (var (id, score) in ranked)
        {
            if (!chunks.TryGetValue(id, out var c)) continue; // removed between index and read
            result.Add(new SearchHit
            {
                Rank = result.Count + 1, Score = score, ChunkId = id, DocumentId = c.DocumentId, Text = c.Text, Source = c.Source, Page = c.Page,
                Headings = c.Headings, Collection = c.Collection,
            });
        }
        return result;
    }

    /// <summary>
    /// Answers a question from the documents: retrieves the top <see cref="AskOptions.K"/> passages the filter (and the
    /// caller's groups) allow, then lets <see cref="AskOptions.Answerer"/> write the answer — extractive (no model) when
    /// none is given, <see cref="GroundedAnswerer"/> or <see cref="RaftAnswerer"/> over any <c>IChatClient</c>.
    /// </summary>
    public async Task<Answer> AskAsync(string question, AskOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new AskOptions();
        var request = await RetrieveForAsync(question, options, cancellationToken).ConfigureAwait(false);
        return options.Answerer is { } answerer
            ? await answerer.AnswerAsync(request, cancellationToken).ConfigureAwait(false)
            : await ExtractiveAnswerer(options.Extractive).AnswerAsync(request.Question, request.Passages, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <see cref="AskAsync(string, AskOptions?, CancellationToken)"/>, streamed: text deltas as the model writes them,
    /// then a final update whose <see cref="AnswerUpdate.Completed"/> holds the whole answer with its citations.
    /// </summary>
    public async IAsyncEnumerable<AnswerUpdate> AskStreamingAsync(string question, AskOptions? options = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options ??= new AskOptions();
        var request = await RetrieveForAsync(question, options, cancellationToken).ConfigureAwait(false);
        if (options.Answerer is not { } answerer)
        {
            var answer = await ExtractiveAnswerer(options.Extractive).AnswerAsync(request.Question, request.Passages, cancellationToken).ConfigureAwait(false);
            yield return new AnswerUpdate(answer.Text);
            yield return new AnswerUpdate("", answer);
            yield break;
        }
        await foreach (var update in answerer.StreamAsync(request, cancellationToken).ConfigureAwait(false))
            yield return update;
    }

    private async Task<AnswerRequest> RetrieveForAsync(string question, AskOptions options, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(question)) throw new OpenBookException("The question is empty.");
        var query = string.IsNullOrWhiteSpace(options.RetrievalQuery) ? question : options.RetrievalQuery;
        var hits = await SearchAsync(query, new SearchOptions { K = options.K, Filter = options.Filter, Mode = options.Mode, Reranker = options.Reranker },
            cancellationToken).ConfigureAwait(false);
        return new AnswerRequest(question, hits, options.History?.ToList() ?? []);
    }

    /// <summary>
    /// The extractive answerer over this book: the BM25 index's IDF for lexical coverage, and the book's embedding
    /// model (when it has one and <see cref="ExtractiveOptions.UseEncoder"/>) for the semantic score.
    /// </summary>
    public ExtractiveAnswerer ExtractiveAnswerer(ExtractiveOptions? options = null)
    {
        var index = LexicalIndex();
        IEmbeddingGenerator<string, Embedding<float>>? encoder = null;
        if ((options?.UseEncoder ?? true) && _options.Embeddings is { } settings)
            encoder = _answerEncoder ??= new CachingEmbeddingGenerator(settings.Generator, new MemoryEmbeddingCache(), settings.ModelId);
        return new ExtractiveAnswerer(t => index.Idf(t), options, encoder);
    }

    /// <summary>Every chunk of <paramref name="collection"/> (null: all) that <paramref name="scope"/> may read, in store order.</summary>
    public IEnumerable<ChunkRecord> ReadChunks(AccessScope scope, string? collection = null)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var catalog = Catalog();
        foreach (var c in Store.AllChunks(collection))
            if (catalog.CanRead(c.DocumentId, scope)) yield return c;
    }

    /// <summary>Removes a document and its chunks; indexes follow.</summary>
    public async Task<bool> RemoveDocumentAsync(long documentId, CancellationToken cancellationToken = default)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var removed = Store.RemoveDocument(documentId);
            if (removed) { LexicalIndex(); SaveIndexes(); }
            return removed;
        }
        finally { _writeGate.Release(); }
    }

    /// <summary>
    /// Why the derived indexes could not be written when the book was closed (null: written, or nothing to write).
    /// They are rebuilt from the store on the next open, so this never fails a command.
    /// </summary>
    public string? IndexSaveError { get; private set; }

    /// <inheritdoc />
    public void Dispose()
    {
        try { SaveIndexes(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { IndexSaveError = e.Message; }
        finally
        {
            _vectors?.Dispose();
            Store.Dispose();
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Options for <see cref="Book.AskAsync"/>.</summary>
public sealed record AskOptions
{
    /// <summary>Passages retrieved.</summary>
    public int K { get; init; } = 5;
    /// <summary>Metadata filter.</summary>
    public SearchFilter? Filter { get; init; }
    /// <summary>How passages are retrieved.</summary>
    public SearchMode Mode { get; init; } = SearchMode.Auto;
    /// <summary>Optional second stage that re-scores the first-stage passages (e.g. an ONNX cross-encoder).</summary>
    public Retrieval.Hybrid.IReranker? Reranker { get; init; }
    /// <summary>Extractive-mode tuning (used when <see cref="Answerer"/> is null).</summary>
    public ExtractiveOptions? Extractive { get; init; }
    /// <summary>
    /// Who writes the answer: null for extractive mode (no model), a <see cref="GroundedAnswerer"/> or
    /// <see cref="RaftAnswerer"/> over any <c>IChatClient</c>, or your own <see cref="IAnswerer"/>.
    /// </summary>
    public IAnswerer? Answerer { get; init; }
    /// <summary>Earlier turns of the conversation (user and assistant messages, oldest first), given to model answerers.</summary>
    public IList<Microsoft.Extensions.AI.ChatMessage>? History { get; init; }
    /// <summary>
    /// The text to retrieve with, when it differs from the question (e.g. a follow-up rewritten into a standalone
    /// query); null retrieves with the question.
    /// </summary>
    public string? RetrievalQuery { get; init; }
}
