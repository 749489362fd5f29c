using System.Runtime.CompilerServices;
using OpenBook.Storage;

namespace OpenBook.Retrieval.Vectors;

/// <summary>
/// How an index stores the vectors it searches. Every index also keeps the full float32 vectors (in memory while it is
/// built, memory-mapped from its file once saved and reopened): the compact forms are what the search walks, the float32
/// vectors only re-rank the final candidates exactly, so a reopened quantised index keeps only the codes resident.
/// The value is recorded in the index file header (its quantization field).
/// </summary>
public enum VectorStorage
{
    /// <summary>Float32 only (4 bytes per dimension): search reads the full vectors.</summary>
    Float32 = 0,
    /// <summary>bfloat16 codes (2 bytes per dimension) walked by the search; candidates re-ranked from float32.</summary>
    BFloat16 = 1,
    /// <summary>
    /// 8-bit scalar quantisation (1 byte per dimension, per-dimension offset and scale fitted to the data's range);
    /// candidates re-ranked from float32.
    /// </summary>
    Int8 = 2,
}

/// <summary>Names of <see cref="VectorStorage"/> as the command line and collection settings spell them.</summary>
public static class VectorStorageNames
{
    /// <summary>"f32", "bf16" or "int8".</summary>
    public static string Name(this VectorStorage storage) => storage switch
    {
        VectorStorage.BFloat16 => "bf16",
        VectorStorage.Int8 => "int8",
        _ => "f32",
    };

    /// <summary>Parses "f32" | "bf16" | "int8" (case-insensitive); throws <see cref="OpenBookException"/> otherwise.</summary>
    public static VectorStorage Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "f32" or "float32" => VectorStorage.Float32,
        "bf16" or "bfloat16" => VectorStorage.BFloat16,
        "int8" or "i8" => VectorStorage.Int8,
        _ => throw new OpenBookException($"Vector storage must be f32, bf16 or int8, got '{name}'."),
    };
}

/// <summary>Distance from a prepared query to a node, specialised per storage (the graph walk is generic over it).</summary>
internal interface INodeDistance
{
    float Of(int node);
    void Prefetch(int node);
}

internal readonly unsafe struct F32Distance(float* q, float* vectors, int dims, bool l2) : INodeDistance
{
    private readonly float* _q = q, _v = vectors;
    private readonly int _dims = dims;
    private readonly bool _l2 = l2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Of(int node) => _l2 ? VectorKernels.L2Squared(_q, _v + (long)node * _dims, _dims) : -VectorKernels.Dot(_q, _v + (long)node * _dims, _dims);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int node) => VectorKernels.Prefetch(_v + (long)node * _dims);
}

internal readonly unsafe struct Bf16Distance(float* q, ushort* codes, int dims, bool l2) : INodeDistance
{
    private readonly float* _q = q;
    private readonly ushort* _c = codes;
    private readonly int _dims = dims;
    private readonly bool _l2 = l2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Of(int node) => VectorKernels.DistanceBf16(_q, _c + (long)node * _dims, _dims, _l2);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int node) => VectorKernels.Prefetch(_c + (long)node * _dims);
}

/// <summary>
/// Asymmetric int8 distance: x[d] ≈ offset[d] + scale[d]·u[d] (u unsigned codes); the query is folded with the scales,
/// w[d] = q[d]·scale[d] ≈ t·c[d] (c in [−63, 63]), so q·x ≈ Σ q[d]·offset[d] + t·Σ c[d]·u[d]. Distances are correct up to
/// a per-query constant (enough to rank candidates; the re-rank computes exact ones).
/// </summary>
internal readonly unsafe struct Int8Distance(sbyte* c, byte* codes, float* norms, float t, int dims, bool l2) : INodeDistance
{
    private readonly sbyte* _w = c;
    private readonly byte* _u = codes;
    private readonly float* _norms = norms;
    private readonly float _t = t;
    private readonly int _dims = dims;
    private readonly bool _l2 = l2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Of(int node)
    {
        float dot = _t * VectorKernels.DotU8S8(_u + (long)node * _dims, _w, _dims);
        return _l2 ? _norms[node] - 2 * dot : -dot;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int node) => VectorKernels.Prefetch(_u + (long)node * _dims);
}

/// <summary>
/// The compact copy of an index's vectors (<see cref="VectorStorage.BFloat16"/> or <see cref="VectorStorage.Int8"/>), one
/// row per node, growing with the index. Int8 needs its per-dimension range fitted (<see cref="Train"/>) before it
/// has codes; rows added later are encoded with the fitted range (clamped). Not thread-safe for growth or training
/// (the index holds its resize lock); encoding distinct rows concurrently is safe.
/// </summary>
internal sealed unsafe class VectorCodes : IDisposable
{
    private NativeArray<byte>? _u8;
    private NativeArray<ushort>? _bf;
    private NativeArray<float>? _norms;
    private float[] _offset = [], _scale = [];

    public VectorCodes(VectorStorage storage, int dims, long capacity)
    {
        if (storage == VectorStorage.Float32 || !Enum.IsDefined(storage)) throw new ArgumentOutOfRangeException(nameof(storage));
        Storage = storage;
        Dims = dims;
        if (storage == VectorStorage.Int8)
        {
            _u8 = new NativeArray<byte>(capacity * dims);
            _norms = new NativeArray<float>(capacity);
        }
        else
        {
            _bf = new NativeArray<ushort>(capacity * dims);
            Trained = true;
        }
    }

    public VectorStorage Storage { get; }
    public int Dims { get; }
    /// <summary>True when rows have codes (always for bf16; after <see cref="Train"/> for int8).</summary>
    public bool Trained { get; private set; }
    /// <summary>Rows encoded when the int8 range was last fitted.</summary>
    public int TrainedRows { get; private set; }

    public long Bytes => (_u8?.Bytes ?? 0) + (_bf?.Bytes ?? 0) + (_norms?.Bytes ?? 0) + (_offset.Length + _scale.Length) * 4L;

    public void Grow(long capacity)
    {
        _u8?.Grow(capacity * Dims);
        _norms?.Grow(capacity);
        _bf?.Grow(capacity * Dims);
    }

    /// <summary>Fits the int8 per-dimension range to <paramref name="rows"/> float rows and encodes them all (bf16: encodes).</summary>
    public void Train(float* vectors, int rows, Func<int, bool>? include = null)
    {
        if (Storage == VectorStorage.Int8)
        {
            if (rows == 0) return;
            var min = new float[Dims];
            var max = new float[Dims];
            Array.Fill(min, float.MaxValue);
            Array.Fill(max, float.MinValue);
            bool any = false;
            for (int r = 0; r < rows; r++)
            {
                if (include != null && !include(r)) continue;
                any = true;
                float* v = vectors + (long)r * Dims;
                for (int d = 0; d < Dims; d++)
                {
                    float x = v[d];
                    if (x < min[d]) min[d] = x;
                    if (x > max[d]) max[d] = x;
                }
            }
            if (!any) return;
            _offset = GC.AllocateArray<float>(Dims, pinned: true);
            _scale = GC.AllocateArray<float>(Dims, pinned: true);
            for (int d = 0; d < Dims; d++)
            {
                _offset[d] = min[d];
                float range = max[d] - min[d];
                _scale[d] = range > 0 ? range / 255f : 1f;
            }
            Trained = true;
            TrainedRows = rows;
        }
        Parallel.For(0, (rows + 4095) / 4096, b =>
        {
            for (int r = b * 4096, end = Math.Min(rows, r + 4096); r < end; r++) Encode(r, vectors + (long)r * Dims);
        });
    }

    /// <summary>Writes the codes of <paramref name="row"/> from its float vector (no-op for int8 before training).</summary>
    public void Encode(int row, float* v)
    {
        if (Storage == VectorStorage.BFloat16)
        {
            ushort* dst = _bf!.Ptr + (long)row * Dims;
            for (int d = 0; d < Dims; d++) dst[d] = VectorKernels.ToBFloat16(v[d]);
            return;
        }
        if (!Trained) return;
        byte* u = _u8!.Ptr + (long)row * Dims;
        float norm = 0;
        for (int d = 0; d < Dims; d++)
        {
            float c = MathF.Round((v[d] - _offset[d]) / _scale[d]);
            u[d] = (byte)Math.Clamp(c, 0f, 255f);
            norm += v[d] * v[d];
        }
        _norms!.Ptr[row] = norm;
    }

    /// <summary>Copies the codes of row <paramref name="from"/> over row <paramref name="to"/>.</summary>
    public void Move(int from, int to)
    {
        if (_u8 != null)
        {
            Buffer.MemoryCopy(_u8.Ptr + (long)from * Dims, _u8.Ptr + (long)to * Dims, Dims, Dims);
            _norms!.Ptr[to] = _norms.Ptr[from];
        }
        else Buffer.MemoryCopy(_bf!.Ptr + (long)from * Dims, _bf.Ptr + (long)to * Dims, Dims * 2L, Dims * 2L);
    }

    /// <summary>
    /// Int8: quantises a (prepared) query into <paramref name="codes"/> and returns its scale t (see <see cref="Int8Distance"/>).
    /// </summary>
    public float QuantizeQuery(float* q, sbyte* codes)
    {
        float maxAbs = 0;
        for (int d = 0; d < Dims; d++) maxAbs = MathF.Max(maxAbs, MathF.Abs(q[d] * _scale[d]));
        float t = maxAbs > 0 ? maxAbs / 63f : 1f;
        float inv = 1f / t;
        for (int d = 0; d < Dims; d++) codes[d] = (sbyte)Math.Clamp(MathF.Round(q[d] * _scale[d] * inv), -63f, 63f);
        return t;
    }

    public Int8Distance Int8(float* q, sbyte* codes, bool l2) => new(codes, _u8!.Ptr, _norms!.Ptr, QuantizeQuery(q, codes), Dims, l2);

    public Bf16Distance Bf16(float* q, bool l2) => new(q, _bf!.Ptr, Dims, l2);

    // ------------------------------------------------------------ persistence (sections after the index's own)

    /// <summary>Sections this storage adds to an index file (int8: codes, range, norms; bf16: codes).</summary>
    public int SectionCount => Storage == VectorStorage.Int8 ? 3 : 1;

    public void AddSections(IndexFileWriter w, int rows)
    {
        if (Storage == VectorStorage.Int8)
        {
            w.Section((nint)_u8!.Ptr, (long)rows * Dims);
            var range = new float[2 * Dims];
            _offset.CopyTo(range, 0);
            _scale.CopyTo(range, Dims);
            w.Section(range, range.Length);
            w.Section((nint)_norms!.Ptr, rows * 4L);
        }
        else w.Section((nint)_bf!.Ptr, (long)rows * Dims * 2);
    }

    /// <summary>Reads the sections written by <see cref="AddSections"/> (starting at <paramref name="first"/>) into owned memory.</summary>
    public void Load(IndexFileReader file, int first, int rows)
    {
        Grow(Math.Max(rows, 1));
        if (Storage == VectorStorage.Int8)
        {
            long bytes = (long)rows * Dims;
            Buffer.MemoryCopy(file.Section(first, bytes), _u8!.Ptr, _u8.Bytes, bytes);
            var range = file.ReadArray<float>(first + 1, 2L * Dims);
            _offset = GC.AllocateArray<float>(Dims, pinned: true);
            _scale = GC.AllocateArray<float>(Dims, pinned: true);
            range.AsSpan(0, Dims).CopyTo(_offset);
            range.AsSpan(Dims, Dims).CopyTo(_scale);
            foreach (float s in _scale)
                if (!(s > 0) || !float.IsFinite(s)) throw new IndexFileException(file.Path, "corrupt: int8 scale out of range");
            Buffer.MemoryCopy(file.Section(first + 2, rows * 4L), _norms!.Ptr, _norms.Bytes, rows * 4L);
            Trained = true;
            TrainedRows = rows;
        }
        else
        {
            long bytes = (long)rows * Dims * 2;
            Buffer.MemoryCopy(file.Section(first, bytes), _bf!.Ptr, _bf.Bytes, bytes);
        }
    }

    public void Dispose()
    {
        _u8?.Dispose();
        _bf?.Dispose();
        _norms?.Dispose();
    }
}
