using System.Runtime.CompilerServices;

namespace OpenBook.Retrieval.Vectors;

/// <summary>
/// Binary heap of (distance, node) pairs on a reusable array. <c>Max</c> = true keeps the farthest on top (results),
/// false keeps the closest on top (candidates). No allocations after warm-up.
/// </summary>
internal sealed class DistHeap(bool max)
{
    private float[] _d = new float[64];
    private int[] _n = new int[64];
    public int Count;

    public void Clear() => Count = 0;
    public float TopDistance => _d[0];
    public int TopNode => _n[0];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Above(float a, float b) => max ? a > b : a < b;

    public void Push(float dist, int node)
    {
        if (Count == _d.Length)
        {
            Array.Resize(ref _d, Count * 2);
            Array.Resize(ref _n, Count * 2);
        }
        int i = Count++;
        while (i > 0)
        {
            int p = (i - 1) >> 1;
            if (!Above(dist, _d[p])) break;
            _d[i] = _d[p]; _n[i] = _n[p]; i = p;
        }
        _d[i] = dist; _n[i] = node;
    }

    public void Pop()
    {
        int last = --Count;
        if (last == 0) return;
        float d = _d[last]; int n = _n[last];
        int i = 0;
        while (true)
        {
            int c = 2 * i + 1;
            if (c >= last) break;
            if (c + 1 < last && Above(_d[c + 1], _d[c])) c++;
            if (!Above(_d[c], d)) break;
            _d[i] = _d[c]; _n[i] = _n[c]; i = c;
        }
        _d[i] = d; _n[i] = n;
    }

    /// <summary>Pushes while keeping at most <paramref name="capacity"/> items (max-heap only: drops the farthest).</summary>
    public void PushBounded(float dist, int node, int capacity)
    {
        if (Count < capacity) Push(dist, node);
        else if (dist < _d[0]) { Pop(); Push(dist, node); }
    }

    /// <summary>Empties the heap into arrays sorted closest first (max-heap) and returns the count.</summary>
    public int DrainSorted(Span<float> dists, Span<int> nodes)
    {
        int n = Count;
        for (int i = n - 1; i >= 0; i--) { dists[i] = _d[0]; nodes[i] = _n[0]; Pop(); }
        return n;
    }
}

/// <summary>Generation-stamped visited set: clearing is O(1) (bump the generation).</summary>
internal sealed class VisitedSet
{
    private int[] _stamp = [];
    private int _gen;

    public void Reset(int capacity)
    {
        if (_stamp.Length < capacity) { _stamp = new int[Math.Max(capacity, _stamp.Length * 2)]; _gen = 0; }
        if (++_gen == int.MaxValue) { Array.Clear(_stamp); _gen = 1; }
    }

    /// <summary>Marks <paramref name="i"/>; returns true when it was already marked in this generation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TestAndSet(int i)
    {
        ref int s = ref _stamp[i];
        if (s == _gen) return true;
        s = _gen;
        return false;
    }
}

/// <summary>Per-thread scratch for searches (visited set, heaps, buffers), reused across calls.</summary>
internal sealed class SearchScratch
{
    [ThreadStatic] private static SearchScratch? t_current;
    public static SearchScratch Current => t_current ??= new SearchScratch();

    public readonly VisitedSet Visited = new();
    public readonly DistHeap Candidates = new(max: false);
    public readonly DistHeap Results = new(max: true);
    public readonly DistHeap Extra = new(max: true);
    public float[] Query = [];
    public int[] Neighbours = new int[64];
    public float[] SortD = new float[64];
    public int[] SortN = new int[64];

    public sbyte[] QueryCodes = new sbyte[1];
    /// <summary>Distances computed by the last layer-0 walk (the filtered-search cost model learns from it).</summary>
    public int Visits;

    public sbyte[] QueryCodeBuffer(int dims)
    {
        if (QueryCodes.Length < dims) QueryCodes = new sbyte[dims];
        return QueryCodes;
    }

    public float[] QueryBuffer(int dims)
    {
        if (Query.Length < dims) Query = new float[dims];
        return Query;
    }

    public void EnsureSort(int n)
    {
        if (SortD.Length < n) { SortD = new float[n * 2]; SortN = new int[n * 2]; }
    }
}
