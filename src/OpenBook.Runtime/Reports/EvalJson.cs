using OpenBook.Evaluation;

namespace OpenBook.Runtime.Reports;

/// <summary>The aggregate metrics of one mode, as written to results.json and printed by <c>openbook eval --json</c>.</summary>
public sealed record ModeSummary(
    string Mode, string Description, int Questions, double ExactMatch, double F1, double Contained, double? RecallAtK, double? Mrr,
    double? CitationCorrectness, int Quotes, double? QuoteVerbatimRate, double? RefusalRate, double FalseRefusalRate, double EmptyRate,
    double P50Ms, double P95Ms, long? InputTokens, long? OutputTokens)
{
    /// <summary>The summary of <paramref name="r"/>.</summary>
    public static ModeSummary Of(ModeResult r) => new(
        r.Mode, r.Description, r.Questions, r.ExactMatch, r.F1, r.Contained, r.RecallAtK, r.Mrr, r.CitationCorrectness, r.Quotes, r.QuoteVerbatimRate,
        r.RefusalRate, r.FalseRefusalRate, r.EmptyRate, r.P50Milliseconds, r.P95Milliseconds, r.InputTokens, r.OutputTokens);
}

/// <summary>One mode at one number of distractors in the sweep section.</summary>
public sealed record SweepRow(string Mode, int K, double Contained, double F1, double ExactMatch, double? CitationCorrectness, double FalseRefusalRate,
    double? QuoteVerbatimRate, long? InputTokens, long? OutputTokens);

/// <summary>The oracle and distractor chunk ids a question of the sweep was answered from.</summary>
public sealed record SweepContextRow(string Id, long Oracle, string OracleSource, IReadOnlyList<long> Distractors);

/// <summary>The sweep section of results.json and of <c>eval --json</c>.</summary>
public sealed record SweepSummary(IReadOnlyList<int> Distractors, int Seed, int Questions, int SkippedNoSource, IReadOnlyList<string> SkippedSourceNotFound,
    IReadOnlyList<SweepRow> Results, IReadOnlyList<SweepContextRow>? Contexts)
{
    /// <summary>The summary of <paramref name="report"/> (null without a sweep); contexts only when asked for.</summary>
    public static SweepSummary? Of(SweepReport? report, bool withContexts = false) => report is null ? null : new(
        report.Sweep.Distractors, report.Sweep.Seed, report.Sweep.Contexts.Count, report.Sweep.SkippedNoSource, report.Sweep.SkippedSourceNotFound,
        report.Results.Select(x => new SweepRow(x.Mode, x.Distractors, x.Result.Contained, x.Result.F1, x.Result.ExactMatch, x.Result.CitationCorrectness,
            x.Result.FalseRefusalRate, x.Result.QuoteVerbatimRate, x.Result.InputTokens, x.Result.OutputTokens)).ToList(),
        withContexts ? report.Sweep.Contexts.Select(c => new SweepContextRow(c.Question.Id, c.Oracle.ChunkId, c.Oracle.Source, c.Pool.Select(p => p.ChunkId).ToList())).ToList() : null);
}

/// <summary>One mode in results.json: its summary fields and every per-question row.</summary>
public sealed record ModeResultsJson(
    string Mode, string Description, int Questions, double ExactMatch, double F1, double Contained, double? RecallAtK, double? Mrr,
    double? CitationCorrectness, int Quotes, double? QuoteVerbatimRate, double? RefusalRate, double FalseRefusalRate, double EmptyRate,
    double P50Ms, double P95Ms, long? InputTokens, long? OutputTokens, IReadOnlyList<QuestionResult> Rows)
{
    /// <summary>The results.json entry of <paramref name="r"/>.</summary>
    public static ModeResultsJson Of(ModeResult r) => new(
        r.Mode, r.Description, r.Questions, r.ExactMatch, r.F1, r.Contained, r.RecallAtK, r.Mrr, r.CitationCorrectness, r.Quotes, r.QuoteVerbatimRate,
        r.RefusalRate, r.FalseRefusalRate, r.EmptyRate, r.P50Milliseconds, r.P95Milliseconds, r.InputTokens, r.OutputTokens, r.Rows);
}

/// <summary>results.json.</summary>
public sealed record EvalResultsJson(string Questions, DateTimeOffset Created, IReadOnlyList<ModeResultsJson> Modes, SweepSummary? Sweep);

/// <summary>The JSON options of every OpenBook JSON file and <c>--json</c> output: camelCase, compact, non-ASCII kept.</summary>
public static class OpenBookJson
{
    /// <summary>The options.</summary>
    public static readonly System.Text.Json.JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
