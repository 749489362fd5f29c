using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using OpenBook.Answering;
using OpenBook.Storage;

namespace OpenBook.Raft;

/// <summary>Where distractor documents come from.</summary>
public enum DistractorSource
{
    /// <summary>Chunks drawn at random (seeded) from the collection, never the oracle.</summary>
    Random,
    /// <summary>The chunks BM25 ranks highest for the question, other than the oracle (harder negatives).</summary>
    HardNegatives,
}

/// <summary>Settings of a RAFT dataset run (Zhang et al. 2024; gorilla's raft.py).</summary>
public sealed record RaftOptions
{
    /// <summary>Collection whose chunks become oracle documents (null: every chunk in the store).</summary>
    public string? Collection { get; init; }
    /// <summary>
    /// Whose documents may become oracles and distractors (and so be written into the dataset and trained into a model):
    /// by default only documents without an ACL.
    /// </summary>
    public AccessScope Scope { get; init; } = AccessScope.Public;
    /// <summary>Questions generated per chunk.</summary>
    public int QuestionsPerChunk { get; init; } = 3;
    /// <summary>Distractor documents per example (k).</summary>
    public int Distractors { get; init; } = 4;
    /// <summary>Fraction of examples whose context contains the oracle (p; 0.8 in the paper).</summary>
    public double OracleProbability { get; init; } = 0.8;
    /// <summary>Random or hard-negative distractors.</summary>
    public DistractorSource DistractorSource { get; init; } = DistractorSource.Random;
    /// <summary>Seed: the same seed, chunks and model replies give the same dataset.</summary>
    public int Seed { get; init; } = 42;
    /// <summary>Use at most this many chunks (a seeded sample); null: all.</summary>
    public int? MaxChunks { get; init; }
    /// <summary>Chunks processed concurrently (model calls in flight).</summary>
    public int Workers { get; init; } = 2;
    /// <summary>Checkpoint file (JSONL, one line per finished chunk); a rerun resumes from it. Null: no checkpoint.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Throws <see cref="OpenBookException"/> naming the bad setting.</summary>
    public void Validate()
    {
        if (QuestionsPerChunk is < 1 or > 50) throw new OpenBookException($"questions per chunk must be 1–50 (got {QuestionsPerChunk})");
        if (Distractors is < 0 or > 50) throw new OpenBookException($"distractors must be 0–50 (got {Distractors})");
        if (!(OracleProbability is >= 0 and <= 1)) throw new OpenBookException($"oracle probability p must be in [0, 1] (got {OracleProbability})");
        if (Workers < 1) throw new OpenBookException($"workers must be at least 1 (got {Workers})");
        if (MaxChunks is < 1) throw new OpenBookException($"max chunks must be positive (got {MaxChunks})");
    }
}

/// <summary>One document in an example's context.</summary>
/// <param name="ChunkId">Store chunk id.</param>
/// <param name="Source">Citation path.</param>
/// <param name="Text">Chunk text.</param>
public sealed record RaftDocument(long ChunkId, string Source, string Text);

/// <summary>One RAFT training example.</summary>
public sealed record RaftExample
{
    /// <summary>Stable id ("chunk-123-q2").</summary>
    public required string Id { get; init; }
    /// <summary>The generated question.</summary>
    public required string Question { get; init; }
    /// <summary>The oracle chunk the question was generated from.</summary>
    public required RaftDocument Oracle { get; init; }
    /// <summary>Context documents in the order shown to the model (oracle included when <see cref="OracleIncluded"/>).</summary>
    public required IReadOnlyList<RaftDocument> Context { get; init; }
    /// <summary>True when the oracle is among <see cref="Context"/>.</summary>
    public required bool OracleIncluded { get; init; }
    /// <summary>Chain-of-thought answer quoting the oracle between ##begin_quote## and ##end_quote##, ending with "&lt;ANSWER&gt;: …".</summary>
    public required string CotAnswer { get; init; }
    /// <summary>The final answer (after "&lt;ANSWER&gt;:").</summary>
    public required string Answer { get; init; }
    /// <summary>The user prompt (documents + question) used for training and at inference.</summary>
    public string Instruction => RaftPrompt.Instruction(Context.Select(d => d.Text).ToList(), Question);
}

/// <summary>Kept/dropped counts of a run.</summary>
public sealed record RaftSummary
{
    /// <summary>Chunks used as oracles.</summary>
    public int Chunks { get; init; }
    /// <summary>Chunks taken from the checkpoint instead of the model.</summary>
    public int ResumedChunks { get; init; }
    /// <summary>Questions the model produced.</summary>
    public int Questions { get; init; }
    /// <summary>Examples kept.</summary>
    public int Kept { get; init; }
    /// <summary>Examples (or questions) dropped, by reason.</summary>
    public IReadOnlyDictionary<string, int> Dropped { get; init; } = new Dictionary<string, int>();
    /// <summary>Kept examples whose context includes the oracle.</summary>
    public int WithOracle { get; init; }
    /// <summary>Whose documents were read (the access scope of the run, e.g. "public documents only").</summary>
    public string Scope { get; init; } = AccessScope.Public.ToString();
}

/// <summary>The examples of a run and its summary.</summary>
public sealed record RaftDataset(IReadOnlyList<RaftExample> Examples, RaftSummary Summary);

/// <summary>
/// Builds RAFT datasets from ingested chunks: for each oracle chunk a model writes questions and a chain-of-thought
/// answer that quotes the chunk verbatim; distractor chunks are added and the oracle kept with probability p.
/// Answers whose quotes are not verbatim in the oracle (or that lack a final answer) are dropped and counted.
/// Deterministic for a seed: randomness is drawn per chunk from (seed, chunk id), and output follows chunk order,
/// whatever the number of workers and whether the run resumed from a checkpoint.
/// </summary>
public sealed partial class RaftGenerator(IChatClient? model, RaftOptions options)
{
    /// <summary>A generator for <see cref="FromQuestionsAsync"/> only, which needs no model.</summary>
    public RaftGenerator(RaftOptions options) : this(null, options) { }

    private IChatClient Model => model ?? throw new OpenBookException("RAFT generation from chunks needs a generator model (or build the examples from a question set).");

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Generates the dataset; <paramref name="progress"/> receives (chunks done, chunks total).</summary>
    public async Task<RaftDataset> GenerateAsync(Book book, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var all = book.ReadChunks(options.Scope, options.Collection).ToList();
        if (all.Count == 0) throw new OpenBookException(options.Collection is null ? "The store has no chunks: ingest documents first." : $"Collection '{options.Collection}' has no chunks.");
        var oracles = options.MaxChunks is { } max && max < all.Count
            ? all.OrderBy(c => Mix(options.Seed, c.Id)).Take(max).OrderBy(c => c.Id).ToList()
            : all;
        var done = LoadCheckpoint();
        var results = new ChunkResult?[oracles.Count];
        var completed = 0;
        var resumed = 0;
        using var checkpointLock = new SemaphoreSlim(1, 1);
        await Parallel.ForEachAsync(Enumerable.Range(0, oracles.Count), new ParallelOptions { MaxDegreeOfParallelism = options.Workers, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var chunk = oracles[i];
                if (done.TryGetValue(chunk.Id, out var saved))
                {
                    results[i] = saved;
                    Interlocked.Increment(ref resumed);
                }
                else
                {
                    var result = await ProcessAsync(book, chunk, all, ct).ConfigureAwait(false);
                    results[i] = result;
                    if (options.CheckpointPath is { } path)
                    {
                        await checkpointLock.WaitAsync(ct).ConfigureAwait(false);
                        try { await File.AppendAllTextAsync(path, JsonSerializer.Serialize(result, Json) + "\n", ct).ConfigureAwait(false); }
                        finally { checkpointLock.Release(); }
                    }
                }
                progress?.Report((Interlocked.Increment(ref completed), oracles.Count));
            }).ConfigureAwait(false);

        var examples = new List<RaftExample>();
        var dropped = new Dictionary<string, int>();
        var seenQuestions = new HashSet<string>(StringComparer.Ordinal);
        var questions = 0;
        foreach (var r in results)
        {
            questions += r!.Questions;
            foreach (var (reason, n) in r.Dropped) dropped[reason] = dropped.GetValueOrDefault(reason) + n;
            foreach (var e in r.Examples)
            {
                // Duplicate questions (across chunks too) are dropped: the first one, in chunk order, is kept.
                if (!seenQuestions.Add(RaftPrompt.Collapse(e.Question).ToLowerInvariant())) { dropped["duplicate question"] = dropped.GetValueOrDefault("duplicate question") + 1; continue; }
                examples.Add(e);
            }
        }
        var summary = new RaftSummary
        {
            Chunks = oracles.Count, ResumedChunks = resumed, Questions = questions, Kept = examples.Count, Dropped = dropped,
            WithOracle = examples.Count(e => e.OracleIncluded), Scope = options.Scope.ToString(),
        };
        return new RaftDataset(examples, summary);
    }

    /// <summary>What one oracle chunk produced (also the checkpoint line).</summary>
    public sealed record ChunkResult(long ChunkId, int Questions, IReadOnlyList<RaftExample> Examples, IReadOnlyDictionary<string, int> Dropped);

    private Dictionary<long, ChunkResult> LoadCheckpoint()
    {
        var done = new Dictionary<long, ChunkResult>();
        if (options.CheckpointPath is not { } path || !File.Exists(path)) return done;
        var lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                var r = JsonSerializer.Deserialize<ChunkResult>(line, Json) ?? throw new JsonException("null");
                done[r.ChunkId] = r;
            }
            catch (JsonException)
            {
                // A last line cut short by a crash is the only expected damage: its chunk is redone. Anything else is reported.
                if (File.ReadLines(path).Skip(lineNo).Any(l => !string.IsNullOrWhiteSpace(l)))
                    throw new OpenBookException($"{path}:{lineNo}: checkpoint line is not valid JSON; delete the checkpoint to start over");
            }
        }
        return done;
    }

    private async Task<ChunkResult> ProcessAsync(Book book, ChunkRecord oracle, IReadOnlyList<ChunkRecord> all, CancellationToken ct)
    {
        var random = new Random(Mix(options.Seed, oracle.Id));
        var dropped = new Dictionary<string, int>();
        void Drop(string reason) => dropped[reason] = dropped.GetValueOrDefault(reason) + 1;

        var reply = await Model.GetResponseAsync(RaftPrompt.QuestionRequest(oracle.Text, options.QuestionsPerChunk), cancellationToken: ct).ConfigureAwait(false);
        var questions = reply.Text.Split('\n')
            .Select(q => LeadingNumber().Replace(q, "").Trim())
            .Where(q => q.Length >= 8)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Take(options.QuestionsPerChunk)
            .ToList();
        if (questions.Count == 0) Drop("no questions in the model's reply");

        var examples = new List<RaftExample>();
        var collapsedOracle = RaftPrompt.Collapse(oracle.Text);
        for (var qi = 0; qi < questions.Count; qi++)
        {
            var question = questions[qi];
            var answer = await Model.GetResponseAsync(RaftPrompt.AnswerRequest(oracle.Text, question), cancellationToken: ct).ConfigureAwait(false);
            var cot = answer.Text.Trim();
            var quotes = RaftPrompt.Quotes(cot);
            var final = RaftPrompt.FinalAnswer(cot);
            if (quotes.Count == 0) { Drop("no quote"); continue; }
            if (quotes.Any(q => q.Length == 0 || !collapsedOracle.Contains(RaftPrompt.Collapse(q), StringComparison.Ordinal))) { Drop("quote not verbatim in the oracle"); continue; }
            if (final is null) { Drop("no <ANSWER>: line"); continue; }

            examples.Add(await ExampleAsync(book, oracle, $"chunk-{oracle.Id}-q{qi + 1}", question, cot, final, all, random, ct).ConfigureAwait(false));
        }
        return new ChunkResult(oracle.Id, questions.Count, examples, dropped);
    }

    /// <summary>Keeps the oracle with probability p, adds the distractors, shuffles the context.</summary>
    private async Task<RaftExample> ExampleAsync(Book book, ChunkRecord oracle, string id, string question, string cot, string final,
        IReadOnlyList<ChunkRecord> all, Random random, CancellationToken ct)
    {
        var oracleDoc = new RaftDocument(oracle.Id, oracle.Source, oracle.Text);
        var includeOracle = random.NextDouble() < options.OracleProbability;
        var needed = options.Distractors + (includeOracle ? 0 : 1);
        var distractors = await DistractorsAsync(book, oracle, question, all, needed, random, ct).ConfigureAwait(false);
        var context = distractors.Select(d => new RaftDocument(d.Id, d.Source, d.Text)).ToList();
        if (includeOracle) context.Add(oracleDoc);
        Shuffle(context, random);
        return new RaftExample { Id = id, Question = question, Oracle = oracleDoc, Context = context, OracleIncluded = includeOracle, CotAnswer = cot, Answer = final };
    }

    /// <summary>
    /// RAFT examples from an existing question set instead of a generator model: each question with an answer and a
    /// source document becomes one example. The oracle is the chunk of the source that contains the question's
    /// <c>quote</c> (or, without one, the sentence holding the answer); the chain of thought quotes that sentence
    /// verbatim and ends with the reference answer. Questions whose quote or answer cannot be found in the source are
    /// dropped and counted. No model is involved, so the reasoning is a fixed template around the verified quote.
    /// </summary>
    public async Task<RaftDataset> FromQuestionsAsync(Book book, IReadOnlyList<OpenBook.Evaluation.EvalQuestion> questions, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var all = book.ReadChunks(options.Scope, options.Collection).ToList();
        if (all.Count == 0) throw new OpenBookException("The store has no chunks: ingest documents first.");
        var examples = new List<RaftExample>();
        var dropped = new Dictionary<string, int>();
        void Drop(string reason) => dropped[reason] = dropped.GetValueOrDefault(reason) + 1;
        foreach (var q in questions)
        {
            if (!q.Answerable || q.Answer is null || q.Source is null) { Drop("no answer or source"); continue; }
            var chunks = all.Where(c => OpenBook.Evaluation.QuestionSet.SameDocument(c.Source, q.Source)).ToList();
            if (chunks.Count == 0) { Drop("source not in the store"); continue; }
            var (oracle, quote) = FindEvidence(chunks, q.Quote, q.Answer);
            if (oracle is null || quote is null) { Drop("quote/answer not found in the source"); continue; }
            var cot = $"The question asks: {q.Question}\nThe relevant document says: {RaftPrompt.BeginQuote}{quote}{RaftPrompt.EndQuote}\n" +
                      $"This states the answer directly.\n{RaftPrompt.AnswerMarker} {q.Answer}";
            var random = new Random(OpenBook.Shared.Seeds.Mix(options.Seed, OpenBook.Shared.Seeds.Of(q.Id)));
            examples.Add(await ExampleAsync(book, oracle, q.Id, q.Question, cot, q.Answer, all, random, cancellationToken).ConfigureAwait(false));
        }
        var summary = new RaftSummary
        {
            Chunks = examples.Select(e => e.Oracle.ChunkId).Distinct().Count(), Questions = questions.Count, Kept = examples.Count, Dropped = dropped,
            WithOracle = examples.Count(e => e.OracleIncluded), Scope = options.Scope.ToString(),
        };
        return new RaftDataset(examples, summary);
    }

    /// <summary>The chunk holding the quote (or a sentence containing the answer), and that verbatim text.</summary>
    private static (ChunkRecord? Chunk, string? Quote) FindEvidence(IReadOnlyList<ChunkRecord> chunks, string? quote, string answer)
    {
        if (!string.IsNullOrWhiteSpace(quote))
        {
            var needle = RaftPrompt.Collapse(quote);
            foreach (var c in chunks)
            {
                var text = RaftPrompt.Collapse(c.Text);
                int at = text.IndexOf(needle, StringComparison.OrdinalIgnoreCase);
                if (at >= 0) return (c, text.Substring(at, needle.Length));
            }
        }
        foreach (var c in chunks)
            foreach (var sentence in SentenceSplit().Split(RaftPrompt.Collapse(c.Text)))
                if (sentence.Contains(answer, StringComparison.OrdinalIgnoreCase)) return (c, sentence.Trim());
        return (null, null);
    }

    [GeneratedRegex(@"(?<=[.!?])\s+")]
    private static partial Regex SentenceSplit();

    private async Task<IReadOnlyList<ChunkRecord>> DistractorsAsync(Book book, ChunkRecord oracle, string question, IReadOnlyList<ChunkRecord> all, int count,
        Random random, CancellationToken ct)
    {
        if (count == 0) return [];
        var picked = new List<ChunkRecord>();
        if (options.DistractorSource == DistractorSource.HardNegatives)
        {
            var hits = await book.SearchAsync(question, new SearchOptions { K = count + 5, Mode = SearchMode.Lexical, Filter = new Retrieval.SearchFilter { Groups = options.Scope.Groups, AllAccess = options.Scope.AllAccess } }, ct).ConfigureAwait(false);
            var ids = hits.Where(h => h.ChunkId != oracle.Id && h.Text != oracle.Text).Select(h => h.ChunkId).Take(count).ToList();
            picked.AddRange(book.Store.GetChunks(ids));
        }
        // Random (or topping up when retrieval found too few): other chunks, never the oracle or its duplicates.
        var pool = all.Where(c => c.Id != oracle.Id && c.Text != oracle.Text && picked.All(p => p.Id != c.Id)).ToList();
        while (picked.Count < count && pool.Count > 0)
        {
            var j = random.Next(pool.Count);
            picked.Add(pool[j]);
            pool.RemoveAt(j);
        }
        return picked;
    }

    private static void Shuffle<T>(List<T> list, Random random)
    {
        for (var i = list.Count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    /// <summary>A per-chunk seed from the run seed and the chunk id (SplitMix64 finaliser).</summary>
    private static int Mix(int seed, long id) => (int)(OpenBook.Shared.Seeds.Scramble((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)id) & 0x7FFFFFFF);

    [GeneratedRegex(@"^\s*(?:\d+[.)]|[-*•])\s*")]
    private static partial Regex LeadingNumber();
}
