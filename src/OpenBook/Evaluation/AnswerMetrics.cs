using System.Text;
using System.Text.RegularExpressions;

namespace OpenBook.Evaluation;

/// <summary>
/// Answer-quality metrics in the SQuAD convention: answers are normalised (lower case, punctuation and the articles
/// a/an/the removed, whitespace collapsed) before comparison; with several gold answers the best score counts.
/// </summary>
public static partial class AnswerMetrics
{
    /// <summary>Lower case, punctuation → space, articles removed, whitespace collapsed.</summary>
    public static string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text.ToLowerInvariant())
            sb.Append(char.IsPunctuation(c) || char.IsSymbol(c) ? ' ' : c);
        return string.Join(' ', sb.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Where(w => w is not ("a" or "an" or "the")));
    }

    /// <summary>Removes citation markers such as "[1]" or "[2, 3]" and RAFT's "&lt;ANSWER&gt;:" prefix.</summary>
    public static string StripMarkers(string text) => Markers().Replace(text, " ").Replace("<ANSWER>:", " ", StringComparison.Ordinal).Trim();

    [GeneratedRegex(@"\[\d+(?:\s*,\s*\d+)*\]")]
    private static partial Regex Markers();

    /// <summary>
    /// True when an answer declines: it says the documents do not contain the answer ("The documents do not say",
    /// "not in the documents/context") or that the model does not know. An empty answer is not a refusal (a model that
    /// says nothing has not declined; it counts as an empty answer, see <see cref="IsEmpty"/>).
    /// </summary>
    public static bool IsRefusal(string answer)
    {
        var a = answer.Replace('’', '\'');
        return RefusalPhrases.Any(p => a.Contains(p, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>True when the answer has no visible text.</summary>
    public static bool IsEmpty(string answer) => string.IsNullOrWhiteSpace(answer);

    private static readonly string[] RefusalPhrases =
        ["don't know", "do not know", "The documents do not say", "not in the documents", "not in the provided documents", "not in the context", "cannot be answered from"];

    /// <summary>1 when the normalised prediction equals a normalised gold answer, else 0.</summary>
    public static double ExactMatch(string prediction, IReadOnlyList<string> golds)
    {
        var p = Normalize(StripMarkers(prediction));
        return golds.Any(g => Normalize(g) == p) ? 1 : 0;
    }

    /// <summary>Best token-overlap F1 between the prediction and a gold answer (bags of normalised tokens).</summary>
    public static double TokenF1(string prediction, IReadOnlyList<string> golds)
    {
        var p = Normalize(StripMarkers(prediction)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        double best = 0;
        foreach (var gold in golds)
        {
            var g = Normalize(gold).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (p.Length == 0 || g.Length == 0) { best = Math.Max(best, p.Length == g.Length ? 1 : 0); continue; }
            var counts = g.GroupBy(t => t).ToDictionary(x => x.Key, x => x.Count());
            var common = 0;
            foreach (var t in p)
                if (counts.TryGetValue(t, out var n) && n > 0) { common++; counts[t] = n - 1; }
            if (common == 0) continue;
            double precision = common / (double)p.Length, recall = common / (double)g.Length;
            best = Math.Max(best, 2 * precision * recall / (precision + recall));
        }
        return best;
    }

    /// <summary>1 when a normalised gold answer occurs inside the normalised prediction (on word boundaries), else 0.</summary>
    public static double Contains(string prediction, IReadOnlyList<string> golds)
    {
        var p = " " + Normalize(StripMarkers(prediction)) + " ";
        return golds.Any(g => Normalize(g) is { Length: > 0 } n && p.Contains(" " + n + " ", StringComparison.Ordinal)) ? 1 : 0;
    }

    /// <summary>Value at quantile <paramref name="q"/> (nearest rank) of <paramref name="values"/>; 0 when empty.</summary>
    public static double Percentile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
