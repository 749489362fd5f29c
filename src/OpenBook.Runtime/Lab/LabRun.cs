using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using OpenBook.Evaluation;
using OpenBook.Models.FineTuning;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Raft;
using OpenBook.Runtime.Reports;
using OpenBook.Storage;

namespace OpenBook.Runtime.Lab;

/// <summary>The options of <c>openbook lab run</c>: what is trained, how long, and how much is evaluated.</summary>
public sealed record LabRunRequest
{
    /// <summary>World directory (<c>openbook lab world</c>).</summary>
    public required string WorldDirectory { get; init; }
    /// <summary>The lab base model directory (<c>openbook lab pretrain</c>).</summary>
    public required string ModelDirectory { get; init; }
    /// <summary>Output directory (store, trained models, report).</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>Private questions evaluated per phrasing (a seeded sample of the training-phrasing questions and their unseen paraphrases).</summary>
    public int Questions { get; init; } = 40;
    /// <summary>Questions of the distractor sweep.</summary>
    public int SweepQuestions { get; init; } = 20;
    /// <summary>Distractor counts of the sweep.</summary>
    public IReadOnlyList<int> Sweep { get; init; } = [0, 1, 2, 4, 8];
    /// <summary>Changed-fact questions evaluated for freshness (null: all).</summary>
    public int? FreshnessQuestions { get; init; } = 30;
    /// <summary>Passages retrieved by the RAG, RAFT and FT+RAG modes.</summary>
    public int K { get; init; } = 3;
    /// <summary>Passes over the fine-tuning data.</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>Optimizer steps of each fine-tuning run at most (null: the epochs).</summary>
    public int? MaxSteps { get; init; }
    /// <summary>Learning rate of the LoRA runs.</summary>
    public double LoraLearningRate { get; init; } = 3e-3;
    /// <summary>Learning rate of the full-parameter runs.</summary>
    public double FullLearningRate { get; init; } = 1e-3;
    /// <summary>LoRA rank.</summary>
    public int Rank { get; init; } = 8;
    /// <summary>Examples per micro-batch.</summary>
    public int BatchSize { get; init; } = 4;
    /// <summary>RAFT: distractors per training example.</summary>
    public int RaftDistractors { get; init; } = 2;
    /// <summary>RAFT: probability that an example keeps its oracle.</summary>
    public double RaftOracleProbability { get; init; } = 0.8;
    /// <summary>RAFT: optimizer steps at most (null: <see cref="MaxSteps"/>).</summary>
    public int? RaftMaxSteps { get; init; }
    /// <summary>Embedding model for hybrid retrieval (null: no hybrid mode).</summary>
    public string? Embed { get; init; } = "minilm";
    /// <summary>Seed of the question sample, the sweep and the training runs.</summary>
    public int Seed { get; init; } = 42;
}

/// <summary>Training cost of one trained mode.</summary>
/// <param name="Mode">The mode it serves.</param>
/// <param name="Method">lora or full.</param>
/// <param name="Data">What it was trained on.</param>
/// <param name="Examples">Training examples.</param>
/// <param name="Steps">Optimizer steps.</param>
/// <param name="Tokens">Tokens trained on.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="FinalLoss">Last training loss.</param>
/// <param name="Model">Adapter or model directory.</param>
public sealed record LabTraining(string Mode, string Method, string Data, int Examples, int Steps, long Tokens, double Seconds, double? FinalLoss, string Model);

/// <summary>One row of the lab table.</summary>
/// <param name="Mode">Mode name as in the report.</param>
/// <param name="Description">What it is.</param>
/// <param name="ExactMatch">EM on the training phrasing.</param>
/// <param name="F1">Token F1 on the training phrasing.</param>
/// <param name="UnseenExactMatch">EM on the unseen paraphrases.</param>
/// <param name="UnseenF1">F1 on the unseen paraphrases.</param>
/// <param name="P50Ms">Median latency per answer.</param>
/// <param name="PromptTokens">Mean prompt tokens per answer.</param>
public sealed record LabRow(string Mode, string Description, double ExactMatch, double F1, double UnseenExactMatch, double UnseenF1, double P50Ms, double PromptTokens);

/// <summary>What <c>openbook lab run</c> measured.</summary>
/// <param name="Rows">Every mode on both phrasings.</param>
/// <param name="Sweep">Mode → k → EM of the distractor sweep.</param>
/// <param name="Freshness">Mode → EM on the changed facts after the change set (and, for "ft (old value)", on their old values).</param>
/// <param name="Training">Cost of each trained mode.</param>
/// <param name="Recommendation">What <c>advise</c> recommends on these results.</param>
/// <param name="Reasons">Its reasons.</param>
/// <param name="Settings">Every setting of the run.</param>
/// <param name="Seconds">Wall time of the whole run.</param>
/// <param name="Files">Report files.</param>
public sealed record LabRunResult(IReadOnlyList<LabRow> Rows, IReadOnlyDictionary<string, IReadOnlyDictionary<int, double>> Sweep,
    IReadOnlyDictionary<string, double> Freshness, IReadOnlyList<LabTraining> Training, string Recommendation, IReadOnlyList<string> Reasons,
    LabRunRequest Settings, double Seconds, IReadOnlyList<string> Files);

/// <summary>
/// <c>openbook lab run</c>: on the private corpus of a lab world, with the lab base model, trains and evaluates every way of
/// adapting it — base closed-book; base + RAG (BM25, hybrid); FT closed-book (LoRA and full, on the raw documents and on
/// documents + QA pairs); RAFT (from the private questions, oracle + distractors, oracle kept with p) with retrieval;
/// FT + RAG — on the training phrasing and on unseen paraphrases, the distractor sweep, freshness after the change set
/// (re-ingest for RAG, no retraining for FT) and the cost of each; one report (Markdown, HTML, PNG charts, results.json
/// by <see cref="EvalReportWriter"/>, plus lab.md / lab.json) and the advisor's recommendation on it. Every step reuses
/// the existing jobs (<see cref="FineTuneRun"/>, <see cref="RaftJobs"/>, <see cref="EvalJob"/>).
/// </summary>
public static class LabRun
{
    /// <summary>Runs the lab; <paramref name="log"/> hears each step.</summary>
    public static async Task<LabRunResult> RunAsync(LabRunRequest r, Action<string>? log = null, CancellationToken ct = default)
    {
        var total = Stopwatch.StartNew();
        log ??= _ => { };
        var world = r.WorldDirectory;
        var privateDocs = Path.Combine(world, "private", "docs");
        if (!Directory.Exists(privateDocs)) throw new OpenBookException($"--world {world}: private/docs not found (write a world with `openbook lab world`).");
        if (!File.Exists(Path.Combine(r.ModelDirectory, "config.json"))) throw new OpenBookException($"--model {r.ModelDirectory}: config.json not found.");
        var output = Path.GetFullPath(r.OutputDirectory);
        if (Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any())
        {
            if (!File.Exists(Path.Combine(output, "lab.json")) && !Directory.Exists(Path.Combine(output, "corpus")))
                throw new OpenBookException($"--out {output}: not empty and not an earlier lab run; choose another directory.");
            Directory.Delete(output, recursive: true);
        }
        Directory.CreateDirectory(output);
        var corpus = Path.Combine(output, "corpus");
        CopyTree(privateDocs, corpus);

        // Question files: all private training-phrasing questions train; a seeded sample of them (and their paraphrases) is evaluated.
        var trainAll = Path.Combine(world, "private", "questions.train.jsonl");
        var trainLines = File.ReadAllLines(trainAll).Where(l => l.Length > 0).ToList();
        var unseenById = File.ReadAllLines(Path.Combine(world, "private", "questions.unseen.jsonl")).Where(l => l.Length > 0)
            .ToDictionary(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()!);
        var rng = new Random(r.Seed);
        var sample = trainLines.OrderBy(_ => rng.Next()).Take(r.Questions).ToList();
        var qTrain = Write(output, "eval.train.jsonl", sample);
        var qUnseen = Write(output, "eval.unseen.jsonl", sample.Select(l => unseenById[JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()! + "-u"]));
        var qSweep = Write(output, "eval.sweep.jsonl", sample.Where(l => l.Contains("\"type\":\"single\"", StringComparison.Ordinal)).Take(r.SweepQuestions));

        // The store of the private corpus (hybrid when an encoder opens).
        var store = Path.Combine(output, "store");
        string? embed = r.Embed;
        BookSession session;
        try
        {
            session = await BookSession.OpenAsync(store, new BookSessionOptions { Embed = embed }, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (embed is not null && e is OpenBookException or IOException)
        {
            log($"hybrid retrieval skipped: the encoder '{embed}' did not open ({e.Message})");
            embed = null;
            session = await BookSession.OpenAsync(store, new BookSessionOptions(), ct).ConfigureAwait(false);
        }
        await using var _ = session;
        var book = session.Book;
        await book.IngestAsync([corpus], new IngestOptions { Collection = "private", Embed = embed is not null, Parallelism = 1 }, cancellationToken: ct).ConfigureAwait(false);
        log($"ingested the private corpus ({book.Store.Stats().Chunks} chunks{(embed is null ? "" : ", embedded with " + embed)})");

        // Fine-tuning data: raw documents, and documents + the private QA pairs (closed-book prompt).
        var docTexts = book.ReadDocumentTexts(AccessScope.Public, "private").ToList();
        var docSources = book.ReadChunks(AccessScope.Public, "private").GroupBy(c => c.DocumentId).Select(g => g.First().Source).ToList();
        string DocExample(string text, int i) => JsonSerializer.Serialize(new ChatLineJson(
            [new("user", $"Show the document {docSources.ElementAtOrDefault(i) ?? "#" + i}."), new("assistant", text)]));
        var docsData = Write(output, "ft.docs.jsonl", docTexts.Select(DocExample));
        var qaLines = QuestionSet.Load(trainAll).Select(q => JsonSerializer.Serialize(new ChatLineJson(
            [new("system", ClosedBookMode.SystemPrompt), new("user", q.Question), new("assistant", q.Answer ?? "I don't know.")])));
        var docsQaData = Write(output, "ft.docs-qa.jsonl", docTexts.Select(DocExample).Concat(qaLines));

        var training = new List<LabTraining>();
        LabTraining Train(string mode, FineTuneMethod method, string data, string label, Func<FineTuneOptions, FineTuneSummary>? run = null)
        {
            var dir = Path.Combine(output, "models", mode);
            var options = new FineTuneOptions
            {
                ModelDirectory = r.ModelDirectory, DataPath = data, OutputDirectory = dir, Method = method, BatchSize = r.BatchSize, MaxLength = 768,
                Lora = new LoraConfig { Rank = r.Rank, Alpha = 2 * r.Rank, Dropout = 0 },
                Trainer = new TrainerOptions
                {
                    Epochs = r.Epochs, MaxSteps = mode == "raft" ? r.RaftMaxSteps ?? r.MaxSteps : r.MaxSteps,
                    LearningRate = method == FineTuneMethod.Full ? r.FullLearningRate : r.LoraLearningRate, WarmupSteps = 5, Seed = r.Seed,
                    WeightDecay = method == FineTuneMethod.Full ? 0.01 : 0,
                },
            };
            log($"training {mode} ({method.ToString().ToLowerInvariant()}, {label})");
            var s = run is null ? FineTuneRun.Run(options, cancellationToken: ct) : run(options);
            var t = new LabTraining(mode, s.Method, label, s.TrainExamples, s.Steps, s.Tokens, s.Seconds, s.FinalLoss, s.Adapter);
            log($"  {s.Steps} steps, {s.Tokens:N0} tokens in {s.Seconds:F0} s, final loss {s.FinalLoss:F3}");
            training.Add(t);
            return t;
        }
        var loraDocs = Train("ft-lora-docs", FineTuneMethod.Lora, docsData, "raw documents");
        var loraDocsQa = Train("ft-lora-docs+qa", FineTuneMethod.Lora, docsQaData, "documents + QA pairs");
        var fullDocs = Train("ft-full-docs", FineTuneMethod.Full, docsData, "raw documents");
        var fullDocsQa = Train("ft", FineTuneMethod.Full, docsQaData, "documents + QA pairs");
        var raftDir = Path.Combine(output, "raft-data");
        var raftData = await RaftJobs.GenerateAsync(book, new RaftDataRequest
        {
            OutputDirectory = raftDir, FromQuestions = trainAll, Formats = RaftFormats.Chat,
            Options = new RaftOptions { Distractors = r.RaftDistractors, OracleProbability = r.RaftOracleProbability, Seed = r.Seed, Scope = AccessScope.Public },
        }, cancellationToken: ct).ConfigureAwait(false);
        log($"RAFT data: {raftData.Summary.Kept} examples ({raftData.Summary.WithOracle} with the oracle)");
        var raft = Train("raft", FineTuneMethod.Full, Path.Combine(raftDir, "raft.chat.jsonl"), $"RAFT: private questions, oracle + {r.RaftDistractors} distractors, p = {r.RaftOracleProbability}",
            o => RaftJobs.Train(raftDir, o, cancellationToken: ct));

        // Evaluations: every mode on both phrasings.
        var results = new List<ModeResult>();
        async Task<EvalOutcome> Eval(string questions, IReadOnlyList<EvalModeKind> modes, string dir, string? model = null, string? ftModel = null, string? ftAdapter = null,
            string? raftModel = null, SearchMode search = SearchMode.Lexical, IReadOnlyList<int>? sweep = null, int? limit = null)
        {
            log($"evaluating {string.Join(", ", modes).ToLowerInvariant()} on {Path.GetFileName(questions)}{(sweep is null ? "" : " (distractor sweep)")}");
            return await EvalJob.RunAsync(book, new EvalRequest
            {
                QuestionsPath = questions, Modes = modes, K = r.K, SearchMode = search, Model = model ?? r.ModelDirectory, FtModel = ftModel, FtAdapter = ftAdapter,
                RaftModel = raftModel, DistractorSweep = sweep, Seed = r.Seed, MaxTokens = modes.Contains(EvalModeKind.Raft) ? 160 : 32,
                OutputDirectory = Path.Combine(output, "evals", dir), Limit = limit,
            }, cancellationToken: ct).ConfigureAwait(false);
        }
        foreach (var (file, suffix) in new[] { (qTrain, ""), (qUnseen, " (unseen)") })
        {
            void Add(EvalOutcome o, params (string From, string To)[] names)
            {
                foreach (var (from, to) in names) results.Add(o.Report.Modes.Single(m => m.Mode == from) with { Mode = to + suffix });
            }
            var tag = suffix.Length == 0 ? "train" : "unseen";
            Add(await Eval(file, [EvalModeKind.Base, EvalModeKind.Rag], $"base-{tag}").ConfigureAwait(false), ("base", "base"), ("rag", "rag"));
            if (embed is not null)
                Add(await Eval(file, [EvalModeKind.Rag], $"hybrid-{tag}", search: SearchMode.Hybrid).ConfigureAwait(false), ("rag", "rag-hybrid"));
            Add(await Eval(file, [EvalModeKind.Ft], $"lora-docs-{tag}", ftAdapter: loraDocs.Model).ConfigureAwait(false), ("ft", "ft-lora-docs"));
            Add(await Eval(file, [EvalModeKind.Ft], $"lora-docsqa-{tag}", ftAdapter: loraDocsQa.Model).ConfigureAwait(false), ("ft", "ft-lora-docs+qa"));
            Add(await Eval(file, [EvalModeKind.Ft], $"full-docs-{tag}", ftModel: fullDocs.Model).ConfigureAwait(false), ("ft", "ft-full-docs"));
            Add(await Eval(file, [EvalModeKind.Ft, EvalModeKind.Raft], $"ft-raft-{tag}", ftModel: fullDocsQa.Model, raftModel: raft.Model).ConfigureAwait(false),
                ("ft", "ft"), ("raft", "raft"));
            Add(await Eval(file, [EvalModeKind.Rag], $"ft-rag-{tag}", model: fullDocsQa.Model).ConfigureAwait(false), ("rag", "ft+rag"));
        }

        // The distractor sweep: base + RAG prompt, RAFT, FT + RAG prompt, each given the oracle and k distractors.
        var sweepMain = await Eval(qSweep, [EvalModeKind.Rag, EvalModeKind.Raft], "sweep", raftModel: raft.Model, sweep: r.Sweep).ConfigureAwait(false);
        var sweepFt = await Eval(qSweep, [EvalModeKind.Rag], "sweep-ft", model: fullDocsQa.Model, sweep: r.Sweep).ConfigureAwait(false);
        var sweepResults = sweepMain.Report.Sweep!.Results.Concat(sweepFt.Report.Sweep!.Results.Select(s => s with { Mode = "ft+rag" })).ToList();
        var sweepReport = new SweepReport(sweepMain.Report.Sweep.Sweep, sweepResults);

        // Freshness: the change set is applied to the corpus and re-ingested; the fine-tuned models are not retrained.
        CopyTree(Path.Combine(world, "change", "docs"), corpus);
        await book.IngestAsync([corpus], new IngestOptions { Collection = "private", Embed = embed is not null, Parallelism = 1 }, cancellationToken: ct).ConfigureAwait(false);
        log("applied the change set and re-ingested");
        var changedLines = File.ReadAllLines(Path.Combine(world, "change", "questions.jsonl")).Where(l => l.Length > 0 && l.Contains("\"phrasing\":\"train\"", StringComparison.Ordinal))
            .Take(r.FreshnessQuestions ?? int.MaxValue).ToList();
        var qChanged = Write(output, "eval.changed.jsonl", changedLines);
        var oldAnswers = QuestionSet.Load(trainAll).ToDictionary(q => q.Id);
        var qOld = Write(output, "eval.changed-old.jsonl", changedLines.Select(l =>
        {
            var id = JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()!;
            var old = oldAnswers[id[..^"-changed".Length]];
            return JsonSerializer.Serialize(new EvalQuestionJson(id, old.Question, old.Answer, null, old.Source, null, null, old.Type, old.Answerable), Reports.OpenBookJson.Options);
        }));
        var freshness = new Dictionary<string, double>();
        var fresh = await Eval(qChanged, [EvalModeKind.Rag, EvalModeKind.Ft, EvalModeKind.Raft], "fresh", ftModel: fullDocsQa.Model, raftModel: raft.Model).ConfigureAwait(false);
        foreach (var m in fresh.Report.Modes)
        {
            var name = m.Mode switch { "rag" => "rag (re-ingested)", "ft" => "ft (not retrained)", _ => "raft (re-ingested)" };
            freshness[name] = m.ExactMatch;
            results.Add(m with { Mode = name + " · changed facts" });
        }
        var stale = await Eval(qOld, [EvalModeKind.Ft], "fresh-old", ftModel: fullDocsQa.Model).ConfigureAwait(false);
        freshness["ft (not retrained): old value"] = stale.Report.Modes[0].ExactMatch;
        var ragStale = await Eval(qOld, [EvalModeKind.Rag], "fresh-old-rag").ConfigureAwait(false);
        freshness["rag (re-ingested): old value"] = ragStale.Report.Modes[0].ExactMatch;

        // One report: the eval writers, then lab.md / lab.json with rows, sweep, freshness, cost, settings and advice.
        var report = new EvalReport(qTrain, results, sweepReport);
        var files = EvalReportWriter.Write(output, report).ToList();
        var rows = results.Where(m => !m.Mode.EndsWith(" (unseen)", StringComparison.Ordinal) && !m.Mode.Contains('·', StringComparison.Ordinal)).Select(m =>
        {
            var u = results.FirstOrDefault(x => x.Mode == m.Mode + " (unseen)");
            return new LabRow(m.Mode, m.Description, m.ExactMatch, m.F1, u?.ExactMatch ?? double.NaN, u?.F1 ?? double.NaN, m.P50Milliseconds,
                m.Questions == 0 ? 0 : (m.InputTokens ?? 0) / (double)m.Questions);
        }).ToList();
        var sweepTable = sweepResults.GroupBy(s => s.Mode).ToDictionary(g => g.Key, g => (IReadOnlyDictionary<int, double>)g.ToDictionary(s => s.Distractors, s => s.Result.ExactMatch));
        CorpusProfile profile;
        using (var s = DocumentStore.Open(store)) profile = CorpusProfile.FromStore(s);
        var advice = Advisor.Advise(profile, EvalEvidence.Load(Path.Combine(output, "results.json")), new AdviceFlags());
        var recommendation = advice.Recommendation.ToString();
        var result = new LabRunResult(rows, sweepTable, freshness, training, recommendation, advice.Reasons, r, Math.Round(total.Elapsed.TotalSeconds, 1), files);
        var labMd = Path.Combine(output, "lab.md");
        File.WriteAllText(labMd, Markdown(result));
        var labJson = Path.Combine(output, "lab.json");
        File.WriteAllText(labJson, JsonSerializer.Serialize(result, new JsonSerializerOptions(OpenBookJson.Options) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        files.Add(labMd);
        files.Add(labJson);
        return result with { Files = files, Seconds = Math.Round(total.Elapsed.TotalSeconds, 1) };
    }

    /// <summary>lab.md: the table, the sweep, freshness, cost, the advice and the settings.</summary>
    public static string Markdown(LabRunResult x)
    {
        static string F(double v) => double.IsNaN(v) ? "–" : v.ToString("0.000", CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.Append("# Lab run\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"Base model `{x.Settings.ModelDirectory}`, world `{x.Settings.WorldDirectory}`; {x.Seconds:F0} s in all.\n\n");
        sb.Append("| mode | EM (training phrasing) | F1 | EM (unseen paraphrase) | F1 | p50 ms | prompt tokens / answer |\n|---|---|---|---|---|---|---|\n");
        foreach (var row in x.Rows)
            sb.Append(CultureInfo.InvariantCulture, $"| {row.Mode} | {F(row.ExactMatch)} | {F(row.F1)} | {F(row.UnseenExactMatch)} | {F(row.UnseenF1)} | {row.P50Ms:F0} | {row.PromptTokens:F0} |\n");
        if (x.Sweep.Count > 0)
        {
            var ks = x.Sweep.Values.SelectMany(v => v.Keys).Distinct().Order().ToList();
            sb.Append("\n## Distractor sweep (EM, oracle + k distractors)\n\n| mode | ").Append(string.Join(" | ", ks.Select(k => $"k={k}"))).Append(" |\n|---|")
                .Append(string.Concat(ks.Select(_ => "---|"))).Append('\n');
            foreach (var (mode, points) in x.Sweep)
                sb.Append("| ").Append(mode).Append(" | ").Append(string.Join(" | ", ks.Select(k => points.TryGetValue(k, out var v) ? F(v) : "–"))).Append(" |\n");
        }
        sb.Append("\n## Freshness (after the change set; EM on the changed facts)\n\n| mode | EM |\n|---|---|\n");
        foreach (var (mode, em) in x.Freshness) sb.Append(CultureInfo.InvariantCulture, $"| {mode} | {F(em)} |\n");
        sb.Append("\n## Training cost\n\n| mode | method | data | examples | steps | tokens | seconds | final loss |\n|---|---|---|---|---|---|---|---|\n");
        foreach (var t in x.Training)
            sb.Append(CultureInfo.InvariantCulture, $"| {t.Mode} | {t.Method} | {t.Data} | {t.Examples} | {t.Steps} | {t.Tokens:N0} | {t.Seconds:F0} | {t.FinalLoss:F3} |\n");
        sb.Append("\n## Advice (`openbook advise` on results.json)\n\n").Append(CultureInfo.InvariantCulture, $"**{x.Recommendation}**\n\n");
        foreach (var reason in x.Reasons) sb.Append("- ").Append(reason).Append('\n');
        var s = x.Settings;
        sb.Append(CultureInfo.InvariantCulture, $"\n## Settings\n\n{s.Questions} questions per phrasing, sweep on {s.SweepQuestions} questions (k = {string.Join(", ", s.Sweep)}), ")
            .Append(CultureInfo.InvariantCulture, $"{s.FreshnessQuestions?.ToString(CultureInfo.InvariantCulture) ?? "all"} changed-fact questions; retrieval k = {s.K}; fine-tuning {s.Epochs} epochs")
            .Append(s.MaxSteps is { } m ? $" (at most {m} steps)" : "").Append(CultureInfo.InvariantCulture, $", batch {s.BatchSize}, LoRA rank {s.Rank} lr {s.LoraLearningRate}, full lr {s.FullLearningRate}; ")
            .Append(CultureInfo.InvariantCulture, $"RAFT: {s.RaftDistractors} distractors, p = {s.RaftOracleProbability}, full-parameter; hybrid retrieval: {s.Embed ?? "off"}; seed {s.Seed}.\n");
        return sb.ToString();
    }

    private static string Write(string dir, string name, IEnumerable<string> lines)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }
}

/// <summary>A line of OpenAI chat fine-tuning JSONL, as the lab writes its training data.</summary>
internal sealed record ChatLineJson([property: System.Text.Json.Serialization.JsonPropertyName("messages")] IReadOnlyList<ChatLineMessageJson> Messages);

/// <summary>A message of <see cref="ChatLineJson"/>.</summary>
internal sealed record ChatLineMessageJson(
    [property: System.Text.Json.Serialization.JsonPropertyName("role")] string Role,
    [property: System.Text.Json.Serialization.JsonPropertyName("content")] string Content);
