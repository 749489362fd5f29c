using System.Text;

namespace OpenBook.Bench;

/// <summary>
/// Deterministic synthetic documents for ingest/search benchmarks: pseudo-English words with a Zipf frequency
/// distribution (like real text, a few words are very common and most are rare), sentences, paragraphs and headings.
/// </summary>
internal sealed class SyntheticCorpus
{
    private static readonly string[] Syllables =
    [
        "ka", "lo", "ri", "ten", "sa", "mor", "vi", "de", "pla", "qu", "an", "ber", "co", "dal", "fi", "gen", "ho", "ix", "jun", "ke",
        "lu", "ma", "ne", "ob", "pe", "ra", "sti", "tu", "um", "ve", "wo", "xe", "ya", "zo", "tri", "pro", "con", "ex", "in", "re",
    ];

    private readonly string[] _vocabulary;
    private readonly double[] _cumulative;
    private readonly Random _random;

    public SyntheticCorpus(int vocabularySize = 50_000, int seed = 42)
    {
        _random = new Random(seed);
        var words = new HashSet<string>(StringComparer.Ordinal);
        while (words.Count < vocabularySize)
        {
            var n = 1 + _random.Next(4);
            var sb = new StringBuilder();
            for (var i = 0; i < n; i++) sb.Append(Syllables[_random.Next(Syllables.Length)]);
            words.Add(sb.ToString());
        }
        _vocabulary = [.. words];
        _cumulative = new double[vocabularySize];
        double total = 0;
        for (var i = 0; i < vocabularySize; i++) _cumulative[i] = total += 1.0 / Math.Pow(i + 1, 1.07);
        for (var i = 0; i < vocabularySize; i++) _cumulative[i] /= total;
    }

    public string Word()
    {
        var i = Array.BinarySearch(_cumulative, _random.NextDouble());
        return _vocabulary[Math.Min(i < 0 ? ~i : i, _vocabulary.Length - 1)];
    }

    /// <summary>A query of 2–5 words drawn from the mid-frequency band (neither stop-word-like nor unseen).</summary>
    public string Query()
    {
        var n = 2 + _random.Next(4);
        return string.Join(' ', Enumerable.Range(0, n).Select(_ => _vocabulary[50 + _random.Next(Math.Min(20_000, _vocabulary.Length - 50))]));
    }

    /// <summary>A Markdown document of about <paramref name="words"/> words with a heading every few paragraphs.</summary>
    public string Document(int index, int words)
    {
        var sb = new StringBuilder();
        sb.Append("# Document ").Append(index).Append("\n\n");
        var written = 0;
        for (var para = 0; written < words; para++)
        {
            if (para % 4 == 3) sb.Append("## Section ").Append(para / 4 + 1).Append(' ').Append(Word()).Append("\n\n");
            var sentences = 3 + _random.Next(5);
            for (var s = 0; s < sentences && written < words; s++)
            {
                var len = 8 + _random.Next(13);
                for (var w = 0; w < len; w++)
                {
                    var word = Word();
                    if (w == 0) sb.Append(char.ToUpperInvariant(word[0])).Append(word, 1, word.Length - 1);
                    else sb.Append(' ').Append(word);
                }
                sb.Append(". ");
                written += len;
            }
            sb.Append("\n\n");
        }
        return sb.ToString();
    }
}
