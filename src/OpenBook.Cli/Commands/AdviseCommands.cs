using System.CommandLine;
using OpenBook.Evaluation;
using OpenBook.Storage;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook advise</c>: RAG, fine-tuning or RAFT for this corpus, with the measured reasons.</summary>
internal static class AdviseCommands
{
    public static Command Advise()
    {
        var eval = new Option<string?>("--eval") { Description = "Eval report directory or results.json (default: eval-report/results.json when it exists)" };
        var budget = new Option<string?>("--budget") { Description = "Training budget: low or high (default: not stated, training assumed affordable)" };
        var latency = new Option<bool>("--latency-critical") { Description = "Answers must be fast, with short prompts" };
        var style = new Option<bool>("--style-critical") { Description = "Tone, format or terminology matter as much as facts" };
        var cmd = new Command("advise", "Recommend RAG, fine-tuning or RAFT from the corpus statistics, how often documents change, the latest eval results and your constraints")
        {
            eval, budget, latency, style, CoreCommands.AsGroups, CoreCommands.AllAccess,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var flags = new AdviceFlags(
                r.GetValue(budget)?.ToLowerInvariant() switch
                {
                    null => null,
                    "low" => Budget.Low,
                    "high" => Budget.High,
                    var other => throw new OpenBookException($"--budget: '{other}' is not low or high"),
                },
                r.GetValue(latency), r.GetValue(style));
            var storeDir = r.GetValue(Cli.Store)!;
            CorpusProfile corpus;
            using (var book = await CoreCommands.OpenBook(r, ct)) corpus = CorpusProfile.FromBook(book, CoreCommands.Scope(r));
            if (corpus.Documents == 0)
                throw new OpenBookException($"no documents in {storeDir} that {CoreCommands.Scope(r)} may read: run `openbook ingest` first, or pass --as-groups.");
            var evalPath = r.GetValue(eval) is { } given
                ? (Directory.Exists(given) ? Path.Combine(given, "results.json") : given)
                : File.Exists(Path.Combine("eval-report", "results.json")) ? Path.Combine("eval-report", "results.json") : null;
            var evidence = evalPath is null ? null : EvalEvidence.Load(evalPath);
            var advice = Advisor.Advise(corpus, evidence, flags);
            var name = Name(advice.Recommendation);
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new AdviceJson(name, advice.Reasons, new AdviceInputsJson(
                    new CorpusJson(corpus.Collections, corpus.Documents, corpus.Chunks, corpus.Tokens, Math.Round(corpus.ObservedDays, 2), corpus.Added30, corpus.Updated30,
                        corpus.Removed30, corpus.ChangesTotal, Math.Round(corpus.ChangesPerWeek, 3), Math.Round(corpus.ChangedShare30, 4)),
                    evidence is null ? null : new EvalEvidenceJson(evidence.Path, evidence.Contained, evidence.RecallAtK,
                        evidence.Sweep.ToDictionary(s => s.Key, s => new SweepEvidenceJson(s.Value.K0, s.Value.At0, s.Value.K1, s.Value.At1))),
                    new AdviceFlagsJson(flags.Budget?.ToString().ToLowerInvariant(), flags.LatencyCritical, flags.StyleCritical))));
                return 0;
            }
            var console = Cli.Out(r);
            console.MarkupLine($"Recommendation: [bold green]{Markup.Escape(name)}[/]");
            foreach (var reason in advice.Reasons) console.MarkupLine($"  • {Markup.Escape(reason)}");
            if (evidence is null) console.MarkupLine("[grey](no eval results used: pass --eval DIR, or run `openbook eval` to write eval-report/)[/]");
            return 0;
        });
        return cmd;
    }

    /// <summary>The recommendation as printed and in <c>--json</c>.</summary>
    public static string Name(Recommendation r) => r switch
    {
        Recommendation.Rag => "RAG",
        Recommendation.FineTuning => "fine-tuning",
        Recommendation.Raft => "RAFT",
        Recommendation.RagNowRaftLater => "RAG now, RAFT later",
        _ => r.ToString(),
    };
}
