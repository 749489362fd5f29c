using System.CommandLine;
using OpenBook.Cli.Reports;
using OpenBook.Evaluation;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook eval</c>: answer a question set in several modes and write a comparison report.</summary>
internal static class EvalCommands
{
    public static Command Eval()
    {
        var questions = new Option<string>("--questions") { Description = "Questions file (JSONL)", Required = true };
        var modes = new Option<string[]>("--modes") { Description = "Modes to compare: extractive, base, rag, ft, raft", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => ["extractive"] };
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
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var questionsPath = r.GetValue(questions)!;
            var set = QuestionSet.Load(questionsPath);
            if (r.GetValue(limit) is { } n) set = set.Take(n).ToList();
            var searchMode = r.GetValue(EmbeddingCli.Mode);
            await using var opened = await EmbeddingCli.OpenAsync(r, ct, searchMode);
            var book = opened.Book;
            if (book.Store.Stats().Chunks == 0)
                throw new OpenBookException($"The store {book.Directory} is empty: run `openbook ingest` first (or pass --store).");
            var ks = r.GetValue(sweepOption) is { } sweepText ? DistractorSweep.ParseList(sweepText) : null;
            using var clients = new ClientCache();
            // Greedy decoding, so reruns of a local model give the same answers.
            var chatOptions = new Microsoft.Extensions.AI.ChatOptions { MaxOutputTokens = r.GetValue(maxTokens), Temperature = 0 };
            var selected = new List<IEvalMode>();
            foreach (var name in CoreCommands.Split(r.GetValue(modes)) ?? ["extractive"])
            {
                var lower = name.ToLowerInvariant();
                if (selected.Any(m => m.Name == lower)) continue;
                switch (lower)
                {
                    case "extractive":
                        selected.Add(new ExtractiveMode(book, r.GetValue(k), searchMode));
                        break;
                    case "base" or "rag":
                    {
                        var spec = r.GetValue(model) ?? throw new OpenBookException($"mode '{name}' needs a language model: pass --model DIR|ID|openai:URL#name");
                        var client = clients.Get(spec, null);
                        selected.Add(lower == "base"
                            ? new Models.Evaluation.ClosedBookMode(client, "base", spec, chatOptions)
                            : new Models.Evaluation.RetrievalAugmentedMode(book, client, "rag", spec, r.GetValue(k), searchMode, chatOptions));
                        break;
                    }
                    case "ft" or "raft":
                    {
                        var (specOption, adapterOption) = lower == "ft" ? (ftModel, ftAdapter) : (raftModel, raftAdapter);
                        var adapter = r.GetValue(adapterOption);
                        if (r.GetValue(specOption) is null && adapter is null)
                            throw new OpenBookException($"mode '{name}' needs a {(lower == "ft" ? "fine-tuned" : "RAFT-trained")} model: pass --{lower}-adapter DIR " +
                                                        $"(a LoRA adapter on --model) or --{lower}-model DIR|ID|openai:URL#name");
                        var spec = r.GetValue(specOption) ?? r.GetValue(model) ?? CoreCommands.AdapterBaseModel(adapter!, $"--{lower}-adapter");
                        if (adapter is not null) WarnOnPromptFormat(r, lower, adapter);
                        var client = clients.Get(spec, adapter);
                        var label = adapter is null ? spec : $"{spec} + adapter {adapter}";
                        selected.Add(lower == "ft"
                            ? new Models.Evaluation.ClosedBookMode(client, "ft", label, chatOptions)
                            : new Models.Evaluation.RaftMode(book, client, "raft", label, r.GetValue(k), searchMode, chatOptions));
                        break;
                    }
                    default:
                        throw new OpenBookException($"unknown mode '{name}' (known: extractive, base, rag, ft, raft)");
                }
            }
            var sweepModes = selected.OfType<IContextEvalMode>().ToList();
            DistractorSweep? sweep = null;
            if (ks is not null)
            {
                if (sweepModes.Count == 0) throw new OpenBookException("--distractor-sweep needs a retrieval mode: extractive, rag or raft");
                var index = book.LexicalIndex();
                sweep = DistractorSweep.Build(book.Store, t => index.Idf(t), set, ks, r.GetValue(seed));
                if (sweep.Contexts.Count == 0)
                    throw new OpenBookException($"--distractor-sweep: no question names a source document found in the store ({sweep.SkippedNoSource} without a source, {sweep.SkippedSourceNotFound.Count} not found)");
            }

            IReadOnlyList<ModeResult> results = [];
            IReadOnlyList<SweepResult> sweepResults = [];
            if (Cli.ShowProgress(r))
            {
                await AnsiConsole.Progress().AutoClear(true).StartAsync(async ctx =>
                {
                    var tasks = selected.ToDictionary(m => m.Name, m => ctx.AddTask(m.Name, maxValue: set.Count));
                    results = await EvalRunner.RunAsync(selected, set, new SyncProgress<(string Mode, int Done, int Total)>(p => tasks[p.Mode].Value = p.Done), ct);
                    if (sweep is null) return;
                    var sweepTasks = new Dictionary<string, ProgressTask>();
                    sweepResults = await EvalRunner.SweepAsync(sweepModes, sweep, new SyncProgress<(string Mode, int Done, int Total)>(p =>
                    {
                        if (!sweepTasks.TryGetValue(p.Mode, out var task)) sweepTasks[p.Mode] = task = ctx.AddTask($"sweep {p.Mode}", maxValue: p.Total);
                        task.Value = p.Done;
                    }), ct);
                });
            }
            else
            {
                results = await EvalRunner.RunAsync(selected, set, null, ct);
                if (sweep is not null) sweepResults = await EvalRunner.SweepAsync(sweepModes, sweep, null, ct);
            }

            var report = new EvalReport(questionsPath, results, sweep is null ? null : new SweepReport(sweep, sweepResults));
            var files = EvalReportWriter.Write(r.GetValue(output)!, report);
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new { modes = results.Select(EvalReportWriter.Summary), sweep = EvalReportWriter.SweepJson(report.Sweep), files });
                return 0;
            }
            var console = Cli.Out(r);
            console.Write(ToTable(EvalReportWriter.ModeTable(results)));
            if (report.Sweep is { } s)
            {
                console.MarkupLine(Markup.Escape($"Distractor sweep ({s.Sweep.Contexts.Count} questions; {EvalReportWriter.SkippedText(s.Sweep)}):"));
                console.Write(ToTable(EvalReportWriter.SweepTable(s)));
            }
            foreach (var f in files) console.MarkupLine($"wrote [green]{Markup.Escape(f)}[/]");
            return 0;
        });
        return cmd;
    }

    /// <summary>Warns when an adapter's recorded prompt format (openbook_adapter.json) is not the one the mode prompts with.</summary>
    private static void WarnOnPromptFormat(ParseResult r, string mode, string adapter)
    {
        if (!File.Exists(Path.Combine(adapter, Models.Raft.AdapterInfo.FileName))) return;
        var format = Models.Raft.AdapterInfo.Read(adapter).PromptFormat;
        if ((format == "raft") == (mode == "raft")) return;
        Cli.Out(r).MarkupLine("[yellow]warning:[/] " + Markup.Escape(
            $"--{mode}-adapter {adapter} was trained with the {format} prompt format; mode '{mode}' prompts it in the {(mode == "raft" ? "RAFT" : "chat")} format"));
    }

    /// <summary>A console table of the rows, leaving out columns with no value in any row (the files keep them).</summary>
    private static Table ToTable(IReadOnlyList<string[]> rows)
    {
        var keep = Enumerable.Range(0, rows[0].Length).Where(c => rows.Skip(1).Any(row => row[c] != "–")).ToArray();
        var table = new Table().AddColumns(keep.Select(c => Markup.Escape(rows[0][c])).ToArray());
        foreach (var row in rows.Skip(1)) table.AddRow(keep.Select(c => Markup.Escape(row[c])).ToArray());
        return table;
    }

    /// <summary>One chat client per (model, adapter), disposed with the command.</summary>
    private sealed class ClientCache : IDisposable
    {
        private readonly Dictionary<(string, string?), Microsoft.Extensions.AI.IChatClient> _clients = [];

        public Microsoft.Extensions.AI.IChatClient Get(string spec, string? adapter)
        {
            if (!_clients.TryGetValue((spec, adapter), out var client))
                _clients[(spec, adapter)] = client = Models.Chat.ChatClients.Create(spec, adapter: adapter);
            return client;
        }

        public void Dispose()
        {
            foreach (var c in _clients.Values) c.Dispose();
        }
    }
}
