using OpenBook.Storage;

namespace OpenBook.Retrieval.Lexical;

/// <summary>BM25 parameters (Robertson/Spärck Jones; defaults as in Lucene).</summary>
/// <param name="K1">Term-frequency saturation (≥ 0).</param>
/// <param name="B">Length normalisation (0..1).</param>
public sealed record Bm25Parameters(double K1 = 1.2, double B = 0.75)
{
    /// <summary>Throws when a parameter is out of range.</summary>
    public void Validate()
    {
        if (K1 < 0 || double.IsNaN(K1)) throw new OpenBookException($"BM25 k1 must be ≥ 0 (got {K1}).");
        if (B is < 0 or > 1 || double.IsNaN(B)) throw new OpenBookException($"BM25 b must be between 0 and 1 (got {B}).");
    }
}

/// <summary>A BM25 hit: chunk id and score.</summary>
public readonly record struct LexicalHit(long ChunkId, float Score);

/// <summary>
/// An in-memory inverted index scored with Okapi BM25, with incremental add and delete (tombstones; document
/// frequencies include tombstoned chunks until <see cref="Compact"/>, as in Lucene), doc-level filtering during
/// top-k selection, and a versioned, checksummed file format. It is derived data: the SQLite store is the source of truth.
/// Thread safety: many concurrent searches, or one writer (a reader-writer lock guards the structures).
/// </summary>
public sealed class Bm25Index
{
    private const string Magic = "OPENBOOK-BM25";
    private const int FormatVersion = 1;

    private sealed class Postings
    {
        public int[] Ordinals = new int[2];
        public int[] Frequencies = new int[2];
        public int Count;

        public void Add(int ordinal, int tf)
        {
            if (Count == Ordinals.Length)
            {
                Array.Resize(ref Ordinals, Count * 2);
                Array.Resize(ref Frequencies, Count * 2);
            }
            Ordinals[Count] = ordinal;
            Frequencies[Count] = tf;
            Count++;
        }
    }

    private readonly TextAnalyzer _analyzer;
    private readonly Dictionary<string, Postings> _terms = new(StringComparer.Ordinal);
    private readonly List<long> _chunkIds = [];
    private readonly List<long> _docIds = [];
    private readonly List<int> _lengths = [];
    private readonly List<bool> _deleted = [];
    private readonly Dictionary<long, int> _ordinalOf = [];
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private long _liveLength;
    private int _liveCount;

    /// <summary>Creates an empty index.</summary>
    public Bm25Index(Bm25Parameters? parameters = null, TextAnalyzer? analyzer = null)
    {
        Parameters = parameters ?? new Bm25Parameters();
        Parameters.Validate();
        _analyzer = analyzer ?? TextAnalyzer.Default;
    }

    /// <summary>Scoring parameters.</summary>
    public Bm25Parameters Parameters { get; }

    /// <summary>The store change sequence this index reflects (see <c>DocumentStore.ChangesSince</c>).</summary>
    public long StoreSequence { get; set; }

    /// <summary>Number of live (not deleted) chunks.</summary>
    public int Count => _liveCount;

    /// <summary>Number of distinct terms.</summary>
    public int TermCount => _terms.Count;

    /// <summary>Fraction of slots occupied by tombstones.</summary>
    public double DeletedFraction => _chunkIds.Count == 0 ? 0 : 1.0 - (double)_liveCount / _chunkIds.Count;

    /// <summary>True when the chunk is indexed and live.</summary>
    public bool Contains(long chunkId)
    {
        _lock.EnterReadLock();
        try { return _ordinalOf.TryGetValue(chunkId, out var o) && !_deleted[o]; }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>Indexes a chunk (replacing an earlier version with the same id).</summary>
    public void Add(long chunkId, long documentId, string text)
    {
        var terms = _analyzer.Terms(text);
        _lock.EnterWriteLock();
        try { AddLocked(chunkId, documentId, terms); }
        finally { _lock.ExitWriteLock(); }
    }

    /// <summary>
    /// Adds (or replaces) many chunks: text analysis runs in parallel, then the postings are updated under one lock.
    /// </summary>
    public void AddRange(IReadOnlyList<(long ChunkId, long DocumentId, string Text)> chunks)
    {
        var terms = chunks.AsParallel().AsOrdered().Select(c => _analyzer.Terms(c.Text)).ToArray();
        _lock.EnterWriteLock();
        try
        {
            for (var i = 0; i < chunks.Count; i++) AddLocked(chunks[i].ChunkId, chunks[i].DocumentId, terms[i]);
        }
        finally { _lock.ExitWriteLock(); }
    }

    private readonly Dictionary<string, int> _termCounts = new(StringComparer.Ordinal); // scratch, used under the write lock

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void AddLocked(long chunkId, long documentId, List<string> terms)
    {
        if (_ordinalOf.TryGetValue(chunkId, out var old)) RemoveOrdinal(old);
        var ordinal = _chunkIds.Count;
        _chunkIds.Add(chunkId);
        _docIds.Add(documentId);
        _lengths.Add(terms.Count);
        _deleted.Add(false);
        _ordinalOf[chunkId] = ordinal;
        _liveCount++;
        _liveLength += terms.Count;

        var counts = _termCounts;
        counts.Clear();
        foreach (var t in terms) System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, t, out _)++;
        foreach (var (term, tf) in counts)
        {
            ref var p = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_terms, term, out var exists);
            if (!exists) p = new Postings();
            p!.Add(ordinal, tf);
        }
    }

    /// <summary>The document of an indexed (live) chunk.</summary>
    public bool TryGetDocument(long chunkId, out long documentId)
    {
        _lock.EnterReadLock();
        try
        {
            if (_ordinalOf.TryGetValue(chunkId, out var o) && !_deleted[o]) { documentId = _docIds[o]; return true; }
            documentId = 0;
            return false;
        }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>Removes a chunk (tombstone). Returns false when it was not indexed.</summary>
    public bool Remove(long chunkId)
    {
        _lock.EnterWriteLock();
        try
        {
            if (!_ordinalOf.TryGetValue(chunkId, out var o)) return false;
            RemoveOrdinal(o);
            _ordinalOf.Remove(chunkId);
            return true;
        }
        finally { _lock.ExitWriteLock(); }
    }

    private void RemoveOrdinal(int ordinal)
    {
        if (_deleted[ordinal]) return;
        _deleted[ordinal] = true;
        _liveCount--;
        _liveLength -= _lengths[ordinal];
    }

    /// <summary>Rewrites the postings without tombstones (document frequencies become exact again).</summary>
    public void Compact()
    {
        _lock.EnterWriteLock();
        try
        {
            var remap = new int[_chunkIds.Count];
            var next = 0;
            for (var o = 0; o < _chunkIds.Count; o++) remap[o] = _deleted[o] ? -1 : next++;
            var empty = new List<string>();
            foreach (var (term, p) in _terms)
            {
                var w = 0;
                for (var i = 0; i < p.Count; i++)
                {
                    var n = remap[p.Ordinals[i]];
                    if (n < 0) continue;
                    p.Ordinals[w] = n;
                    p.Frequencies[w] = p.Frequencies[i];
                    w++;
                }
                p.Count = w;
                if (w == 0) empty.Add(term);
            }
            foreach (var t in empty) _terms.Remove(t);
            CompactList(_chunkIds, remap);
            CompactList(_docIds, remap);
            CompactList(_lengths, remap);
            _deleted.Clear();
            _deleted.AddRange(Enumerable.Repeat(false, _chunkIds.Count));
            _ordinalOf.Clear();
            for (var o = 0; o < _chunkIds.Count; o++) _ordinalOf[_chunkIds[o]] = o;
        }
        finally { _lock.ExitWriteLock(); }
    }

    private static void CompactList<T>(List<T> list, int[] remap)
    {
        var w = 0;
        for (var o = 0; o < list.Count; o++)
            if (remap[o] >= 0) list[w++] = list[o];
        list.RemoveRange(w, list.Count - w);
    }

    [ThreadStatic] private static float[]? t_scores;
    [ThreadStatic] private static List<int>? t_touched;

    /// <summary>
    /// Top-<paramref name="k"/> chunks for <paramref name="query"/>. <paramref name="allowDocument"/> (by document id)
    /// is applied before a chunk can enter the result, so filtered-out chunks are never returned.
    /// </summary>
    public IReadOnlyList<LexicalHit> Search(string query, int k, Func<long, bool>? allowDocument = null)
    {
        if (k <= 0) return [];
        var queryTerms = _analyzer.Terms(query);
        if (queryTerms.Count == 0) return [];
        var qtf = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in queryTerms) qtf[t] = qtf.GetValueOrDefault(t) + 1;

        _lock.EnterReadLock();
        try
        {
            if (_liveCount == 0) return [];
            var n = _chunkIds.Count;
            var scores = t_scores is { } s && s.Length >= n ? s : t_scores = new float[Math.Max(n, 1024) * 5 / 4];
            var touched = t_touched ??= [];
            touched.Clear();
            var k1 = Parameters.K1;
            var b = Parameters.B;
            var avgdl = Math.Max(1e-9, (double)_liveLength / _liveCount);
            foreach (var (term, count) in qtf)
            {
                if (!_terms.TryGetValue(term, out var p)) continue;
                var idf = Idf(n, p.Count) * count;
                for (var i = 0; i < p.Count; i++)
                {
                    var o = p.Ordinals[i];
                    if (_deleted[o]) continue;
                    var tf = p.Frequencies[i];
                    var norm = tf + k1 * (1 - b + b * _lengths[o] / avgdl);
                    var add = (float)(idf * tf * (k1 + 1) / norm);
                    if (scores[o] == 0) touched.Add(o);
                    scores[o] += add;
                }
            }

            var heap = new PriorityQueue<int, (float Score, long NegId)>(k + 1);
            foreach (var o in touched)
            {
                var score = scores[o];
                scores[o] = 0;
                if (allowDocument is not null && !allowDocument(_docIds[o])) continue;
                var key = (score, -_chunkIds[o]);
                if (heap.Count < k) heap.Enqueue(o, key);
                else if (heap.TryPeek(out _, out var min) && key.CompareTo(min) > 0) heap.EnqueueDequeue(o, key);
            }
            var result = new LexicalHit[heap.Count];
            for (var i = result.Length - 1; i >= 0; i--)
            {
                heap.TryDequeue(out var o, out var key);
                result[i] = new LexicalHit(_chunkIds[o], key.Score);
            }
            return result;
        }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>Inverse document frequency of a term, as BM25 defines it (always positive).</summary>
    public double Idf(string analyzedTerm)
    {
        _lock.EnterReadLock();
        try { return Idf(_chunkIds.Count, _terms.TryGetValue(analyzedTerm, out var p) ? p.Count : 0); }
        finally { _lock.ExitReadLock(); }
    }

    private static double Idf(int n, int df) => Math.Log(1 + (n - df + 0.5) / (df + 0.5));

    /// <summary>Writes the index atomically (temp file + rename) with a checksum. Compacts first when tombstones exceed 20 %.</summary>
    public void Save(string path)
    {
        if (DeletedFraction > 0.2) Compact();
        _lock.EnterReadLock();
        try
        {
            IndexFile.WriteAtomic(path, IndexFileKind.Bm25, w =>
            {
                IndexFile.WriteHeader(w, Magic, FormatVersion);
                w.Write(TextAnalyzer.Version);
                w.Write(Parameters.K1);
                w.Write(Parameters.B);
                w.Write(StoreSequence);
                w.Write(_chunkIds.Count);
                for (var o = 0; o < _chunkIds.Count; o++)
                {
                    w.Write(_chunkIds[o]);
                    w.Write(_docIds[o]);
                    w.Write(_lengths[o]);
                    w.Write(_deleted[o]);
                }
                w.Write(_terms.Count);
                foreach (var (term, p) in _terms)
                {
                    w.Write(term);
                    w.Write7BitEncodedInt(p.Count);
                    var prev = 0;
                    for (var i = 0; i < p.Count; i++)
                    {
                        w.Write7BitEncodedInt(p.Ordinals[i] - prev); // ordinals are ascending: delta-encode
                        prev = p.Ordinals[i];
                        w.Write7BitEncodedInt(p.Frequencies[i]);
                    }
                }
            });
        }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>Loads an index written by <see cref="Save"/>.</summary>
    /// <exception cref="IndexFileException">Missing, corrupt, other format/analyzer version or other parameters.</exception>
    public static Bm25Index Load(string path, Bm25Parameters? expected = null)
    {
        var content = IndexFile.ReadVerified(path, IndexFileKind.Bm25);
        using var r = new BinaryReader(new MemoryStream(content));
        try
        {
            IndexFile.ReadHeader(r, path, Magic, FormatVersion);
            var analyzerVersion = r.ReadInt32();
            if (analyzerVersion != TextAnalyzer.Version)
                throw new IndexFileException(path, $"built with analyzer v{analyzerVersion}, current is v{TextAnalyzer.Version}");
            var parameters = new Bm25Parameters(r.ReadDouble(), r.ReadDouble());
            if (expected is not null && expected != parameters)
                throw new IndexFileException(path, $"built with k1={parameters.K1}, b={parameters.B}; requested k1={expected.K1}, b={expected.B}");
            var index = new Bm25Index(parameters) { StoreSequence = r.ReadInt64() };
            var count = r.ReadInt32();
            for (var o = 0; o < count; o++)
            {
                var chunkId = r.ReadInt64();
                var docId = r.ReadInt64();
                var length = r.ReadInt32();
                var deleted = r.ReadBoolean();
                index._chunkIds.Add(chunkId);
                index._docIds.Add(docId);
                index._lengths.Add(length);
                index._deleted.Add(deleted);
                if (!deleted)
                {
                    index._ordinalOf[chunkId] = o;
                    index._liveCount++;
                    index._liveLength += length;
                }
            }
            var terms = r.ReadInt32();
            for (var t = 0; t < terms; t++)
            {
                var term = r.ReadString();
                var n = r.Read7BitEncodedInt();
                var p = new Postings { Ordinals = new int[Math.Max(n, 2)], Frequencies = new int[Math.Max(n, 2)], Count = n };
                var prev = 0;
                for (var i = 0; i < n; i++)
                {
                    prev += r.Read7BitEncodedInt();
                    if ((uint)prev >= (uint)count) throw new IndexFileException(path, "posting refers to a chunk outside the index");
                    p.Ordinals[i] = prev;
                    p.Frequencies[i] = r.Read7BitEncodedInt();
                }
                index._terms[term] = p;
            }
            if (r.BaseStream.Position != r.BaseStream.Length) throw new IndexFileException(path, "trailing bytes");
            return index;
        }
        catch (EndOfStreamException)
        {
            throw new IndexFileException(path, "truncated content");
        }
    }
}
