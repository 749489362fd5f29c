using System.CommandLine;
using OpenBook.Models.Chat;
using OpenBook.Models.Raft;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook raft generate</c>: RAFT training data from an ingested collection.</summary>
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

        public IEnumerable<Option> All() => [Generator, FromQuestions, Holdout, Collection, Questions, Distractors, P, Hard, Seed, MaxChunks, Workers];

        /// <summary>Generates (or resumes) the dataset into <paramref name="outDir"/>; returns it and the held-out questions file, if any.</summary>
        public async Task<(RaftDataset Dataset, string? HeldOut)> RunAsync(ParseResult r, string outDir, CancellationToken ct)
        {
            Directory.CreateDirectory(outDir);
            var options = new RaftOptions
            {
                Collection = r.GetValue(Collection), QuestionsPerChunk = r.GetValue(Questions), Distractors = r.GetValue(Distractors),
                OracleProbability = r.GetValue(P), DistractorSource = r.GetValue(Hard) ? DistractorSource.HardNegatives : DistractorSource.Random,
                Seed = r.GetValue(Seed), MaxChunks = r.GetValue(MaxChunks), Workers = r.GetValue(Workers),
                CheckpointPath = Path.Combine(outDir, "checkpoint.jsonl"),
            };
            options.Validate();
            await using var book = await CoreCommands.OpenBook(r, ct);
            if (r.GetValue(FromQuestions) is { } questionsPath)
            {
                var (train, heldOut) = Split(OpenBook.Evaluation.QuestionSet.Load(questionsPath), r.GetValue(Holdout), r.GetValue(Seed));
                var dataset = await new RaftGenerator(new NoModel(), options).FromQuestionsAsync(book, train, ct);
                if (heldOut.Count == 0) return (dataset, null);
                var heldOutPath = Path.Combine(outDir, "heldout.questions.jsonl");
                File.WriteAllLines(heldOutPath, heldOut.Select(q => System.Text.Json.JsonSerializer.Serialize(new
                {
                    id = q.Id, question = q.Question, answer = q.Answer, answers = q.Answers, source = q.Source, quote = q.Quote,
                    collection = q.Collection, type = q.Type, answerable = q.Answerable,
                })));
                return (dataset, heldOutPath);
            }
            using var client = ChatClients.Create(r.GetValue(Generator) ?? throw new OpenBookException($"RAFT data needs a generator ({Generator.Name} SPEC) or --from-questions FILE."));
            return (await GenerateAsync(r, new RaftGenerator(client, options), book, ct), null);
        }
    }

    private static void PrintSummary(ParseResult r, RaftSummary s, IEnumerable<string> files)
    {
        var console = Cli.Out(r);
        console.MarkupLine($"{s.Chunks} chunks ({s.ResumedChunks} resumed from the checkpoint), {s.Questions} questions → [green]{s.Kept} examples kept[/] ({s.WithOracle} with the oracle in context).");
        foreach (var (reason, n) in s.Dropped.OrderByDescending(d => d.Value))
            console.MarkupLine($"  dropped {n}: {Markup.Escape(reason)}");
        foreach (var f in files) console.MarkupLine($"wrote [green]{Markup.Escape(f)}[/]");
    }

    private static Command Generate()
    {
        var g = new GenerationOptions("--model", "--seed");
        var output = new Option<string>("--out") { Description = "Output directory", DefaultValueFactory = _ => "raft-dataset" };
        var formats = new Option<string[]>("--formats") { Description = "hf, chat, completion, eval (default: all)", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("generate", "Generate questions, quoted chain-of-thought answers and distractor contexts from ingested chunks (resumable)") { output, formats };
        foreach (var o in g.All()) cmd.Options.Add(o);
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var outDir = r.GetValue(output)!;
            var selected = ParseFormats(CoreCommands.Split(r.GetValue(formats)));
            var (dataset, heldOut) = await g.RunAsync(r, outDir, ct);
            var files = RaftExport.Write(dataset, outDir, selected).ToList();
            if (heldOut is not null) files.Add(heldOut);
            var s = dataset.Summary;
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new { chunks = s.Chunks, resumedChunks = s.ResumedChunks, questions = s.Questions, kept = s.Kept, withOracle = s.WithOracle, dropped = s.Dropped, files });
                return 0;
            }
            PrintSummary(r, s, files);
            return s.Kept > 0 ? 0 : 1;
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
                var (generated, heldOut) = await g.RunAsync(r, dataDir, ct);
                var files = RaftExport.Write(generated, dataDir, RaftFormats.All).ToList();
                if (heldOut is not null) files.Add(heldOut);
                if (!r.GetValue(Cli.Quiet) && !r.GetValue(Cli.Json)) PrintSummary(r, generated.Summary, files);
                if (generated.Summary.Kept == 0) throw new OpenBookException("RAFT generation kept no example: nothing to train on (see the drop reasons above).");
            }
            var chat = Path.Combine(dataDir, "raft.chat.jsonl");
            if (!File.Exists(chat)) throw new OpenBookException($"--dataset {dataDir}: raft.chat.jsonl not found (run `openbook raft generate --formats chat` into it).");
            return FineTuneCommands.Run(r, ft.Build(r, chat, outDir, promptFormat: "raft"), ft, ct);
        });
        return cmd;
    }

    /// <summary>A seeded split of a question set into training and held-out questions.</summary>
    internal static (IReadOnlyList<OpenBook.Evaluation.EvalQuestion> Train, IReadOnlyList<OpenBook.Evaluation.EvalQuestion> HeldOut) Split(
        IReadOnlyList<OpenBook.Evaluation.EvalQuestion> all, double fraction, int seed)
    {
        if (fraction is < 0 or >= 1) throw new OpenBookException($"--holdout must be in [0, 1) (got {fraction}).");
        var order = all.Select((q, i) => (q, key: new Random(OpenBook.Models.FineTuning.Seeds.Mix(seed, i)).NextDouble())).OrderBy(x => x.key).Select(x => x.q).ToList();
        int held = (int)Math.Round(all.Count * fraction);
        var heldSet = order.Take(held).ToHashSet();
        return (all.Where(q => !heldSet.Contains(q)).ToList(), all.Where(heldSet.Contains).ToList());
    }

    /// <summary>Stands in for the generator when examples come from a question set: it is never called.</summary>
    private sealed class NoModel : Microsoft.Extensions.AI.IChatClient
    {
        public Task<Microsoft.Extensions.AI.ChatResponse> GetResponseAsync(IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, Microsoft.Extensions.AI.ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("--from-questions does not use a model.");
        public IAsyncEnumerable<Microsoft.Extensions.AI.ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, Microsoft.Extensions.AI.ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("--from-questions does not use a model.");
        public object? GetService(Type serviceType, object? serviceKey = null) => null;
        public void Dispose() { }
    }

    private static async Task<RaftDataset> GenerateAsync(ParseResult r, RaftGenerator generator, Book book, CancellationToken ct)
    {
        RaftDataset dataset;
        if (Cli.ShowProgress(r))
        {
            dataset = null!;
            await AnsiConsole.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask("chunks", maxValue: 1);
                    dataset = await generator.GenerateAsync(book, new SyncProgress<(int Done, int Total)>(x => { task.MaxValue = x.Total; task.Value = x.Done; task.Description = $"chunks {x.Done}/{x.Total}"; }), ct);
                });
        }
        else dataset = await generator.GenerateAsync(book, null, ct);
        return dataset;
    }

    private static RaftFormats ParseFormats(string[]? names)
    {
        if (names is null) return RaftFormats.All;
        var result = (RaftFormats)0;
        foreach (var name in names)
            result |= name.ToLowerInvariant() switch
            {
                "hf" => RaftFormats.Hf,
                "chat" => RaftFormats.Chat,
                "completion" => RaftFormats.Completion,
                "eval" => RaftFormats.Eval,
                _ => throw new OpenBookException($"unknown format '{name}' (known: hf, chat, completion, eval)"),
            };
        return result;
    }
}
