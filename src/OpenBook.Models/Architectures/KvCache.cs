namespace OpenBook.Models.Architectures;

/// <summary>
/// Key/value cache for a batch of sequences ("slots"). Per layer, keys and values are laid out
/// [slot, kvHead, capacity, headDim] so attention over one head streams contiguous memory. Each slot has its
/// own length: sequences of a batch may be at different positions. <see cref="Slot"/> gives a one-sequence
/// view over the same memory (used to prefill prompts of different lengths one by one).
/// </summary>
public sealed class KvCache
{
    private readonly float[][] _keys;
    private readonly float[][] _values;
    private readonly int[] _lengths;
    private readonly int _firstSlot;

    /// <summary>Sequences this cache (or view) covers.</summary>
    public int BatchSize { get; }
    /// <summary>Maximum tokens per sequence.</summary>
    public int Capacity { get; }
    /// <summary>Layers.</summary>
    public int Layers { get; }
    /// <summary>Key/value heads per layer.</summary>
    public int KvHeads { get; }
    /// <summary>Head dimension.</summary>
    public int HeadDim { get; }

    /// <summary>Allocates a cache for <paramref name="batchSize"/> sequences of up to <paramref name="capacity"/> tokens.</summary>
    public KvCache(int layers, int batchSize, int capacity, int kvHeads, int headDim)
    {
        if (batchSize < 1 || capacity < 1) throw new ArgumentException("Batch size and capacity must be positive.");
        long perLayer = (long)batchSize * kvHeads * capacity * headDim;
        if (perLayer > Array.MaxLength) throw new OpenBookException($"KV cache of {batchSize}×{capacity} tokens is too large for one array per layer; lower the batch or max tokens.");
        Layers = layers; BatchSize = batchSize; Capacity = capacity; KvHeads = kvHeads; HeadDim = headDim;
        _keys = new float[layers][];
        _values = new float[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = new float[perLayer];
            _values[l] = new float[perLayer];
        }
        _lengths = new int[batchSize];
    }

    private KvCache(KvCache parent, int slot)
    {
        _keys = parent._keys; _values = parent._values; _lengths = parent._lengths;
        _firstSlot = parent._firstSlot + slot;
        BatchSize = 1; Capacity = parent.Capacity; Layers = parent.Layers; KvHeads = parent.KvHeads; HeadDim = parent.HeadDim;
    }

    /// <summary>A view of one sequence slot sharing this cache's memory.</summary>
    public KvCache Slot(int slot)
    {
        if ((uint)slot >= (uint)BatchSize) throw new ArgumentOutOfRangeException(nameof(slot));
        return new KvCache(this, slot);
    }

    /// <summary>Tokens already cached for sequence <paramref name="slot"/> of this view.</summary>
    public int Length(int slot = 0) => _lengths[_firstSlot + slot];

    /// <summary>Forgets all cached tokens of this view (memory is reused).</summary>
    public void Reset()
    {
        for (int b = 0; b < BatchSize; b++) _lengths[_firstSlot + b] = 0;
    }

    /// <summary>Rolls sequence <paramref name="slot"/> back to <paramref name="length"/> tokens.</summary>
    public void Truncate(int slot, int length)
    {
        if (length < 0 || length > Length(slot)) throw new ArgumentOutOfRangeException(nameof(length));
        _lengths[_firstSlot + slot] = length;
    }

    /// <summary>Bytes held by the cache (all slots, keys and values).</summary>
    public long ByteSize => 2L * Layers * _keys[0].LongLength * sizeof(float);

    internal void Advance(int slot, int tokens) => _lengths[_firstSlot + slot] += tokens;

    /// <summary>Keys array of a layer and the offset of slot <paramref name="slot"/> in it.</summary>
    internal (float[] Array, int Offset) Keys(int layer, int slot) => (_keys[layer], SlotOffset(slot));

    /// <summary>Values array of a layer and the offset of slot <paramref name="slot"/> in it.</summary>
    internal (float[] Array, int Offset) Values(int layer, int slot) => (_values[layer], SlotOffset(slot));

    private int SlotOffset(int slot) => (_firstSlot + slot) * KvHeads * Capacity * HeadDim;

    /// <summary>Number of floats of one slot in one layer.</summary>
    internal int SlotSize => KvHeads * Capacity * HeadDim;
}
