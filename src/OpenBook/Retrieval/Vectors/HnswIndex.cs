using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

using OpenBook.Storage;

namespace OpenBook.Retrieval.Vectors;

/// <summary>Parameters of an <see cref="HnswIndex"/> (names as in Malkov &amp; Yashunin and hnswlib).</summary>
public sealed record HnswOptions
{
    /// <summary>Links per node on the upper layers; layer 0 keeps 2·M. 12–48 is typical (default 16).</summary>
    public int M { get; init; } = 16;
    /// <summary>Candidate list size while inserting: higher builds a better graph, slower (default 200).</summary>
    public int EfConstruction { get; init; } = 200;
    /// <summary>Candidate list size while searching (raised to k when smaller): the recall/speed knob (default 64).</summary>
    public int EfSearch { get; init; } = 64;
    /// <summary>Nodes to reserve up front (the index grows by doubling).</summary>
    public int InitialCapacity { get; init; } = 1024;
    /// <summary>Seed of the level generator: a single-threaded build with the same seed and input gives the same graph.</summary>
    public int Seed { get; init; } = 100;
    /// <summary>
    /// What the search walks (default <see cref="VectorStorage.Float32"/>). With bf16 or int8 the graph is still built from
    /// the float32 vectors; searches walk the compact codes and re-rank the candidates exactly from float32, which a
    /// reopened index reads from its memory-mapped file (not resident). Int8 codes exist once the per-dimension range is
    /// fitted (<see cref="HnswIndex.TrainQuantizer"/>, done by <see cref="HnswIndex.Save(string, ulong)"/> when needed); until then searches use float32.
    /// </summary>
    public VectorStorage Storage { get; init; } = VectorStorage.Float32;
}

/// <summary>
/// Hierarchical Navigable Small World graph (Malkov &amp; Yashunin 2016): approximate k-NN in logarithmic-ish time.
/// <list type="bullet">
/// <item>Insertions may run concurrently with each other and with searches (per-node striped locks on link lists;
/// a reader/writer lock only around growth, compaction and saving).</item>
/// <item>Neighbours are chosen with the paper's heuristic (algorithm 4), so clusters stay connected.</item>
/// <item>Deletes leave a tombstone (the node still routes searches, never appears in results) and repair the links of
/// its neighbours; <see cref="Compact"/> drops tombstones for good.</item>
/// <item>Filters are applied during the graph walk; when a filter is so selective that scanning the passing ids is cheaper
/// (see <see cref="ExactFallbackSelectivity"/>) the index scans exactly instead; either way a filtered search returns
/// k results when k pass.</item>
/// </list>
/// Vectors live in 64-byte aligned unmanaged memory; a saved index opens by memory mapping (copy-on-write).
/// </summary>
public sealed unsafe class HnswIndex : IVectorIndex
{
    private const byte Deleted = 1, Ready = 2;
    private const int LockStripes = 1 << 12;

    private readonly ReaderWriterLockSlim _resize = new(LockRecursionPolicy.NoRecursion);
    private readonly object _meta = new();
    private readonly object _entryLock = new();
    private readonly object[] _locks;
    private readonly bool _l2, _normalize;
    private readonly int _m, _m0, _stride0;
    private readonly double _levelMult;
    private readonly Random _rng;

    private NativeArray<float> _vectors;
    private NativeArray<int> _links0;      // per node: [count, n1 … nM0]
    private int[]?[] _upper;               // per node with level ≥ 1: pinned, level × [count, n1 … nM]
    private long[] _ids;
    private byte[] _levels;
    private byte[] _flags;
    private readonly Dictionary<long, int> _nodeOf = [];
    private int _capacity, _nodes, _live;
    private int _entry = -1, _maxLevel = -1;
    private IndexFileReader? _mapped;
    private VectorCodes? _codes;

    /// <summary>Creates an empty index.</summary>
    public HnswIndex(int dimensions, VectorMetric metric = VectorMetric.Cosine, HnswOptions? options = null)
    {
        if (dimensions <= 0) throw new ArgumentOutOfRangeException(nameof(dimensions), "Dimensions must be positive.");
        Options = options ??= new HnswOptions();
        if (options.M is < 2 or > 255) throw new ArgumentOutOfRangeException(nameof(options), $"M must be in 2..255, got {options.M}.");
        if (options.EfConstruction < 1) throw new ArgumentOutOfRangeException(nameof(options), "EfConstruction must be positive.");
        Dimensions = dimensions;
        Metric = metric;
        EfSearch = options.EfSearch;
        _l2 = metric == VectorMetric.L2;
        _normalize = metric == VectorMetric.Cosine;
        _m = options.M;
        _m0 = 2 * options.M;
        _stride0 = _m0 + 1;
        _levelMult = 1 / Math.Log(options.M);
        _rng = new Random(options.Seed);
        _locks = new object[LockStripes];
        for (int i = 0; i < _locks.Length; i++) _locks[i] = new object();
        _capacity = Math.Max(16, options.InitialCapacity);
        _vectors = new NativeArray<float>((long)_capacity * dimensions);
        _links0 = new NativeArray<int>((long)_capacity * _stride0);
        _upper = new int[]?[_capacity];
        _ids = new long[_capacity];
        _levels = new byte[_capacity];
        _flags = new byte[_capacity];
        if (options.Storage != VectorStorage.Float32) _codes = new VectorCodes(options.Storage, dimensions, _capacity);
        _costs = DefaultCosts();
    }

    /// <summary>The construction parameters.</summary>
    public HnswOptions Options { get; }
    /// <inheritdoc/>
    public int Dimensions { get; }
    /// <inheritdoc/>
    public VectorMetric Metric { get; }
    /// <inheritdoc/>
    public int Count => Volatile.Read(ref _live);
    /// <summary>Nodes in the graph including tombstones (see <see cref="Compact"/>).</summary>
    public int NodeCount => Volatile.Read(ref _nodes);
    /// <summary>Candidate list size for searches; may be changed at any time.</summary>
    public int EfSearch { get; set; }
    /// <summary>What the search walks (see <see cref="HnswOptions.Storage"/>).</summary>
    public VectorStorage Storage => Options.Storage;
    /// <summary>
    /// With bf16/int8 storage: how many of the walk's closest candidates are re-ranked exactly from float32
    /// (null, the default: all efSearch of them; never fewer than k).
    /// </summary>
    public int? RerankCandidates { get; set; }
    /// <summary>True when searches walk bf16/int8 codes (false for float32, and for int8 before its range is fitted).</summary>
    public bool SearchesCodes => _codes is { Trained: true };
    /// <summary>
    /// When set, a filtered search passing fewer than this fraction of the nodes scans the passing ids exactly instead of
    /// walking the graph. When null (default) the index decides per query from <see cref="FilterCosts"/>, costs measured
    /// on this index: a filtered walk visits about <c>VisitsPerEf · ef / selectivity</c> nodes (it walks past rejected
    /// nodes until ef pass), each a random access costing <c>NsPerVisit</c>; an exact scan reads all n rows
    /// (<c>NsPerRow</c>: flag and predicate) and computes <c>n · selectivity</c> sequential distances
    /// (<c>NsPerScanDistance</c>); the cheaper one runs. Both return only passing ids; the scan is exact
    /// (on the codes, then re-ranked, for bf16/int8).
    /// </summary>
    public double? ExactFallbackSelectivity { get; set; }

    /// <summary>
    /// Per-candidate costs of the two filtered-search plans, in nanoseconds, measured on this index: timed once over a
    /// sample of its own nodes on the first filtered search (and again when it has doubled since), then refined from the
    /// filtered walks and scans it runs (moving averages).
    /// </summary>
    /// <param name="NsPerVisit">One node of a graph walk: the random access to its vector or codes, the distance, the heap work.</param>
    /// <param name="NsPerRow">One row of the exact scan: the deleted flag and the filter's predicate.</param>
    /// <param name="NsPerScanDistance">One distance in the scan (sequential access).</param>
    /// <param name="VisitsPerEf">Nodes a filtered walk visits per unit of <c>ef / selectivity</c>.</param>
    /// <param name="Measured">False until the first calibration (the figures are then defaults).</param>
    public readonly record struct FilterCostModel(double NsPerVisit, double NsPerRow, double NsPerScanDistance, double VisitsPerEf, bool Measured);

    private FilterCostModel _costs;
    private int _calibratedAt;

    /// <summary>The filtered-search cost model now in use (see <see cref="ExactFallbackSelectivity"/>).</summary>
    public FilterCostModel FilterCosts => _costs;

    /// <summary>True when a filtered search with this selectivity and ef will scan exactly instead of walking the graph.</summary>
    public bool PrefersExactScan(double selectivity, int efSearch)
    {
        if (ExactFallbackSelectivity is { } fixedThreshold) return selectivity < fixedThreshold;
        var c = _costs;
        double n = Math.Max(1, Count);
        double visits = Math.Min(n, c.VisitsPerEf * efSearch / Math.Max(selectivity, 1e-9));
        double walk = visits * (c.NsPerVisit + c.NsPerRow);
        double exact = n * c.NsPerRow + n * selectivity * c.NsPerScanDistance;
        return exact < walk;
    }

    private FilterCostModel DefaultCosts()
    {
        // before anything is measured: a distance costs ~0.05 ns a byte read sequentially, a walk step adds ~100 ns of
        // cache misses, a predicate call ~4 ns (orders of magnitude from openbook-bench vectors; replaced by measurements)
        double bytes = Dimensions * (Options.Storage switch { VectorStorage.Int8 => 1, VectorStorage.BFloat16 => 2, _ => 4 });
        return new FilterCostModel(100 + 0.1 * bytes, 4, 2 + 0.05 * bytes, _m0 / 5.0, false);
    }

    /// <summary>Times the two plans' unit operations on a sample of this index's own nodes (with the distance the search uses).</summary>
    private void Calibrate<TD>(ref TD dist, Func<long, bool> allows, SearchScratch s) where TD : struct, INodeDistance
    {
        int n = _nodes;
        if (n < 64) return;
        int sample = Math.Min(n, 2048);
        float sink = 0;
        // sequential distances
        int start = (int)((uint)(n - sample) / 2);
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int i = start; i < start + sample; i++) sink += dist.Of(i);
        long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
        // random walk steps: read a node's links, distance to a random neighbour-like node, visited check
        var visited = s.Visited;
        visited.Reset(_capacity);
        uint x = 2463534242;
        for (int i = 0; i < sample; i++)
        {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            int node = (int)(x % (uint)n);
            int* list = Links(node, 0);
            if (!visited.TestAndSet(node)) sink += dist.Of(list[0] > 0 ? list[1] : node);
        }
        long t2 = System.Diagnostics.Stopwatch.GetTimestamp();
        int passed = 0;
        for (int i = start; i < start + sample; i++)
            if ((Volatile.Read(ref _flags[i]) & (Deleted | Ready)) == Ready && allows(_ids[i])) passed++;
        long t3 = System.Diagnostics.Stopwatch.GetTimestamp();
        double ns = 1e9 / System.Diagnostics.Stopwatch.Frequency / sample;
        double seqDist = Math.Max(0.5, (t1 - t0) * ns);
        double visit = Math.Max(seqDist, (t2 - t1) * ns) + 10; // + heap and visited-set work of a real walk step
        double row = Math.Max(0.5, (t3 - t2) * ns);
        _costs = new FilterCostModel(visit, row, seqDist, _costs.Measured ? _costs.VisitsPerEf : _m0 / 5.0, true);
        _calibratedAt = n;
        GC.KeepAlive(sink + passed);
    }

    /// <summary>Folds a measured filtered walk or scan into the cost model (moving average, weight 1/8).</summary>
    private void Observe(bool scanned, long ticks, int visits, double selectivity, int ef, int n)
    {
        var c = _costs;
        if (!c.Measured || ticks <= 0) return;
        double ns = ticks * 1e9 / System.Diagnostics.Stopwatch.Frequency;
        const double a = 0.125;
        if (scanned)
        {
            double row = (ns - n * selectivity * c.NsPerScanDistance) / Math.Max(1, n);
            if (row > 0) c = c with { NsPerRow = (1 - a) * c.NsPerRow + a * row };
        }
        else if (visits > 0)
        {
            double perEf = visits * Math.Max(selectivity, 1e-9) / Math.Max(1, ef);
            double visit = ns / visits - c.NsPerRow;
            c = c with
            {
                VisitsPerEf = (1 - a) * c.VisitsPerEf + a * perEf,
                NsPerVisit = visit > 0 ? (1 - a) * c.NsPerVisit + a * visit : c.NsPerVisit,
            };
        }
        _costs = c;
    }

    /// <summary>Approximate bytes held: vectors, links, ids and bookkeeping (not the id dictionary).</summary>
    public long MemoryBytes
    {
        get
        {
            long upper = 0;
            foreach (var u in _upper) if (u != null) upper += u.Length * 4L + 24;
            return _vectors.Bytes + (_codes?.Bytes ?? 0) + _links0.Bytes + _ids.Length * 10L + _upper.Length * 8L + upper;
        }
    }

    /// <summary>
    /// Bytes a search needs resident: what it walks (float32 vectors, or the bf16/int8 codes), links, ids, the id → node
    /// map (estimated at 28 bytes an entry) and one searching thread's visited set. For a reopened bf16/int8 index the
    /// float32 vectors read by the re-rank stay in the memory-mapped file and are not counted.
    /// </summary>
    public long SearchMemoryBytes =>
        MemoryBytes - (SearchesCodes && _mapped != null ? _vectors.Bytes : 0) - (SearchesCodes ? 0 : _codes?.Bytes ?? 0)
        + 28L * Count + 4L * _capacity;

    /// <summary>
    /// Int8: fits the per-dimension range to the vectors now in the index and encodes them all (bf16: re-encodes).
    /// Later additions are encoded with this range (values outside it are clamped); <see cref="Save(string, ulong)"/> refits when the
    /// index has more than doubled since. No-op for float32 storage.
    /// </summary>
    public void TrainQuantizer()
    {
        _resize.EnterWriteLock();
        try { TrainLocked(); }
        finally { _resize.ExitWriteLock(); }
    }

    private void TrainLocked()
    {
        if (_codes is null) return;
        int n = _nodes;
        _codes.Train(_vectors.Ptr, n, i => (_flags[i] & Deleted) == 0);
    }

    // ---------------------------------------------------------------- insertion

    /// <inheritdoc/>
    public void Add(long id, ReadOnlySpan<float> vector)
    {
        if (vector.Length != Dimensions) throw new ArgumentException($"Vector has {vector.Length} dimensions, the index has {Dimensions}.");
        int node, level, replaced = -1;
        while (true)
        {
            _resize.EnterReadLock();
            bool full = false;
            lock (_meta)
            {
                if (_nodeOf.Remove(id, out int old)) { Tombstone(old); replaced = old; }
                if (_nodes < _capacity)
                {
                    node = _nodes++;
                    level = RandomLevel();
                    _nodeOf[id] = node;
                    _ids[node] = id;
                    _levels[node] = (byte)level;
                    _live++;
                }
                else { full = true; node = level = -1; }
            }
            if (!full) break;
            _resize.ExitReadLock();
            Grow();
        }
        try
        {
            if (level > 0) _upper[node] = GC.AllocateArray<int>(level * (_m + 1), pinned: true);
            var dst = new Span<float>(Vec(node), Dimensions);
            vector.CopyTo(dst);
            if (_normalize) VectorKernels.Normalize(dst);
            _codes?.Encode(node, Vec(node));
            var s = SearchScratch.Current;
            if (replaced >= 0) Repair(replaced, s);
            Insert(node, level, s);
            lock (_meta) _flags[node] |= Ready;
        }
        finally { _resize.ExitReadLock(); }
    }

    /// <summary>
    /// Adds many vectors (row-major, <c>ids.Count × Dimensions</c>) using <paramref name="threads"/> threads
    /// (default: all cores). With one thread the result is deterministic for a given <see cref="HnswOptions.Seed"/>.
    /// </summary>
    public void AddRange(IReadOnlyList<long> ids, ReadOnlyMemory<float> vectors, int threads = 0, IProgress<int>? progress = null)
    {
        if (vectors.Length != (long)ids.Count * Dimensions)
            throw new ArgumentException($"Expected {ids.Count} × {Dimensions} floats, got {vectors.Length}.");
        Reserve(NodeCount + ids.Count);
        threads = threads <= 0 ? Environment.ProcessorCount : threads;
        int done = 0;
        void One(int i)
        {
            Add(ids[i], vectors.Span.Slice(i * Dimensions, Dimensions));
            int d = Interlocked.Increment(ref done);
            if (progress != null && d % 1024 == 0) progress.Report(d);
        }
        if (threads == 1 || ids.Count < 64) { for (int i = 0; i < ids.Count; i++) One(i); }
        else Parallel.For(0, ids.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, One);
        progress?.Report(ids.Count);
    }

    /// <summary>Grows the storage to hold at least <paramref name="nodes"/> nodes without further reallocation.</summary>
    public void Reserve(int nodes)
    {
        _resize.EnterWriteLock();
        try { GrowLocked(nodes); }
        finally { _resize.ExitWriteLock(); }
    }

    private void Grow()
    {
        _resize.EnterWriteLock();
        try { if (_nodes >= _capacity) GrowLocked(_capacity * 2); }
        finally { _resize.ExitWriteLock(); }
    }

    private void GrowLocked(int capacity)
    {
        if (capacity <= _capacity) return;
        _vectors.Grow((long)capacity * Dimensions);
        _links0.Grow((long)capacity * _stride0);
        Array.Resize(ref _upper, capacity);
        Array.Resize(ref _ids, capacity);
        Array.Resize(ref _levels, capacity);
        Array.Resize(ref _flags, capacity);
        _codes?.Grow(capacity);
        _capacity = capacity;
    }

    private int RandomLevel()
    {
        double u = 1.0 - _rng.NextDouble(); // (0, 1]
        return Math.Min(32, (int)(-Math.Log(u) * _levelMult));
    }

    private void Insert(int node, int level, SearchScratch s)
    {
        int entry, maxLevel;
        lock (_entryLock)
        {
            if (_entry < 0)
            {
                _entry = node;
                _maxLevel = level;
                return;
            }
            entry = _entry;
            maxLevel = _maxLevel;
        }
        float* q = Vec(node);
        var dist = new F32Distance(q, _vectors.Ptr, Dimensions, _l2);
        int cur = entry;
        float curD = Dist(q, Vec(cur));
        for (int l = maxLevel; l > level; l--) Greedy(ref dist, ref cur, ref curD, l);
        for (int l = Math.Min(level, maxLevel); l >= 0; l--)
        {
            SearchLayer(ref dist, cur, curD, Options.EfConstruction, l, null, skipDeleted: false, s);
            int n = s.Results.Count;
            s.EnsureSort(n);
            s.Results.DrainSorted(s.SortD, s.SortN);
            n = DropSelf(node, s.SortN, s.SortD, n);
            if (n == 0) continue;
            cur = s.SortN[0];
            curD = s.SortD[0];
            int[] selected = SelectNeighbours(s.SortN.AsSpan(0, n), s.SortD.AsSpan(0, n), _m, s);
            Link(node, l, selected, s);
            foreach (int nb in selected) Link(nb, l, [node], s);
        }
        if (level > maxLevel)
            lock (_entryLock)
                if (level > _maxLevel) { _maxLevel = level; _entry = node; }
    }

    /// <summary>Removes <paramref name="self"/> (reachable through a concurrent insert's back-link) from sorted results.</summary>
    private static int DropSelf(int self, int[] nodes, float[] dists, int n)
    {
        int w = 0;
        for (int i = 0; i < n; i++)
            if (nodes[i] != self) { nodes[w] = nodes[i]; dists[w] = dists[i]; w++; }
        return w;
    }

    /// <summary>
    /// Algorithm 4 of the paper (as in hnswlib): walk candidates closest first, keep one only when it is closer to the
    /// base than to every neighbour kept so far. <paramref name="cand"/> is sorted by distance to the base.
    /// </summary>
    private int[] SelectNeighbours(ReadOnlySpan<int> cand, ReadOnlySpan<float> candD, int max, SearchScratch s)
    {
        if (cand.Length <= max) return cand.ToArray();
        if (s.Neighbours.Length < max) s.Neighbours = new int[max];
        var kept = s.Neighbours;
        int n = 0;
        for (int i = 0; i < cand.Length && n < max; i++)
        {
            float* v = Vec(cand[i]);
            bool good = true;
            for (int j = 0; j < n; j++)
                if (Dist(v, Vec(kept[j])) < candD[i]) { good = false; break; }
            if (good) kept[n++] = cand[i];
        }
        return kept.AsSpan(0, n).ToArray();
    }

    /// <summary>Adds links <paramref name="from"/> → <paramref name="targets"/> at a layer, pruning with the heuristic when full.</summary>
    private void Link(int from, int level, ReadOnlySpan<int> targets, SearchScratch s)
    {
        int max = level == 0 ? _m0 : _m;
        lock (_locks[from & (LockStripes - 1)])
        {
            int* list = Links(from, level);
            int cnt = list[0];
            int free = max - cnt;
            bool fits = true;
            foreach (int t in targets)
                if (!Has(list, t) && free-- <= 0) fits = false;
            if (fits)
            {
                foreach (int t in targets)
                    if (!Has(list, t)) { list[1 + cnt++] = t; }
                Volatile.Write(ref list[0], cnt);
                return;
            }
            // Full: choose among the old and new neighbours with the heuristic.
            float* b = Vec(from);
            var all = new List<(float D, int N)>(cnt + targets.Length);
            for (int j = 1; j <= cnt; j++) all.Add((Dist(b, Vec(list[j])), list[j]));
            foreach (int t in targets)
                if (!Has(list, t) && t != from) all.Add((Dist(b, Vec(t)), t));
            all.Sort((x, y) => x.D.CompareTo(y.D));
            var ns = new int[all.Count];
            var ds = new float[all.Count];
            for (int i = 0; i < all.Count; i++) (ds[i], ns[i]) = all[i];
            int[] keep = SelectNeighbours(ns, ds, max, s);
            WriteList(list, keep);
        }
    }

    private static void WriteList(int* list, ReadOnlySpan<int> nodes)
    {
        for (int i = 0; i < nodes.Length; i++) list[1 + i] = nodes[i];
        Volatile.Write(ref list[0], nodes.Length);
    }

    private static bool Has(int* list, int node)
    {
        int cnt = list[0];
        for (int j = 1; j <= cnt; j++) if (list[j] == node) return true;
        return false;
    }

    // ---------------------------------------------------------------- deletion

    /// <summary>
    /// Removes an id: its node becomes a tombstone (still routes searches, never returned) and the neighbours that
    /// linked to it are re-linked among its other neighbours with the heuristic. False when the id was not present.
    /// </summary>
    public bool Remove(long id)
    {
        _resize.EnterReadLock();
        try
        {
            int node;
            lock (_meta)
            {
                if (!_nodeOf.Remove(id, out node)) return false;
                Tombstone(node);
            }
            Repair(node, SearchScratch.Current);
            return true;
        }
        finally { _resize.ExitReadLock(); }
    }

    private void Tombstone(int node)
    {
        _flags[node] |= Deleted;
        _live--;
    }

    private bool IsDeleted(int node) => (Volatile.Read(ref _flags[node]) & Deleted) != 0;

    private void Repair(int dead, SearchScratch s)
    {
        for (int l = 0; l <= _levels[dead]; l++)
        {
            int[] around = ListCopy(dead, l);
            foreach (int nb in around)
            {
                if (IsDeleted(nb)) continue;
                int max = l == 0 ? _m0 : _m;
                lock (_locks[nb & (LockStripes - 1)])
                {
                    int* list = Links(nb, l);
                    if (!Has(list, dead)) continue;
                    var cand = new HashSet<int>();
                    for (int j = 1; j <= list[0]; j++) if (list[j] != dead) cand.Add(list[j]);
                    foreach (int c in around) if (c != nb && !IsDeleted(c)) cand.Add(c);
                    WriteList(list, Choose(nb, cand, max, s));
                }
            }
        }
    }

    /// <summary>Sorts candidates by distance to <paramref name="baseNode"/> and keeps at most <paramref name="max"/> with the heuristic.</summary>
    private int[] Choose(int baseNode, IEnumerable<int> candidates, int max, SearchScratch s)
    {
        float* b = Vec(baseNode);
        var sorted = candidates.Select(c => (D: Dist(b, Vec(c)), N: c)).OrderBy(x => x.D).ToArray();
        return SelectNeighbours(sorted.Select(x => x.N).ToArray(), sorted.Select(x => x.D).ToArray(), max, s);
    }

    private int[] ListCopy(int node, int level)
    {
        lock (_locks[node & (LockStripes - 1)])
        {
            int* list = Links(node, level);
            return new ReadOnlySpan<int>(list + 1, list[0]).ToArray();
        }
    }

    /// <summary>
    /// Drops tombstones: neighbours that lost links are re-linked among the live neighbours of the removed nodes,
    /// nodes are renumbered densely and the entry point moves to a live node. Blocks searches while it runs.
    /// </summary>
    public void Compact()
    {
        _resize.EnterWriteLock();
        try
        {
            int n = _nodes;
            var remap = new int[n];
            int live = 0, entry = -1, maxLevel = -1;
            for (int i = 0; i < n; i++)
            {
                if ((_flags[i] & Deleted) != 0) { remap[i] = -1; continue; }
                remap[i] = live++;
                if (_levels[i] > maxLevel) { maxLevel = _levels[i]; entry = i; }
            }
            if (_entry >= 0 && remap[_entry] >= 0) { entry = _entry; maxLevel = _levels[_entry]; }
            if (live == n) return;
            int cap = Math.Max(16, live);
            var vectors = new NativeArray<float>((long)cap * Dimensions);
            var links0 = new NativeArray<int>((long)cap * _stride0);
            var upper = new int[]?[cap];
            var ids = new long[cap];
            var levels = new byte[cap];
            var flags = new byte[cap];
            Parallel.For(0, n, () => new SearchScratch(), (old, _, s) =>
            {
                int nw = remap[old];
                if (nw < 0) return s;
                Buffer.MemoryCopy(Vec(old), vectors.Ptr + (long)nw * Dimensions, Dimensions * 4L, Dimensions * 4L);
                ids[nw] = _ids[old];
                levels[nw] = _levels[old];
                flags[nw] = Ready;
                if (_levels[old] > 0) upper[nw] = GC.AllocateArray<int>(_levels[old] * (_m + 1), pinned: true);
                for (int l = 0; l <= _levels[old]; l++)
                {
                    int* list = Links(old, l);
                    var kept = new List<int>(list[0]);
                    bool lost = false;
                    for (int j = 1; j <= list[0]; j++)
                        if (remap[list[j]] >= 0) kept.Add(list[j]); else lost = true;
                    if (lost)
                    {
                        var cand = new HashSet<int>(kept);
                        for (int j = 1; j <= list[0]; j++)
                        {
                            if (remap[list[j]] >= 0) continue;
                            int* dl = Links(list[j], l);
                            for (int t = 1; t <= dl[0]; t++)
                                if (dl[t] != old && remap[dl[t]] >= 0) cand.Add(dl[t]);
                        }
                        kept = [.. Choose(old, cand, l == 0 ? _m0 : _m, s)];
                    }
                    int* dst = l == 0 ? links0.Ptr + (long)nw * _stride0 : UpperList(upper[nw]!, l);
                    for (int j = 0; j < kept.Count; j++) dst[1 + j] = remap[kept[j]];
                    dst[0] = kept.Count;
                }
                return s;
            }, _ => { });
            _vectors.Dispose();
            _links0.Dispose();
            _vectors = vectors;
            _links0 = links0;
            _upper = upper;
            _ids = ids;
            _levels = levels;
            _flags = flags;
            _capacity = cap;
            _nodes = live;
            _live = live;
            if (_codes is not null)
            {
                _codes.Dispose();
                _codes = new VectorCodes(Options.Storage, Dimensions, cap);
                _codes.Train(_vectors.Ptr, live);
            }
            _entry = entry < 0 ? -1 : remap[entry];
            _maxLevel = maxLevel;
            _nodeOf.Clear();
            for (int i = 0; i < live; i++) _nodeOf[_ids[i]] = i;
            ReleaseMapped();
        }
        finally { _resize.ExitWriteLock(); }
    }

    // ---------------------------------------------------------------- search

    /// <inheritdoc/>
    public bool Contains(long id)
    {
        lock (_meta) return _nodeOf.ContainsKey(id);
    }

    /// <inheritdoc/>
    public IReadOnlyList<VectorHit> Search(ReadOnlySpan<float> query, int k, VectorFilter? filter = null) =>
        Search(query, k, filter, EfSearch);

    /// <summary>Search with an explicit candidate list size (<paramref name="efSearch"/>, raised to k when smaller).</summary>
    public IReadOnlyList<VectorHit> Search(ReadOnlySpan<float> query, int k, VectorFilter? filter, int efSearch)
    {
        if (query.Length != Dimensions) throw new ArgumentException($"Query has {query.Length} dimensions, the index has {Dimensions}.");
        if (k <= 0) return [];
        var s = SearchScratch.Current;
        float[] qb = s.QueryBuffer(Dimensions);
        query.CopyTo(qb);
        if (_normalize) VectorKernels.Normalize(qb.AsSpan(0, Dimensions));
        _resize.EnterReadLock();
        try
        {
            fixed (float* q = qb)
            fixed (sbyte* qc = s.QueryCodeBuffer(Dimensions))
            {
                if (Count == 0) return [];
                var codes = _codes is { Trained: true } c ? c : null;
                if (codes is null)
                {
                    var f = new F32Distance(q, _vectors.Ptr, Dimensions, _l2);
                    return SearchWith(ref f, q, k, filter, efSearch, rerank: false, s);
                }
                if (codes.Storage == VectorStorage.Int8)
                {
                    var d8 = codes.Int8(q, qc, _l2);
                    return SearchWith(ref d8, q, k, filter, efSearch, rerank: true, s);
                }
                var d16 = codes.Bf16(q, _l2);
                return SearchWith(ref d16, q, k, filter, efSearch, rerank: true, s);
            }
        }
        finally { _resize.ExitReadLock(); }
    }

    private VectorHit[] SearchWith<TD>(ref TD dist, float* q, int k, VectorFilter? filter, int efSearch, bool rerank, SearchScratch s)
        where TD : struct, INodeDistance
    {
        var allows = filter?.Allows;
        int ef = Math.Max(efSearch, k);
        int keep = rerank ? Math.Max(k, Math.Min(ef, RerankCandidates ?? ef)) : k;
        double selectivity = 1;
        long started = 0;
        if (allows != null)
        {
            if (ExactFallbackSelectivity is null && (!_costs.Measured || _nodes >= 2 * _calibratedAt)) Calibrate(ref dist, allows, s);
            selectivity = filter!.Selectivity ?? EstimateSelectivity(allows);
            started = System.Diagnostics.Stopwatch.GetTimestamp();
            if (PrefersExactScan(selectivity, ef))
            {
                var scanned = ExactScan(ref dist, keep, allows, s);
                Observe(scanned: true, System.Diagnostics.Stopwatch.GetTimestamp() - started, 0, selectivity, ef, _nodes);
                return Finish(scanned, q, k, rerank, s);
            }
        }
        int entry, maxLevel;
        lock (_entryLock) { entry = _entry; maxLevel = _maxLevel; }
        int cur = entry;
        float curD = dist.Of(cur);
        for (int l = maxLevel; l > 0; l--) Greedy(ref dist, ref cur, ref curD, l);
        s.Visits = 0;
        SearchLayer(ref dist, cur, curD, ef, 0, allows, skipDeleted: _live != _nodes, s);
        if (allows != null) Observe(scanned: false, System.Diagnostics.Stopwatch.GetTimestamp() - started, s.Visits, selectivity, ef, _nodes);
        int n = s.Results.Count;
        if (n < k && n < Count) return Finish(ExactScan(ref dist, keep, allows ?? (_ => true), s), q, k, rerank, s); // the walk could not reach k passing nodes
        while (s.Results.Count > keep) s.Results.Pop();
        return Finish(s.Results, q, k, rerank, s);
    }

    /// <summary>The k best of the candidates in <paramref name="heap"/>: as they are, or re-ranked by exact float32 distance.</summary>
    private VectorHit[] Finish(DistHeap heap, float* q, int k, bool rerank, SearchScratch s)
    {
        if (!rerank) return Drain(heap);
        int n = heap.Count;
        s.EnsureSort(n);
        heap.DrainSorted(s.SortD, s.SortN);
        var exact = s.Extra;
        exact.Clear();
        for (int i = 0; i < n; i++)
        {
            if (i + 1 < n) VectorKernels.Prefetch(Vec(s.SortN[i + 1]));
            exact.PushBounded(Dist(q, Vec(s.SortN[i])), s.SortN[i], k);
        }
        return Drain(exact);
    }

    /// <summary>Searches many queries (row-major) in parallel; one result list per query.</summary>
    public IReadOnlyList<VectorHit>[] SearchBatch(ReadOnlyMemory<float> queries, int k, VectorFilter? filter = null, int threads = 0)
    {
        if (queries.Length % Dimensions != 0) throw new ArgumentException($"Query buffer length {queries.Length} is not a multiple of {Dimensions}.");
        int nq = queries.Length / Dimensions;
        var results = new IReadOnlyList<VectorHit>[nq];
        Parallel.For(0, nq, new ParallelOptions { MaxDegreeOfParallelism = threads <= 0 ? Environment.ProcessorCount : threads },
            i => results[i] = Search(queries.Span.Slice(i * Dimensions, Dimensions), k, filter));
        return results;
    }

    private double EstimateSelectivity(Func<long, bool> allows)
    {
        int n = _nodes, sampled = 0, passed = 0;
        int step = Math.Max(1, n / 256);
        for (int i = step / 2; i < n && sampled < 256; i += step)
        {
            if ((_flags[i] & (Deleted | Ready)) != Ready) continue;
            sampled++;
            if (allows(_ids[i])) passed++;
        }
        return sampled == 0 ? 1 : passed / (double)sampled;
    }

    private DistHeap ExactScan<TD>(ref TD dist, int k, Func<long, bool> allows, SearchScratch s) where TD : struct, INodeDistance
    {
        var heap = s.Results;
        heap.Clear();
        int n = _nodes;
        for (int i = 0; i < n; i++)
        {
            if ((Volatile.Read(ref _flags[i]) & (Deleted | Ready)) != Ready || !allows(_ids[i])) continue;
            heap.PushBounded(dist.Of(i), i, k);
        }
        return heap;
    }

    private VectorHit[] Drain(DistHeap heap)
    {
        int n = heap.Count;
        Span<float> d = stackalloc float[Math.Min(n, 512)];
        Span<int> r = stackalloc int[Math.Min(n, 512)];
        if (n > 512) { d = new float[n]; r = new int[n]; }
        heap.DrainSorted(d, r);
        var hits = new VectorHit[n];
        for (int i = 0; i < n; i++) hits[i] = new VectorHit(_ids[r[i]], _normalize ? 1f + d[i] : d[i]);
        return hits;
    }

    private void Greedy<TD>(ref TD dist, ref int cur, ref float curD, int level) where TD : struct, INodeDistance
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            int* list = Links(cur, level);
            int cnt = Volatile.Read(ref list[0]);
            for (int j = 1; j <= cnt; j++)
            {
                int c = list[j];
                float d = dist.Of(c);
                if (d < curD) { curD = d; cur = c; changed = true; }
            }
        }
    }

    /// <summary>
    /// Algorithm 2 of the paper on one layer, leaving up to <paramref name="ef"/> results in <c>s.Results</c>.
    /// Nodes rejected by the filter or deleted are walked through but never become results.
    /// </summary>
    private void SearchLayer<TD>(ref TD dist, int entry, float entryD, int ef, int level, Func<long, bool>? allows, bool skipDeleted, SearchScratch s)
        where TD : struct, INodeDistance
    {
        var visited = s.Visited;
        visited.Reset(_capacity);
        var cand = s.Candidates;
        var res = s.Results;
        cand.Clear();
        res.Clear();
        bool filtering = allows != null || skipDeleted;
        visited.TestAndSet(entry);
        float bound = float.MaxValue;
        if (Passes(entry, allows, skipDeleted)) { res.Push(entryD, entry); bound = entryD; }
        cand.Push(entryD, entry);
        while (cand.Count > 0)
        {
            float cd = cand.TopDistance;
            if (cd > bound && (res.Count == ef || !filtering)) break;
            int c = cand.TopNode;
            cand.Pop();
            int* list = Links(c, level);
            int cnt = Volatile.Read(ref list[0]);
            if (cnt > 0) dist.Prefetch(list[1]);
            for (int j = 1; j <= cnt; j++)
            {
                int nb = list[j];
                if (j < cnt) dist.Prefetch(list[j + 1]);
                if (visited.TestAndSet(nb)) continue;
                s.Visits++;
                float d = dist.Of(nb);
                if (res.Count < ef || d < bound)
                {
                    cand.Push(d, nb);
                    if (Passes(nb, allows, skipDeleted))
                    {
                        res.Push(d, nb);
                        if (res.Count > ef) res.Pop();
                    }
                    if (res.Count > 0) bound = res.TopDistance;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Passes(int node, Func<long, bool>? allows, bool skipDeleted) =>
        (!skipDeleted || (_flags[node] & Deleted) == 0) && (allows == null || allows(_ids[node]));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float* Vec(int node) => _vectors.Ptr + (long)node * Dimensions;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Dist(float* a, float* b) => _l2 ? VectorKernels.L2Squared(a, b, Dimensions) : -VectorKernels.Dot(a, b, Dimensions);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int* Links(int node, int level) =>
        level == 0 ? _links0.Ptr + (long)node * _stride0 : UpperList(_upper[node]!, level);

    private int* UpperList(int[] pinned, int level) =>
        (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned)) + (level - 1) * (_m + 1);

    // ---------------------------------------------------------------- persistence

    /// <inheritdoc/>
    public void Save(string path, ulong stamp = 0) => Save(path, stamp, Options.Storage);

    /// <summary>Writes the index with <paramref name="storage"/> codes (another storage than its own: encoded for the file only).</summary>
    internal void Save(string path, ulong stamp, VectorStorage storage)
    {
        _resize.EnterWriteLock();
        VectorCodes? temporary = null;
        try
        {
            int n = _nodes;
            if (_codes is { Storage: VectorStorage.Int8 } c8 && (!c8.Trained || n > 2 * c8.TrainedRows)) TrainLocked();
            var codes = _codes;
            if (storage != Options.Storage)
            {
                codes = storage == VectorStorage.Float32 ? null : temporary = new VectorCodes(storage, Dimensions, Math.Max(n, 1));
                codes?.Train(_vectors.Ptr, n, i => (_flags[i] & Deleted) == 0);
            }
            var upperOffsets = new long[n];
            long upperLen = 0;
            for (int i = 0; i < n; i++) { upperOffsets[i] = upperLen; upperLen += _levels[i] * (_m + 1); }
            var w = new IndexFileWriter();
            w.Section(_ids, n);
            w.Section(_levels, n);
            w.Section(_flags, n);
            w.Section((nint)_vectors.Ptr, (long)n * Dimensions * 4);
            w.Section((nint)_links0.Ptr, (long)n * _stride0 * 4);
            w.Section(upperLen * 4, write =>
            {
                for (int i = 0; i < n; i++)
                    if (_upper[i] is { } u) write(MemoryMarshal.AsBytes(u.AsSpan()));
            });
            codes?.AddSections(w, n);
            w.Save(path, new IndexHeader
            {
                Kind = IndexFileKind.Hnsw, Metric = Metric, Dims = Dimensions, M = _m, M0 = _m0,
                EfConstruction = Options.EfConstruction, NodeCount = n, LiveCount = _live,
                EntryPoint = _entry, MaxLevel = _maxLevel, Stamp = stamp, Quantization = (int)storage,
            });
        }
        finally
        {
            temporary?.Dispose();
            _resize.ExitWriteLock();
        }
    }

    /// <summary>
    /// Opens a file written by <see cref="Save(string, ulong)"/>. Vectors and layer-0 links stay in the memory-mapped file
    /// (copy-on-write) until the index grows, so opening costs little more than reading ids and validating links.
    /// A bf16/int8 index (see <see cref="HnswOptions.Storage"/>) copies its codes and links into memory and leaves only
    /// the float32 vectors, read by the re-rank, in the mapped file.
    /// Throws <see cref="IndexFileException"/> when the file is missing, truncated, corrupt, or does not match the
    /// expected dimensions/metric (when given).
    /// </summary>
    public static HnswIndex Open(string path, int? expectedDimensions = null, VectorMetric? expectedMetric = null,
        bool verifyChecksum = true, int? efSearch = null)
    {
        var file = new IndexFileReader(path, verifyChecksum);
        try
        {
            FlatIndex.ExpectHeader(file, IndexFileKind.Hnsw, expectedDimensions, expectedMetric);
            var h = file.Header;
            if (h.M is < 2 or > 255 || h.M0 != 2 * h.M || h.EfConstruction < 1 || h.LiveCount > h.NodeCount || h.MaxLevel > 32
                || (h.NodeCount == 0) != (h.EntryPoint < 0) || h.EntryPoint >= h.NodeCount)
                throw new IndexFileException(path, "corrupt header (graph parameters out of range)");
            var opts = new HnswOptions { M = h.M, EfConstruction = h.EfConstruction, InitialCapacity = 16, Storage = (VectorStorage)h.Quantization };
            var index = new HnswIndex(h.Dims, h.Metric, efSearch is { } ef ? opts with { EfSearch = ef } : opts);
            int n = (int)h.NodeCount;
            index.LoadFrom(file, n);
            index._entry = h.EntryPoint;
            index._maxLevel = h.MaxLevel;
            if (index._live != h.LiveCount) throw new IndexFileException(path, $"corrupt: {index._live} live nodes, header says {h.LiveCount}");
            return index;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private void LoadFrom(IndexFileReader file, int n)
    {
        string path = file.Path;
        var ids = file.ReadArray<long>(0, n);
        var levels = file.ReadArray<byte>(1, n);
        var flags = file.ReadArray<byte>(2, n);
        float* vectors = (float*)file.Section(3, (long)n * Dimensions * 4);
        int* links0 = (int*)file.Section(4, (long)n * _stride0 * 4);
        long upperLen = 0;
        for (int i = 0; i < n; i++)
        {
            if (levels[i] > 32) throw new IndexFileException(path, $"corrupt: node {i} has level {levels[i]}");
            upperLen += levels[i] * (_m + 1);
        }
        int* upperFlat = (int*)file.Section(5, upperLen * 4);
        var upper = new int[]?[Math.Max(n, 1)];
        long off = 0;
        for (int i = 0; i < n; i++)
        {
            if (levels[i] == 0) continue;
            int len = levels[i] * (_m + 1);
            upper[i] = GC.AllocateArray<int>(len, pinned: true);
            new ReadOnlySpan<int>(upperFlat + off, len).CopyTo(upper[i]);
            off += len;
            for (int l = 1; l <= levels[i]; l++) CheckList(path, UpperList(upper[i]!, l), _m, n, i);
        }
        for (int i = 0; i < n; i++) CheckList(path, links0 + (long)i * _stride0, _m0, n, i);
        _vectors.Dispose();
        _links0.Dispose();
        _mapped = file;
        _vectors = NativeArray<float>.Borrow(vectors, Math.Max(1L, (long)n * Dimensions));
        if (_codes is null) _links0 = NativeArray<int>.Borrow(links0, Math.Max(1L, (long)n * _stride0));
        else
        {
            // what the search walks is copied into memory; only the float32 vectors stay mapped (read by the re-rank)
            _links0 = new NativeArray<int>(Math.Max(1L, (long)n * _stride0));
            Buffer.MemoryCopy(links0, _links0.Ptr, _links0.Bytes, (long)n * _stride0 * 4);
            _codes.Load(file, 6, n);
        }
        _upper = upper;
        _ids = ids.Length > 0 ? ids : new long[1];
        _levels = levels.Length > 0 ? levels : new byte[1];
        _flags = flags.Length > 0 ? flags : new byte[1];
        _capacity = Math.Max(n, 1);
        _nodes = n;
        for (int i = 0; i < n; i++)
        {
            _flags[i] |= Ready;
            if ((_flags[i] & Deleted) != 0) continue;
            if (!_nodeOf.TryAdd(_ids[i], i)) throw new IndexFileException(path, $"corrupt: id {_ids[i]} appears twice");
            _live++;
        }
    }

    private static void CheckList(string path, int* list, int max, int n, int node)
    {
        int cnt = list[0];
        if (cnt < 0 || cnt > max) throw new IndexFileException(path, $"corrupt: node {node} has {cnt} links (max {max})");
        for (int j = 1; j <= cnt; j++)
            if ((uint)list[j] >= (uint)n) throw new IndexFileException(path, $"corrupt: node {node} links to node {list[j]} of {n}");
    }

    private void ReleaseMapped()
    {
        _mapped?.Dispose();
        _mapped = null;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _vectors.Dispose();
        _links0.Dispose();
        _codes?.Dispose();
        ReleaseMapped();
        _resize.Dispose();
    }
}
