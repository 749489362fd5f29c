using System.Globalization;
using System.Text.Json;
using OpenBook.Storage;

namespace OpenBook.Evaluation;

/// <summary>What <see cref="Advisor"/> recommends.</summary>
public enum Recommendation
{
    /// <summary>Retrieval-augmented generation: index the documents, answer with citations.</summary>
    Rag,
    /// <summary>Fine-tune the model (LoRA) for style, format, terminology or short latency-critical prompts.</summary>
    FineTuning,
    /// <summary>RAFT: fine-tune the model to answer from retrieved documents (oracle + distractors).</summary>
    Raft,
    /// <summary>RAG now; RAFT once the domain has proven stable (or the budget allows training).</summary>
    RagNowRaftLater,
}

/// <summary>Training budget stated by the user.</summary>
public enum Budget
{
    /// <summary>No GPU time or people for training and re-training.</summary>
    Low,
    /// <summary>Training (and re-training when documents change) is affordable.</summary>
    High,
}

/// <summary>The user's constraints.</summary>
/// <param name="Budget">Training budget; null when not stated (training is then assumed affordable).</param>
/// <param name="LatencyCritical">Answers must come fast, with short prompts.</param>
/// <param name="StyleCritical">Tone, format or terminology matter as much as facts.</param>
public sealed record AdviceFlags(Budget? Budget = null, bool LatencyCritical = false, bool StyleCritical = false);

/// <summary>Corpus size and how often its documents change (from the store's ingest history).</summary>
public sealed record CorpusProfile
{
    /// <summary>Collections.</summary>
    public int Collections { get; init; }
    /// <summary>Documents.</summary>
    public int Documents { get; init; }
    /// <summary>Chunks.</summary>
    public int Chunks { get; init; }
    /// <summary>Tokens (chunker's count).</summary>
    public long Tokens { get; init; }
    /// <summary>Days between the first ingest and <see cref="Now"/>.</summary>
    public double ObservedDays { get; init; }
    /// <summary>Documents added after the initial load, in the last 30 days.</summary>
    public int Added30 { get; init; }
    /// <summary>Documents updated (content changed) in the last 30 days.</summary>
    public int Updated30 { get; init; }
    /// <summary>Documents removed in the last 30 days.</summary>
    public int Removed30 { get; init; }
    /// <summary>Changes (adds after the initial load, updates, removals) over the whole observed period.</summary>
    public int ChangesTotal { get; init; }
    /// <summary>When the profile was taken.</summary>
    public DateTimeOffset Now { get; init; }

    /// <summary>Changes per week over the observed period (at least one week).</summary>
    public double ChangesPerWeek => ChangesTotal / Math.Max(1.0, ObservedDays / 7);

    /// <summary>Changes in the last 30 days as a share of the documents.</summary>
    public double ChangedShare30 => Documents == 0 ? 0 : (Added30 + Updated30 + Removed30) / (double)Documents;

    /// <summary>Adds within this long after the first ingest event are the initial load, not changes.</summary>
    public static readonly TimeSpan InitialLoadWindow = TimeSpan.FromHours(1);

    /// <summary>
    /// The statistics and ingest history of the documents <paramref name="scope"/> may read. History events of documents
    /// no longer in the store (removed ones) are counted whatever their former ACL: only that a change happened is known.
    /// </summary>
    public static CorpusProfile FromBook(Book book, AccessScope scope, DateTimeOffset? now = null)
    {
        ArgumentNullException.ThrowIfNull(book);
        var stats = book.Stats(scope);
        var all = book.Store.ListDocuments().Select(d => (d.Collection, d.SourceKey)).ToHashSet();
        var readable = book.ListDocuments(scope).Select(d => (d.Collection, d.SourceKey)).ToHashSet();
        var history = book.Store.History().Where(e => readable.Contains((e.Collection, e.SourceKey)) || !all.Contains((e.Collection, e.SourceKey))).ToList();
        return FromHistory(history, stats.Collections, stats.Documents, stats.Chunks, stats.Tokens, now ?? DateTimeOffset.UtcNow);
    }

    /// <summary>Reads the statistics and ingest history of <paramref name="store"/> (every document, whatever its ACL).</summary>
    public static CorpusProfile FromStore(DocumentStore store, DateTimeOffset? now = null)
    {
        var stats = store.Stats();
        return FromHistory(store.History(), stats.Collections, stats.Documents, stats.Chunks, stats.Tokens, now ?? DateTimeOffset.UtcNow);
    }

    /// <summary>
    /// Counts changes in an ingest history: "update" and "remove" events, and "add" events later than
    /// <see cref="InitialLoadWindow"/> after the first event ("unchanged" re-ingests are not changes).
    /// </summary>
    public static CorpusProfile FromHistory(IReadOnlyList<IngestEvent> history, int collections, int documents, int chunks, long tokens, DateTimeOffset now)
    {
        var first = history.Count == 0 ? now : history.Min(e => e.At);
        var changes = history.Where(e => e.Operation is "update" or "remove" || (e.Operation == "add" && e.At - first > InitialLoadWindow)).ToList();
        var recent = changes.Where(e => now - e.At <= TimeSpan.FromDays(30)).ToList();
        int Distinct(string op) => recent.Where(e => e.Operation == op).Select(e => (e.Collection, e.SourceKey)).Distinct().Count();
        return new CorpusProfile
        {
            Collections = collections, Documents = documents, Chunks = chunks, Tokens = tokens, Now = now,
            ObservedDays = Math.Max(0, (now - first).TotalDays),
            Added30 = Distinct("add"), Updated30 = Distinct("update"), Removed30 = Distinct("remove"),
            ChangesTotal = changes.Count,
        };
    }
}

/// <summary>The measured numbers of an evaluation (results.json of <c>openbook eval</c>) that the advice uses.</summary>
public sealed record EvalEvidence
{
    /// <summary>Where the numbers come from.</summary>
    public required string Path { get; init; }
    /// <summary>Answer-contained per mode ("base", "rag", "ft", "raft", "extractive").</summary>
    public IReadOnlyDictionary<string, double> Contained { get; init; } = new Dictionary<string, double>();
    /// <summary>Retrieval recall@k per retrieval mode.</summary>
    public IReadOnlyDictionary<string, double> RecallAtK { get; init; } = new Dictionary<string, double>();
    /// <summary>Per mode of the distractor sweep: answer-contained at the smallest and the largest k.</summary>
    public IReadOnlyDictionary<string, (int K0, double At0, int K1, double At1)> Sweep { get; init; } = new Dictionary<string, (int, double, int, double)>();

    /// <summary>Reads a results.json written by <c>openbook eval</c>; throws <see cref="OpenBookException"/> naming the file when it is not one.</summary>
    public static EvalEvidence Load(string path)
    {
        if (!File.Exists(path)) throw new OpenBookException($"{path}: eval results not found (run `openbook eval` first)");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var contained = new Dictionary<string, double>();
            var recall = new Dictionary<string, double>();
            if (!doc.RootElement.TryGetProperty("modes", out var modes) || modes.ValueKind != JsonValueKind.Array)
                throw new OpenBookException($"{path}: not an openbook eval results file (no \"modes\" array)");
            foreach (var m in modes.EnumerateArray())
            {
                var name = m.GetProperty("mode").GetString()!;
                contained[name] = m.GetProperty("contained").GetDouble();
                if (m.TryGetProperty("recallAtK", out var r) && r.ValueKind == JsonValueKind.Number) recall[name] = r.GetDouble();
            }
            var sweep = new Dictionary<string, (int, double, int, double)>();
            if (doc.RootElement.TryGetProperty("sweep", out var s) && s.ValueKind == JsonValueKind.Object)
                foreach (var group in s.GetProperty("results").EnumerateArray()
                             .Select(x => (Mode: x.GetProperty("mode").GetString()!, K: x.GetProperty("k").GetInt32(), Contained: x.GetProperty("contained").GetDouble()))
                             .GroupBy(x => x.Mode))
                {
                    var points = group.OrderBy(x => x.K).ToList();
                    if (points.Count >= 2) sweep[group.Key] = (points[0].K, points[0].Contained, points[^1].K, points[^1].Contained);
                }
            return new EvalEvidence { Path = path, Contained = contained, RecallAtK = recall, Sweep = sweep };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new OpenBookException($"{path}: not an openbook eval results file ({e.Message})");
        }
    }
}

/// <summary>A recommendation with the reasons behind it and the inputs it was computed from.</summary>
public sealed record Advice(Recommendation Recommendation, IReadOnlyList<string> Reasons, CorpusProfile Corpus, EvalEvidence? Eval, AdviceFlags Flags);

/// <summary>
/// The decision rules of "RAG or fine-tuning?": RAG for changing facts, citations and low budgets; fine-tuning for
/// style, format, terminology and latency-critical short prompts; RAFT when the domain is stable, retrieval is noisy
/// (low recall@k, or accuracy falling as distractors are added) and the budget allows training. Each reason names the
/// number behind it.
/// </summary>
public static class Advisor
{
    /// <summary>30-day changes above this share of the documents make the domain "changing".</summary>
    public const double ChangingShare = 0.05;
    /// <summary>Days of history needed before an unchanged corpus counts as stable.</summary>
    public const double StableAfterDays = 30;
    /// <summary>Recall@k below this makes retrieval "noisy".</summary>
    public const double NoisyRecall = 0.8;
    /// <summary>A drop in answer-contained of at least this much across the distractor sweep makes retrieval "noisy".</summary>
    public const double NoisySweepDrop = 0.1;
    /// <summary>Differences in answer-contained smaller than this are treated as ties.</summary>
    public const double Margin = 0.05;

    private static string N(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);
    private static string Signed(double v) => v.ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture);

    /// <summary>Applies the rules.</summary>
    public static Advice Advise(CorpusProfile corpus, EvalEvidence? eval, AdviceFlags flags)
    {
        var reasons = new List<string>();
        var changes30 = corpus.Added30 + corpus.Updated30 + corpus.Removed30;
        var changeText = $"of {corpus.Documents} documents, {corpus.Updated30} updated, {corpus.Added30} added, {corpus.Removed30} removed in the last 30 days " +
                         $"— {N(corpus.ChangesPerWeek)} changes/week over {corpus.ObservedDays:0} days observed";
        var changing = corpus.ChangedShare30 >= ChangingShare;
        var stable = !changing && corpus.ObservedDays >= StableAfterDays;
        var trainingAffordable = flags.Budget != Budget.Low;

        // Measured evidence.
        double? Contained(string mode) => eval?.Contained.TryGetValue(mode, out var v) == true ? v : null;
        double? Gain(string better, string worse) => Contained(better) is { } a && Contained(worse) is { } b ? a - b : null;
        string? retrievalMode = eval is null ? null : new[] { "rag", "raft", "extractive" }.FirstOrDefault(eval.RecallAtK.ContainsKey);
        double? recall = retrievalMode is null ? null : eval!.RecallAtK[retrievalMode];
        var sweepDrop = eval?.Sweep.Where(s => s.Key != "raft").Select(s => (Mode: s.Key, s.Value, Drop: s.Value.At0 - s.Value.At1))
            .OrderByDescending(s => s.Drop).Cast<(string Mode, (int K0, double At0, int K1, double At1) Value, double Drop)?>().FirstOrDefault();
        var noisyByRecall = recall < NoisyRecall;
        var noisyBySweep = sweepDrop?.Drop >= NoisySweepDrop;
        var noisy = noisyByRecall || noisyBySweep;
        void NoisyReasons()
        {
            if (noisyByRecall) reasons.Add($"retrieval is noisy: {retrievalMode} recall@k {N(recall!.Value)} < {N(NoisyRecall)} in {eval!.Path} → a model trained to ignore distractors helps");
            if (noisyBySweep && sweepDrop is { } d)
                reasons.Add($"distractors hurt: {d.Mode} answer-contained falls from {N(d.Value.At0)} (k={d.Value.K0}) to {N(d.Value.At1)} (k={d.Value.K1}) in the distractor sweep of {eval!.Path}");
        }
        void EvalReasons()
        {
            if (Gain("rag", "base") is { } g) reasons.Add($"rag vs base: {Signed(g)} answer-contained in {eval!.Path}");
            if (Gain("raft", "rag") is { } r) reasons.Add($"raft vs rag: {Signed(r)} answer-contained in {eval!.Path}");
            if (Gain("ft", "base") is { } f) reasons.Add($"ft vs base: {Signed(f)} answer-contained in {eval!.Path}");
        }
        var raftGain = Gain("raft", "rag");

        Recommendation pick;
        if (!trainingAffordable)
        {
            pick = Recommendation.Rag;
            reasons.Add("budget is low (--budget low): RAG needs no training and no re-training when documents change");
            if (changing) reasons.Add($"documents change: {changeText} → an index update keeps answers current");
            EvalReasons();
        }
        else if (changing)
        {
            pick = Recommendation.Rag;
            reasons.Add($"documents change: {changeText} → fine-tuned knowledge would go stale; re-indexing is incremental");
            if (flags.StyleCritical) reasons.Add("style matters (--style-critical): keep facts in retrieval; a style-only fine-tune (tone, format, terminology — no facts) can be added on top");
            EvalReasons();
        }
        else if (raftGain >= Margin)
        {
            pick = stable ? Recommendation.Raft : Recommendation.RagNowRaftLater;
            reasons.Add($"RAFT beat RAG by {Signed(raftGain!.Value)} answer-contained in {eval!.Path}");
            reasons.Add(stable
                ? $"the domain is stable: {changeText} → a trained adapter stays current"
                : $"stability not yet shown: {changeText} (needs {StableAfterDays:0} days of history) → serve RAG now, switch to RAFT when the documents prove stable");
            NoisyReasons();
        }
        else if (flags.LatencyCritical || flags.StyleCritical)
        {
            pick = Recommendation.FineTuning;
            if (flags.LatencyCritical)
                reasons.Add($"latency matters (--latency-critical): a fine-tuned model answers from short prompts, without retrieving and reading passages (the corpus holds {corpus.Tokens} tokens)");
            if (flags.StyleCritical) reasons.Add("style matters (--style-critical): tone, format and terminology are learnt by fine-tuning, not by retrieval");
            reasons.Add(stable ? $"the domain is stable: {changeText}" : $"stability not yet shown: {changeText} → re-check with `openbook advise` once {StableAfterDays:0} days of history exist");
            if (Gain("rag", "ft") is { } lost && lost >= Margin)
                reasons.Add($"caveat: rag beats ft by {Signed(lost)} answer-contained in {eval!.Path} → facts the model must get right still need retrieval (consider RAFT)");
            else EvalReasons();
        }
        else if (noisy)
        {
            pick = stable ? Recommendation.Raft : Recommendation.RagNowRaftLater;
            NoisyReasons();
            reasons.Add(stable
                ? $"the domain is stable: {changeText} → a RAFT adapter stays current"
                : $"stability not yet shown: {changeText} (needs {StableAfterDays:0} days of history) → serve RAG now, train RAFT once the documents prove stable");
            if (raftGain is { } rg) reasons.Add($"raft vs rag: {Signed(rg)} answer-contained in {eval!.Path}");
        }
        else
        {
            pick = Recommendation.Rag;
            if (recall is { } rc) reasons.Add($"retrieval works: {retrievalMode} recall@k {N(rc)} ≥ {N(NoisyRecall)} in {eval!.Path}");
            if (sweepDrop is { } d) reasons.Add($"distractors barely hurt: {d.Mode} answer-contained {N(d.Value.At0)} at k={d.Value.K0}, {N(d.Value.At1)} at k={d.Value.K1}");
            if (eval is null) reasons.Add("no eval results yet: run `openbook eval --modes rag,raft --distractor-sweep 0,2,4,8` to measure whether RAFT would pay off");
            reasons.Add($"answers cite their passages, and the corpus updates incrementally ({changeText})");
            EvalReasons();
        }
        if (changes30 == 0 && corpus.ObservedDays < StableAfterDays && !reasons.Any(r => r.StartsWith("stability not yet shown", StringComparison.Ordinal)))
            reasons.Add($"note: the ingest history covers only {corpus.ObservedDays:0.#} days, too short to judge how often documents change");
        return new Advice(pick, reasons, corpus, eval, flags);
    }
}
