using System.Buffers;
using System.Text;

namespace OpenBook.Ingestion;

/// <summary>What <see cref="TextContent.Inspect"/> found in the bytes of a text file.</summary>
/// <param name="BinaryReason">Why the bytes are not text (NUL bytes, too much invalid UTF-8), or null.</param>
/// <param name="InvalidUtf8Bytes">Bytes that are not valid UTF-8 (decoded as U+FFFD).</param>
/// <param name="FirstInvalidOffset">Offset of the first invalid byte, or -1.</param>
public readonly record struct TextInspection(string? BinaryReason, long InvalidUtf8Bytes, long FirstInvalidOffset)
{
    /// <summary>True when the bytes look like binary data.</summary>
    public bool IsBinary => BinaryReason is not null;
}

/// <summary>Checks the bytes of a text-format file (.txt, .md, .html, .json, .csv) before a loader sees them.</summary>
public static class TextContent
{
    /// <summary>
    /// Binary when there is a NUL byte (outside UTF-16/32 files with a byte-order mark) or when more than
    /// <paramref name="maxInvalidShare"/> of the bytes are invalid UTF-8; otherwise counts the invalid bytes. Linear.
    /// </summary>
    public static TextInspection Inspect(ReadOnlySpan<byte> bytes, double maxInvalidShare)
    {
        if (bytes is [0xFF, 0xFE, ..] or [0xFE, 0xFF, ..]) return new(null, 0, -1); // UTF-16/32 with a BOM
        var nul = bytes.IndexOf((byte)0);
        if (nul >= 0) return new($"binary content (NUL byte at offset {nul})", 0, -1);
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return new(null, 0, -1);
        long invalid = 0, first = -1;
        for (int i = 0; i < bytes.Length;)
        {
            var status = Rune.DecodeFromUtf8(bytes[i..], out _, out var consumed);
            if (status != OperationStatus.Done)
            {
                if (first < 0) first = i;
                invalid += consumed;
            }
            i += Math.Max(1, consumed);
        }
        if (invalid > maxInvalidShare * bytes.Length)
            return new($"binary content ({invalid} of {bytes.Length} bytes are not valid UTF-8)", invalid, first);
        return new(null, invalid, first);
    }
}
