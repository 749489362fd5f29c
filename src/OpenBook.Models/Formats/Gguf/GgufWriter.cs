using System.Buffers.Binary;
using System.Text;

namespace OpenBook.Models.Formats.Gguf;

/// <summary>GGML tensor types the exporter writes (values from ggml.h).</summary>
public enum GgmlType
{
    /// <summary>32-bit float.</summary>
    F32 = 0,
    /// <summary>IEEE half.</summary>
    F16 = 1,
    /// <summary>Blocks of 32 int8 values with one f16 scale (34 bytes per block).</summary>
    Q8_0 = 8,
    /// <summary>bfloat16.</summary>
    BF16 = 30,
}

/// <summary>A metadata value's type tag in a GGUF file (gguf_type in ggml's gguf.h).</summary>
internal enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9,
    UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>One tensor to write: GGUF name, dimensions in GGML order (innermost first), type, and its encoded bytes on demand.</summary>
internal sealed record GgufTensor(string Name, long[] Dims, GgmlType Type, Func<byte[]> Encode)
{
    public long ElementCount => Dims.Aggregate(1L, (a, b) => a * b);

    public long ByteSize => Type switch
    {
        GgmlType.F32 => ElementCount * 4,
        GgmlType.F16 or GgmlType.BF16 => ElementCount * 2,
        GgmlType.Q8_0 => ElementCount / GgufQuant.Q8BlockSize * GgufQuant.Q8BlockBytes,
        _ => throw new ArgumentOutOfRangeException(nameof(Type)),
    };
}

/// <summary>
/// Writes a GGUF v3 file (ggml's single-file model format, the one llama.cpp and Ollama load): the header, typed
/// key/value metadata, the tensor directory, then each tensor's data aligned to 32 bytes. Little-endian throughout.
/// Tensors are encoded one at a time as they are written, so memory holds at most one encoded tensor.
/// </summary>
internal sealed class GgufWriter
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    public const uint Version = 3;
    public const int Alignment = 32;

    private readonly List<(string Key, GgufValueType Type, object Value)> _metadata = [];
    private readonly List<GgufTensor> _tensors = [];

    public void Add(string key, string value) => _metadata.Add((key, GgufValueType.String, value));
    public void Add(string key, uint value) => _metadata.Add((key, GgufValueType.UInt32, value));
    public void Add(string key, int value) => _metadata.Add((key, GgufValueType.Int32, value));
    public void Add(string key, float value) => _metadata.Add((key, GgufValueType.Float32, value));
    public void Add(string key, bool value) => _metadata.Add((key, GgufValueType.Bool, value));
    public void Add(string key, IReadOnlyList<string> values) => _metadata.Add((key, GgufValueType.Array, values));
    public void Add(string key, IReadOnlyList<int> values) => _metadata.Add((key, GgufValueType.Array, values));
    public void Add(string key, IReadOnlyList<float> values) => _metadata.Add((key, GgufValueType.Array, values));

    public void AddTensor(GgufTensor tensor)
    {
        if (_tensors.Any(t => t.Name == tensor.Name)) throw new InvalidOperationException($"GGUF tensor '{tensor.Name}' written twice.");
        _tensors.Add(tensor);
    }

    public IReadOnlyList<GgufTensor> Tensors => _tensors;

    /// <summary>Writes the file to <paramref name="path"/> (through a temporary file renamed at the end), reporting each tensor.</summary>
    public long Write(string path, IProgress<(int Done, int Total)>? progress = null, CancellationToken ct = default)
    {
        string tmp = path + ".tmp";
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Magic);
                w.Write(Version);
                w.Write((ulong)_tensors.Count);
                w.Write((ulong)_metadata.Count);
                foreach (var (key, type, value) in _metadata)
                {
                    WriteString(w, key);
                    w.Write((uint)type);
                    WriteValue(w, type, value);
                }
                long offset = 0;
                foreach (var t in _tensors)
                {
                    WriteString(w, t.Name);
                    w.Write((uint)t.Dims.Length);
                    foreach (var d in t.Dims) w.Write((ulong)d);
                    w.Write((uint)t.Type);
                    w.Write((ulong)offset);
                    offset += Padded(t.ByteSize);
                }
                Pad(w);
                for (int i = 0; i < _tensors.Count; i++)
                {
                    ct.ThrowIfCancellationRequested();
                    var bytes = _tensors[i].Encode();
                    if (bytes.LongLength != _tensors[i].ByteSize)
                        throw new InvalidOperationException($"GGUF tensor '{_tensors[i].Name}': {bytes.LongLength} bytes encoded, {_tensors[i].ByteSize} expected.");
                    w.Write(bytes);
                    Pad(w);
                    progress?.Report((i + 1, _tensors.Count));
                }
            }
            File.Move(tmp, path, overwrite: true);
            return new FileInfo(path).Length;
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private static long Padded(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter w)
    {
        long position = w.BaseStream.Position;
        for (long i = position; i < Padded(position); i++) w.Write((byte)0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.UInt32: w.Write((uint)value); break;
            case GgufValueType.Int32: w.Write((int)value); break;
            case GgufValueType.Float32: w.Write((float)value); break;
            case GgufValueType.Bool: w.Write((bool)value ? (byte)1 : (byte)0); break;
            case GgufValueType.Array:
                switch (value)
                {
                    case IReadOnlyList<string> strings:
                        w.Write((uint)GgufValueType.String);
                        w.Write((ulong)strings.Count);
                        foreach (var s in strings) WriteString(w, s);
                        break;
                    case IReadOnlyList<int> ints:
                        w.Write((uint)GgufValueType.Int32);
                        w.Write((ulong)ints.Count);
                        foreach (var i in ints) w.Write(i);
                        break;
                    case IReadOnlyList<float> floats:
                        w.Write((uint)GgufValueType.Float32);
                        w.Write((ulong)floats.Count);
                        foreach (var f in floats) w.Write(f);
                        break;
                    default: throw new ArgumentException($"unsupported GGUF array {value.GetType()}");
                }
                break;
            default: throw new ArgumentOutOfRangeException(nameof(type));
        }
    }
}

/// <summary>Encodings of float weights into GGML's F32, F16, BF16 and Q8_0 layouts.</summary>
internal static class GgufQuant
{
    public const int Q8BlockSize = 32;
    public const int Q8BlockBytes = 2 + Q8BlockSize;

    public static byte[] Encode(ReadOnlySpan<float> values, GgmlType type) => type switch
    {
        GgmlType.F32 => F32(values),
        GgmlType.F16 => F16(values),
        GgmlType.BF16 => BF16(values),
        GgmlType.Q8_0 => Q8_0(values),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    public static byte[] F32(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    public static byte[] F16(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)values[i]);
        return bytes;
    }

    public static byte[] BF16(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), Kernels.Bf16.FromFloat(values[i]));
        return bytes;
    }

    /// <summary>
    /// Q8_0 as ggml's reference quantiser: per block of 32, d = max|x| / 127 (stored as f16), q = round(x / d)
    /// (half away from zero), q = 0 when the block is all zeros.
    /// </summary>
    public static byte[] Q8_0(ReadOnlySpan<float> values)
    {
        if (values.Length % Q8BlockSize != 0) throw new ArgumentException($"Q8_0 needs a multiple of {Q8BlockSize} values, got {values.Length}.");
        int blocks = values.Length / Q8BlockSize;
        var bytes = new byte[blocks * Q8BlockBytes];
        for (int b = 0; b < blocks; b++)
        {
            var x = values.Slice(b * Q8BlockSize, Q8BlockSize);
            float amax = 0;
            foreach (var v in x) amax = Math.Max(amax, Math.Abs(v));
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            var block = bytes.AsSpan(b * Q8BlockBytes, Q8BlockBytes);
            BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
            for (int j = 0; j < Q8BlockSize; j++)
                block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
        }
        return bytes;
    }
}
