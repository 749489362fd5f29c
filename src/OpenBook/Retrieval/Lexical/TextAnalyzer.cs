using System.Globalization;
using System.Text;

namespace OpenBook.Retrieval.Lexical;

/// <summary>
/// Turns text into index terms: Unicode NFKC normalisation, case folding, diacritics removed, split on
/// letter/digit runs (keeping "3.5" and "co-op"-like joins apart), English stop words dropped, Porter stemming.
/// The same analyzer is used for documents and queries, and its <see cref="Version"/> is stored in index files so
/// that an index built with other rules is rebuilt.
/// </summary>
public sealed class TextAnalyzer
{
    /// <summary>Bump when the analysis rules change: persisted indexes built with another version are rebuilt.</summary>
    public const int Version = 1;

    /// <summary>The default analyzer (stop words + stemming).</summary>
    public static TextAnalyzer Default { get; } = new();

    private readonly bool _stem;
    private readonly bool _removeStopWords;

    /// <summary>Creates an analyzer.</summary>
    public TextAnalyzer(bool stem = true, bool removeStopWords = true)
    {
        _stem = stem;
        _removeStopWords = removeStopWords;
    }

    /// <summary>Analyzes <paramref name="text"/> into terms, in order (duplicates kept).</summary>
    public List<string> Terms(string text)
    {
        var terms = new List<string>();
        foreach (var token in Tokens(text))
        {
            if (_removeStopWords && StopWords.Contains(token)) continue;
            terms.Add(_stem ? PorterStemmer.Stem(token) : token);
        }
        return terms;
    }

    /// <summary>Case-folded, accent-free word tokens (no stop-word removal or stemming).</summary>
    public static IEnumerable<string> Tokens(string text)
    {
        if (string.IsNullOrEmpty(text)) yield break;
        var normalized = Fold(text);
        var sb = new StringBuilder();
        for (var i = 0; i < normalized.Length; i++)
        {
            var c = normalized[i];
            if (char.IsLetterOrDigit(c))
            {
                sb.Append(c);
                continue;
            }
            // Keep decimal numbers ("1.5", "2,000") together: a separator between two digits joins them.
            if ((c is '.' or ',') && sb.Length > 0 && char.IsDigit(sb[^1]) && i + 1 < normalized.Length && char.IsDigit(normalized[i + 1]))
            {
                if (c == '.') sb.Append('.');
                continue;
            }
            if (sb.Length > 0) { yield return sb.ToString(); sb.Clear(); }
        }
        if (sb.Length > 0) yield return sb.ToString();
    }

    /// <summary>NFKC, lower-case (invariant), combining marks removed (é → e, ß → ss).</summary>
    public static string Fold(string text)
    {
        var decomposed = text.Normalize(NormalizationForm.FormKD);
        var sb = new StringBuilder(decomposed.Length);
        foreach (var c in decomposed)
        {
            var cat = CharUnicodeInfo.GetUnicodeCategory(c);
            if (cat is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark) continue;
            if (c == 'ß') { sb.Append("ss"); continue; }
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString().Normalize(NormalizationForm.FormKC);
    }
}

/// <summary>A compact English stop-word list (articles, pronouns, auxiliaries, prepositions, conjunctions).</summary>
public static class StopWords
{
    private static readonly HashSet<string> Words = new(StringComparer.Ordinal)
    {
        "a", "an", "and", "are", "as", "at", "be", "been", "being", "but", "by", "can", "could", "did", "do", "does",
        "doing", "for", "from", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i",
        "if", "in", "into", "is", "it", "its", "itself", "me", "my", "of", "on", "or", "our", "ours", "she", "should",
        "so", "than", "that", "the", "their", "theirs", "them", "then", "there", "these", "they", "this", "those",
        "to", "too", "us", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
        "will", "with", "would", "you", "your", "yours", "am", "about", "also", "any", "each", "just",
        "might", "must", "own", "same", "some", "such", "very", "s", "t", "d", "ll", "m", "re", "ve",
    };

    /// <summary>True when <paramref name="token"/> (lower-case) is a stop word.</summary>
    public static bool Contains(string token) => Words.Contains(token);
}
