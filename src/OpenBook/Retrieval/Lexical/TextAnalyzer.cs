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
        if (string.IsNullOrEmpty(text)) return terms;
        var lookup = _termOf.GetAlternateLookup<ReadOnlySpan<char>>();
        Scan(Fold(text), token =>
        {
            // Word frequencies are Zipfian: remembering token → term saves the string, stop-word and stemming work
            // for nearly every token. The cache is bounded; past the bound, new tokens are analyzed each time.
            if (!lookup.TryGetValue(token, out var term))
            {
                var word = token.ToString();
                term = _removeStopWords && StopWords.Contains(word) ? null : _stem ? PorterStemmer.Stem(word) : word;
                if (_termOf.Count < TermCacheLimit) _termOf.TryAdd(word, term);
            }
            if (term is not null) terms.Add(term);
        });
        return terms;
    }

    private const int TermCacheLimit = 500_000;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string?> _termOf = new(StringComparer.Ordinal);

    private delegate void TokenSink(ReadOnlySpan<char> token);

    /// <summary>Case-folded, accent-free word tokens (no stop-word removal or stemming).</summary>
    public static IEnumerable<string> Tokens(string text)
    {
        var tokens = new List<string>();
        if (!string.IsNullOrEmpty(text)) Scan(Fold(text), t => tokens.Add(t.ToString()));
        return tokens;
    }

    /// <summary>
    /// Splits folded text into letter/digit runs. A '.' or ',' between two digits joins them ("1.5" stays "1.5",
    /// "2,000" becomes "2000").
    /// </summary>
    private static void Scan(string s, TokenSink sink)
    {
        Span<char> buffer = stackalloc char[128];
        var i = 0;
        while (i < s.Length)
        {
            if (!char.IsLetterOrDigit(s[i])) { i++; continue; }
            var start = i;
            var hasComma = false;
            while (i < s.Length)
            {
                var c = s[i];
                if (char.IsLetterOrDigit(c)) { i++; continue; }
                if ((c is '.' or ',') && char.IsDigit(s[i - 1]) && i + 1 < s.Length && char.IsDigit(s[i + 1]))
                {
                    hasComma |= c == ',';
                    i++;
                    continue;
                }
                break;
            }
            var token = s.AsSpan(start, i - start);
            if (!hasComma) { sink(token); continue; }
            var joined = token.Length <= buffer.Length ? buffer : new char[token.Length];
            var n = 0;
            foreach (var c in token) if (c != ',') joined[n++] = c;
            sink(joined[..n]);
        }
    }

    /// <summary>NFKC, lower-case (invariant), combining marks removed (é → e, ß → ss).</summary>
    public static string Fold(string text)
    {
        // ASCII is already in every normal form and has no combining marks: only case folding applies.
        if (System.Text.Ascii.IsValid(text)) return text.ToLowerInvariant();
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
