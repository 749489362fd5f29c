namespace OpenBook.Ingestion;

/// <summary>Loaders of binary container formats (PDF, DOCX): their bytes are not checked as text.</summary>
public interface IBinaryDocumentLoader : IDocumentLoader;

/// <summary>Reads a file to ingest as untrusted input: regular files only, bounded in size.</summary>
public static class UntrustedFile
{
    /// <summary>
    /// The bytes of <paramref name="path"/>. Throws <see cref="DocumentLoadException"/> (naming <paramref name="sourcePath"/>)
    /// when it is not a regular file (a FIFO, a device, a socket), when it is larger than
    /// <see cref="InputLimits.MaxFileBytes"/> (also when it grows while read), or cannot be read.
    /// </summary>
    public static byte[] ReadAllBytes(string path, string sourcePath, InputLimits limits)
    {
        var kind = FileKinds.Probe(path);
        if (kind == FileKind.Missing) throw new DocumentLoadException(sourcePath, "cannot open file: it does not exist");
        if (kind != FileKind.Regular) throw new DocumentLoadException(sourcePath, $"not a regular file: {FileKinds.Describe(kind)}");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
            var length = stream.Length;
            if (length > limits.MaxFileBytes) throw TooLarge(sourcePath, limits);
            var buffer = new byte[length];
            int read = 0;
            while (read < buffer.Length)
            {
                var n = stream.Read(buffer, read, buffer.Length - read);
                if (n == 0) return buffer[..read]; // shrank while read
                read += n;
            }
            if (stream.ReadByte() >= 0) throw new DocumentLoadException(sourcePath, "the file grew while it was read; try again");
            return buffer;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DocumentLoadException(sourcePath, $"cannot read file: {e.Message}", e);
        }
    }

    private static DocumentLoadException TooLarge(string sourcePath, InputLimits limits) =>
        new(sourcePath, $"larger than the {InputLimits.Size(limits.MaxFileBytes)} limit for one file; not read (limit: InputLimits.MaxFileBytes)");
}
