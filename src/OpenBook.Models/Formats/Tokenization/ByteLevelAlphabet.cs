namespace OpenBook.Models.Formats.Tokenization;

/// <summary>
/// GPT-2's reversible byte ↔ printable-character map used by byte-level BPE: printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100.. in order. Every byte sequence becomes a string of visible characters.
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = Build();
    private static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, b)).ToDictionary(t => t.c, t => (byte)t.b);

    private static char[] Build()
    {
        var map = new char[256];
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    /// <summary>The character standing for <paramref name="b"/>.</summary>
    public static char ToChar(byte b) => ByteToChar[b];

    /// <summary>The byte a character stands for, or false when the character is not in the alphabet.</summary>
    public static bool TryToByte(char c, out byte b) => CharToByte.TryGetValue(c, out b);

    /// <summary>Maps bytes to their byte-level string.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>All 256 characters, in byte order.</summary>
    public static IReadOnlyList<char> Alphabet => ByteToChar;
}
