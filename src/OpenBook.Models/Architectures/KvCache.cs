using OpenBook.Models.Kernels;

namespace OpenBook.Models.Architectures;

/// <summary>How a <see cref="KvCache"/> stores keys and values.</summary>
public enum KvCacheFormat
{
    /// <summary>32-bit floats (exact).</summary>
    F32,
    /// <summary>bfloat16 (rounded to nearest even): half the memory and half the bytes attention reads per token.</summary>
    Bf16,
}

/// <summary>
/// Key/value cache for a batch of sequences ("slots"). Per layer, keys and values are laid out
/// [slot, kvHead, capacity, headDim] so attention over one head streams contiguous memory. Each slot has its
/// own length: sequences of a batch may be at different positions. <see cref="Slot"/> gives a one-sequence
/// view over the same memory (used to prefill prompts of different lengths one by one).
/// </summary>
public sealed class KvCache
{
    private readonly float[][]? _keys;
    private readonly float[][]? _values;
    private readonly ushort[][]? _keys16;
    private readonly ushort[][]? _values16;
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
    /// <summary>Storage of keys and values.</summary>
    public KvCacheFormat Format { get; }

    /// <summary>Allocates a cache for <paramref name="batchSize"/> sequences of up to <paramref name="capacity"/> tokens.</summary>
    public KvCache(int layers, int batchSize, int capacity, int kvHeads, int headDim, KvCacheFormat format = KvCacheFormat.F32)
    {
        if (batchSize < 1 || capacity < 1) throw new ArgumentException("Batch size and capacity must be positive.");
        long perLayer = (long)batchSize * kvHeads * capacity * headDim;
        if (perLayer > Array.MaxLength) throw new OpenBookException($"KV cache of {batchSize}×{capacity} tokens is too large for one array per layer; lower the batch or max tokens.");
        Layers = layers; BatchSize = batchSize; Capacity = capacity; KvHeads = kvHeads; HeadDim = headDim; Format = format;
        if (format == KvCacheFormat.Bf16)
        {
            _keys16 = new ushort[layers][];
            _values16 = new ushort[layers][];
            for (int l = 0; l < layers; l++)
            {
                _keys16[l] = new ushort[perLayer];
                _values16[l] = new ushort[perLayer];
            }
        }
        else
        {
            _keys = new float[layers][];
            _values = new float[layers][];
            for (int l = 0; l < layers; l++)
            {
                _keys[l] = new float[perLayer];
                _values[l] = new float[perLayer];
            }
        }
        _lengths = new int[batchSize];
    }

    private KvCache(KvCache parent, int slot)
    {
        _keys = parent._keys; _values = parent._values; _keys16 = parent._keys16; _values16 = parent._values16; _lengths = parent._lengths;
        Format = parent.Format;
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
    public long ByteSize => _keys16 is not null ? 2L * Layers * _keys16[0].LongLength * sizeof(ushort) : 2L * Layers * _keys![0].LongLength * sizeof(float);

    internal void Advance(int slot, int tokens) => _lengths[_firstSlot + slot] += tokens;

    /// <summary>Keys array of a layer and the offset of slot <paramref name="slot"/> in it (f32 caches).</summary>
    internal (float[] Array, int Offset) Keys(int layer, int slot) => (_keys?[layer] ?? throw new InvalidOperationException("bf16 KV cache"), SlotOffset(slot));

    /// <summary>Values array of a layer and the offset of slot <paramref name="slot"/> in it (f32 caches).</summary>
    internal (float[] Array, int Offset) Values(int layer, int slot) => (_values?[layer] ?? throw new InvalidOperationException("bf16 KV cache"), SlotOffset(slot));

    /// <summary>Writes the key and value of one position of one KV head (rounded to bf16 in a bf16 cache).</summary>
    internal void Store(int layer, int slot, int kvHead, int position, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        int at = SlotOffset(slot) + (kvHead * Capacity + position) * HeadDim;
        if (_keys16 is not null)
        {
            Bf16.FromFloat(key[..HeadDim], _keys16[layer].AsSpan(at, HeadDim));
            Bf16.FromFloat(value[..HeadDim], _values16![layer].AsSpan(at, HeadDim));
        }
        else
        {
            key[..HeadDim].CopyTo(_keys![layer].AsSpan(at, HeadDim));
            value[..HeadDim].CopyTo(_values![layer].AsSpan(at, HeadDim));
        }
    }

    /// <summary>
    /// Causal attention of slot <paramref name="slot"/>'s <paramref name="tokens"/> new queries (stored, not yet
    /// advanced past: they sit at positions Length … Length+tokens−1) over its cached keys and values of <paramref name="layer"/> (heads <paramref name="firstHead"/> … +<paramref name="headCount"/>); see <see cref="Attention.Causal"/>.
    /// </summary>
    internal void Attend(int layer, int slot, ReadOnlySpan<float> queries, int tokens, int heads, int window, Span<float> output, int firstHead, int headCount)
    {
        int start = Length(slot), at = SlotOffset(slot);
        if (_keys16 is not null)
            Attention.CausalBf16(queries, tokens, start, heads, KvHeads, HeadDim, _keys16[layer].AsSpan(at, SlotSize), _values16![layer].AsSpan(at, SlotSize),
                Capacity, window, output, firstHead, headCount);
        else
            Attention.Causal(queries, tokens, start, heads, KvHeads, HeadDim, _keys![layer].AsSpan(at, SlotSize), _values![layer].AsSpan(at, SlotSize),
                Capacity, window, output, firstHead, headCount);
    }

    private int SlotOffset(int slot) => (_firstSlot + slot) * KvHeads * Capacity * HeadDim;

    /// <summary>Number of floats of one slot in one layer.</summary>
    internal int SlotSize => KvHeads * Capacity * HeadDim;
}
