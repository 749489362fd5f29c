using OpenBook.Storage;
namespace OpenBook.Retrieval.Vectors;

/// <summary>
/// Exact (brute-force) vector index: contiguous 64-byte aligned storage, SIMD distances, multi-threaded scans for
/// large single queries and cache-blocked batched queries. The ground truth for <see cref="HnswIndex"/> and the
/// fallback for very selective filters. Thread-safe: many concurrent searches, writes serialised.
/// </summary>
public sealed unsafe class FlatIndex : IVectorIndex
{
    private readonly ReaderWriterLockSlim _lock = new();
    private NativeArray<float> _vectors;
    private long[] _ids;
    private readonly Dictionary<long, int> _rows = [];
    private int _count;
    private readonly bool _l2;
    private readonly bool _normalize;
    private VectorCodes? _codes;
    private IndexFileReader? _mapped;

    /// <summary>Creates an empty index.</summary>
    public FlatIndex(int dimensions, VectorMetric metric = VectorMetric.Cosine, int initialCapacity = 1024)
        : this(dimensions, metric, initialCapacity, VectorStorage.Float32) { }

    /// <summary>
    /// Creates an empty index that scans <paramref name="storage"/> codes (bf16 or int8) and re-ranks the best
    /// candidates exactly from float32 (see <see cref="RerankCandidates"/>). Int8 codes exist once the per-dimension
    /// range is fitted (<see cref="TrainQuantizer"/>, or <see cref="Save"/>); until then searches scan float32.
    /// </summary>
    public FlatIndex(int dimensions, VectorMetric metric, int initialCapacity, VectorStorage storage)
    {
        if (dimensions <= 0) throw new ArgumentOutOfRangeException(nameof(dimensions), "Dimensions must be positive.");
        Dimensions = dimensions;
        Metric = metric;
        _l2 = metric == VectorMetric.L2;
        _normalize = metric == VectorMetric.Cosine;
        initialCapacity = Math.Max(initialCapacity, 16);
        _vectors = new NativeArray<float>((long)initialCapacity * dimensions);
        _ids = new long[initialCapacity];
        Storage = storage;
        if (storage != VectorStorage.Float32) _codes = new VectorCodes(storage, dimensions, initialCapacity);
    }

    /// <summary>What a search scans (float32, or bf16/int8 codes with an exact re-rank).</summary>
    public VectorStorage Storage { get; }

    /// <summary>
    /// With bf16/int8 storage: candidates kept from the code scan and re-ranked exactly from float32
    /// (null, the default: max(4·k, 40)).
    /// </summary>
    public int? RerankCandidates { get; set; }

    /// <summary>Int8: fits the per-dimension range to the stored vectors and encodes them (bf16: re-encodes); no-op for float32.</summary>
    public void TrainQuantizer()
    {
        _lock.EnterWriteLock();
        try { _codes?.Train(_vectors.Ptr, _count); }
        finally { _lock.ExitWriteLock(); }
    }

    /// <inheritdoc/>
    public int Dimensions { get; }
    /// <inheritdoc/>
    public VectorMetric Metric { get; }
    /// <inheritdoc/>
    public int Count => _count;
    /// <summary>Threads used by one large search or a batch (default: all cores).</summary>
    public int MaxThreads { get; set; } = Environment.ProcessorCount;
    /// <summary>Bytes held by vectors and ids.</summary>
    public long MemoryBytes => _vectors.Bytes + (_codes?.Bytes ?? 0) + _ids.Length * 8L;

    /// <inheritdoc/>
    public void Add(long id, ReadOnlySpan<float> vector)
    {
        CheckDims(vector.Length);
        _lock.EnterWriteLock();
        try
        {
            if (!_rows.TryGetValue(id, out int row))
            {
                row = _count;
                if (row == _ids.Length)
                {
                    Array.Resize(ref _ids, Math.Max(16, _ids.Length * 2));
                    _vectors.Grow((long)_ids.Length * Dimensions);
                    _codes?.Grow(_ids.Length);
                }
                _ids[row] = id;
                _rows[id] = row;
                _count++;
            }
            var dst = new Span<float>(_vectors.Ptr + (long)row * Dimensions, Dimensions);
            vector.CopyTo(dst);
            if (_normalize) VectorKernels.Normalize(dst);
            fixed (float* v = dst) _codes?.Encode(row, v);
        }
        finally { _lock.ExitWriteLock(); }
    }

    /// <summary>Removes an id by moving the last row into its slot (no tombstones).</summary>
    public bool Remove(long id)
    {
        _lock.EnterWriteLock();
        try
        {
            if (!_rows.Remove(id, out int row)) return false;
            int last = --_count;
            if (row != last)
            {
                Buffer.MemoryCopy(_vectors.Ptr + (long)last * Dimensions, _vectors.Ptr + (long)row * Dimensions, Dimensions * 4L, Dimensions * 4L);
                _ids[row] = _ids[last];
                _rows[_ids[row]] = row;
                _codes?.Move(last, row);
            }
            return true;
        }
        finally { _lock.ExitWriteLock(); }
    }

    /// <inheritdoc/>
    public bool Contains(long id)
    {
        _lock.EnterReadLock();
        try { return _rows.ContainsKey(id); }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>Copies the stored vector of an id (normalised for cosine) into <paramref name="destination"/>.</summary>
    public bool TryGetVector(long id, Span<float> destination)
    {
        _lock.EnterReadLock();
        try
        {
            if (!_rows.TryGetValue(id, out int row)) return false;
            new ReadOnlySpan<float>(_vectors.Ptr + (long)row * Dimensions, Dimensions).CopyTo(destination);
            return true;
        }
        finally { _lock.ExitReadLock(); }
    }

    /// <inheritdoc/>
    public IReadOnlyList<VectorHit> Search(ReadOnlySpan<float> query, int k, VectorFilter? filter = null)
    {
        CheckDims(query.Length);
        if (k <= 0) return [];
        float[] q = PrepareQuery(query);
        _lock.EnterReadLock();
        try
        {
            int n = _count;
            long work = (long)n * Dimensions;
            int threads = Math.Min(MaxThreads, (int)Math.Max(1, work / 4_000_000));
            if (threads <= 1) return ScanRange(q, 0, n, k, filter?.Allows);
            var partial = new IReadOnlyList<VectorHit>[threads];
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                partial[t] = ScanRange(q, (int)((long)n * t / threads), (int)((long)n * (t + 1) / threads), k, filter?.Allows));
            return partial.SelectMany(p => p).OrderBy(h => h.Distance).Take(k).ToArray();
        }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>
    /// Exact k-NN (always on the float32 vectors, whatever <see cref="Storage"/> is) for many queries at once (row-major <paramref name="queries"/>, <c>count × Dimensions</c>), in parallel,
    /// scanning the vectors in cache-sized blocks shared by a group of queries. Returns one list per query.
    /// </summary>
    public VectorHit[][] SearchBatch(ReadOnlySpan<float> queries, int k, VectorFilter? filter = null)
    {
        if (queries.Length % Dimensions != 0) throw new ArgumentException($"Query buffer length {queries.Length} is not a multiple of {Dimensions}.");
        int nq = queries.Length / Dimensions;
        float[] qs = queries.ToArray();
        if (_normalize)
            for (int i = 0; i < nq; i++) VectorKernels.Normalize(qs.AsSpan(i * Dimensions, Dimensions));
        var results = new VectorHit[nq][];
        const int group = 16, block = 512;
        int groups = (nq + group - 1) / group;
        _lock.EnterReadLock();
        try
        {
            int n = _count;
            var allows = filter?.Allows;
            Parallel.For(0, groups, new ParallelOptions { MaxDegreeOfParallelism = MaxThreads }, g =>
            {
                int q0 = g * group, q1 = Math.Min(nq, q0 + group);
                var heaps = new DistHeap[q1 - q0];
                for (int i = 0; i < heaps.Length; i++) heaps[i] = new DistHeap(max: true);
                fixed (float* pq = qs)
                {
                    for (int r0 = 0; r0 < n; r0 += block)
                    {
                        int r1 = Math.Min(n, r0 + block);
                        for (int qi = q0; qi < q1; qi++)
                        {
                            var heap = heaps[qi - q0];
                            float* qv = pq + (long)qi * Dimensions;
                            for (int r = r0; r < r1; r++)
                            {
                                if (allows != null && !allows(_ids[r])) continue;
                                float d = VectorKernels.Distance(qv, _vectors.Ptr + (long)r * Dimensions, Dimensions, _l2);
                                heap.PushBounded(d, r, k);
                            }
                        }
                    }
                }
                for (int qi = q0; qi < q1; qi++) results[qi] = Drain(heaps[qi - q0]);
            });
        }
        finally { _lock.ExitReadLock(); }
        return results;
    }

    private IReadOnlyList<VectorHit> ScanRange(float[] q, int from, int to, int k, Func<long, bool>? allows)
    {
        var heap = new DistHeap(max: true);
        if (_codes is { Trained: true } codes)
        {
            int keep = Math.Max(k, RerankCandidates ?? Math.Max(4 * k, 40));
            fixed (float* pq = q)
            {
                var qc = new sbyte[Dimensions];
                fixed (sbyte* pc = qc)
                {
                    if (codes.Storage == VectorStorage.Int8)
                    {
                        var d8 = codes.Int8(pq, pc, _l2);
                        ScanCodes(ref d8, heap, from, to, keep, allows);
                    }
                    else
                    {
                        var d16 = codes.Bf16(pq, _l2);
                        ScanCodes(ref d16, heap, from, to, keep, allows);
                    }
                }
                int n = heap.Count;
                var rows = new int[n];
                heap.DrainSorted(new float[n], rows);
                foreach (int r in rows) heap.PushBounded(VectorKernels.Distance(pq, _vectors.Ptr + (long)r * Dimensions, Dimensions, _l2), r, k);
            }
            return Drain(heap);
        }
        fixed (float* pq = q)
        {
            float* v = _vectors.Ptr + (long)from * Dimensions;
            for (int r = from; r < to; r++, v += Dimensions)
            {
                if (allows != null && !allows(_ids[r])) continue;
                heap.PushBounded(VectorKernels.Distance(pq, v, Dimensions, _l2), r, k);
            }
        }
        return Drain(heap);
    }

    private void ScanCodes<TD>(ref TD dist, DistHeap heap, int from, int to, int keep, Func<long, bool>? allows) where TD : struct, INodeDistance
    {
        for (int r = from; r < to; r++)
        {
            if (allows != null && !allows(_ids[r])) continue;
            heap.PushBounded(dist.Of(r), r, keep);
        }
    }

    private VectorHit[] Drain(DistHeap heap)
    {
        int n = heap.Count;
        Span<float> d = n <= 256 ? stackalloc float[n] : new float[n];
        Span<int> r = n <= 256 ? stackalloc int[n] : new int[n];
        heap.DrainSorted(d, r);
        var hits = new VectorHit[n];
        for (int i = 0; i < n; i++) hits[i] = new VectorHit(_ids[r[i]], ToReported(d[i]));
        return hits;
    }

    private float ToReported(float internalDistance) => Metric == VectorMetric.Cosine ? 1f + internalDistance : internalDistance;

    private float[] PrepareQuery(ReadOnlySpan<float> query)
    {
        float[] q = query.ToArray();
        if (_normalize) VectorKernels.Normalize(q);
        return q;
    }

    private void CheckDims(int length)
    {
        if (length != Dimensions) throw new ArgumentException($"Vector has {length} dimensions, the index has {Dimensions}.");
    }

    /// <inheritdoc/>
    public void Save(string path, ulong stamp = 0)
    {
        _lock.EnterWriteLock();
        try
        {
            if (_codes is { Storage: VectorStorage.Int8 } c8 && (!c8.Trained || _count > 2 * c8.TrainedRows)) c8.Train(_vectors.Ptr, _count);
            var w = new IndexFileWriter();
            w.Section(_ids, _count);
            w.Section((nint)_vectors.Ptr, (long)_count * Dimensions * 4);
            _codes?.AddSections(w, _count);
            w.Save(path, new IndexHeader { Kind = IndexFileKind.Flat, Metric = Metric, Dims = Dimensions, NodeCount = _count, LiveCount = _count, Stamp = stamp, Quantization = (int)Storage });
        }
        finally { _lock.ExitWriteLock(); }
    }

    /// <summary>
    /// Opens a file written by <see cref="Save"/>. Throws <see cref="IndexFileException"/> when the file is missing,
    /// truncated, corrupt, or its dimensions/metric differ from the expected ones (when given).
    /// A bf16/int8 file keeps its float32 vectors (read only by the re-rank) in the memory-mapped file; the codes are
    /// copied into memory.
    /// </summary>
    public static FlatIndex Open(string path, int? expectedDimensions = null, VectorMetric? expectedMetric = null, bool verifyChecksum = true)
    {
        var file = new IndexFileReader(path, verifyChecksum);
        FlatIndex? index = null;
        try
        {
            var h = file.Header;
            ExpectHeader(file, IndexFileKind.Flat, expectedDimensions, expectedMetric);
            var storage = (VectorStorage)h.Quantization;
            long n = h.NodeCount;
            bool map = storage != VectorStorage.Float32 && n > 0;
            index = new FlatIndex(h.Dims, h.Metric, map ? 16 : (int)Math.Max(16, n), storage);
            index._ids = file.ReadArray<long>(0, n);
            byte* v = file.Section(1, n * h.Dims * 4);
            if (map)
            {
                index._vectors.Dispose();
                index._vectors = NativeArray<float>.Borrow((float*)v, n * h.Dims);
                index._codes!.Load(file, 2, (int)n);
                index._mapped = file;
            }
            else
            {
                if (index._ids.Length < 16) Array.Resize(ref index._ids, 16);
                Buffer.MemoryCopy(v, index._vectors.Ptr, index._vectors.Bytes, n * h.Dims * 4);
                if (index._codes is not null) index._codes.Load(file, 2, (int)n);
            }
            index._count = (int)n;
            for (int i = 0; i < n; i++)
                if (!index._rows.TryAdd(index._ids[i], i)) throw new IndexFileException(path, $"corrupt: id {index._ids[i]} appears twice");
            if (!map) file.Dispose();
            return index;
        }
        catch
        {
            index?.Dispose();
            file.Dispose();
            throw;
        }
    }

    internal static void ExpectHeader(IndexFileReader file, IndexFileKind kind, int? dims, VectorMetric? metric)
    {
        var h = file.Header;
        if (h.Kind != kind) throw new IndexFileException(file.Path, $"holds a {h.Kind} index, expected {kind}");
        if (dims is { } d && h.Dims != d) throw new IndexFileException(file.Path, $"has {h.Dims} dimensions, expected {d}");
        if (metric is { } m && h.Metric != m) throw new IndexFileException(file.Path, $"uses metric {h.Metric}, expected {m}");
        if (!Enum.IsDefined((VectorStorage)h.Quantization))
            throw new IndexFileException(file.Path, $"uses quantization mode {h.Quantization}, which this build does not read");
        if (h.Version < 2 && h.Quantization != 0) throw new IndexFileException(file.Path, "corrupt header (a version 1 file holds float32 vectors only)");
        if (h.Dims <= 0 || h.NodeCount < 0 || h.NodeCount > int.MaxValue || !Enum.IsDefined(h.Metric))
            throw new IndexFileException(file.Path, "corrupt header (dimensions, count or metric out of range)");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _vectors.Dispose();
        _codes?.Dispose();
        _mapped?.Dispose();
        _mapped = null;
        _lock.Dispose();
    }
}
