using System.Runtime.InteropServices;

namespace OpenBook.Retrieval.Vectors;

/// <summary>
/// Growable unmanaged array, 64-byte aligned (so AVX-512 loads stay within cache lines). It either owns its memory or
/// borrows pages of a memory-mapped index file (copy-on-write); growing always moves it into owned memory.
/// Not thread-safe: the index guards growth with its resize lock.
/// </summary>
internal sealed unsafe class NativeArray<T> : IDisposable where T : unmanaged
{
    public T* Ptr { get; private set; }
    public long Capacity { get; private set; }
    private bool _owned;

    public NativeArray(long capacity)
    {
        Capacity = Math.Max(capacity, 1);
        Ptr = Alloc(Capacity);
        NativeMemory.Clear(Ptr, (nuint)(Capacity * sizeof(T)));
        _owned = true;
    }

    private NativeArray(T* borrowed, long count)
    {
        Ptr = borrowed;
        Capacity = count;
        _owned = false;
    }

    /// <summary>Wraps memory owned by someone else (a mapped file) without copying.</summary>
    public static NativeArray<T> Borrow(T* p, long count) => new(p, count);

    public long Bytes => Capacity * sizeof(T);

    private static T* Alloc(long n) => (T*)NativeMemory.AlignedAlloc((nuint)(n * sizeof(T)), 64);

    /// <summary>Grows to at least <paramref name="capacity"/> elements, keeping the content and zeroing the rest.</summary>
    public void Grow(long capacity)
    {
        if (capacity <= Capacity) return;
        T* p = Alloc(capacity);
        Buffer.MemoryCopy(Ptr, p, capacity * sizeof(T), Capacity * sizeof(T));
        NativeMemory.Clear(p + Capacity, (nuint)((capacity - Capacity) * sizeof(T)));
        Release();
        Ptr = p;
        Capacity = capacity;
        _owned = true;
    }

    private void Release()
    {
        if (_owned && Ptr != null) NativeMemory.AlignedFree(Ptr);
        Ptr = null;
    }

    public void Dispose() => Release();
}
