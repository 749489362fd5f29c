using System.Text;

namespace OpenBook;

/// <summary>
/// Makes untrusted text (document text, file names, model output) safe to print on a terminal: escape sequences
/// (ANSI CSI <c>ESC [ … m</c>, OSC <c>ESC ] … BEL</c> such as hyperlinks and window titles, DCS/APC/PM strings,
/// two-character ESC sequences), C0 and C1 control characters (a lone carriage return that redraws the line, the
/// bell, backspace) and bidirectional overrides that reorder what is shown are removed. Line feeds and tabs are
/// kept; CRLF becomes LF.
/// </summary>
public static class TerminalText
{
    /// <summary>The text without control and escape sequences.</summary>
    public static string Clean(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        if (!NeedsCleaning(text)) return text;
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\u001B' || c == '\u009B' || c == '\u009D' || c == '\u0090' || c == '\u009E' || c == '\u009F')
            {
                i = SkipEscape(text, i) - 1;
                continue;
            }
            if (c == '\r')
            {
                if (i + 1 < text.Length && text[i + 1] == '\n') continue; // CRLF → LF
                continue;
            }
            if (c is '\n' or '\t') { sb.Append(c); continue; }
            if (char.IsControl(c) || IsBidiControl(c)) continue;
            sb.Append(c);
        }
        return sb.ToString();
    }

    private static bool NeedsCleaning(string text)
    {
        foreach (var c in text)
            if ((char.IsControl(c) && c is not ('\n' or '\t')) || IsBidiControl(c)) return true;
        return false;
    }

    private static bool IsBidiControl(char c) => c is (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069') or '\u200E' or '\u200F' or '\u061C';

    /// <summary>The index after the escape sequence starting at <paramref name="i"/>.</summary>
    private static int SkipEscape(string s, int i)
    {
        var c = s[i];
        int j;
        char kind;
        if (c == '\u001B')
        {
            if (i + 1 >= s.Length) return i + 1;
            kind = s[i + 1];
            j = i + 2;
        }
        else
        {
            kind = c switch { '\u009B' => '[', '\u009D' => ']', '\u0090' => 'P', '\u009E' => '^', _ => '_' };
            j = i + 1;
        }
        switch (kind)
        {
            case '[': // CSI: parameters and intermediates, then one final byte 0x40–0x7E
                while (j < s.Length && s[j] is >= '\u0020' and <= '\u003F') j++;
                return j < s.Length && s[j] is >= '\u0040' and <= '\u007E' ? j + 1 : j;
            case ']' or 'P' or '^' or '_' or 'X': // OSC / DCS / PM / APC / SOS: up to BEL or ST (ESC \)
                while (j < s.Length)
                {
                    if (s[j] is '\u0007' or '\u009C') return j + 1;
                    if (s[j] == '\u001B' && j + 1 < s.Length && s[j + 1] == '\\') return j + 2;
                    j++;
                }
                return j;
            default: // ESC followed by one character (ESC c, ESC 7, ESC ( B …)
                if (kind is >= '\u0020' and <= '\u002F') { while (j < s.Length && s[j] is >= '\u0020' and <= '\u002F') j++; return Math.Min(s.Length, j + 1); }
                return j;
        }
    }
}
