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
        return raft;
    }

    private static Command Generate()
    {
        var model = new Option<string?>("--model") { Description = "Generator model: a local model directory, a cached Hub id, or openai:URL#name" };
        var fromQuestions = new Option<string?>("--from-questions") { Description = "Build examples from an existing question set (question, answer, source, quote) instead of a generator model" };
        var holdout = new Option<double>("--holdout") { Description = "With --from-questions: fraction of questions kept out of training and written to heldout.questions.jsonl for eval", DefaultValueFactory = _ => 0.0 };
        var collection = new Option<string?>("--collection", "-c") { Description = "Collection whose chunks become oracle documents (default: all)" };
        var output = new Option<string>("--out") { Description = "Output directory", DefaultValueFactory = _ => "raft-dataset" };
        var questions = new Option<int>("--questions") { Description = "Questions per chunk", DefaultValueFactory = _ => 3 };
        var distractors = new Option<int>("--distractors") { Description = "Distractor documents per example (k)", DefaultValueFactory = _ => 4 };
        var p = new Option<double>("--p") { Description = "Fraction of examples that keep the oracle document", DefaultValueFactory = _ => 0.8 };
        var hard = new Option<bool>("--hard-negatives") { Description = "Distractors from BM25 results for the question instead of random chunks" };
        var seed = new Option<int>("--seed") { Description = "Random seed (same seed and replies → same dataset)", DefaultValueFactory = _ => 42 };
        var maxChunks = new Option<int?>("--max-chunks") { Description = "Use a seeded sample of at most N chunks" };
        var workers = new Option<int>("--workers") { Description = "Chunks processed concurrently", DefaultValueFactory = _ => 2 };
        var formats = new Option<string[]>("--formats") { Description = "hf, chat, completion, eval (default: all)", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("generate", "Generate questions, quoted chain-of-thought answers and distractor contexts from ingested chunks (resumable)")
        {
            model, fromQuestions, holdout, collection, output, questions, distractors, p, hard, seed, maxChunks, workers, formats,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var outDir = r.GetValue(output)!;
            Directory.CreateDirectory(outDir);
            var options = new RaftOptions
            {
                Collection = r.GetValue(collection), QuestionsPerChunk = r.GetValue(questions), Distractors = r.GetValue(distractors),
                OracleProbability = r.GetValue(p), DistractorSource = r.GetValue(hard) ? DistractorSource.HardNegatives : DistractorSource.Random,
                Seed = r.GetValue(seed), MaxChunks = r.GetValue(maxChunks), Workers = r.GetValue(workers),
                CheckpointPath = Path.Combine(outDir, "checkpoint.jsonl"),
            };
            options.Validate();
            var selected = ParseFormats(CoreCommands.Split(r.GetValue(formats)));
            await using var book = await CoreCommands.OpenBook(r, ct);
            RaftDataset dataset;
            string? heldOutPath = null;
            if (r.GetValue(fromQuestions) is { } questionsPath)
            {
                var (train, heldOut) = Split(OpenBook.Evaluation.QuestionSet.Load(questionsPath), r.GetValue(holdout), r.GetValue(seed));
                dataset = await new RaftGenerator(new NoModel(), options).FromQuestionsAsync(book, train, ct);
                if (heldOut.Count > 0)
                {
                    heldOutPath = Path.Combine(outDir, "heldout.questions.jsonl");
                    File.WriteAllLines(heldOutPath, heldOut.Select(q => System.Text.Json.JsonSerializer.Serialize(new
                    {
                        id = q.Id, question = q.Question, answer = q.Answer, answers = q.Answers, source = q.Source, quote = q.Quote,
                        collection = q.Collection, type = q.Type, answerable = q.Answerable,
                    })));
                }
            }
            else
            {
                using var client = ChatClients.Create(r.GetValue(model) ?? throw new OpenBookException("raft generate needs --model (a generator) or --from-questions FILE."));
                dataset = await GenerateAsync(r, new RaftGenerator(client, options), book, ct);
            }
            var files = RaftExport.Write(dataset, outDir, selected).ToList();
            if (heldOutPath is not null) files.Add(heldOutPath);
            var s = dataset.Summary;
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new { chunks = s.Chunks, resumedChunks = s.ResumedChunks, questions = s.Questions, kept = s.Kept, withOracle = s.WithOracle, dropped = s.Dropped, files });
                return 0;
            }
            var console = Cli.Out(r);
            console.MarkupLine($"{s.Chunks} chunks ({s.ResumedChunks} resumed from the checkpoint), {s.Questions} questions → [green]{s.Kept} examples kept[/] ({s.WithOracle} with the oracle in context).");
            foreach (var (reason, n) in s.Dropped.OrderByDescending(d => d.Value))
                console.MarkupLine($"  dropped {n}: {Markup.Escape(reason)}");
            foreach (var f in files) console.MarkupLine($"wrote [green]{Markup.Escape(f)}[/]");
            return s.Kept > 0 ? 0 : 1;
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
