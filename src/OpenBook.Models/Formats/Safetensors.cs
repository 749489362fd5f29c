using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenBook.Models.Kernels;

namespace OpenBook.Models.Formats;

/// <summary>Element types of the safetensors format that the engine reads.</summary>
public enum SafetensorsDtype
{
    /// <summary>IEEE fp32.</summary>
    F32,
    /// <summary>bfloat16.</summary>
    BF16,
    /// <summary>IEEE fp16.</summary>
    F16,
    /// <summary>signed 8-bit integers.</summary>
    I8,
}

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">Checkpoint key, e.g. <c>model.layers.0.self_attn.q_proj.weight</c>.</param>
/// <param name="Dtype">Element type.</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Begin">Start of the data, relative to the data section.</param>
/// <param name="End">End (exclusive) of the data, relative to the data section.</param>
/// <param name="File">The .safetensors file holding it.</param>
public sealed record SafetensorsTensorInfo(string Name, SafetensorsDtype Dtype, long[] Shape, long Begin, long End, string File)
{
    /// <summary>Number of elements.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Shape as text, e.g. <c>[576, 1536]</c>.</summary>
    public string ShapeText => Safetensors.ShapeText(Shape);
}

/// <summary>Shared helpers of the safetensors reader and writer.</summary>
public static class Safetensors
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(SafetensorsDtype d) => d switch { SafetensorsDtype.F32 => 4, SafetensorsDtype.I8 => 1, _ => 2 };

    /// <summary>Formats a shape as <c>[a, b]</c>.</summary>
    public static string ShapeText(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    internal static SafetensorsDtype ParseDtype(string s, string file, string name) => s switch
    {
        "F32" => SafetensorsDtype.F32,
        "BF16" => SafetensorsDtype.BF16,
        "F16" => SafetensorsDtype.F16,
        "I8" => SafetensorsDtype.I8,
        _ => throw new OpenBookException($"{file}: tensor '{name}' has dtype {s}; supported: F32, BF16, F16, I8."),
    };
}

/// <summary>
/// A memory-mapped <c>.safetensors</c> file: an 8-byte little-endian header length, a JSON header mapping
/// names to dtype/shape/data_offsets, then the raw little-endian data. The header is validated on open
/// (offsets inside the file, sizes matching shapes); tensor data is read straight from the mapping.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _dataStart;

    /// <summary>Path of the file.</summary>
    public string Path { get; }
    /// <summary>Tensors by name.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors { get; }
    /// <summary>The optional <c>__metadata__</c> string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePtr, long dataStart,
        Dictionary<string, SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path; _map = map; _view = view; _base = basePtr; _dataStart = dataStart; Tensors = tensors; Metadata = metadata;
    }

    /// <summary>Largest header accepted (the safetensors format caps it at 100 MB).</summary>
    public const ulong MaxHeaderBytes = 100_000_000;

    /// <summary>Opens and validates a safetensors file.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new OpenBookException($"{path}: missing safetensors file.");
        long length = new FileInfo(path).Length;
        if (length < 8) throw new OpenBookException($"{path}: truncated safetensors file ({length} bytes; the 8-byte header length is missing).");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* ptr = null;
        try
        {
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
            ptr += view.PointerOffset;
            ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(ptr, 8));
            if (headerLen > MaxHeaderBytes)
                throw new OpenBookException($"{path}: safetensors header of {headerLen} bytes is larger than the format's {MaxHeaderBytes >> 20} MB limit.");
            if (headerLen > (ulong)(length - 8))
                throw new OpenBookException($"{path}: truncated safetensors file: header says {headerLen} header bytes but the file has only {length - 8} after the length prefix.");
            long dataStart = 8 + (long)headerLen;
            var (tensors, metadata) = ParseHeader(new ReadOnlySpan<byte>(ptr + 8, (int)headerLen), path, length - dataStart);
            return new SafetensorsFile(path, map, view, ptr, dataStart, tensors, metadata);
        }
        catch
        {
            if (ptr != null) view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            map.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, SafetensorsTensorInfo>, Dictionary<string, string>) ParseHeader(ReadOnlySpan<byte> header, string path, long dataLength)
    {
        JsonObject root;
        try { root = JsonNode.Parse(header) as JsonObject ?? throw new OpenBookException($"{path}: safetensors header is not a JSON object."); }
        catch (JsonException e) { throw new OpenBookException($"{path}: safetensors header is not valid JSON ({e.Message}).", e); }
        var tensors = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, node) in root)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject m)
                    foreach (var (k, v) in m)
                        metadata[k] = v is null ? "" : v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>()
                            : throw new OpenBookException($"{path}: __metadata__['{k}'] must be a string, found {v.ToJsonString()}.");
                else if (node is not null) throw new OpenBookException($"{path}: __metadata__ must be an object of strings.");
                continue;
            }
            if (node is not JsonObject t) throw new OpenBookException($"{path}: header entry '{name}' is not an object.");
            var f = new JsonFields(t, path, $"{name}.");
            var dtype = Safetensors.ParseDtype(f.String("dtype") ?? throw f.Error("dtype", "is missing"), path, name);
            if (t["shape"] is not JsonArray shapeJson) throw new OpenBookException($"{path}: tensor '{name}' has no shape.");
            if (shapeJson.Count > 8) throw f.Error("shape", $"has {shapeJson.Count} dimensions; at most 8 are supported");
            var shape = new long[shapeJson.Count];
            long elements = 1;
            for (int i = 0; i < shape.Length; i++)
            {
                var dimKey = $"{name}.shape[{i}]";
                shape[i] = new JsonFields(new JsonObject { [dimKey] = shapeJson[i]?.DeepClone() }, path).Long(dimKey, null, 0, 1L << 40);
                elements = shape[i] == 0 || elements == 0 ? 0 : elements > long.MaxValue / 8 / shape[i]
                    ? throw f.Error("shape", $"{Safetensors.ShapeText(shape[..(i + 1)])} has too many elements")
                    : elements * shape[i];
            }
            if (t["data_offsets"] is not JsonArray { Count: 2 } offsets) throw new OpenBookException($"{path}: tensor '{name}' has no data_offsets [begin, end].");
            var off = new JsonFields(new JsonObject { ["begin"] = offsets[0]?.DeepClone(), ["end"] = offsets[1]?.DeepClone() }, path, $"{name}.data_offsets.");
            long begin = off.Long("begin", null, 0), end = off.Long("end", null, 0);
            var info = new SafetensorsTensorInfo(name, dtype, shape, begin, end, path);
            if (end < begin) throw new OpenBookException($"{path}: tensor '{name}' has invalid data_offsets [{begin}, {end}].");
            if (end > dataLength)
                throw new OpenBookException($"{path}: truncated safetensors file: tensor '{name}' ends at byte {end} of the data section, which holds only {dataLength} bytes.");
            if (end - begin != elements * Safetensors.ElementSize(dtype))
                throw new OpenBookException($"{path}: tensor '{name}' {dtype} {info.ShapeText} needs {elements * Safetensors.ElementSize(dtype)} bytes but data_offsets span {end - begin}.");
            tensors[name] = info;
        }
        // Tensors must not share bytes: overlapping ranges would alias two weights (the format forbids it).
        SafetensorsTensorInfo? previous = null;
        foreach (var info in tensors.Values.Where(x => x.End > x.Begin).OrderBy(x => x.Begin))
        {
            if (previous is not null && info.Begin < previous.End)
                throw new OpenBookException($"{path}: tensors '{previous.Name}' [{previous.Begin}, {previous.End}) and '{info.Name}' [{info.Begin}, {info.End}) overlap.");
            previous = info;
        }
        return (tensors, metadata);
    }

    /// <summary>The raw bytes of a tensor, straight from the mapping (valid until the file is disposed).</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = Info(name);
        return new ReadOnlySpan<byte>(_base + _dataStart + info.Begin, checked((int)(info.End - info.Begin)));
    }

    /// <summary>Header entry of a tensor; throws an <see cref="OpenBookException"/> naming the file when absent.</summary>
    public SafetensorsTensorInfo Info(string name) =>
        Tensors.TryGetValue(name, out var i) ? i : throw new OpenBookException($"{Path}: tensor '{name}' not found.");

    /// <summary>Reads a tensor as fp32 (F32 copied, BF16/F16 widened, I8 converted).</summary>
    public float[] ReadFloat32(string name)
    {
        var info = Info(name);
        var bytes = GetBytes(name);
        var result = new float[info.ElementCount];
        switch (info.Dtype)
        {
            case SafetensorsDtype.F32: MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result); break;
            case SafetensorsDtype.BF16: Bf16.ToFloat(MemoryMarshal.Cast<byte, ushort>(bytes), result); break;
            case SafetensorsDtype.F16:
                var h = MemoryMarshal.Cast<byte, Half>(bytes);
                for (int i = 0; i < h.Length; i++) result[i] = (float)h[i];
                break;
            default:
                var s = MemoryMarshal.Cast<byte, sbyte>(bytes);
                for (int i = 0; i < s.Length; i++) result[i] = s[i];
                break;
        }
        CheckFinite(name, result);
        return result;
    }

    /// <summary>Throws naming the file and tensor when <paramref name="values"/> holds a NaN or an infinity.</summary>
    internal void CheckFinite(string name, ReadOnlySpan<float> values)
    {
        var bad = NonFinite.IndexOf(values);
        if (bad >= 0)
            throw new OpenBookException($"{Path}: tensor '{name}' holds a non-finite value ({values[bad]} at element {bad}); the weights are corrupt.");
    }

    /// <summary>Reads a tensor as bf16 bit patterns (BF16 copied; other types converted with round-to-nearest-even).</summary>
    public ushort[] ReadBf16(string name)
    {
        var info = Info(name);
        if (info.Dtype == SafetensorsDtype.BF16)
        {
            var bits = MemoryMarshal.Cast<byte, ushort>(GetBytes(name)).ToArray();
            var bad = NonFinite.IndexOfBf16(bits);
            if (bad >= 0)
                throw new OpenBookException($"{Path}: tensor '{name}' holds a non-finite value ({Bf16.ToFloat(bits[bad])} at element {bad}); the weights are corrupt.");
            return bits;
        }
        var f = ReadFloat32(name);
        var result = new ushort[f.Length];
        Bf16.FromFloat(f, result);
        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}

/// <summary>
/// The weights of a Hugging Face model directory: a single <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> (its <c>weight_map</c> maps each tensor name to a shard file).
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    /// <summary>The index file name of sharded checkpoints.</summary>
    public const string IndexFileName = "model.safetensors.index.json";
    /// <summary>The single-file checkpoint name.</summary>
    public const string SingleFileName = "model.safetensors";

    private readonly Dictionary<string, SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _byTensor;

    /// <summary>Tensor names in the checkpoint.</summary>
    public IReadOnlyCollection<string> Names => _byTensor.Keys;

    private SafetensorsCheckpoint(Dictionary<string, SafetensorsFile> files, Dictionary<string, SafetensorsFile> byTensor)
    {
        _files = files;
        _byTensor = byTensor;
    }

    /// <summary>Opens the checkpoint of a model directory (sharded index preferred when present).</summary>
    public static SafetensorsCheckpoint Open(string directory)
    {
        string index = Path.Combine(directory, IndexFileName), single = Path.Combine(directory, SingleFileName);
        var files = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var byTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            if (File.Exists(index))
            {
                JsonObject root;
                try { root = JsonNode.Parse(File.ReadAllText(index)) as JsonObject ?? throw new OpenBookException($"{index}: expected a JSON object."); }
                catch (JsonException e) { throw new OpenBookException($"{index}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e); }
                var map = root["weight_map"] as JsonObject ?? throw new OpenBookException($"{index}: missing 'weight_map'.");
                foreach (var (name, fileNode) in map)
                {
                    string shard = fileNode is not null && fileNode.GetValueKind() == JsonValueKind.String ? fileNode.GetValue<string>()
                        : throw new OpenBookException($"{index}: weight_map['{name}'] is not a file name.");
                    if (shard.Length == 0 || shard.Contains('/') || shard.Contains('\\') || shard is "." or ".." || System.IO.Path.IsPathRooted(shard))
                        throw new OpenBookException($"{index}: weight_map['{name}'] = \"{shard}\" must be a file name in the model directory.");
                    if (!files.TryGetValue(shard, out var f))
                    {
                        string shardPath = Path.Combine(directory, shard);
                        if (!File.Exists(shardPath)) throw new OpenBookException($"{index}: shard '{shard}' (for tensor '{name}') is missing.");
                        files[shard] = f = SafetensorsFile.Open(shardPath);
                    }
                    if (!f.Tensors.ContainsKey(name)) throw new OpenBookException($"{f.Path}: tensor '{name}' listed in {IndexFileName} is not in this shard.");
                    byTensor[name] = f;
                }
            }
            else if (File.Exists(single))
            {
                var f = SafetensorsFile.Open(single);
                files[SingleFileName] = f;
                foreach (var name in f.Tensors.Keys) byTensor[name] = f;
            }
            else throw new OpenBookException($"{directory}: missing model weights (expected {SingleFileName} or {IndexFileName}).");
        }
        catch
        {
            foreach (var f in files.Values) f.Dispose();
            throw;
        }
        return new SafetensorsCheckpoint(files, byTensor);
    }

    /// <summary>True when the checkpoint holds <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byTensor.ContainsKey(name);

    /// <summary>Header entry of a tensor.</summary>
    public SafetensorsTensorInfo Info(string name) => FileOf(name).Info(name);

    /// <summary>The file holding a tensor.</summary>
    public SafetensorsFile FileOf(string name) =>
        _byTensor.TryGetValue(name, out var f) ? f : throw new OpenBookException($"model weights: tensor '{name}' is missing from the checkpoint.");

    /// <summary>Checks a tensor's shape; throws naming the file, tensor, expected and found shapes.</summary>
    public SafetensorsTensorInfo Expect(string name, params long[] shape)
    {
        var info = Info(name);
        if (!info.Shape.SequenceEqual(shape))
            throw new OpenBookException($"{info.File}: tensor '{name}' has shape {info.ShapeText}, expected {Safetensors.ShapeText(shape)} (from config.json).");
        return info;
    }

    /// <summary>Reads a tensor as fp32.</summary>
    public float[] ReadFloat32(string name) => FileOf(name).ReadFloat32(name);

    /// <summary>Reads a tensor as bf16 bit patterns.</summary>
    public ushort[] ReadBf16(string name) => FileOf(name).ReadBf16(name);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var f in _files.Values) f.Dispose();
    }
}

/// <summary>Finds NaN and infinities in weights (vectorised; corrupt or hostile checkpoints are refused at load).</summary>
internal static class NonFinite
{
    /// <summary>Index of the first NaN or infinity, or -1.</summary>
    public static int IndexOf(ReadOnlySpan<float> values)
    {
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var w = System.Numerics.Vector<float>.Count;
            var vectors = MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(values);
            for (int k = 0; k < vectors.Length; k++)
            {
                var v = vectors[k];
                // x - x is 0 for finite x and NaN for NaN and ±inf; NaN != NaN.
                if (!System.Numerics.Vector.EqualsAll(v - v, System.Numerics.Vector<float>.Zero)) { i = k * w; break; }
                i = (k + 1) * w;
            }
        }
        for (; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    /// <summary>Index of the first bf16 NaN or infinity (exponent bits all ones), or -1.</summary>
    public static int IndexOfBf16(ReadOnlySpan<ushort> bits)
    {
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var w = System.Numerics.Vector<ushort>.Count;
            var mask = new System.Numerics.Vector<ushort>(0x7F80);
            var vectors = MemoryMarshal.Cast<ushort, System.Numerics.Vector<ushort>>(bits);
            for (int k = 0; k < vectors.Length; k++)
            {
                if (System.Numerics.Vector.EqualsAny(vectors[k] & mask, mask)) { i = k * w; break; }
                i = (k + 1) * w;
            }
        }
        for (; i < bits.Length; i++)
            if ((bits[i] & 0x7F80) == 0x7F80) return i;
        return -1;
    }
}
