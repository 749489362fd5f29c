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
        var model = new Option<string?>("--model") { Description = "Language model for the base and rag modes: a local model directory, a cached Hub id, or openai:URL#name" };
        var ftAdapter = new Option<string?>("--ft-adapter") { Description = "LoRA adapter for the ft mode (fine-tuned, closed-book), on --model" };
        var raftAdapter = new Option<string?>("--raft-adapter") { Description = "LoRA adapter for the raft mode (RAFT-trained, with retrieval), on --model" };
        var cmd = new Command("eval", "Compare answering modes on a question set: exact match, F1, retrieval recall, citations, refusals, latency; writes report.md/html, charts and results.json")
        {
            questions, modes, k, output, limit, model, ftAdapter, raftAdapter, EmbeddingCli.Mode, EmbeddingCli.Embed,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var questionsPath = r.GetValue(questions)!;
            var set = QuestionSet.Load(questionsPath);
            if (r.GetValue(limit) is { } n) set = set.Take(n).ToList();
            var searchMode = r.GetValue(EmbeddingCli.Mode);
            await using var opened = await EmbeddingCli.OpenAsync(r, ct, searchMode);
            var book = opened.Book;
            using var client = r.GetValue(model) is { } spec ? Models.Chat.ChatClients.Create(spec) : null;
            if (book.Store.Stats().Chunks == 0)
                throw new OpenBookException($"The store {book.Directory} is empty: run `openbook ingest` first (or pass --store).");
            var selected = new List<IEvalMode>();
            var adapterClients = new List<Microsoft.Extensions.AI.IChatClient>();
            using var disposeAdapters = new CompositeDisposable(adapterClients);
            foreach (var name in CoreCommands.Split(r.GetValue(modes)) ?? ["extractive"])
            {
                switch (name.ToLowerInvariant())
                {
                    case "extractive":
                        selected.Add(new ExtractiveMode(book, r.GetValue(k)));
                        break;
                    case "base" or "rag" when client is null:
                        throw new OpenBookException($"mode '{name}' needs a language model: pass --model DIR|ID|openai:URL#name");
                    case "base":
                        selected.Add(new Models.Evaluation.ClosedBookMode(client, "base", r.GetValue(model)!));
                        break;
                    case "rag":
                        selected.Add(new Models.Evaluation.RetrievalAugmentedMode(book, client, "rag", r.GetValue(model)!, r.GetValue(k), searchMode));
                        break;
                    case "ft" or "raft":
                        var adapter = r.GetValue(name.Equals("ft", StringComparison.OrdinalIgnoreCase) ? ftAdapter : raftAdapter)
                            ?? throw new OpenBookException($"mode '{name}' needs its LoRA adapter: pass --{name.ToLowerInvariant()}-adapter DIR (made by `openbook {(name.Equals("ft", StringComparison.OrdinalIgnoreCase) ? "finetune" : "raft train")}`)");
                        var baseSpec = r.GetValue(model) ?? throw new OpenBookException($"mode '{name}' needs the base model: pass --model DIR|ID");
                        var tuned = Models.Chat.ChatClients.Create(baseSpec, adapter: adapter);
                        adapterClients.Add(tuned);
                        var label = $"{baseSpec} + {Path.GetFileName(Path.TrimEndingDirectorySeparator(adapter))}";
                        selected.Add(name.Equals("ft", StringComparison.OrdinalIgnoreCase)
                            ? new Models.Evaluation.ClosedBookMode(tuned, "ft", label)
                            : new Models.Evaluation.RaftMode(book, tuned, "raft", label, r.GetValue(k), searchMode));
                        break;
                    default:
                        throw new OpenBookException($"unknown mode '{name}' (known: extractive, base, rag, ft, raft)");
                }
            }

            IReadOnlyList<ModeResult> results;
            if (Cli.ShowProgress(r))
            {
                results = [];
                await AnsiConsole.Progress().AutoClear(true).StartAsync(async ctx =>
                {
                    var tasks = selected.ToDictionary(m => m.Name, m => ctx.AddTask(m.Name, maxValue: set.Count));
                    results = await EvalRunner.RunAsync(selected, set, new SyncProgress<(string Mode, int Done, int Total)>(p => tasks[p.Mode].Value = p.Done), ct);
                });
            }
            else results = await EvalRunner.RunAsync(selected, set, null, ct);

            var files = EvalReportWriter.Write(r.GetValue(output)!, questionsPath, results);
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new
                {
                    modes = results.Select(m => new
                    {
                        mode = m.Mode, questions = m.Questions, exactMatch = m.ExactMatch, f1 = m.F1, contained = m.Contained, recallAtK = m.RecallAtK, mrr = m.Mrr,
                        citationCorrectness = m.CitationCorrectness, refusalRate = m.RefusalRate, falseRefusalRate = m.FalseRefusalRate,
                        p50Ms = m.P50Milliseconds, p95Ms = m.P95Milliseconds, inputTokens = m.InputTokens, outputTokens = m.OutputTokens,
                    }),
                    files,
                });
                return 0;
            }
            var table = new Table().AddColumns("mode", "EM", "F1", "contained", "recall@k", "MRR", "citations", "refusal", "false refusal", "p50 ms", "p95 ms");
            static string F(double? v) => v is { } x ? x.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture) : "–";
            foreach (var m in results)
                table.AddRow(m.Mode, F(m.ExactMatch), F(m.F1), F(m.Contained), F(m.RecallAtK), F(m.Mrr), F(m.CitationCorrectness), F(m.RefusalRate),
                    F(m.FalseRefusalRate), F(m.P50Milliseconds), F(m.P95Milliseconds));
            var console = Cli.Out(r);
            console.Write(table);
            foreach (var f in files) console.MarkupLine($"wrote [green]{Markup.Escape(f)}[/]");
            return 0;
        });
        return cmd;
    }

    private sealed class CompositeDisposable(List<Microsoft.Extensions.AI.IChatClient> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var i in items) i.Dispose();
        }
    }
}
