using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;

using OpenBook.Retrieval.Vectors;

namespace OpenBook.Storage;

/// <summary>What kind of index a file holds.</summary>
internal enum IndexFileKind : uint { Flat = 1, Hnsw = 2, Bm25 = 3, VectorRecords = 4 }

/// <summary>
/// Fixed header of an index file (256 bytes, little-endian):
/// <code>
///  0 magic "OBVECIDX"   8 u32 version    12 u32 kind        16 u32 metric      20 u32 dims
/// 24 u32 M             28 u32 M0        32 u32 efConstr    36 u32 quantization (<see cref="VectorStorage"/>: 0 float32, 1 bf16, 2 int8)
/// 40 i64 nodeCount     48 i64 liveCount 56 i32 entryPoint  60 i32 maxLevel
/// 64 u64 stamp (caller's consistency stamp, e.g. the store's write generation)
/// 72 i64 contentLength 80 u64 XXH64(header with this field zeroed ‖ content)
/// 88 i32 sectionCount  96 sections: (i64 offset, i64 length) × 10
/// </code>
/// Sections start on 64-byte boundaries so vectors can be used in place from the memory map.
/// Version 1: float32 only (quantization 0). Version 2 (written only when quantization ≠ 0, so float32 files stay
/// version 1 and readable by older builds): the storage's code sections follow the index's own. Both are read.
/// </summary>
internal sealed record IndexHeader
{
    public const int Size = 256, MaxSections = 10, CurrentVersion = 2, OldestVersion = 1;
    public static ReadOnlySpan<byte> Magic => "OBVECIDX"u8;

    public IndexFileKind Kind { get; init; }
    public VectorMetric Metric { get; init; }
    public int Dims { get; init; }
    public int M { get; init; }
    public int M0 { get; init; }
    public int EfConstruction { get; init; }
    public int Quantization { get; init; }
    public long NodeCount { get; init; }
    public long LiveCount { get; init; }
    public int EntryPoint { get; init; }
    public int MaxLevel { get; init; }
    public ulong Stamp { get; init; }
    /// <summary>Format version; by default 1 for float32 files (unchanged format) and 2 for quantised ones.</summary>
    public int? Version { get; init; }
    public int WrittenVersion => Version ?? (Quantization == 0 ? OldestVersion : CurrentVersion);
}

/// <summary>Writes an index file: temp file, streaming checksum, fsync, atomic rename.</summary>
internal sealed class IndexFileWriter
{
    private readonly List<(long Length, Action<Action<ReadOnlySpan<byte>>> Write)> _sections = [];

    public void Section(long length, Action<Action<ReadOnlySpan<byte>>> write) => _sections.Add((length, write));

    /// <summary>Adds a section copied from unmanaged memory.</summary>
    public unsafe void Section(nint ptr, long length) => Section(length, w =>
    {
        for (long off = 0; off < length; off += 1 << 24)
            w(new ReadOnlySpan<byte>((byte*)ptr + off, (int)Math.Min(1 << 24, length - off)));
    });

    /// <summary>Adds a section holding an array's first <paramref name="count"/> elements.</summary>
    public void Section<T>(T[] array, long count) where T : unmanaged =>
        Section(count * Marshal.SizeOf<T>(), w =>
        {
            for (long off = 0; off < count; off += 1 << 22)
                w(MemoryMarshal.AsBytes(array.AsSpan((int)off, (int)Math.Min(1 << 22, count - off))));
        });

    public void Save(string path, IndexHeader h)
    {
        if (_sections.Count > IndexHeader.MaxSections) throw new InvalidOperationException("Too many sections.");
        var header = new byte[IndexHeader.Size];
        var offsets = new long[_sections.Count];
        long pos = IndexHeader.Size;
        for (int i = 0; i < _sections.Count; i++)
        {
            pos = Align(pos);
            offsets[i] = pos;
            pos += _sections[i].Length;
        }
        long contentLength = pos - IndexHeader.Size;
        var s = header.AsSpan();
        Magic(s);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], (uint)h.WrittenVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(s[12..], (uint)h.Kind);
        BinaryPrimitives.WriteUInt32LittleEndian(s[16..], (uint)h.Metric);
        BinaryPrimitives.WriteInt32LittleEndian(s[20..], h.Dims);
        BinaryPrimitives.WriteInt32LittleEndian(s[24..], h.M);
        BinaryPrimitives.WriteInt32LittleEndian(s[28..], h.M0);
        BinaryPrimitives.WriteInt32LittleEndian(s[32..], h.EfConstruction);
        BinaryPrimitives.WriteInt32LittleEndian(s[36..], h.Quantization);
        BinaryPrimitives.WriteInt64LittleEndian(s[40..], h.NodeCount);
        BinaryPrimitives.WriteInt64LittleEndian(s[48..], h.LiveCount);
        BinaryPrimitives.WriteInt32LittleEndian(s[56..], h.EntryPoint);
        BinaryPrimitives.WriteInt32LittleEndian(s[60..], h.MaxLevel);
        BinaryPrimitives.WriteUInt64LittleEndian(s[64..], h.Stamp);
        BinaryPrimitives.WriteInt64LittleEndian(s[72..], contentLength);
        BinaryPrimitives.WriteInt32LittleEndian(s[88..], _sections.Count);
        for (int i = 0; i < _sections.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(s[(96 + 16 * i)..], offsets[i]);
            BinaryPrimitives.WriteInt64LittleEndian(s[(104 + 16 * i)..], _sections[i].Length);
        }

        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            var hash = new System.IO.Hashing.XxHash64();
            hash.Append(header);
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                fs.SetLength(IndexHeader.Size + contentLength);
                fs.Write(header);
                long written = IndexHeader.Size;
                Span<byte> zeros = stackalloc byte[64];
                zeros.Clear();
                for (int i = 0; i < _sections.Count; i++)
                {
                    int pad = (int)(offsets[i] - written);
                    fs.Write(zeros[..pad]); hash.Append(zeros[..pad]);
                    long before = written + pad;
                    long got = 0;
                    _sections[i].Write(chunk => { fs.Write(chunk); hash.Append(chunk); got += chunk.Length; });
                    if (got != _sections[i].Length)
                        throw new InvalidOperationException($"Section {i} wrote {got} bytes, expected {_sections[i].Length}.");
                    written = before + got;
                }
                Span<byte> sum = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(sum, hash.GetCurrentHashAsUInt64());
                fs.Position = 80;
                fs.Write(sum);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }

    internal static long Align(long pos) => (pos + 63) & ~63L;
    private static void Magic(Span<byte> s) => IndexHeader.Magic.CopyTo(s);
}

/// <summary>
/// An index file opened by memory mapping (copy-on-write: the index may patch pages in memory, the file never changes).
/// Validates magic, version, length and (optionally) the checksum; gives pointers to sections.
/// </summary>
internal sealed unsafe class IndexFileReader : IDisposable
{
    private readonly MemoryMappedFile _mmf;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _base;
    private readonly (long Offset, long Length)[] _sections;

    public string Path { get; }
    public IndexHeader Header { get; }
    public long FileLength { get; }

    public IndexFileReader(string path, bool verifyChecksum)
    {
        Path = path;
        if (!File.Exists(path)) throw new IndexFileException(path, "missing");
        FileLength = new FileInfo(path).Length;
        if (FileLength < IndexHeader.Size)
            throw new IndexFileException(path, $"truncated: {FileLength} bytes, smaller than the {IndexHeader.Size}-byte header");
        try
        {
            _mmf = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.CopyOnWrite);
            _view = _mmf.CreateViewAccessor(0, 0, MemoryMappedFileAccess.CopyOnWrite);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IndexFileException(path, $"cannot be mapped ({ex.Message})", ex);
        }
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _base);
        _base += _view.PointerOffset;
        try
        {
            var s = new ReadOnlySpan<byte>(_base, IndexHeader.Size);
            if (!s[..8].SequenceEqual(IndexHeader.Magic))
                throw new IndexFileException(path, $"not an OpenBook index file (magic '{Encoding.ASCII.GetString(s[..8]).Replace('\0', '?')}')");
            int version = (int)BinaryPrimitives.ReadUInt32LittleEndian(s[8..]);
            if (version is < IndexHeader.OldestVersion or > IndexHeader.CurrentVersion)
                throw new IndexFileException(path, $"format version {version}, this build reads versions {IndexHeader.OldestVersion}–{IndexHeader.CurrentVersion}");
            long contentLength = BinaryPrimitives.ReadInt64LittleEndian(s[72..]);
            if (IndexHeader.Size + contentLength != FileLength)
                throw new IndexFileException(path, $"truncated or padded: {FileLength} bytes, header says {IndexHeader.Size + contentLength}");
            Header = new IndexHeader
            {
                Version = version,
                Kind = (IndexFileKind)BinaryPrimitives.ReadUInt32LittleEndian(s[12..]),
                Metric = (VectorMetric)BinaryPrimitives.ReadUInt32LittleEndian(s[16..]),
                Dims = BinaryPrimitives.ReadInt32LittleEndian(s[20..]),
                M = BinaryPrimitives.ReadInt32LittleEndian(s[24..]),
                M0 = BinaryPrimitives.ReadInt32LittleEndian(s[28..]),
                EfConstruction = BinaryPrimitives.ReadInt32LittleEndian(s[32..]),
                Quantization = BinaryPrimitives.ReadInt32LittleEndian(s[36..]),
                NodeCount = BinaryPrimitives.ReadInt64LittleEndian(s[40..]),
                LiveCount = BinaryPrimitives.ReadInt64LittleEndian(s[48..]),
                EntryPoint = BinaryPrimitives.ReadInt32LittleEndian(s[56..]),
                MaxLevel = BinaryPrimitives.ReadInt32LittleEndian(s[60..]),
                Stamp = BinaryPrimitives.ReadUInt64LittleEndian(s[64..]),
            };
            int count = BinaryPrimitives.ReadInt32LittleEndian(s[88..]);
            if (count is < 0 or > IndexHeader.MaxSections) throw new IndexFileException(path, $"corrupt header (section count {count})");
            _sections = new (long, long)[count];
            for (int i = 0; i < count; i++)
            {
                long off = BinaryPrimitives.ReadInt64LittleEndian(s[(96 + 16 * i)..]);
                long len = BinaryPrimitives.ReadInt64LittleEndian(s[(104 + 16 * i)..]);
                if (off < IndexHeader.Size || len < 0 || off + len > FileLength)
                    throw new IndexFileException(path, $"corrupt header (section {i} at {off}+{len} outside the file)");
                _sections[i] = (off, len);
            }
            if (verifyChecksum)
            {
                ulong expected = BinaryPrimitives.ReadUInt64LittleEndian(s[80..]);
                var hash = new System.IO.Hashing.XxHash64();
                hash.Append(s[..80]);
                hash.Append(stackalloc byte[8]);
                hash.Append(s[88..]);
                // read through the file, not the map: the content stays out of this process's resident set until used
                using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan))
                {
                    fs.Position = IndexHeader.Size;
                    var buffer = new byte[1 << 20];
                    int got;
                    while ((got = fs.Read(buffer)) > 0) hash.Append(buffer.AsSpan(0, got));
                }
                ulong actual = hash.GetCurrentHashAsUInt64();
                if (actual != expected)
                    throw new IndexFileException(path, $"checksum mismatch (stored {expected:x16}, computed {actual:x16}): the file is corrupt");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int SectionCount => _sections.Length;

    /// <summary>Pointer to section <paramref name="i"/>, checking it holds exactly <paramref name="expectedBytes"/>.</summary>
    public byte* Section(int i, long expectedBytes)
    {
        if (i >= _sections.Length) throw new IndexFileException(Path, $"corrupt: section {i} is missing");
        if (_sections[i].Length != expectedBytes)
            throw new IndexFileException(Path, $"corrupt: section {i} holds {_sections[i].Length} bytes, expected {expectedBytes}");
        return _base + _sections[i].Offset;
    }

    public long SectionLength(int i) => i < _sections.Length ? _sections[i].Length : throw new IndexFileException(Path, $"corrupt: section {i} is missing");

    /// <summary>Copies a section into a new managed array.</summary>
    public T[] ReadArray<T>(int i, long count) where T : unmanaged
    {
        byte* p = Section(i, count * sizeof(T));
        var a = GC.AllocateUninitializedArray<T>(checked((int)count));
        new ReadOnlySpan<T>(p, (int)count).CopyTo(a);
        return a;
    }

    public void Dispose()
    {
        if (_base != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _view?.Dispose();
        _mmf?.Dispose();
    }
}

/// <summary>
/// Raised when an index file is missing, truncated, corrupt (checksum mismatch) or does not match what the caller
/// expects (kind, dimensions, metric, format version). Indexes are derived data: the caller rebuilds them from the store.
/// </summary>
public sealed class IndexFileException(string path, string reason, Exception? inner = null)
    : OpenBookException($"Index file '{path}': {reason}. Rebuild the index from the store.", inner)
{
    /// <summary>The index file.</summary>
    public string Path { get; } = path;
    /// <summary>What is wrong with it ("missing" when there is no file).</summary>
    public string Reason { get; } = reason;
}

/// <summary>
/// Index files whose payload is one serialized blob (the BM25 index, the vector store's records): written through the
/// same container as the vector indexes — one 64-byte-aligned section after the versioned header, XXH64 over header and
/// content, temp file + fsync + atomic rename.
/// </summary>
internal static class IndexFile
{
    /// <summary>Writes the payload produced by <paramref name="write"/> atomically as a one-section file of <paramref name="kind"/>.</summary>
    public static void WriteAtomic(string path, IndexFileKind kind, Action<BinaryWriter> write)
    {
        var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true)) write(w);
        var bytes = buffer.GetBuffer();
        var length = buffer.Length;
        var writer = new IndexFileWriter();
        writer.Section(length, sink =>
        {
            for (long off = 0; off < length; off += 1 << 24) sink(bytes.AsSpan((int)off, (int)Math.Min(1 << 24, length - off)));
        });
        writer.Save(path, new IndexHeader { Kind = kind });
    }

    /// <summary>The payload of a one-section file of <paramref name="kind"/>, after the checksum is verified.</summary>
    public static unsafe byte[] ReadVerified(string path, IndexFileKind kind)
    {
        using var file = new IndexFileReader(path, verifyChecksum: true);
        if (file.Header.Kind != kind) throw new IndexFileException(path, $"holds a {file.Header.Kind} index, expected {kind}");
        var length = file.SectionLength(0);
        var p = file.Section(0, length);
        return new ReadOnlySpan<byte>(p, checked((int)length)).ToArray();
    }

    /// <summary>Writes a payload header: a magic string and the payload's own format version.</summary>
    public static void WriteHeader(BinaryWriter w, string magic, int version)
    {
        w.Write(magic);
        w.Write(version);
    }

    /// <summary>Checks a payload header written by <see cref="WriteHeader"/>.</summary>
    public static void ReadHeader(BinaryReader r, string path, string magic, int version)
    {
        string found;
        try { found = r.ReadString(); }
        catch (EndOfStreamException) { throw new IndexFileException(path, "truncated header"); }
        if (found != magic) throw new IndexFileException(path, $"not a {magic} file");
        var v = r.ReadInt32();
        if (v != version) throw new IndexFileException(path, $"format version {v}, expected {version}");
    }
}
