namespace OpenBook.Models.Tensors;

/// <summary>
/// Float buffers reused from one pass to the next, for work that needs the same shapes over and over (a training
/// step allocates ~1.7 GB of activations and gradients at SmolLM2-135M, sequence 512).
/// <para>
/// Why not <c>new float[]</c>: each fresh large array is zeroed memory the OS must fault in page by page, and the GC
/// hands freed large-object memory back between steps; on the virtual machines this runs on that alone made a step
/// take 3 s in one process and 7–10 s in the next (measured with <c>openbook-bench train</c>). With an arena the
/// steady state allocates nothing: a step rents, <see cref="Reset"/> takes everything back, the next step gets the
/// same, already-resident arrays.
/// </para>
/// Arrays have exactly the length asked for, so code may use <c>array.Length</c>. What stays cached is bounded by one
/// pass: <see cref="Reset"/> keeps only the arrays rented since the previous reset and lets the rest go (a change of
/// batch shape does not pile up buffers of every shape seen). Safe to rent and return from several threads.
/// </summary>
public sealed class BufferArena
{
    private readonly Dictionary<int, Stack<float[]>> _free = [];
    private readonly HashSet<float[]> _rented = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<float[]> _usedThisPass = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _gate = new();

    /// <summary>Bytes of all arrays the arena holds (rented or free).</summary>
    public long Bytes
    {
        get
        {
            lock (_gate) return 4L * (_usedThisPass.Sum(a => (long)a.Length) + _free.Values.SelectMany(s => s).Where(a => !_usedThisPass.Contains(a)).Sum(a => (long)a.Length));
        }
    }

    /// <summary>
    /// An array of exactly <paramref name="length"/> floats, zeroed when <paramref name="clear"/> (pass false only when
    /// every element is written before it is read).
    /// </summary>
    public float[] Rent(int length, bool clear = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0) return [];
        float[]? array = null;
        lock (_gate)
        {
            if (_free.TryGetValue(length, out var stack) && stack.Count > 0) array = stack.Pop();
        }
        if (array is null) array = GC.AllocateUninitializedArray<float>(length);
        if (clear) Array.Clear(array);
        lock (_gate)
        {
            _rented.Add(array);
            _usedThisPass.Add(array);
        }
        return array;
    }

    /// <summary>A rented array holding a copy of <paramref name="source"/>.</summary>
    public float[] RentCopy(ReadOnlySpan<float> source)
    {
        var array = Rent(source.Length, clear: false);
        source.CopyTo(array);
        return array;
    }

    /// <summary>Gives <paramref name="arrays"/> back before the end of the pass, for reuse within it.</summary>
    public void Return(params ReadOnlySpan<float[]> arrays)
    {
        lock (_gate)
            foreach (var array in arrays)
            {
                if (array.Length == 0) continue;
                if (!_rented.Remove(array)) throw new InvalidOperationException("The array was not rented from this arena, or was returned twice.");
                Push(array);
            }
    }

    /// <summary>
    /// Ends a pass: every rented array is free again. Only arrays used during the pass stay cached; the arrays it held
    /// must no longer be used by the caller.
    /// </summary>
    public void Reset()
    {
        lock (_gate)
        {
            _free.Clear();
            foreach (var array in _usedThisPass) Push(array);
            _rented.Clear();
            _usedThisPass.Clear();
        }
    }

    private void Push(float[] array)
    {
        if (!_free.TryGetValue(array.Length, out var stack)) _free[array.Length] = stack = new Stack<float[]>();
        stack.Push(array);
    }
}
