using System.CommandLine;
using OpenBook.Evaluation;
using OpenBook.Runtime;
using OpenBook.Runtime.Reports;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook eval</c>: answer a question set in several modes and write a comparison report.</summary>
internal static class EvalCommands
{
    public static Command Eval()
    {
        var questions = new Option<string>("--questions") { Description = "Questions file (JSONL)", Required = true };
        var modes = new Option<EvalModeKind[]>("--modes")
        {
            Description = "Modes to compare: extractive, base, rag, ft, raft (comma-separated or repeated)", AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => [EvalModeKind.Extractive], CustomParser = ParseModes,
        };
        var k = new Option<int>("-k") { Description = "Passages retrieved per question", DefaultValueFactory = _ => 5 };
        var output = new Option<string>("--out") { Description = "Report directory", DefaultValueFactory = _ => "eval-report" };
        var limit = new Option<int?>("--limit") { Description = "Only the first N questions" };
        var model = new Option<string?>("--model") { Description = "Language model for the base and rag modes (and ft/raft unless --ft-model/--raft-model): a local model directory, a cached Hub id, or openai:URL#name" };
        var ftModel = new Option<string?>("--ft-model") { Description = "Fine-tuned model for the ft mode (default: --model)" };
        var ftAdapter = new Option<string?>("--ft-adapter") { Description = "LoRA adapter directory applied to the ft model" };
        var raftModel = new Option<string?>("--raft-model") { Description = "RAFT-trained model for the raft mode (default: --model)" };
        var raftAdapter = new Option<string?>("--raft-adapter") { Description = "RAFT LoRA adapter directory applied to the raft model" };
        var sweepOption = new Option<string?>("--distractor-sweep") { Description = "Robustness sweep: numbers of distractor passages beside the oracle, e.g. 0,1,2,4,8 (retrieval modes answer these fixed contexts)" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Longest answer per question, in tokens", DefaultValueFactory = _ => 256 };
        var seed = new Option<int>("--seed") { Description = "Seed of the sweep's distractor draws and shuffles", DefaultValueFactory = _ => 42 };
        var cmd = new Command("eval", "Compare answering modes on a question set: exact match, F1, retrieval recall, citations, refusals, latency, tokens; " +
                                      "optionally a distractor sweep; writes report.md/html, charts and results.json")
        {
            questions, modes, k, output, limit, model, ftModel, ftAdapter, raftModel, raftAdapter, sweepOption, seed, maxTokens, EmbeddingCli.Mode, EmbeddingCli.Embed,
            CoreCommands.AsGroups, CoreCommands.AllAccess,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var request = new EvalRequest
            {
                QuestionsPath = r.GetValue(questions)!, Modes = r.GetValue(modes)!, K = r.GetValue(k), SearchMode = r.GetValue(EmbeddingCli.Mode), Limit = r.GetValue(limit),
                Model = r.GetValue(model), FtModel = r.GetValue(ftModel), FtAdapter = r.GetValue(ftAdapter), RaftModel = r.GetValue(raftModel), RaftAdapter = r.GetValue(raftAdapter),
                DistractorSweep = r.GetValue(sweepOption) is { } sweepText ? DistractorSweep.ParseList(sweepText) : null, Seed = r.GetValue(seed),
                MaxTokens = r.GetValue(maxTokens), OutputDirectory = r.GetValue(output)!, Scope = CoreCommands.Scope(r),
            };
            // The library names what is missing; the command line names the flags that give it.
            foreach (var (kind, name, modelFlag, adapterFlag) in new[] { (EvalModeKind.Ft, "ft", ftModel, ftAdapter), (EvalModeKind.Raft, "raft", raftModel, raftAdapter) })
                if (request.Modes.Contains(kind) && r.GetValue(modelFlag) is null && r.GetValue(adapterFlag) is null)
                    throw new OpenBookException($"mode '{name}' needs a {(name == "ft" ? "fine-tuned" : "RAFT-trained")} model: pass {adapterFlag.Name} DIR (a LoRA adapter on --model) or {modelFlag.Name} DIR|ID|openai:URL#name");
            if ((request.Modes.Contains(EvalModeKind.Base) || request.Modes.Contains(EvalModeKind.Rag)) && request.Model is null)
                throw new OpenBookException($"mode '{(request.Modes.Contains(EvalModeKind.Base) ? "base" : "rag")}' needs a language model: pass --model DIR|ID|openai:URL#name");
            await using var session = await EmbeddingCli.OpenAsync(r, ct);
            EvalOutcome outcome;
            if (Cli.ShowProgress(r))
            {
                outcome = null!;
                await AnsiConsole.Progress().AutoClear(true).StartAsync(async ctx =>
                {
                    var tasks = new Dictionary<string, ProgressTask>();
                    outcome = await EvalJob.RunAsync(session.Book, request, new SyncProgress<EvalProgress>(p =>
                    {
                        if (!tasks.TryGetValue(p.Task, out var task)) tasks[p.Task] = task = ctx.AddTask(Markup.Escape(p.Task), maxValue: p.Total);
                        task.Value = p.Done;
                    }), ct);
                });
            }
            else outcome = await EvalJob.RunAsync(session.Book, request, null, ct);
            foreach (var w in outcome.Warnings) Cli.Warn(w);

            var report = outcome.Report;
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new EvalJson(report.Modes.Select(ModeSummary.Of).ToList(), SweepSummary.Of(report.Sweep), outcome.Files, request.Scope.ToString()));
                return 0;
            }
            var console = Cli.Out(r);
            console.Write(ToTable(EvalReportWriter.ModeTable(report.Modes)));
            if (report.Sweep is { } s)
            {
                console.MarkupLine(Markup.Escape($"Distractor sweep ({s.Sweep.Contexts.Count} questions; {EvalReportWriter.SkippedText(s.Sweep)}):"));
                console.Write(ToTable(EvalReportWriter.SweepTable(s)));
            }
            console.MarkupLine($"read as {Markup.Escape(request.Scope.ToString())}.");
            foreach (var f in outcome.Files) console.MarkupLine($"wrote [green]{Markup.Escape(f)}[/]");
            return 0;
        });
        return cmd;
    }

    /// <summary>Mode names, comma-separated or repeated, case-insensitive.</summary>
    private static EvalModeKind[] ParseModes(System.CommandLine.Parsing.ArgumentResult result)
    {
        var list = new List<EvalModeKind>();
        foreach (var name in result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (Enum.TryParse<EvalModeKind>(name, ignoreCase: true, out var kind) && Enum.IsDefined(kind)) list.Add(kind);
            else result.AddError($"--modes: unknown mode '{name}' (known: extractive, base, rag, ft, raft)");
        }
        return list.Count > 0 ? list.ToArray() : [EvalModeKind.Extractive];
    }

    /// <summary>A console table of the rows, leaving out columns with no value in any row (the files keep them).</summary>
    private static Table ToTable(IReadOnlyList<string[]> rows)
    {
        var keep = Enumerable.Range(0, rows[0].Length).Where(c => rows.Skip(1).Any(row => row[c] != "–")).ToArray();
        var table = new Table().AddColumns(keep.Select(c => Markup.Escape(rows[0][c])).ToArray());
        foreach (var row in rows.Skip(1)) table.AddRow(keep.Select(c => Markup.Escape(row[c])).ToArray());
        return table;
    }
}

/// <summary><c>openbook eval --json</c>: the per-mode summaries, the sweep (without per-question contexts) and the files written.</summary>
internal sealed record EvalJson(IReadOnlyList<ModeSummary> Modes, SweepSummary? Sweep, IReadOnlyList<string> Files, string Scope);
