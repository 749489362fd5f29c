using System.Text;

namespace OpenBook.Models.Tests.Gguf;

/// <summary>A minimal GGUF v3 reader for the tests: metadata values and the tensor directory, read independently of the writer.</summary>
internal sealed class GgufTestReader
{
    public Dictionary<string, object> Metadata { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, (long[] Dims, uint Type, ulong Offset)> Tensors { get; } = new(StringComparer.Ordinal);
    public long DataStart { get; private set; }

    public static GgufTestReader Read(string path)
    {
        var r = new GgufTestReader();
        using var s = File.OpenRead(path);
        using var b = new BinaryReader(s, Encoding.UTF8);
        Assert.Equal("GGUF", Encoding.ASCII.GetString(b.ReadBytes(4)));
        Assert.Equal(3u, b.ReadUInt32());
        ulong tensors = b.ReadUInt64(), kvs = b.ReadUInt64();
        for (ulong i = 0; i < kvs; i++)
        {
            string key = Str(b);
            r.Metadata[key] = Value(b, b.ReadUInt32());
        }
        for (ulong i = 0; i < tensors; i++)
        {
            string name = Str(b);
            var dims = new long[b.ReadUInt32()];
            for (int d = 0; d < dims.Length; d++) dims[d] = (long)b.ReadUInt64();
            r.Tensors[name] = (dims, b.ReadUInt32(), b.ReadUInt64());
        }
        r.DataStart = (s.Position + 31) / 32 * 32;
        return r;
    }

    public byte[] TensorBytes(string path, string name, int count)
    {
        using var s = File.OpenRead(path);
        s.Position = DataStart + (long)Tensors[name].Offset;
        var bytes = new byte[count];
        s.ReadExactly(bytes);
        return bytes;
    }

    private static string Str(BinaryReader b) => Encoding.UTF8.GetString(b.ReadBytes(checked((int)b.ReadUInt64())));

    private static object Value(BinaryReader b, uint type) => type switch
    {
        0 => b.ReadByte(), 1 => b.ReadSByte(), 2 => b.ReadUInt16(), 3 => b.ReadInt16(), 4 => b.ReadUInt32(), 5 => b.ReadInt32(),
        6 => b.ReadSingle(), 7 => b.ReadByte() != 0, 8 => Str(b), 10 => b.ReadUInt64(), 11 => b.ReadInt64(), 12 => b.ReadDouble(),
        9 => Array(b),
        _ => throw new InvalidDataException($"GGUF value type {type}"),
    };

    private static object[] Array(BinaryReader b)
    {
        uint type = b.ReadUInt32();
        var items = new object[checked((int)b.ReadUInt64())];
        for (int i = 0; i < items.Length; i++) items[i] = Value(b, type);
        return items;
    }
}
