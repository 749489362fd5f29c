using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using OpenBook.Models.Kernels;

namespace OpenBook.Models.Formats;

/// <summary>A tensor to write: name, element type, shape and its raw little-endian bytes.</summary>
public sealed record SafetensorsTensor(string Name, SafetensorsDtype Dtype, long[] Shape, ReadOnlyMemory<byte> Data)
{
    /// <summary>An fp32 tensor.</summary>
    public static SafetensorsTensor F32(string name, float[] values, params long[] shape) =>
        new(name, SafetensorsDtype.F32, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    /// <summary>A bf16 tensor from fp32 values (rounded to nearest even).</summary>
    public static SafetensorsTensor BF16(string name, float[] values, params long[] shape)
    {
        var b = new ushort[values.Length];
        Bf16.FromFloat(values, b);
        return new(name, SafetensorsDtype.BF16, shape, MemoryMarshal.AsBytes(b.AsSpan()).ToArray());
    }
}

/// <summary>
/// Writes safetensors files: single files and sharded checkpoints with <c>model.safetensors.index.json</c>,
/// in the layout Hugging Face writes (header padded with spaces to 8 bytes, tensors sorted by name).
/// Files are written to a temporary name and renamed into place.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes one safetensors file.</summary>
    public static void Write(string path, IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var m = new JsonObject();
            foreach (var (k, v) in metadata) m[k] = v;
            header["__metadata__"] = m;
        }
        long offset = 0;
        foreach (var t in list)
        {
            long expected = t.Shape.Aggregate(1L, (a, b) => a * b) * Safetensors.ElementSize(t.Dtype);
            if (expected != t.Data.Length)
                throw new ArgumentException($"Tensor '{t.Name}': {t.Data.Length} bytes do not match {t.Dtype} {Safetensors.ShapeText(t.Shape)}.");
            header[t.Name] = new JsonObject
            {
                ["dtype"] = t.Dtype.ToString(),
                ["shape"] = new JsonArray(t.Shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + t.Data.Length),
            };
            offset += t.Data.Length;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        string tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            fs.Write(len);
            fs.Write(json);
            for (int i = json.Length; i < padded; i++) fs.WriteByte((byte)' ');
            foreach (var t in list) fs.Write(t.Data.Span);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// Writes a checkpoint into <paramref name="directory"/>: one <c>model.safetensors</c> when everything fits in
    /// <paramref name="maxShardBytes"/>, else <c>model-0000i-of-0000n.safetensors</c> shards plus the index.
    /// </summary>
    public static void WriteCheckpoint(string directory, IReadOnlyList<SafetensorsTensor> tensors, long maxShardBytes = 5L << 30)
    {
        Directory.CreateDirectory(directory);
        var shards = new List<List<SafetensorsTensor>> { new() };
        long size = 0;
        foreach (var t in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            if (size > 0 && size + t.Data.Length > maxShardBytes)
            {
                shards.Add(new());
                size = 0;
            }
            shards[^1].Add(t);
            size += t.Data.Length;
        }
        if (shards.Count == 1)
        {
            Write(Path.Combine(directory, SafetensorsCheckpoint.SingleFileName), shards[0], new Dictionary<string, string> { ["format"] = "pt" });
            return;
        }
        var weightMap = new JsonObject();
        for (int i = 0; i < shards.Count; i++)
        {
            string name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Write(Path.Combine(directory, name), shards[i], new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var t in shards[i]) weightMap[t.Name] = name;
        }
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(t => (long)t.Data.Length) },
            ["weight_map"] = weightMap,
        };
        string indexPath = Path.Combine(directory, SafetensorsCheckpoint.IndexFileName);
        File.WriteAllText(indexPath + ".tmp", index.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        File.Move(indexPath + ".tmp", indexPath, overwrite: true);
    }
}
