using System.Diagnostics;
using OpenBook.Retrieval;

namespace OpenBook.Evaluation;

/// <summary>Retrieval quality on a question set (answerable questions that name their source document).</summary>
public sealed record RetrievalReport
{
    /// <summary>Answerable questions evaluated.</summary>
    public int Questions { get; init; }
    /// <summary>Fraction whose oracle document is the top result.</summary>
    public double HitAt1 { get; init; }
    /// <summary>Fraction whose oracle document is among the top 5.</summary>
    public double HitAt5 { get; init; }
    /// <summary>Fraction (of questions with a quote) whose supporting quote lies inside one of the top-5 passages.</summary>
    public double PassageHitAt5 { get; init; }
    /// <summary>Mean reciprocal rank of the oracle document within the top k.</summary>
    public double Mrr { get; init; }
    /// <summary>Median search latency in milliseconds.</summary>
    public double P50Milliseconds { get; init; }
    /// <summary>Per question: id, rank of the oracle document (null: not in the top k).</summary>
    public IReadOnlyList<(string Id, int? Rank)> Ranks { get; init; } = [];
}

/// <summary>Measures hit@k of a book's search against a question set.</summary>
public static class RetrievalEvaluator
{
    /// <summary>Searches every answerable question (top <paramref name="k"/>) and scores where the oracle document lands.</summary>
    public static async Task<RetrievalReport> EvaluateAsync(Book book, IReadOnlyList<EvalQuestion> questions, int k = 5, SearchFilter? filter = null,
        CancellationToken cancellationToken = default, SearchMode mode = SearchMode.Auto)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 5);
        var ranks = new List<(string, int?)>();
        var latencies = new List<double>();
        int withQuote = 0, quoteHits = 0;
        foreach (var q in questions.Where(q => q.Answerable && q.Source is not null))
        {
            var sw = Stopwatch.StartNew();
            var hits = await book.SearchAsync(q.Question, new SearchOptions { K = k, Filter = filter, Mode = mode }, cancellationToken).ConfigureAwait(false);
            latencies.Add(sw.Elapsed.TotalMilliseconds);
            int? rank = null;
            for (var i = 0; i < hits.Count && rank is null; i++)
                if (QuestionSet.SameDocument(hits[i].Source, q.Source!)) rank = i + 1;
            ranks.Add((q.Id, rank));
            if (q.Quote is { } quote)
            {
                withQuote++;
                var want = Normalize(quote);
                if (hits.Take(5).Any(h => QuestionSet.SameDocument(h.Source, q.Source!) && Normalize(h.Text).Contains(want, StringComparison.OrdinalIgnoreCase)))
                    quoteHits++;
            }
        }
        latencies.Sort();
        var n = Math.Max(1, ranks.Count);
        return new RetrievalReport
        {
            Questions = ranks.Count,
            HitAt1 = ranks.Count(r => r.Item2 == 1) / (double)n,
            HitAt5 = ranks.Count(r => r.Item2 <= 5) / (double)n,
            PassageHitAt5 = withQuote == 0 ? 0 : quoteHits / (double)withQuote,
            Mrr = ranks.Sum(r => r.Item2 is { } x ? 1.0 / x : 0) / n,
            P50Milliseconds = latencies.Count == 0 ? 0 : latencies[latencies.Count / 2],
            Ranks = ranks,
        };
    }

    private static string Normalize(string s) => string.Join(' ', s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}
