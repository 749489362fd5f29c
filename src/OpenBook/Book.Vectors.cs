using Microsoft.Extensions.AI;
using OpenBook.Embeddings;
using OpenBook.Retrieval.Hybrid;
using OpenBook.Retrieval.Vectors;
using OpenBook.Storage;

namespace OpenBook;

/// <summary>The embedding model a <see cref="Book"/> uses for vector and hybrid search.</summary>
public sealed record EmbeddingSettings
{
    /// <summary>Any Microsoft.Extensions.AI embedding generator (local ONNX encoder, OpenAI-compatible endpoint…).</summary>
    public required IEmbeddingGenerator<string, Embedding<float>> Generator { get; init; }
    /// <summary>Exact id of the model (the cache key: vectors of another model are never mixed in).</summary>
    public required string ModelId { get; init; }
    /// <summary>Name recorded on collections embedded with this model (what the user typed: an id or a directory); default <see cref="ModelId"/>.</summary>
    public string? Name { get; init; }
    /// <summary>HNSW graph settings of the vector index.</summary>
    public HnswOptions Hnsw { get; init; } = new();
    /// <summary>
    /// What the vector index stores and walks (f32, bf16, int8 with an exact float32 re-rank; see <see cref="VectorStorage"/>).
    /// Recorded in the store's vector index file. Null (default): keep the storage of the existing index file (float32
    /// when a new one is built); set and different from the file's: the index is rebuilt with it.
    /// </summary>
    public VectorStorage? Storage { get; init; }

    internal HnswOptions IndexOptions(VectorStorage? existing = null) => Hnsw with { Storage = Storage ?? existing ?? Hnsw.Storage };
    /// <summary>
    /// Chunks sent to the generator per call. A local encoder sorts each call's inputs by length before batching, so
    /// larger calls pad less (OpenBook.Onnx's <c>EmbeddingModel.IngestBatchSize</c> is 256 for them); progress is reported per call.
    /// </summary>
    public int BatchSize { get; init; } = 64;

    internal string RecordedName => Name ?? ModelId;
}

/// <summary>Progress of <see cref="Book.EmbedAsync"/>.</summary>
public readonly record struct EmbedProgress(int Done, int Total);

/// <summary>What <see cref="Book.EmbedAsync"/> did.</summary>
/// <param name="Chunks">Chunks that needed a vector in the index.</param>
/// <param name="Computed">Vectors computed by the model (the rest came from the store's embedding cache).</param>
/// <param name="CacheHits">Vectors served from the cache.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record EmbedReport(int Chunks, long Computed, long CacheHits, TimeSpan Elapsed);

public sealed partial class Book
{
    private HnswIndex? _vectors;
    private VectorStorage? _indexStorage; // storage of the index file found on disk (kept when rebuilding)
    private long _vectorSequence;
    private bool _vectorsDirty;
    private CachingEmbeddingGenerator? _embedder;
    private CachingEmbeddingGenerator? _answerEncoder; // candidate vectors of the extractive answerer, in memory (see Book.ExtractiveAnswerer)

    /// <summary>The configured embedding model, if any.</summary>
    public EmbeddingSettings? Embeddings => _options.Embeddings;

    /// <summary>Path of the persisted vector index of the configured model (derived data).</summary>
    public string VectorIndexPath =>
        Path.Combine(Store.Directory, "indexes", $"vectors-{DocumentStore.Hash(RequireEmbeddings().ModelId)[..16]}.hnsw");

    /// <summary>How the vector index was obtained on first use: loaded, built, or rebuilt (and why).</summary>
    public string? VectorIndexStatus { get; private set; }

    private EmbeddingSettings RequireEmbeddings() => _options.Embeddings ??
        throw new OpenBookException("Vector search needs an embedding model: ingest with --embed MODEL (e.g. sentence-transformers/all-MiniLM-L6-v2), or use --mode lexical.");

    private CachingEmbeddingGenerator Embedder()
    {
        var settings = RequireEmbeddings();
        return _embedder ??= new CachingEmbeddingGenerator(settings.Generator, new EmbeddingCache(Store), settings.ModelId);
    }

    /// <summary>
    /// The vector index of the configured model over the collections embedded with it: loaded from disk, or rebuilt
    /// from the store's embedding cache, then caught up with the change log. Null until something was embedded.
    /// </summary>
    public HnswIndex? VectorIndex()
    {
        var settings = RequireEmbeddings();
        lock (_indexLock)
        {
            if (_vectors is null)
            {
                var path = VectorIndexPath;
                if (File.Exists(path))
                {
                    try
                    {
                        ulong stamp;
                        using (var reader = new IndexFileReader(path, verifyChecksum: false)) stamp = reader.Header.Stamp;
                        var loaded = HnswIndex.Open(path, expectedMetric: VectorMetric.Cosine);
                        if (settings.Storage is { } wanted && loaded.Storage != wanted)
                        {
                            VectorIndexStatus = $"rebuilt (vector storage {loaded.Storage.Name()} → {wanted.Name()})";
                            _indexStorage = wanted;
                            loaded.Dispose();
                        }
                        else
                        {
                            _vectors = loaded;
                            _indexStorage = loaded.Storage;
                            _vectorSequence = (long)stamp;
                            VectorIndexStatus = "loaded";
                        }
                    }
                    catch (IndexFileException ex)
                    {
                        VectorIndexStatus = $"rebuilt ({ex.Reason})";
                    }
                }
                if (_vectors is null)
                {
                    _vectors = RebuildVectors(settings);
                    VectorIndexStatus ??= "built";
                    _vectorsDirty = _vectors is not null;
                }
            }
            if (_vectors is not null) CatchUpVectors(settings, _vectors);
            return _vectors;
        }
    }

    private HnswIndex? RebuildVectors(EmbeddingSettings settings)
    {
        _vectorSequence = Store.Sequence;
        HnswIndex? index = null;
        var cache = new EmbeddingCache(Store);
        foreach (var collection in Store.CollectionsEmbeddedWith(settings.RecordedName))
            foreach (var batch in Store.AllChunks(collection).Chunk(4096))
            {
                var vectors = cache.Get(settings.ModelId, batch.Select(c => c.TextHash).ToHashSet());
                foreach (var chunk in batch)
                    if (vectors.TryGetValue(chunk.TextHash, out var v))
                        (index ??= new HnswIndex(v.Length, VectorMetric.Cosine, settings.IndexOptions(_indexStorage))).Add(chunk.Id, v);
            }
        return index;
    }

    private void CatchUpVectors(EmbeddingSettings settings, HnswIndex index)
    {
        var (last, seq) = LatestChanges(_vectorSequence);
        if (last.Count == 0) return;
        foreach (var change in last.Values.Where(c => !c.Added)) index.Remove(change.ChunkId);
        var embedded = Store.CollectionsEmbeddedWith(settings.RecordedName).ToHashSet(StringComparer.Ordinal);
        var added = Store.GetChunks(last.Values.Where(c => c.Added).Select(c => c.ChunkId).ToList()).Where(c => embedded.Contains(c.Collection)).ToList();
        var vectors = new EmbeddingCache(Store).Get(settings.ModelId, added.Select(c => c.TextHash).ToHashSet());
        foreach (var chunk in added)
            if (vectors.TryGetValue(chunk.TextHash, out var v)) index.Add(chunk.Id, v);
        _vectorSequence = seq;
        _vectorsDirty = true;
    }

    /// <summary>
    /// Gives every chunk of <paramref name="collection"/> a vector of the configured model: vectors already in the
    /// store's cache are reused, the rest are computed in batches; the collection is recorded as embedded with this model.
    /// A collection embedded with another model is refused (use <see cref="ReembedAsync"/> to switch models).
    /// </summary>
    public async Task<EmbedReport> EmbedAsync(string collection, IProgress<EmbedProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var settings = RequireEmbeddings();
        var recorded = CheckEmbeddingModel(collection);
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (recorded is null) Store.SetCollectionEmbeddingModel(collection, settings.RecordedName);
            return await EmbedCollectionAsync(settings, collection, progress, cancellationToken).ConfigureAwait(false);
        }
        finally { _writeGate.Release(); }
    }

    /// <summary>The model recorded for <paramref name="collection"/>; throws when it differs from the configured one.</summary>
    internal string? CheckEmbeddingModel(string collection)
    {
        var settings = RequireEmbeddings();
        var recorded = Store.CollectionEmbeddingModel(collection);
        if (recorded is not null && recorded != settings.RecordedName)
            throw new OpenBookException(
                $"Collection '{collection}' is embedded with '{recorded}', not '{settings.RecordedName}'. Switching models is explicit: openbook reembed --collection {collection} --embed {settings.RecordedName}");
        return recorded;
    }

    /// <summary>Switches a collection to the configured embedding model and embeds it (cached vectors of that model are reused).</summary>
    public async Task<EmbedReport> ReembedAsync(string collection, IProgress<EmbedProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var settings = RequireEmbeddings();
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Store.SetCollectionEmbeddingModel(collection, settings.RecordedName);
            lock (_indexLock) { _vectors?.Dispose(); _vectors = null; }
            if (File.Exists(VectorIndexPath)) File.Delete(VectorIndexPath); // rebuilt from the cache below
            return await EmbedCollectionAsync(settings, collection, progress, cancellationToken).ConfigureAwait(false);
        }
        finally { _writeGate.Release(); }
    }

    private async Task<EmbedReport> EmbedCollectionAsync(EmbeddingSettings settings, string collection, IProgress<EmbedProgress>? progress, CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        var embedder = Embedder();
        long hits0 = embedder.Hits, misses0 = embedder.Misses;
        var index = VectorIndex();
        var pending = Store.AllChunks(collection).Where(c => index is null || !index.Contains(c.Id)).ToList();
        progress?.Report(new EmbedProgress(0, pending.Count));
        var done = 0;
        foreach (var batch in pending.Chunk(Math.Max(1, settings.BatchSize)))
        {
            ct.ThrowIfCancellationRequested();
            var vectors = await embedder.GenerateAsync(batch.Select(c => c.Text), EmbeddingInput.WithKind(EmbeddingInputKind.Passage), ct).ConfigureAwait(false);
            lock (_indexLock)
            {
                _vectors ??= new HnswIndex(vectors[0].Vector.Length, VectorMetric.Cosine, settings.IndexOptions(_indexStorage));
                for (var i = 0; i < batch.Length; i++) _vectors.Add(batch[i].Id, vectors[i].Vector.Span);
                _vectorsDirty = true;
            }
            done += batch.Length;
            progress?.Report(new EmbedProgress(done, pending.Count));
        }
        SaveIndexes();
        return new EmbedReport(pending.Count, embedder.Misses - misses0, embedder.Hits - hits0, DateTime.UtcNow - started);
    }

    private void SaveVectorIndex()
    {
        if (_vectors is null || !_vectorsDirty) return;
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(VectorIndexPath)!);
        _vectors.Save(VectorIndexPath, (ulong)_vectorSequence);
        _vectorsDirty = false;
    }

    /// <summary>The retrieval <paramref name="mode"/> really runs as: auto is hybrid when the book has vectors, else lexical.</summary>
    public SearchMode EffectiveSearchMode(SearchMode mode) => ResolveMode(mode);

    /// <summary>The retrieval <paramref name="mode"/> runs as, in words ("BM25", "vector (MODEL)", "hybrid (BM25 + MODEL vectors, RRF)").</summary>
    public string DescribeSearchMode(SearchMode mode) => ResolveMode(mode) switch
    {
        SearchMode.Lexical => "BM25",
        SearchMode.Vector => $"vector ({_options.Embeddings?.RecordedName})",
        _ => $"hybrid (BM25 + {_options.Embeddings?.RecordedName} vectors, RRF)",
    };

    private SearchMode ResolveMode(SearchMode mode) => mode switch
    {
        SearchMode.Auto => _options.Embeddings is not null && VectorIndex() is { Count: > 0 } ? SearchMode.Hybrid : SearchMode.Lexical,
        _ => mode,
    };

    private async Task<IReadOnlyList<SearchHit>> SearchVectorsAsync(string query, SearchOptions options, SearchMode mode, CancellationToken ct)
    {
        var lexical = LexicalIndex();
        var (allowDoc, selectivity) = Catalog().Compile(options.Filter);
        var vectors = VectorIndex();
        var pool = Math.Max(options.K, options.CandidatePool);
        var queryVector = await Embedder().EmbedQueryAsync(query, ct).ConfigureAwait(false);
        var filter = new VectorFilter(id => lexical.TryGetDocument(id, out var doc) && allowDoc(doc), selectivity);
        var vectorList = vectors is null
            ? []
            : vectors.Search(queryVector, mode == SearchMode.Vector && options.MmrLambda is null ? options.K : pool, filter)
                .Select(h => new RankedChunk(h.Id, h.Similarity(VectorMetric.Cosine))).ToList();
        IReadOnlyList<RankedChunk> ranked = vectorList;
        if (mode == SearchMode.Hybrid)
        {
            var lexicalList = lexical.Search(query, pool, allowDoc).Select(h => new RankedChunk(h.ChunkId, h.Score)).ToList();
            ranked = ReciprocalRankFusion.Fuse([lexicalList, vectorList], [options.HybridWeights.Lexical, options.HybridWeights.Vector]);
        }
        if (options.MmrLambda is { } lambda && vectors is not null)
        {
            var candidates = ranked.Take(pool).ToList();
            var chunks = Store.GetChunks(candidates.Select(c => c.ChunkId).ToList());
            var cache = new EmbeddingCache(Store).Get(RequireEmbeddings().ModelId, chunks.Select(c => c.TextHash).ToHashSet());
            var byChunk = chunks.Where(c => cache.ContainsKey(c.TextHash)).ToDictionary(c => c.Id, c => cache[c.TextHash]);
            ranked = Mmr.Select(candidates.Where(c => byChunk.ContainsKey(c.ChunkId)).ToList(), queryVector, byChunk, lambda, options.K);
        }
        return ToHits(ranked.Take(options.K).Select(r => (r.ChunkId, r.Score)).ToList());
    }
}
