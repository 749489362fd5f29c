using OpenBook.Retrieval.Lexical;
using OpenBook.Storage;

namespace OpenBook.Evaluation;

/// <summary>
/// The fixed contexts of one question in the distractor sweep: its oracle passage and a seeded pool of distractor
/// passages from other documents. The context for k distractors is the oracle plus the first k of the pool, shuffled
/// (so a larger k only adds distractors).
/// </summary>
/// <param name="Question">The question.</param>
/// <param name="Oracle">The passage of the question's source document that best supports the answer.</param>
/// <param name="Pool">Distractor passages, in draw order (at least as many as the sweep's largest k).</param>
/// <param name="Seed">Seed of the shuffles.</param>
public sealed record SweepContext(EvalQuestion Question, SearchHit Oracle, IReadOnlyList<SearchHit> Pool, int Seed)
{
    /// <summary>The oracle plus <paramref name="k"/> distractors in a seeded random order, ranks renumbered 1…k+1.</summary>
    public IReadOnlyList<SearchHit> Context(int k)
    {
        if (k < 0 || k > Pool.Count) throw new ArgumentOutOfRangeException(nameof(k), $"k must be 0–{Pool.Count}");
        var passages = Pool.Take(k).Prepend(Oracle).ToArray();
        new Random(unchecked(Seed * 31 + k)).Shuffle(passages);
        return passages.Select((p, i) => p with { Rank = i + 1 }).ToList();
    }
}

/// <summary>Metrics of one mode answering the sweep contexts with <see cref="Distractors"/> distractors.</summary>
/// <param name="Mode">Mode name.</param>
/// <param name="Distractors">k, the number of distractor passages beside the oracle.</param>
/// <param name="Result">The metrics (over the sweep's questions).</param>
public sealed record SweepResult(string Mode, int Distractors, ModeResult Result);

/// <summary>
/// The robustness sweep of the RAFT paper (Zhang et al. 2024, Fig. 5–6): instead of retrieval, each question is answered
/// from its oracle passage plus k distractor passages drawn (seeded) from other documents, for each k of the sweep.
/// </summary>
public sealed class DistractorSweep
{
    private DistractorSweep(int seed, IReadOnlyList<int> distractors, IReadOnlyList<SweepContext> contexts, int skippedNoSource, IReadOnlyList<string> skippedNotFound)
    {
        Seed = seed;
        Distractors = distractors;
        Contexts = contexts;
        SkippedNoSource = skippedNoSource;
        SkippedSourceNotFound = skippedNotFound;
    }

    /// <summary>The seed the contexts were drawn with.</summary>
    public int Seed { get; }

    /// <summary>The k values, ascending, without duplicates.</summary>
    public IReadOnlyList<int> Distractors { get; }

    /// <summary>One context per question that takes part.</summary>
    public IReadOnlyList<SweepContext> Contexts { get; }

    /// <summary>Questions left out because they name no source document (or are unanswerable).</summary>
    public int SkippedNoSource { get; }

    /// <summary>Ids of questions left out because no document of the store matches their source.</summary>
    public IReadOnlyList<string> SkippedSourceNotFound { get; }

    /// <summary>
    /// Parses "0,1,2,4,8" into ascending distinct k values; throws <see cref="OpenBookException"/> on a bad value.
    /// </summary>
    public static IReadOnlyList<int> ParseList(string text)
    {
        var ks = new SortedSet<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k) || k > 1000)
                throw new OpenBookException($"--distractor-sweep: '{part}' is not a number of distractors (0–1000)");
            ks.Add(k);
        }
        if (ks.Count == 0) throw new OpenBookException("--distractor-sweep: give at least one number of distractors, e.g. 0,1,2,4,8");
        return ks.ToList();
    }

    /// <summary>
    /// Builds the contexts from <paramref name="chunks"/> (the chunks the evaluation may read: pass
    /// <c>book.ReadChunks(scope)</c>, so restricted documents never become oracles or distractors): the oracle of a question is the chunk of its <c>source</c> document that contains
    /// its quote, else a gold answer, else covers most of the question's terms (IDF-weighted, <paramref name="idf"/>); the
    /// distractors are chunks of other documents drawn with <paramref name="seed"/>.
    /// </summary>
    public static DistractorSweep Build(IEnumerable<ChunkRecord> chunks, Func<string, double> idf, IReadOnlyList<EvalQuestion> questions, IReadOnlyList<int> distractors, int seed)
    {
        if (distractors.Count == 0 || distractors.Any(k => k < 0)) throw new OpenBookException("the distractor sweep needs one or more non-negative k values");
        var ks = distractors.Distinct().Order().ToList();
        // Chunks grouped by citation path, so matching a question's source costs one comparison per document.
        var documents = chunks.GroupBy(c => c.Source, StringComparer.Ordinal).Select(g => (Source: g.Key, Chunks: g.ToList())).ToList();
        var maxK = ks[^1];
        var contexts = new List<SweepContext>();
        var noSource = 0;
        var notFound = new List<string>();
        for (var i = 0; i < questions.Count; i++)
        {
            var q = questions[i];
            if (q.Source is null || !q.Answerable) { noSource++; continue; }
            var isOwn = documents.Select(d => QuestionSet.SameDocument(d.Source, q.Source)).ToArray();
            var own = documents.Where((_, d) => isOwn[d]).SelectMany(d => d.Chunks).ToList();
            if (own.Count == 0) { notFound.Add(q.Id); continue; }
            var others = documents.Where((_, d) => !isOwn[d]).SelectMany(d => d.Chunks).ToArray();
            if (others.Length < maxK)
                throw new OpenBookException($"the distractor sweep asks for {maxK} distractors, but the store holds only {others.Length} chunks outside {q.Source} (question {q.Id})");
            var questionSeed = unchecked(seed * 7919 + i);
            var random = new Random(questionSeed);
            // Partial Fisher–Yates: the first maxK of a seeded permutation.
            for (var j = 0; j < maxK; j++)
            {
                var pick = random.Next(j, others.Length);
                (others[j], others[pick]) = (others[pick], others[j]);
            }
            var oracle = own.MaxBy(c => OracleScore(c.Text, q, idf))!;
            contexts.Add(new SweepContext(q, ToHit(oracle), others.Take(maxK).Select(ToHit).ToList(), questionSeed));
        }
        return new DistractorSweep(seed, ks, contexts, noSource, notFound);
    }

    /// <summary>How well a chunk supports the question: quote (2) + gold answer (1) + IDF-weighted question-term coverage (0–1).</summary>
    internal static double OracleScore(string text, EvalQuestion q, Func<string, double> idf)
    {
        var normalized = " " + AnswerMetrics.Normalize(text) + " ";
        double score = 0;
        if (q.Quote is { } quote && AnswerMetrics.Normalize(quote) is { Length: > 0 } nq && normalized.Contains(" " + nq + " ", StringComparison.Ordinal)) score += 2;
        if (q.Answers.Any(a => AnswerMetrics.Normalize(a) is { Length: > 0 } na && normalized.Contains(" " + na + " ", StringComparison.Ordinal))) score += 1;
        var terms = TextAnalyzer.Default.Terms(q.Question).Distinct().ToList();
        var total = terms.Sum(idf);
        if (total > 0)
        {
            var present = new HashSet<string>(TextAnalyzer.Default.Terms(text));
            score += terms.Where(present.Contains).Sum(idf) / total;
        }
        return score;
    }

    private static SearchHit ToHit(ChunkRecord c) => new()
    {
        Rank = 1, Score = 0, ChunkId = c.Id, DocumentId = c.DocumentId, Text = c.Text, Source = c.Source, Page = c.Page, Headings = c.Headings, Collection = c.Collection,
    };
}
