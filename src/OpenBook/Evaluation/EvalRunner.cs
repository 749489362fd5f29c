using OpenBook.Retrieval;
using System.Diagnostics;
using OpenBook.Answering;

namespace OpenBook.Evaluation;

/// <summary>What one mode answered to one question.</summary>
/// <param name="Text">Answer text (citation markers allowed).</param>
/// <param name="Refused">True when the mode said the documents / it does not know.</param>
/// <param name="Citations">Passages the answer cites (retrieval modes).</param>
/// <param name="Retrieved">Passages retrieved for the question, best first (retrieval modes).</param>
/// <param name="InputTokens">Prompt tokens, when a model reports them.</param>
/// <param name="OutputTokens">Completion tokens, when a model reports them.</param>
/// <param name="Quotes">Quotes the answer made (RAFT's ##begin_quote## … ##end_quote##), when the mode quotes.</param>
/// <param name="UnverifiedQuotes">Of <paramref name="Quotes"/>, those found verbatim in no passage.</param>
public sealed record ModeAnswer(string Text, bool Refused, IReadOnlyList<Citation> Citations, IReadOnlyList<SearchHit> Retrieved,
    long? InputTokens = null, long? OutputTokens = null, int Quotes = 0, int UnverifiedQuotes = 0);

/// <summary>One way of answering questions that the evaluation compares: base model, RAG, fine-tuned, RAFT, extractive…</summary>
public interface IEvalMode
{
    /// <summary>Short name shown in reports ("extractive", "rag", "raft"…).</summary>
    string Name { get; }

    /// <summary>What the mode is, in a few words (model id, k…).</summary>
    string Description { get; }

    /// <summary>True when the mode retrieves passages (so retrieval recall applies).</summary>
    bool UsesRetrieval { get; }

    /// <summary>Answers one question.</summary>
    Task<ModeAnswer> AnswerAsync(EvalQuestion question, CancellationToken cancellationToken);
}

/// <summary>
/// A retrieval mode that can also answer from a context chosen by the caller instead of its own retrieval (the
/// distractor sweep: the oracle passage plus k distractors).
/// </summary>
public interface IContextEvalMode : IEvalMode
{
    /// <summary>Answers <paramref name="question"/> from exactly the passages in <paramref name="context"/>, in that order.</summary>
    Task<ModeAnswer> AnswerWithContextAsync(EvalQuestion question, IReadOnlyList<SearchHit> context, CancellationToken cancellationToken);
}

/// <summary>The no-model mode: retrieval in <c>mode</c> (auto: hybrid when the book has vectors) and extractive answers with citations.</summary>
/// <remarks><paramref name="filter"/> narrows retrieval and carries the caller's groups (null: public documents only).</remarks>
public sealed class ExtractiveMode(Book book, int k = 5, SearchMode mode = SearchMode.Auto, SearchFilter? filter = null) : IContextEvalMode
{
    /// <inheritdoc />
    public string Name => "extractive";

    /// <inheritdoc />
    public string Description =>
        $"no model: {book.DescribeSearchMode(mode)} top {k}, sentences and table rows quoted from the passages" +
        (book.Embeddings is not null ? ", scored with the encoder and lexical overlap" : ", scored by lexical overlap");

    /// <inheritdoc />
    public bool UsesRetrieval => true;

    /// <inheritdoc />
    public async Task<ModeAnswer> AnswerAsync(EvalQuestion question, CancellationToken cancellationToken)
    {
        var answer = await book.AskAsync(question.Question, new AskOptions { K = k, Mode = mode, Filter = filter }, cancellationToken).ConfigureAwait(false);
        return new ModeAnswer(answer.Text, !answer.Found, answer.Citations, answer.Retrieved);
    }

    /// <inheritdoc />
    public async Task<ModeAnswer> AnswerWithContextAsync(EvalQuestion question, IReadOnlyList<SearchHit> context, CancellationToken cancellationToken)
    {
        var answer = await book.ExtractiveAnswerer().AnswerAsync(question.Question, context, cancellationToken).ConfigureAwait(false);
        return new ModeAnswer(answer.Text, !answer.Found, answer.Citations, context);
    }
}

/// <summary>Per-question outcome of one mode.</summary>
public sealed record QuestionResult(string Id, string Question, string? Gold, string Prediction, bool Answerable, bool Refused,
    double ExactMatch, double F1, double Contained, int? OracleRank, bool? CitationCorrect, double Milliseconds, long? InputTokens, long? OutputTokens,
    int Quotes = 0, int UnverifiedQuotes = 0);

/// <summary>Aggregate metrics of one mode.</summary>
public sealed record ModeResult
{
    /// <summary>Mode name.</summary>
    public required string Mode { get; init; }
    /// <summary>Mode description.</summary>
    public required string Description { get; init; }
    /// <summary>Questions asked (answerable + unanswerable).</summary>
    public int Questions { get; init; }
    /// <summary>Mean exact match over answerable questions.</summary>
    public double ExactMatch { get; init; }
    /// <summary>Mean token F1 over answerable questions.</summary>
    public double F1 { get; init; }
    /// <summary>Share of answerable questions whose answer contains a gold answer.</summary>
    public double Contained { get; init; }
    /// <summary>Share of answerable questions (with a source) whose oracle document was retrieved (null: no retrieval).</summary>
    public double? RecallAtK { get; init; }
    /// <summary>Mean reciprocal rank of the oracle document (null: no retrieval).</summary>
    public double? Mrr { get; init; }
    /// <summary>Of the answered answerable questions, the share where a cited passage contains the gold answer or quote.</summary>
    public double? CitationCorrectness { get; init; }
    /// <summary>Share of unanswerable questions the mode refused (higher is better).</summary>
    public double? RefusalRate { get; init; }
    /// <summary>Share of answerable questions the mode refused (lower is better).</summary>
    public double FalseRefusalRate { get; init; }
    /// <summary>Share of all questions answered with no text at all (a broken or untrained model; lower is better).</summary>
    public double EmptyRate { get; init; }
    /// <summary>Median latency per question, ms.</summary>
    public double P50Milliseconds { get; init; }
    /// <summary>95th percentile latency per question, ms.</summary>
    public double P95Milliseconds { get; init; }
    /// <summary>Total prompt tokens (null when the mode uses no model).</summary>
    public long? InputTokens { get; init; }
    /// <summary>Total completion tokens (null when the mode uses no model).</summary>
    public long? OutputTokens { get; init; }
    /// <summary>Quotes the mode made (RAFT), over every question.</summary>
    public int Quotes { get; init; }
    /// <summary>Share of <see cref="Quotes"/> found verbatim in a passage of the context (null: the mode made no quotes).</summary>
    public double? QuoteVerbatimRate { get; init; }
    /// <summary>Per-question rows.</summary>
    public IReadOnlyList<QuestionResult> Rows { get; init; } = [];
}

/// <summary>Runs every mode over a question set and computes the metrics of <see cref="ModeResult"/>.</summary>
public static class EvalRunner
{
    /// <summary>Evaluates the modes one after the other; <paramref name="progress"/> receives (mode, done, total).</summary>
    public static async Task<IReadOnlyList<ModeResult>> RunAsync(IReadOnlyList<IEvalMode> modes, IReadOnlyList<EvalQuestion> questions,
        IProgress<(string Mode, int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        if (questions.Count == 0) throw new OpenBookException("The question set is empty.");
        var results = new List<ModeResult>();
        foreach (var mode in modes)
        {
            var rows = new List<QuestionResult>();
            foreach (var q in questions)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var sw = Stopwatch.StartNew();
                var a = await mode.AnswerAsync(q, cancellationToken).ConfigureAwait(false);
                var ms = sw.Elapsed.TotalMilliseconds;
                rows.Add(Score(q, a, mode.UsesRetrieval, ms));
                progress?.Report((mode.Name, rows.Count, questions.Count));
            }
            results.Add(Aggregate(mode, rows));
        }
        return results;
    }

    /// <summary>
    /// The robustness sweep: every mode answers every sweep context (the oracle passage plus k distractors) instead of
    /// retrieving; one <see cref="ModeResult"/> per mode and k. <paramref name="progress"/> receives ("mode k=…", done, total).
    /// </summary>
    public static async Task<IReadOnlyList<SweepResult>> SweepAsync(IReadOnlyList<IContextEvalMode> modes, DistractorSweep sweep,
        IProgress<(string Mode, int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        var results = new List<SweepResult>();
        foreach (var mode in modes)
            foreach (var k in sweep.Distractors)
            {
                var rows = new List<QuestionResult>();
                foreach (var c in sweep.Contexts)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var context = c.Context(k);
                    var sw = Stopwatch.StartNew();
                    var a = await mode.AnswerWithContextAsync(c.Question, context, cancellationToken).ConfigureAwait(false);
                    rows.Add(Score(c.Question, a, mode.UsesRetrieval, sw.Elapsed.TotalMilliseconds));
                    progress?.Report(($"{mode.Name} k={k}", rows.Count, sweep.Contexts.Count));
                }
                results.Add(new SweepResult(mode.Name, k, Aggregate(mode, rows)));
            }
        return results;
    }

    /// <summary>Scores one answer.</summary>
    public static QuestionResult Score(EvalQuestion q, ModeAnswer a, bool usesRetrieval, double milliseconds)
    {
        int? rank = null;
        if (usesRetrieval && q.Source is not null)
            for (var i = 0; i < a.Retrieved.Count && rank is null; i++)
                if (QuestionSet.SameDocument(a.Retrieved[i].Source, q.Source)) rank = i + 1;
        bool? citationCorrect = null;
        if (q.Answerable && !a.Refused && a.Citations.Count > 0 && (q.Answers.Count > 0 || q.Quote is not null))
        {
            var evidence = q.Answers.Select(AnswerMetrics.Normalize).Append(q.Quote is null ? "" : AnswerMetrics.Normalize(q.Quote)).Where(e => e.Length > 0).ToList();
            citationCorrect = a.Citations.Any(c => AnswerMetrics.Normalize(c.Text) is var t && evidence.Any(e => t.Contains(e, StringComparison.Ordinal)));
        }
        var answered = q.Answerable && !a.Refused;
        return new QuestionResult(q.Id, q.Question, q.Answer, a.Text, q.Answerable, a.Refused,
            answered ? AnswerMetrics.ExactMatch(a.Text, q.Answers) : 0,
            answered ? AnswerMetrics.TokenF1(a.Text, q.Answers) : 0,
            answered ? AnswerMetrics.Contains(a.Text, q.Answers) : 0,
            rank, citationCorrect, milliseconds, a.InputTokens, a.OutputTokens, a.Quotes, a.UnverifiedQuotes);
    }

    /// <summary>Aggregates per-question rows into the mode's metrics.</summary>
    public static ModeResult Aggregate(IEvalMode mode, IReadOnlyList<QuestionResult> rows)
    {
        var answerable = rows.Where(r => r.Answerable).ToList();
        var unanswerable = rows.Where(r => !r.Answerable).ToList();
        var cited = answerable.Where(r => r.CitationCorrect is not null).ToList();
        var latencies = rows.Select(r => r.Milliseconds).ToList();
        double Mean(IEnumerable<double> xs) => xs.DefaultIfEmpty(0).Average();
        var quotes = rows.Sum(r => r.Quotes);
        return new ModeResult
        {
            Mode = mode.Name,
            Description = mode.Description,
            Questions = rows.Count,
            ExactMatch = Mean(answerable.Select(r => r.ExactMatch)),
            F1 = Mean(answerable.Select(r => r.F1)),
            Contained = Mean(answerable.Select(r => r.Contained)),
            RecallAtK = mode.UsesRetrieval ? Mean(answerable.Select(r => r.OracleRank is null ? 0.0 : 1.0)) : null,
            Mrr = mode.UsesRetrieval ? Mean(answerable.Select(r => r.OracleRank is { } k ? 1.0 / k : 0)) : null,
            CitationCorrectness = cited.Count == 0 ? null : Mean(cited.Select(r => r.CitationCorrect == true ? 1.0 : 0)),
            RefusalRate = unanswerable.Count == 0 ? null : Mean(unanswerable.Select(r => r.Refused ? 1.0 : 0)),
            FalseRefusalRate = Mean(answerable.Select(r => r.Refused ? 1.0 : 0)),
            EmptyRate = Mean(rows.Select(r => AnswerMetrics.IsEmpty(r.Prediction) ? 1.0 : 0)),
            P50Milliseconds = AnswerMetrics.Percentile(latencies, 0.50),
            P95Milliseconds = AnswerMetrics.Percentile(latencies, 0.95),
            InputTokens = rows.Any(r => r.InputTokens is not null) ? rows.Sum(r => r.InputTokens ?? 0) : null,
            OutputTokens = rows.Any(r => r.OutputTokens is not null) ? rows.Sum(r => r.OutputTokens ?? 0) : null,
            Quotes = quotes,
            QuoteVerbatimRate = quotes == 0 ? null : 1.0 - rows.Sum(r => r.UnverifiedQuotes) / (double)quotes,
            Rows = rows,
        };
    }
}
