using System.Text.Json;
using OpenBook.Evaluation;
using OpenBook.Models.FineTuning;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Raft;
using OpenBook.Shared;

namespace OpenBook.Runtime;

/// <summary>Where RAFT examples come from and how they are drawn (the options of <c>openbook raft generate</c>).</summary>
public sealed record RaftDataRequest
{
    /// <summary>Output directory (dataset files, checkpoint, held-out questions).</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>Generator model spec (writes questions and chain-of-thought answers); null with <see cref="FromQuestions"/>.</summary>
    public string? Generator { get; init; }
    /// <summary>Build the examples from an existing question set instead of a generator.</summary>
    public string? FromQuestions { get; init; }
    /// <summary>With <see cref="FromQuestions"/>: fraction of questions kept out and written to heldout.questions.jsonl.</summary>
    public double Holdout { get; init; }
    /// <summary>Sampling and distractor options (its seed also splits the held-out questions).</summary>
    public RaftOptions Options { get; init; } = new();
    /// <summary>Output formats.</summary>
    public RaftFormats Formats { get; init; } = RaftFormats.All;
    /// <summary>Options for opening the generator.</summary>
    public ChatModelOptions? ModelOptions { get; init; }
}

/// <summary>The RAFT dataset written by <see cref="RaftJobs.GenerateAsync"/>.</summary>
/// <param name="Summary">Counts of chunks, questions, kept and dropped examples.</param>
/// <param name="Files">Files written (dataset formats and the held-out questions).</param>
/// <param name="HeldOutQuestions">The held-out questions file, if any.</param>
public sealed record RaftDataResult(RaftSummary Summary, IReadOnlyList<string> Files, string? HeldOutQuestions);

/// <summary>The JSON of <c>openbook raft generate --json</c>.</summary>
public sealed record RaftGenerateJson(int Chunks, int ResumedChunks, int Questions, int Kept, int WithOracle, IReadOnlyDictionary<string, int> Dropped,
    IReadOnlyList<string> Files, string Scope)
{
    /// <summary>The JSON of <paramref name="result"/>.</summary>
    public static RaftGenerateJson Of(RaftDataResult result) => new(result.Summary.Chunks, result.Summary.ResumedChunks, result.Summary.Questions,
        result.Summary.Kept, result.Summary.WithOracle, result.Summary.Dropped, result.Files, result.Summary.Scope);
}

/// <summary><c>openbook raft generate</c> and <c>raft train</c> as library calls.</summary>
public static class RaftJobs
{
    /// <summary>Generates (or resumes) a RAFT dataset from the chunks of <paramref name="book"/> and writes its formats.</summary>
    public static async Task<RaftDataResult> GenerateAsync(Book book, RaftDataRequest request, IProgress<(int Done, int Total)>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var outDir = request.OutputDirectory;
        Directory.CreateDirectory(outDir);
        var options = request.Options with { CheckpointPath = request.Options.CheckpointPath ?? Path.Combine(outDir, "checkpoint.jsonl") };
        options.Validate();
        RaftDataset dataset;
        string? heldOutPath = null;
        if (request.FromQuestions is { } questionsPath)
        {
            var (train, heldOut) = Split(QuestionSet.Load(questionsPath), request.Holdout, options.Seed);
            dataset = await new RaftGenerator(options).FromQuestionsAsync(book, train, cancellationToken).ConfigureAwait(false);
            if (heldOut.Count > 0)
            {
                heldOutPath = Path.Combine(outDir, "heldout.questions.jsonl");
                File.WriteAllLines(heldOutPath, heldOut.Select(q => JsonSerializer.Serialize(new EvalQuestionJson(
                    q.Id, q.Question, q.Answer, q.Answers, q.Source, q.Quote, q.Collection, q.Type, q.Answerable), Reports.OpenBookJson.Options)));
            }
        }
        else
        {
            var spec = request.Generator ?? throw new OpenBookException("RAFT data needs a generator model or a question set.");
            using var model = ChatModels.Open(spec, null, request.ModelOptions);
            dataset = await new RaftGenerator(model.Client, options).GenerateAsync(book, progress, cancellationToken).ConfigureAwait(false);
        }
        var files = RaftExport.Write(dataset, outDir, request.Formats).ToList();
        if (heldOutPath is not null) files.Add(heldOutPath);
        return new RaftDataResult(dataset.Summary, files, heldOutPath);
    }

    /// <summary>
    /// Fine-tunes on a RAFT dataset directory's raft.chat.jsonl; the adapter is marked <c>prompt_format: raft</c> so
    /// answers and evaluation prompt it exactly as it was trained.
    /// </summary>
    public static FineTuneSummary Train(string datasetDirectory, FineTuneOptions options, bool merge = false, Action<FineTunePlan>? plan = null,
        IProgress<TrainerProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var chat = Path.Combine(datasetDirectory, "raft.chat.jsonl");
        if (!File.Exists(chat)) throw new OpenBookException($"{datasetDirectory}: raft.chat.jsonl not found (generate the dataset with the chat format into it).");
        return FineTuneRun.Run(options with { DataPath = chat, PromptFormat = AdapterPromptFormat.Raft }, merge, plan, progress, cancellationToken);
    }

    /// <summary>A seeded split of a question set into training and held-out questions.</summary>
    public static (IReadOnlyList<EvalQuestion> Train, IReadOnlyList<EvalQuestion> HeldOut) Split(IReadOnlyList<EvalQuestion> all, double fraction, int seed)
    {
        if (fraction is < 0 or >= 1) throw new OpenBookException($"holdout must be in [0, 1) (got {fraction}).");
        var order = all.Select((q, i) => (q, key: new Random(Seeds.Mix(seed, i)).NextDouble())).OrderBy(x => x.key).Select(x => x.q).ToList();
        int held = (int)Math.Round(all.Count * fraction);
        var heldSet = order.Take(held).ToHashSet();
        return (all.Where(q => !heldSet.Contains(q)).ToList(), all.Where(heldSet.Contains).ToList());
    }
}

/// <summary>A line of a questions file as written for held-out questions.</summary>
public sealed record EvalQuestionJson(string Id, string Question, string? Answer, IReadOnlyList<string>? Answers, string? Source, string? Quote,
    string? Collection, string? Type, bool Answerable);
