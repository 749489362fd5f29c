using OpenBook.Retrieval;
using Microsoft.Extensions.AI;
using OpenBook.Evaluation;
using OpenBook.Models.FineTuning;
using OpenBook.Runtime.Reports;

namespace OpenBook.Runtime;

/// <summary>The answering modes <c>openbook eval</c> compares.</summary>
public enum EvalModeKind
{
    /// <summary>No model: retrieval and sentences quoted from the passages.</summary>
    Extractive,
    /// <summary>The language model alone, closed book.</summary>
    Base,
    /// <summary>The language model with the retrieved passages, citing [n].</summary>
    Rag,
    /// <summary>The fine-tuned model, closed book.</summary>
    Ft,
    /// <summary>The RAFT model with the retrieved passages in the RAFT prompt.</summary>
    Raft,
}

/// <summary>What an evaluation compares and how (the options of <c>openbook eval</c>).</summary>
public sealed record EvalRequest
{
    /// <summary>The questions file (JSONL).</summary>
    public required string QuestionsPath { get; init; }
    /// <summary>Modes to compare, in report order.</summary>
    public IReadOnlyList<EvalModeKind> Modes { get; init; } = [EvalModeKind.Extractive];
    /// <summary>Passages retrieved per question.</summary>
    public int K { get; init; } = 5;
    /// <summary>Retrieval mode of every retrieval-based eval mode.</summary>
    public SearchMode SearchMode { get; init; } = SearchMode.Auto;
    /// <summary>Only the first N questions.</summary>
    public int? Limit { get; init; }
    /// <summary>Language model of the base and rag modes (and of ft/raft without their own model or adapter base).</summary>
    public string? Model { get; init; }
    /// <summary>Fine-tuned model of the ft mode.</summary>
    public string? FtModel { get; init; }
    /// <summary>LoRA adapter of the ft mode.</summary>
    public string? FtAdapter { get; init; }
    /// <summary>RAFT-trained model of the raft mode.</summary>
    public string? RaftModel { get; init; }
    /// <summary>RAFT LoRA adapter of the raft mode.</summary>
    public string? RaftAdapter { get; init; }
    /// <summary>Numbers of distractors of the robustness sweep (null: no sweep).</summary>
    public IReadOnlyList<int>? DistractorSweep { get; init; }
    /// <summary>Seed of the sweep's draws.</summary>
    public int Seed { get; init; } = 42;
    /// <summary>Longest answer per question (greedy decoding).</summary>
    public int MaxTokens { get; init; } = 256;
    /// <summary>Report directory (report.md, report.html, charts, results.json).</summary>
    public string OutputDirectory { get; init; } = "eval-report";
    /// <summary>Options for opening the models.</summary>
    public ChatModelOptions? ModelOptions { get; init; }
    /// <summary>
    /// Whose documents the retrieval modes and the distractor sweep may read (default: only documents without an ACL).
    /// </summary>
    public AccessScope Scope { get; init; } = AccessScope.Public;
}

/// <summary>Progress of an evaluation: a mode (or "sweep MODE") and how many of its questions are done.</summary>
public sealed record EvalProgress(string Task, int Done, int Total);

/// <summary>What an evaluation produced.</summary>
/// <param name="Report">Every measured number.</param>
/// <param name="Files">The report files written.</param>
/// <param name="Warnings">Things to tell the user (e.g. an adapter trained with another prompt format than its mode's).</param>
public sealed record EvalOutcome(EvalReport Report, IReadOnlyList<string> Files, IReadOnlyList<string> Warnings);

/// <summary>
/// <c>openbook eval</c> as a library call: builds each mode (opening each model once), answers every question, runs the
/// distractor sweep and writes the report.
/// </summary>
public static class EvalJob
{
    /// <summary>Runs the evaluation of <paramref name="request"/> against <paramref name="book"/>.</summary>
    public static async Task<EvalOutcome> RunAsync(Book book, EvalRequest request, IProgress<EvalProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var set = QuestionSet.Load(request.QuestionsPath);
        if (request.Limit is { } n) set = set.Take(n).ToList();
        if (book.Store.Stats().Chunks == 0)
            throw new OpenBookException($"The store {book.Directory} is empty: ingest documents first.");
        var warnings = new List<string>();
        using var models = new ModelCache(request.ModelOptions);
        var modes = CreateModes(book, request, models, warnings);
        var sweepModes = modes.OfType<IContextEvalMode>().ToList();
        DistractorSweep? sweep = null;
        if (request.DistractorSweep is { } ks)
        {
            if (sweepModes.Count == 0) throw new OpenBookException("The distractor sweep needs a retrieval mode: extractive, rag or raft.");
            var index = book.LexicalIndex();
            // The sweep's oracles and distractors come from the documents the retrieval modes may read.
            sweep = DistractorSweep.Build(book.ReadChunks(request.Scope), t => index.Idf(t), set, ks, request.Seed);
            if (sweep.Contexts.Count == 0)
                throw new OpenBookException($"distractor sweep: no question names a source document found in the store ({sweep.SkippedNoSource} without a source, {sweep.SkippedSourceNotFound.Count} not found)");
        }
        var forward = progress is null ? null : new Forward<(string Mode, int Done, int Total)>(p => progress.Report(new EvalProgress(p.Mode, p.Done, p.Total)));
        var results = await EvalRunner.RunAsync(modes, set, forward, cancellationToken).ConfigureAwait(false);
        IReadOnlyList<SweepResult> sweepResults = [];
        if (sweep is not null)
            sweepResults = await EvalRunner.SweepAsync(sweepModes, sweep,
                progress is null ? null : new Forward<(string Mode, int Done, int Total)>(p => progress.Report(new EvalProgress("sweep " + p.Mode, p.Done, p.Total))),
                cancellationToken).ConfigureAwait(false);
        var report = new EvalReport(request.QuestionsPath, results, sweep is null ? null : new SweepReport(sweep, sweepResults));
        return new EvalOutcome(report, EvalReportWriter.Write(request.OutputDirectory, report), warnings);
    }

    /// <summary>The modes of <paramref name="request"/>, each model opened once through <paramref name="models"/>.</summary>
    private static List<IEvalMode> CreateModes(Book book, EvalRequest request, ModelCache models, List<string> warnings)
    {
        // Greedy decoding, so reruns of a local model give the same answers.
        var chatOptions = new ChatOptions { MaxOutputTokens = request.MaxTokens, Temperature = 0 };
        var filter = new SearchFilter { Groups = request.Scope.Groups, AllAccess = request.Scope.AllAccess };
        var modes = new List<IEvalMode>();
        foreach (var kind in request.Modes.Distinct())
        {
            switch (kind)
            {
                case EvalModeKind.Extractive:
                    modes.Add(new ExtractiveMode(book, request.K, request.SearchMode, filter));
                    break;
                case EvalModeKind.Base or EvalModeKind.Rag:
                {
                    var name = kind == EvalModeKind.Base ? "base" : "rag";
                    var spec = request.Model ?? throw new OpenBookException($"mode '{name}' needs a language model (a model directory, a cached Hub id or openai:URL#name).");
                    var model = models.Get(spec, null);
                    modes.Add(kind == EvalModeKind.Base
                        ? new ClosedBookMode(model.Client, "base", spec, chatOptions)
                        : new RetrievalAugmentedMode(book, model.Client, "rag", spec, request.K, request.SearchMode, chatOptions, filter));
                    break;
                }
                case EvalModeKind.Ft or EvalModeKind.Raft:
                {
                    bool ft = kind == EvalModeKind.Ft;
                    var name = ft ? "ft" : "raft";
                    var (ownSpec, adapter) = ft ? (request.FtModel, request.FtAdapter) : (request.RaftModel, request.RaftAdapter);
                    if (ownSpec is null && adapter is null)
                        throw new OpenBookException($"mode '{name}' needs a {(ft ? "fine-tuned" : "RAFT-trained")} model: an adapter on the base model, or a model of its own.");
                    var model = models.Get(ownSpec ?? request.Model ?? ChatModels.AdapterBaseModel(adapter!), adapter);
                    if (adapter is not null && File.Exists(Path.Combine(adapter, AdapterInfo.FileName)) && (model.AdapterFormat == AdapterPromptFormat.Raft) != !ft)
                        warnings.Add($"adapter {adapter} was trained with the {model.AdapterFormat.ToString().ToLowerInvariant()} prompt format; mode '{name}' prompts it in the {(ft ? "chat" : "RAFT")} format");
                    modes.Add(ft
                        ? new ClosedBookMode(model.Client, "ft", model.Label, chatOptions)
                        : new RaftMode(book, model.Client, "raft", model.Label, request.K, request.SearchMode, chatOptions, filter));
                    break;
                }
            }
        }
        return modes;
    }

    /// <summary>One chat model per (spec, adapter), disposed with the job.</summary>
    private sealed class ModelCache(ChatModelOptions? options) : IDisposable
    {
        private readonly Dictionary<(string, string?), ChatModel> _models = [];

        public ChatModel Get(string spec, string? adapter)
        {
            if (!_models.TryGetValue((spec, adapter), out var model))
                _models[(spec, adapter)] = model = ChatModels.Open(spec, adapter, options);
            return model;
        }

        public void Dispose()
        {
            foreach (var m in _models.Values) m.Dispose();
        }
    }
}

/// <summary>IProgress that calls back synchronously on the reporting thread.</summary>
internal sealed class Forward<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
