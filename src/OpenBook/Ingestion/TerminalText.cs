using System.Text.RegularExpressions;

namespace OpenBook.Ingestion;

/// <summary>Makes untrusted text (documents, model output) safe to print on a terminal.</summary>
public static partial class TerminalText
{
    /// <summary>
    /// Removes ANSI escape sequences (CSI, OSC, other ESC sequences), C0 and C1 control characters other than tab and
    /// newline, and Unicode bidi overrides, which could recolour, move the cursor, rewrite the title or hide text.
    /// </summary>
    public static string Strip(string text)
    {
        if (text.Length == 0) return text;
        bool clean = true;
        foreach (var c in text)
            if (IsUnsafe(c)) { clean = false; break; }
        return clean ? text : Unsafe().Replace(Escapes().Replace(text, ""), "");
    }

    private static bool IsUnsafe(char c) =>
        (c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7F && c <= 0x9F) || (c >= '\u202A' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069');

    // ESC [ … final byte (CSI), ESC ] … BEL or ESC \ (OSC), ESC P/X/^/_ … ESC \ (DCS, SOS, PM, APC), other two-byte ESC sequences.
    [GeneratedRegex(@"\x1B\[[0-?]*[ -/]*[@-~]|\x1B\][^\x07\x1B]*(?:\x07|\x1B\\)?|\x1B[PX^_][^\x1B]*(?:\x1B\\)?|\x1B[@-Z\\-_]|\x9B[0-?]*[ -/]*[@-~]")]
    private static partial Regex Escapes();

    [GeneratedRegex(@"[\x00-\x08\x0B-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]")]
    private static partial Regex Unsafe();
}
