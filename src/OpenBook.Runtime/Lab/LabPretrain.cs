using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenBook.Answering;
using OpenBook.Evaluation;
using OpenBook.Lab;
using OpenBook.Models.Formats;
using OpenBook.Models.Pretraining;
using OpenBook.Storage;

namespace OpenBook.Runtime.Lab;

/// <summary>The options of <c>openbook lab pretrain</c>.</summary>
public sealed record LabPretrainRequest
{
    /// <summary>World directory written by <c>openbook lab world</c>.</summary>
    public required string WorldDirectory { get; init; }
    /// <summary>Output model directory.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>Model shape (<see cref="PretrainShapes"/>).</summary>
    public string Shape { get; init; } = "lab-mini";
    /// <summary>Tokenizer vocabulary.</summary>
    public int VocabSize { get; init; } = 1536;
    /// <summary>Tokens per sequence.</summary>
    public int SequenceLength { get; init; } = 512;
    /// <summary>Tokens per optimizer step.</summary>
    public int BatchTokens { get; init; } = 4096;
    /// <summary>Optimizer steps.</summary>
    public int MaxSteps { get; init; } = 300;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Warmup steps.</summary>
    public int WarmupSteps { get; init; } = 20;
    /// <summary>Seed of the data mix, the weights and the order.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Reading examples per public question (each a fresh draw of distractors).</summary>
    public int ReadingDraws { get; init; } = 1;
    /// <summary>Reading examples per reading-drill question (the world's <c>drill/</c> part; 0 = leave the drills out).</summary>
    public int DrillDraws { get; init; } = 1;
    /// <summary>
    /// Questions per reading-drill example: the first is asked in the grounded prompt, the rest as follow-up user turns
    /// ("Question: …") over the same passages, each answered and cited — many answers per passage set, so the copy skill
    /// gets a dense signal (1 = one question per example).
    /// </summary>
    public int DrillTurns { get; init; } = 1;
    /// <summary>Start every reply with a space, so an answer copied from a passage tokenizes as it does there (byte-level BPE).</summary>
    public bool ReplySpace { get; init; }
    /// <summary>Most distractors in a pretraining reading example.</summary>
    public int MaxDistractors { get; init; } = 2;
    /// <summary>Held-out public questions scored for the reading score (0 = skip the measurement).</summary>
    public int ReadingQuestions { get; init; } = 30;
    /// <summary>Distractor counts of the reading measurement.</summary>
    public IReadOnlyList<int> ReadingDistractors { get; init; } = [0, 2, 4];
    /// <summary>
    /// Start from this lab base model (its weights and tokenizer) instead of a random init — continued pretraining with a
    /// fresh optimizer and schedule, e.g. on longer sequences or more distractors than it was trained with.
    /// </summary>
    public string? InitFrom { get; init; }
    /// <summary>Continue from the checkpoint in the output directory.</summary>
    public bool Resume { get; init; }
    /// <summary>Eval loss every N steps.</summary>
    public int EvalEvery { get; init; } = 50;
    /// <summary>Checkpoint every N steps.</summary>
    public int SaveEvery { get; init; } = 50;
    /// <summary>
    /// Null: one packed token stream (loss on every token). A value: each text its own example, the tokens outside the
    /// assistant replies weighted by it (0 = loss on the answers only) — see <see cref="PretrainOptions.PromptLossWeight"/>.
    /// </summary>
    public double? PromptLossWeight { get; init; }
}

/// <summary>What <c>openbook lab pretrain</c> produced.</summary>
/// <param name="Pretrain">The pretraining run.</param>
/// <param name="Documents">Training texts by kind (documents, closed-book QA, grounded reading, RAFT reading).</param>
/// <param name="Reading">Exact match of the base model on held-out public questions given the oracle passage, per number of distractors.</param>
/// <param name="ReadingQuestions">Questions the reading score was measured on.</param>
/// <param name="ReadingReport">Directory of the reading report, when measured.</param>
public sealed record LabPretrainResult(PretrainResult Pretrain, IReadOnlyDictionary<string, int> Documents, IReadOnlyDictionary<int, double> Reading,
    int ReadingQuestions, string? ReadingReport);

/// <summary>The data and training settings a lab base model was pretrained with (<c>lab-pretrain.json</c> in its directory).</summary>
internal sealed record LabPretrainRecipe(string Shape, int VocabSize, int SequenceLength, int BatchTokens, int MaxSteps, double LearningRate, int WarmupSteps,
    int Seed, int ReadingDraws, int DrillDraws, int DrillTurns, int MaxDistractors, double? PromptLossWeight, bool ReplySpace, string? InitFrom);

/// <summary>
/// The lab base model: pretrains a small Llama on the public world with <see cref="PretrainJob"/> — its documents, closed-book
/// QA on public facts (the closed-book mode's prompt), and reading-skill examples (question + oracle and distractor passages
/// → short answer, in the exact chat prompts of the RAG and RAFT modes, passages taken from a store of the public documents)
/// — then measures reading: held-out public questions (entities whose documents were never trained on) answered from the
/// oracle passage with 0…k distractors (the eval distractor sweep, rag mode).
/// </summary>
public static class LabPretrain
{
    /// <summary>The file in a lab base model directory that records how it was pretrained.</summary>
    internal const string RecipeFile = "lab-pretrain.json";

    /// <summary>Renders chat messages exactly as the ChatML template of a pretrained model does.</summary>
    public static string ChatMl(IEnumerable<ChatMessage> messages, string answer)
    {
        var sb = new StringBuilder();
        foreach (var m in messages) sb.Append("<|im_start|>").Append(m.Role.Value).Append('\n').Append(m.Text).Append("<|im_end|>\n");
        sb.Append("<|im_start|>assistant\n").Append(answer).Append("<|im_end|>\n");
        return sb.ToString();
    }

    /// <summary>The RAFT chain of thought that <c>raft generate --from-questions</c> writes, around a verbatim quote.</summary>
    public static string RaftCot(string question, string quote, string answer) =>
        $"The question asks: {question}\nThe relevant document says: {RaftPrompt.BeginQuote}{quote}{RaftPrompt.EndQuote}\n" +
        $"This states the answer directly.\n{RaftPrompt.AnswerMarker} {answer}";

    /// <summary>The first sentence of <paramref name="text"/> that holds <paramref name="answer"/> (whitespace collapsed), or null.</summary>
    public static string? EvidenceSentence(string text, string answer)
    {
        foreach (var s in System.Text.RegularExpressions.Regex.Split(RaftPrompt.Collapse(text), @"(?<=[.!?])\s+"))
            if (s.Contains(answer, StringComparison.OrdinalIgnoreCase)) return s.Trim();
        return null;
    }

    /// <summary>A search hit for a stored chunk (rank by position).</summary>
    public static SearchHit Hit(ChunkRecord c, int rank = 1) => new()
    {
        Rank = rank, Score = 0, ChunkId = c.Id, DocumentId = c.DocumentId, Text = c.Text, Source = c.Source, Page = c.Page, Headings = c.Headings, Collection = c.Collection,
    };

    /// <summary>
    /// Training texts of the public world: each public document, closed-book QA (training phrasings), and per question
    /// <see cref="LabPretrainRequest.ReadingDraws"/> reading examples in the grounded and RAFT prompts (the oracle left out of
    /// one in seven grounded examples, answered with the not-found sentence).
    /// </summary>
    public static (List<string> Texts, Dictionary<string, int> Counts) Corpus(Book book, IReadOnlyList<EvalQuestion> questions, LabPretrainRequest request,
        Book? drillBook = null, IReadOnlyList<EvalQuestion>? drillQuestions = null)
    {
        var chunks = book.ReadChunks(AccessScope.Public, "public").ToList();
        var random = new Random(request.Seed);
        var docs = book.ReadDocumentTexts(AccessScope.Public, "public").ToList();
        var closed = new List<string>();
        var grounded = new List<string>();
        var raft = new List<string>();
        string lead = request.ReplySpace ? " " : "";
        foreach (var q in questions)
            closed.Add(ChatMl([new(ChatRole.System, ClosedBookMode.SystemPrompt), new(ChatRole.User, q.Question)], lead + (q.Answer ?? "I don't know.")));
        ReadingExamples(chunks, questions, request.ReadingDraws, request.MaxDistractors, 1, 0, lead, random, grounded, raft);
        int drillGrounded = 0, drillRaft = 0;
        if (drillBook is not null && drillQuestions is { Count: > 0 })
        {
            var drillChunks = drillBook.ReadChunks(AccessScope.Public, "drill").ToList();
            int g0 = grounded.Count, r0 = raft.Count;
            // Follow-up turns stop before the example outgrows a sequence (about 3 characters a token, a cautious guess).
            ReadingExamples(drillChunks, drillQuestions, request.DrillDraws, request.MaxDistractors, request.DrillTurns, 3 * request.SequenceLength, lead, random,
                grounded, raft);
            (drillGrounded, drillRaft) = (grounded.Count - g0, raft.Count - r0);
        }
        var texts = docs.Concat(closed).Concat(grounded).Concat(raft).ToList();
        // A seeded shuffle, so every block mixes kinds of text.
        for (int i = texts.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (texts[i], texts[j]) = (texts[j], texts[i]);
        }
        var counts = new Dictionary<string, int>
        {
            ["documents"] = docs.Count, ["closed-book QA"] = closed.Count, ["grounded reading"] = grounded.Count - drillGrounded, ["RAFT reading"] = raft.Count - drillRaft,
        };
        if (drillGrounded + drillRaft > 0) (counts["grounded reading drills"], counts["RAFT reading drills"]) = (drillGrounded, drillRaft);
        return (texts, counts);
    }

    /// <summary>
    /// Reading examples for single-fact <paramref name="questions"/>: <paramref name="draws"/> per question, each with 0…
    /// <paramref name="maxDistractors"/> distractor passages from other documents of <paramref name="chunks"/> and the
    /// oracle passage (left out of one in seven, answered with the not-found sentence), in the grounded prompt and, when the
    /// oracle holds the answer in a sentence, in the RAFT prompt. With <paramref name="turns"/> over 1, each grounded example
    /// goes on with follow-up questions over the same passages (<see cref="FollowUps"/>) up to <paramref name="maxChars"/>.
    /// Every reply starts with <paramref name="lead"/>.
    /// </summary>
    private static void ReadingExamples(List<ChunkRecord> chunks, IReadOnlyList<EvalQuestion> questions, int draws, int maxDistractors, int turns, int maxChars,
        string lead, Random random, List<string> grounded, List<string> raft)
    {
        if (chunks.Count == 0) return;
        var bySource = chunks.GroupBy(c => c.Source).ToDictionary(g => g.Key, g => g.ToList());
        // A question's source is found by lookup, not a scan (the keys follow QuestionSet.SameDocument).
        var byKey = new Dictionary<string, List<ChunkRecord>>(StringComparer.Ordinal);
        foreach (var (source, list) in bySource)
            foreach (var key in QuestionSet.DocumentKeys(source)) byKey.TryAdd(key, list);
        // Single-fact questions by their document, for follow-up turns (only built when there are any).
        var bySourceKey = turns <= 1 ? [] : questions.Where(q => q.Source is not null && q.Answer is not null && q.Type is not ("comparison" or "multi-hop"))
            .GroupBy(q => QuestionSet.DocumentKey(q.Source!)).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        foreach (var q in questions)
        {
            if (q.Type is "comparison" or "multi-hop") continue;
            var own = q.Source is null ? null : byKey.GetValueOrDefault(QuestionSet.DocumentKey(q.Source));
            for (int draw = 0; draw < draws; draw++)
            {
                int k = Math.Min(random.Next(maxDistractors + 1), bySource.Count - 1);
                var passages = new List<ChunkRecord>();
                while (passages.Count < k)
                {
                    var c = chunks[random.Next(chunks.Count)];
                    if (own is not null && own.Any(o => o.Source == c.Source)) continue;
                    if (!passages.Contains(c)) passages.Add(c);
                }
                bool withOracle = own is not null && (q.Answer is not null) && random.Next(7) != 0;
                ChunkRecord? oracle = null;
                if (withOracle)
                {
                    oracle = own!.FirstOrDefault(c => c.Text.Contains(q.Answer!, StringComparison.OrdinalIgnoreCase)) ?? own![0];
                    passages.Insert(random.Next(passages.Count + 1), oracle);
                }
                if (passages.Count == 0) passages.Add(chunks[random.Next(chunks.Count)]);
                var hits = passages.Select((c, i) => Hit(c, i + 1)).ToList();
                var prompt = GroundedPrompt.Build(q.Question, hits);
                var reply = lead + (oracle is null ? GroundedPrompt.DefaultNotFoundText : $"{q.Answer} [{passages.IndexOf(oracle) + 1}]");
                var example = ChatMl(prompt.Messages, reply);
                grounded.Add(turns > 1 ? FollowUps(example, q, passages, questions, bySourceKey, turns - 1, maxChars, lead, random) : example);
                if (oracle is not null && EvidenceSentence(oracle.Text, q.Answer!) is { } quote)
                    raft.Add(ChatMl(RaftAnswerer.Messages(q.Question, hits), lead + RaftCot(q.Question, quote, q.Answer!)));
            }
        }
    }

    /// <summary>
    /// Appends up to <paramref name="count"/> follow-up turns to a rendered grounded example: each asks a single-fact question
    /// about one of the same <paramref name="passages"/> (answered and cited when that passage states the answer) or, one in
    /// seven, about a document not among them (answered with the not-found sentence); stops at <paramref name="maxChars"/>.
    /// </summary>
    private static string FollowUps(string text, EvalQuestion first, List<ChunkRecord> passages, IReadOnlyList<EvalQuestion> questions,
        Dictionary<string, List<EvalQuestion>> bySourceKey, int count, int maxChars, string lead, Random random)
    {
        var sb = new StringBuilder(text);
        var asked = new HashSet<string>(StringComparer.Ordinal) { first.Id };
        var candidates = new List<(EvalQuestion Q, int Passage)>();
        for (int i = 0; i < passages.Count; i++)
            foreach (var key in QuestionSet.DocumentKeys(passages[i].Source))
                if (bySourceKey.TryGetValue(key, out var list))
                    foreach (var q in list)
                        if (passages[i].Text.Contains(q.Answer!, StringComparison.OrdinalIgnoreCase)) candidates.Add((q, i));
        for (int turn = 0; turn < count; turn++)
        {
            string question, reply;
            if (random.Next(7) == 0 && questions.Count > 0)
            {
                var other = questions[random.Next(questions.Count)];
                if (other.Source is null || passages.Any(p => QuestionSet.SameDocument(p.Source, other.Source)) || !asked.Add(other.Id)) continue;
                (question, reply) = (other.Question, GroundedPrompt.DefaultNotFoundText);
            }
            else
            {
                var open = candidates.Where(c => !asked.Contains(c.Q.Id)).ToList();
                if (open.Count == 0) break;
                var (q, p) = open[random.Next(open.Count)];
                asked.Add(q.Id);
                (question, reply) = (q.Question, $"{q.Answer} [{p + 1}]");
            }
            var next = ChatMl([new(ChatRole.User, "Question: " + GroundedPrompt.Sanitize(question).Trim())], lead + reply);
            if (sb.Length + next.Length > maxChars) break;
            sb.Append(next);
        }
        return sb.ToString();
    }

    /// <summary>Opens (or creates) the store of the public world under the output directory and ingests public and held-out documents.</summary>
    public static async Task<Book> PublicStoreAsync(string world, string storeDirectory, CancellationToken ct)
    {
        var book = await Book.OpenAsync(storeDirectory, cancellationToken: ct).ConfigureAwait(false);
        await book.IngestAsync([Path.Combine(world, "public", "docs")], new IngestOptions { Collection = "public", Parallelism = 1 }, cancellationToken: ct).ConfigureAwait(false);
        await book.IngestAsync([Path.Combine(world, "public", "heldout-docs")], new IngestOptions { Collection = "heldout", Parallelism = 1 }, cancellationToken: ct).ConfigureAwait(false);
        return book;
    }

    /// <summary>Runs <c>openbook lab pretrain</c>.</summary>
    public static async Task<LabPretrainResult> RunAsync(LabPretrainRequest request, IProgress<Models.FineTuning.Trainer.TrainerProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (request.DrillTurns is < 1 or > 64) throw new OpenBookException($"--drill-turns must be in [1, 64] (got {request.DrillTurns}).");
        if (request.MaxDistractors is < 0 or > 16) throw new OpenBookException($"--max-distractors must be in [0, 16] (got {request.MaxDistractors}).");
        var world = request.WorldDirectory;
        var questionsPath = Path.Combine(world, "public", "questions.jsonl");
        if (!File.Exists(questionsPath)) throw new OpenBookException($"--world {world}: public/questions.jsonl not found (write a world with `openbook lab world`).");
        var output = request.OutputDirectory;
        Directory.CreateDirectory(output);
        var storeDir = Path.Combine(output, "public-store");
        await using var book = await PublicStoreAsync(world, storeDir, cancellationToken).ConfigureAwait(false);
        var questions = QuestionSet.Load(questionsPath).Where(q => !q.Id.EndsWith("-u", StringComparison.Ordinal)).ToList();
        var drillPath = Path.Combine(world, "drill", "questions.jsonl");
        Book? drillBook = null;
        IReadOnlyList<EvalQuestion>? drillQuestions = null;
        if (request.DrillDraws > 0 && File.Exists(drillPath))
        {
            drillBook = await Book.OpenAsync(Path.Combine(output, "drill-store"), cancellationToken: cancellationToken).ConfigureAwait(false);
            await drillBook.IngestAsync([Path.Combine(world, "drill", "docs")], new IngestOptions { Collection = "drill", Parallelism = 1 }, cancellationToken: cancellationToken)
                .ConfigureAwait(false);
            drillQuestions = QuestionSet.Load(drillPath);
        }
        List<string> texts;
        Dictionary<string, int> counts;
        await using (drillBook)
            (texts, counts) = Corpus(book, questions, request, drillBook, drillQuestions);
        // A sample of the training texts, one of each kind, so the prompt formats can be checked by eye.
        File.WriteAllText(Path.Combine(output, "corpus.sample.txt"), string.Join("\n=====\n", texts.Take(12)));
        // The data settings travel with the model (a record of how it was made).
        File.WriteAllText(Path.Combine(output, RecipeFile), JsonSerializer.Serialize(new LabPretrainRecipe(request.Shape, request.VocabSize, request.SequenceLength,
            request.BatchTokens, request.MaxSteps, request.LearningRate, request.WarmupSteps, request.Seed, request.ReadingDraws, request.DrillDraws, request.DrillTurns,
            request.MaxDistractors, request.PromptLossWeight, request.ReplySpace, request.InitFrom), Reports.OpenBookJson.Options));
        var job = new PretrainJob(new PretrainOptions
        {
            Documents = texts, OutputDirectory = output, Shape = request.Shape, VocabSize = request.VocabSize, SequenceLength = request.SequenceLength,
            BatchTokens = request.BatchTokens, MicroBatchTokens = request.BatchTokens, MaxSteps = request.MaxSteps, LearningRate = request.LearningRate,
            WarmupSteps = request.WarmupSteps, Seed = request.Seed, Resume = request.Resume, EvalEvery = request.EvalEvery, SaveEvery = request.SaveEvery,
            EvalFraction = 0.02, MaxEvalBlocks = 16, WeightDecay = 0.1, PromptLossWeight = request.PromptLossWeight,
            TokenizerDirectory = request.InitFrom, InitialWeights = request.InitFrom,
        });
        var result = job.Run(progress, cancellationToken);
        Reports.LossCurve.Write(Path.Combine(output, "metrics.jsonl"), Path.Combine(output, "loss.png"), "Lab base model: pretraining loss");
        if (result.Training.Interrupted || request.ReadingQuestions == 0)
            return new LabPretrainResult(result, counts, new Dictionary<int, double>(), 0, null);
        var (reading, n, dir) = await ReadingScoreAsync(book, world, output, request.ReadingQuestions, request.ReadingDistractors, request.Seed, cancellationToken).ConfigureAwait(false);
        return new LabPretrainResult(result, counts, reading, n, dir);
    }

    /// <summary>
    /// Exact match of <paramref name="model"/> on held-out public single-fact questions (training phrasing) given the oracle
    /// passage and k distractors (the eval distractor sweep of the rag mode), over the public store.
    /// </summary>
    public static async Task<(IReadOnlyDictionary<int, double> Reading, int Questions, string Directory)> ReadingScoreAsync(Book book, string world, string model,
        int limit, IReadOnlyList<int> distractors, int seed, CancellationToken ct)
    {
        var dir = Path.Combine(model, "reading");
        Directory.CreateDirectory(dir);
        var heldPath = Path.Combine(world, "public", "heldout.questions.jsonl");
        var lines = File.ReadLines(heldPath).Where(l => l.Contains("\"type\":\"single\"", StringComparison.Ordinal) && l.Contains("\"phrasing\":\"train\"", StringComparison.Ordinal))
            .Take(limit).ToList();
        var path = Path.Combine(dir, "questions.jsonl");
        File.WriteAllLines(path, lines);
        var outcome = await EvalJob.RunAsync(book, new EvalRequest
        {
            QuestionsPath = path, Modes = [EvalModeKind.Rag], Model = model, K = 3, SearchMode = SearchMode.Lexical, DistractorSweep = distractors, Seed = seed,
            MaxTokens = 24, OutputDirectory = dir,
        }, cancellationToken: ct).ConfigureAwait(false);
        var sweep = outcome.Report.Sweep!.Results.Where(r => r.Mode == "rag");
        return (sweep.ToDictionary(r => r.Distractors, r => r.Result.ExactMatch), lines.Count, dir);
    }
}
