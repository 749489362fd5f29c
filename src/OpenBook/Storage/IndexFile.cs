using System.Security.Cryptography;

namespace OpenBook.Storage;

/// <summary>A persisted index file that is missing, truncated, corrupt or built with other parameters. Callers rebuild.</summary>
public sealed class IndexFileException(string path, string reason) : Exception($"{path}: {reason}")
{
    /// <summary>The index file.</summary>
    public string Path { get; } = path;
    /// <summary>What is wrong with it.</summary>
    public string Reason { get; } = reason;
}

/// <summary>
/// Writing and reading derived-data files safely: content + SHA-256 trailer, written to a temp file, flushed to disk
/// and renamed over the old file, so a crash leaves either the old or the new file, never a torn one.
/// </summary>
public static class IndexFile
{
    private const int HashLength = 32;

    /// <summary>Atomically replaces <paramref name="path"/> with the bytes <paramref name="write"/> produces, plus a checksum.</summary>
    public static void WriteAtomic(string path, Action<BinaryWriter> write)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16))
            {
                using (var hashing = new HashingStream(fs))
                using (var w = new BinaryWriter(hashing, System.Text.Encoding.UTF8, leaveOpen: true))
                {
                    write(w);
                    w.Flush();
                    fs.Write(hashing.Hash());
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Reads and verifies a file written by <see cref="WriteAtomic"/>, returning its content without the checksum.</summary>
    /// <exception cref="IndexFileException">Missing, truncated or checksum mismatch.</exception>
    public static byte[] ReadVerified(string path)
    {
        if (!File.Exists(path)) throw new IndexFileException(path, "missing");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < HashLength) throw new IndexFileException(path, $"truncated ({bytes.Length} bytes)");
        var content = bytes.AsSpan(0, bytes.Length - HashLength);
        var expected = bytes.AsSpan(bytes.Length - HashLength);
        if (!SHA256.HashData(content).AsSpan().SequenceEqual(expected))
            throw new IndexFileException(path, "checksum mismatch (file is corrupt or truncated)");
        return content.ToArray();
    }

    /// <summary>Writes a magic string and a format version; <see cref="ReadHeader"/> checks both.</summary>
    public static void WriteHeader(BinaryWriter w, string magic, int version)
    {
        w.Write(magic);
        w.Write(version);
    }

    /// <summary>Checks the magic string and format version written by <see cref="WriteHeader"/>.</summary>
    public static void ReadHeader(BinaryReader r, string path, string magic, int version)
    {
        string found;
        try { found = r.ReadString(); }
        catch (EndOfStreamException) { throw new IndexFileException(path, "truncated header"); }
        if (found != magic) throw new IndexFileException(path, $"not a {magic} file");
        var v = r.ReadInt32();
        if (v != version) throw new IndexFileException(path, $"format version {v}, expected {version}");
    }

    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public byte[] Hash() => _hash.GetHashAndReset();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer) { _hash.AppendData(buffer); inner.Write(buffer); }
        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) _hash.Dispose(); base.Dispose(disposing); }
    }
}
