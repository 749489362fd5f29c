using System.Globalization;
using System.Text;

namespace OpenBook.Onnx;

/// <summary>
/// BERT's BasicTokenizer (HF <c>BertNormalizer</c> + <c>BertPreTokenizer</c>): drops control characters, maps
/// whitespace to spaces, isolates CJK ideographs, optionally strips accents (NFD, drop Mn) and lower-cases, splits on
/// whitespace and makes every punctuation character (ASCII symbols and Unicode P*) its own word.
/// </summary>
internal sealed class BertPreTokenizer(bool lowercase, bool stripAccents, bool isolateCjk)
{
    public List<string> Split(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        void Flush()
        {
            if (word.Length > 0) words.Add(word.ToString());
            word.Clear();
        }

        foreach (var rune in Normalize(text).EnumerateRunes())
        {
            if (rune.Value == ' ') Flush();
            else if (IsPunctuation(rune) || (isolateCjk && IsCjk(rune.Value)))
            {
                Flush();
                words.Add(rune.ToString());
            }
            else word.Append(rune.ToString());
        }
        Flush();
        return words;
    }

    private string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            int cp = rune.Value;
            if (cp == 0 || cp == 0xFFFD || IsControl(rune)) continue;
            sb.Append(IsWhitespace(rune) ? " " : rune.ToString());
        }
        var s = sb.ToString();
        if (stripAccents) // before lower-casing, as HF's BertNormalizer does: 'İ' → 'I' + U+0307 → 'I' → 'i'
        {
            var nfd = s.Normalize(NormalizationForm.FormD);
            sb.Clear();
            foreach (var rune in nfd.EnumerateRunes())
                if (Rune.GetUnicodeCategory(rune) != UnicodeCategory.NonSpacingMark) sb.Append(rune.ToString());
            s = sb.ToString();
        }
        if (lowercase) s = s.ToLowerInvariant();
        return s;
    }

    private static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    // Every "C" category, as HF tokenizers (char::is_other) and transformers' _is_control: Cc, Cf, Co, Cn (Cs cannot occur in a Rune).
    private static bool IsControl(Rune r) =>
        r.Value is not ('\t' or '\n' or '\r') && Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;

    private static bool IsPunctuation(Rune r)
    {
        int cp = r.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    private static bool IsCjk(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
