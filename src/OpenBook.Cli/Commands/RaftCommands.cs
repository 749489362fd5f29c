using System.CommandLine;
using OpenBook.Models.FineTuning;
using OpenBook.Raft;
using OpenBook.Runtime;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook raft generate</c> and <c>raft train</c>: RAFT training data from an ingested collection, and training on it.</summary>
internal static class RaftCommands
{
    public static Command Build()
    {
        var raft = new Command("raft", "Retrieval-Augmented Fine-Tuning (RAFT) datasets");
        raft.Subcommands.Add(Generate());
        raft.Subcommands.Add(Train());
        return raft;
    }

    /// <summary>Options of dataset generation, shared by <c>raft generate</c> and <c>raft train</c>.</summary>
    private sealed class GenerationOptions(string generatorOption, string seedOption)
    {
        public readonly Option<string?> Generator = new(generatorOption) { Description = "Generator model: a local model directory, a cached Hub id, or openai:URL#name" };
        public readonly Option<string?> FromQuestions = new("--from-questions") { Description = "Build examples from an existing question set (question, answer, source, quote) instead of a generator model" };
        public readonly Option<double> Holdout = new("--holdout") { Description = "With --from-questions: fraction of questions kept out of training and written to heldout.questions.jsonl for eval", DefaultValueFactory = _ => 0.0 };
        public readonly Option<string?> Collection = new("--collection", "-c") { Description = "Collection whose chunks become oracle documents (default: all)" };
        public readonly Option<int> Questions = new("--questions") { Description = "Questions per chunk", DefaultValueFactory = _ => 3 };
        public readonly Option<int> Distractors = new("--distractors") { Description = "Distractor documents per example (k)", DefaultValueFactory = _ => 4 };
        public readonly Option<double> P = new("--p") { Description = "Fraction of examples that keep the oracle document", DefaultValueFactory = _ => 0.8 };
        public readonly Option<bool> Hard = new("--hard-negatives") { Description = "Distractors from BM25 results for the question instead of random chunks" };
        public readonly Option<int> Seed = new(seedOption) { Description = "Random seed of the dataset (same seed and replies → same dataset)", DefaultValueFactory = _ => 42 };
        public readonly Option<int?> MaxChunks = new("--max-chunks") { Description = "Use a seeded sample of at most N chunks" };
        public readonly Option<int> Workers = new("--workers") { Description = "Chunks processed concurrently", DefaultValueFactory = _ => 2 };

        public IEnumerable<Option> All() => [Generator, FromQuestions, Holdout, Collection, Questions, Distractors, P, Hard, Seed, MaxChunks, Workers, CoreCommands.AsGroups, CoreCommands.AllAccess];

        public RaftDataRequest Request(ParseResult r, string outDir, RaftFormats formats) => new()
        {
            OutputDirectory = outDir, Generator = r.GetValue(Generator), FromQuestions = r.GetValue(FromQuestions), Holdout = r.GetValue(Holdout), Formats = formats,
            Options = new RaftOptions
            {
                Collection = r.GetValue(Collection), QuestionsPerChunk = r.GetValue(Questions), Distractors = r.GetValue(Distractors),
                OracleProbability = r.GetValue(P), DistractorSource = r.GetValue(Hard) ? DistractorSource.HardNegatives : DistractorSource.Random,
                Seed = r.GetValue(Seed), MaxChunks = r.GetValue(MaxChunks), Workers = r.GetValue(Workers), Scope = CoreCommands.Scope(r),
            },
        };

        /// <summary>Generates (or resumes) the dataset with a progress bar.</summary>
        public async Task<RaftDataResult> RunAsync(ParseResult r, RaftDataRequest request, CancellationToken ct)
        {
            if (request.FromQuestions is null && request.Generator is null)
                throw new OpenBookException($"RAFT data needs a generator ({Generator.Name} SPEC) or --from-questions FILE.");
            await using var book = await CoreCommands.OpenBook(r, ct);
            if (!Cli.ShowProgress(r)) return await RaftJobs.GenerateAsync(book, request, null, ct);
            RaftDataResult result = null!;
            await AnsiConsole.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask("chunks", maxValue: 1);
                    result = await RaftJobs.GenerateAsync(book, request, new SyncProgress<(int Done, int Total)>(x =>
                    {
                        task.MaxValue = x.Total;
                        task.Value = x.Done;
                        task.Description = $"chunks {x.Done}/{x.Total}";
                    }), ct);
                });
            return result;
        }
    }

    private static void PrintSummary(ParseResult r, RaftDataResult result)
    {
        var s = result.Summary;
        var console = Cli.Out(r);
        console.MarkupLine($"{s.Chunks} chunks ({s.ResumedChunks} resumed from the checkpoint), {s.Questions} questions → [green]{s.Kept} examples kept[/] ({s.WithOracle} with the oracle in context); read as {Markup.Escape(s.Scope)}.");
        foreach (var (reason, n) in s.Dropped.OrderByDescending(d => d.Value))
            console.MarkupLine($"  dropped {n}: {Markup.Escape(reason)}");
        foreach (var f in result.Files) console.MarkupLine($"wrote [green]{Markup.Escape(f)}[/]");
    }

    private static Command Generate()
    {
        var g = new GenerationOptions("--model", "--seed");
        var output = new Option<string>("--out") { Description = "Output directory", DefaultValueFactory = _ => "raft-dataset" };
        var formats = new Option<RaftFormats>("--formats")
        {
            Description = "hf, chat, completion, eval (comma-separated; default: all)", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => RaftFormats.All,
            CustomParser = ParseFormats,
        };
        var cmd = new Command("generate", "Generate questions, quoted chain-of-thought answers and distractor contexts from ingested chunks (resumable)") { output, formats };
        foreach (var o in g.All()) cmd.Options.Add(o);
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var result = await g.RunAsync(r, g.Request(r, r.GetValue(output)!, r.GetValue(formats)), ct);
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(RaftGenerateJson.Of(result));
                return 0;
            }
            PrintSummary(r, result);
            return result.Summary.Kept > 0 ? 0 : 1;
        });
        return cmd;
    }

    /// <summary>
    /// <c>openbook raft train</c>: generate the RAFT dataset (unless <c>--dataset</c> points at one) and fine-tune on its
    /// chat format; the adapter is marked <c>prompt_format: raft</c> so <c>ask --adapter</c> and <c>eval --modes raft</c>
    /// prompt it exactly as it was trained.
    /// </summary>
    private static Command Train()
    {
        var g = new GenerationOptions("--generator", "--raft-seed");
        var ft = new FineTuneCommands.RunOptions();
        var dataset = new Option<string?>("--dataset") { Description = "An existing `raft generate` output directory (uses its raft.chat.jsonl)" };
        var output = new Option<string>("--out") { Description = "Output directory: dataset/ and the adapter", DefaultValueFactory = _ => "raft-adapter" };
        var cmd = new Command("train", "Generate RAFT data (or use --dataset) and train a LoRA/QLoRA adapter on it, for retrieval-augmented answering") { dataset, output };
        foreach (var o in g.All().Concat(ft.All())) cmd.Options.Add(o);
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var outDir = r.GetValue(output)!;
            string dataDir;
            if (r.GetValue(dataset) is { } existing) dataDir = existing;
            else
            {
                dataDir = Path.Combine(outDir, "dataset");
                var generated = await g.RunAsync(r, g.Request(r, dataDir, RaftFormats.All), ct);
                if (!r.GetValue(Cli.Quiet) && !r.GetValue(Cli.Json)) PrintSummary(r, generated);
                if (generated.Summary.Kept == 0) throw new OpenBookException("RAFT generation kept no example: nothing to train on (see the drop reasons above).");
            }
            var options = ft.Build(r, Path.Combine(dataDir, "raft.chat.jsonl"), outDir, AdapterPromptFormat.Raft);
            return FineTuneCommands.Run(r, (plan, progress) => RaftJobs.Train(dataDir, options, r.GetValue(ft.Merge), plan, progress, ct));
        });
        return cmd;
    }

    private static RaftFormats ParseFormats(System.CommandLine.Parsing.ArgumentResult a)
    {
        var result = (RaftFormats)0;
        foreach (var name in a.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
            result |= name.ToLowerInvariant() switch
            {
                "hf" => RaftFormats.Hf,
                "chat" => RaftFormats.Chat,
                "completion" => RaftFormats.Completion,
                "eval" => RaftFormats.Eval,
                _ => Error(a, $"--formats: unknown format '{name}' (known: hf, chat, completion, eval)"),
            };
        return result == 0 ? RaftFormats.All : result;
    }

    private static RaftFormats Error(System.CommandLine.Parsing.ArgumentResult a, string message)
    {
        a.AddError(message);
        return 0;
    }
}
