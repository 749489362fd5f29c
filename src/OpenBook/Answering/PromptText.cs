using System.Text;
using System.Text.RegularExpressions;

namespace OpenBook.Answering;

/// <summary>
/// Neutralises untrusted text (retrieved documents, their names, a user's question) before it goes inside a
/// prompt, so it cannot close or open a delimiter of the grounded or RAFT prompt or start a chat turn: chat-role
/// markers and special tokens (<c>&lt;|im_start|&gt;</c>, <c>[INST]</c>, <c>&lt;/s&gt;</c>, …), our own tags
/// (<c>&lt;passage&gt;</c>, <c>&lt;DOCUMENT&gt;</c>, <c>&lt;question&gt;</c>, <c>&lt;ANSWER&gt;</c>) in any case, with spaces
/// inside (<c>&lt;/ passage&gt;</c>) or written with full-width and other look-alike characters
/// (<c>＜／ＤＯＣＵＭＥＮＴ＞</c>) are replaced by a space; a line that starts with a prompt label ("Question:",
/// "Answer:", "System:", …) keeps its words but loses the colon ("Question - …"); invisible control and
/// bidirectional characters are removed. Everything else is kept as written (no Unicode normalisation of the text).
/// </summary>
public static class PromptText
{
    // Matched on a folded copy of the text (one char per char: ASCII lower case, look-alikes mapped to ASCII), so
    // the ranges found apply to the original.
    private static readonly Regex Markers = new(
        @"<\|[^|<>\n]{0,64}\|>" +                                                    // ChatML / Llama-3 / Phi / DeepSeek
        @"|<\s*/?\s*s\s*>|\[\s*/?\s*inst\s*\]|<<\s*/?\s*sys\s*>>" +                  // Llama-2 / Mistral
        @"|<\s*(?:start|end)_of_turn\s*>" +                                           // Gemma
        @"|<\s*/?\s*(?:passages?|documents?|question|answer|context|system|user|assistant)\b[^<>\n]{0,200}>", // our tags
        RegexOptions.CultureInvariant | RegexOptions.Compiled);

    private static readonly Regex Labels = new(
        @"(?m)^[ \t]*(?:question|answer|system|user|assistant|human|context|instruction)[ \t]*(:)",
        RegexOptions.CultureInvariant | RegexOptions.Compiled);

    private static readonly Regex ControlChars = new(
        @"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF]", RegexOptions.Compiled);

    /// <summary>The neutralised text (see the class summary). <paramref name="extraMarkers"/>: e.g. a tokenizer's special tokens.</summary>
    public static string Neutralize(string text, IEnumerable<string>? extraMarkers = null)
    {
        var s = ControlChars.Replace(text, "");
        if (extraMarkers is not null)
            foreach (var m in extraMarkers.Where(m => m.Length > 0).OrderByDescending(m => m.Length))
                s = s.Replace(m, " ", StringComparison.Ordinal);
        // Repeat: removing one marker can join the halves of another ("<|im_<|x|>start|>").
        for (var guard = 0; guard < 8; guard++)
        {
            var next = Replace(s, Markers, _ => " ");
            if (next == s) break;
            s = next;
        }
        return Replace(s, Labels, m => m[..^1] + " -");
    }

    /// <summary>Replaces the matches of <paramref name="regex"/> in the folded text, applied to the original.</summary>
    private static string Replace(string s, Regex regex, Func<string, string> replacement)
    {
        var folded = Fold(s);
        var matches = regex.Matches(folded);
        if (matches.Count == 0) return s;
        var sb = new StringBuilder(s.Length);
        var last = 0;
        foreach (Match m in matches)
        {
            sb.Append(s, last, m.Index - last);
            sb.Append(replacement(s.Substring(m.Index, m.Length)));
            last = m.Index + m.Length;
        }
        return sb.Append(s, last, s.Length - last).ToString();
    }

    /// <summary>One char per char: ASCII letters lower-cased, full-width forms and look-alike brackets mapped to ASCII.</summary>
    internal static string Fold(string s)
    {
        var chars = s.ToCharArray();
        for (var i = 0; i < chars.Length; i++) chars[i] = FoldChar(chars[i]);
        return new string(chars);
    }

    private static char FoldChar(char c)
    {
        if (c is >= '\uFF01' and <= '\uFF5E') c = (char)(c - 0xFEE0); // full-width ASCII: ＜ ／ Ｄ ｜ ： …
        c = c switch
        {
            '\uFE64' or '\u3008' or '\u2329' or '\u27E8' or '\u2039' or '\u02C2' or '\u1438' or '\u276E' => '<',
            '\uFE65' or '\u3009' or '\u232A' or '\u27E9' or '\u203A' or '\u02C3' or '\u1433' or '\u276F' => '>',
            '\u2223' or '\u01C0' or '\u2758' or '\u23D0' or '\uFFE8' => '|',
            '\u2044' or '\u2215' or '\u29F8' => '/',
            '\uFE55' or '\u2236' or '\uA789' => ':',
            '\u3000' or '\u00A0' or '\u2002' or '\u2003' or '\u2009' => ' ',
            _ => c,
        };
        return c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;
    }
}
