using OpenBook.Evaluation;
using OpenBook.Storage;

namespace OpenBook.Tests.Evaluation;

public class AdvisorTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    private static IngestEvent E(double daysAgo, string key, string op) => new(Now.AddDays(-daysAgo), "hr", key, op, "h");

    /// <summary>100 documents loaded 90 days ago; <paramref name="updates"/> of them updated 3 days ago.</summary>
    private static CorpusProfile Corpus(int updates = 0, double observedDays = 90) =>
        CorpusProfile.FromHistory(
            [.. Enumerable.Range(0, 100).Select(i => E(observedDays, $"doc{i}", "add")), .. Enumerable.Range(0, updates).Select(i => E(3, $"doc{i}", "update"))],
            1, 100, 400, 120_000, Now);

    private static EvalEvidence Eval(double @base = 0.2, double rag = 0.7, double? raft = null, double? ft = null, double recall = 0.9,
        (int, double, int, double)? sweep = null)
    {
        var contained = new Dictionary<string, double> { ["base"] = @base, ["rag"] = rag };
        if (raft is { } r) contained["raft"] = r;
        if (ft is { } f) contained["ft"] = f;
        return new EvalEvidence
        {
            Path = "eval-report/results.json", Contained = contained, RecallAtK = new Dictionary<string, double> { ["rag"] = recall },
            Sweep = sweep is { } s ? new Dictionary<string, (int, double, int, double)> { ["rag"] = s } : new Dictionary<string, (int, double, int, double)>(),
        };
    }

    [Fact]
    public void Change_counts_ignore_the_initial_load_and_unchanged_reingests()
    {
        var p = CorpusProfile.FromHistory(
        [
            E(60, "a", "add"), E(60, "b", "add"), E(60, "c", "add"), E(60, "d", "add"),
            E(45, "a", "update"),                       // a change, but older than 30 days
            E(10, "b", "update"), E(5, "b", "update"),  // one document updated twice
            E(4, "c", "unchanged"),
            E(2, "e", "add"), E(1, "d", "remove"),
        ], 1, 4, 8, 1000, Now);
        Assert.Equal((1, 1, 1), (p.Added30, p.Updated30, p.Removed30));
        Assert.Equal(5, p.ChangesTotal);
        Assert.Equal(60, p.ObservedDays, 6);
        Assert.Equal(5 / (60 / 7.0), p.ChangesPerWeek, 6);
        Assert.Equal(3 / 4.0, p.ChangedShare30, 6);
    }

    [Fact]
    public void Low_budget_means_rag()
    {
        var a = Advisor.Advise(Corpus(), Eval(raft: 0.9), new AdviceFlags(Budget.Low));
        Assert.Equal(Recommendation.Rag, a.Recommendation);
        Assert.Contains(a.Reasons, r => r.Contains("budget is low"));
        Assert.Contains(a.Reasons, r => r.Contains("rag vs base: +0.50 answer-contained in eval-report/results.json"));
    }

    [Fact]
    public void Changing_documents_mean_rag_even_when_raft_measured_better()
    {
        var a = Advisor.Advise(Corpus(updates: 12), Eval(raft: 0.9), new AdviceFlags(Budget.High, StyleCritical: true));
        Assert.Equal(Recommendation.Rag, a.Recommendation);
        Assert.Contains(a.Reasons, r => r.StartsWith("documents change: of 100 documents, 12 updated, 0 added, 0 removed in the last 30 days") && r.Contains("go stale"));
        Assert.Contains(a.Reasons, r => r.Contains("style-only fine-tune"));
    }

    [Fact]
    public void Measured_raft_gain_on_a_stable_domain_means_raft()
    {
        var a = Advisor.Advise(Corpus(), Eval(raft: 0.82), new AdviceFlags());
        Assert.Equal(Recommendation.Raft, a.Recommendation);
        Assert.Contains("RAFT beat RAG by +0.12 answer-contained in eval-report/results.json", a.Reasons);
        Assert.Contains(a.Reasons, r => r.StartsWith("the domain is stable"));
    }

    [Fact]
    public void Measured_raft_gain_with_a_short_history_means_rag_now_raft_later()
    {
        var a = Advisor.Advise(Corpus(observedDays: 2), Eval(raft: 0.82), new AdviceFlags());
        Assert.Equal(Recommendation.RagNowRaftLater, a.Recommendation);
        Assert.Contains(a.Reasons, r => r.StartsWith("stability not yet shown") && r.Contains("over 2 days observed"));
    }

    [Fact]
    public void Latency_critical_means_fine_tuning_with_a_caveat_when_rag_is_more_accurate()
    {
        var a = Advisor.Advise(Corpus(), Eval(ft: 0.3), new AdviceFlags(LatencyCritical: true));
        Assert.Equal(Recommendation.FineTuning, a.Recommendation);
        Assert.Contains(a.Reasons, r => r.StartsWith("latency matters") && r.Contains("(the corpus holds 120000 tokens)"));
        Assert.Contains(a.Reasons, r => r.StartsWith("caveat: rag beats ft by +0.40"));
    }

    [Fact]
    public void Style_critical_means_fine_tuning()
    {
        var a = Advisor.Advise(Corpus(), null, new AdviceFlags(Budget.High, StyleCritical: true));
        Assert.Equal(Recommendation.FineTuning, a.Recommendation);
        Assert.Contains(a.Reasons, r => r.StartsWith("style matters"));
        Assert.DoesNotContain(a.Reasons, r => r.StartsWith("caveat"));
    }

    [Fact]
    public void Low_recall_on_a_stable_domain_means_raft()
    {
        var a = Advisor.Advise(Corpus(), Eval(recall: 0.55), new AdviceFlags());
        Assert.Equal(Recommendation.Raft, a.Recommendation);
        Assert.Contains("retrieval is noisy: rag recall@k 0.55 < 0.80 in eval-report/results.json → a model trained to ignore distractors helps", a.Reasons);
    }

    [Fact]
    public void Sweep_degradation_without_proven_stability_means_rag_now_raft_later()
    {
        var a = Advisor.Advise(Corpus(observedDays: 10), Eval(sweep: (0, 0.9, 8, 0.6)), new AdviceFlags());
        Assert.Equal(Recommendation.RagNowRaftLater, a.Recommendation);
        Assert.Contains(a.Reasons, r => r.StartsWith("distractors hurt: rag answer-contained falls from 0.90 (k=0) to 0.60 (k=8)"));
    }

    [Fact]
    public void Good_retrieval_means_rag()
    {
        var a = Advisor.Advise(Corpus(), Eval(sweep: (0, 0.9, 8, 0.86)), new AdviceFlags());
        Assert.Equal(Recommendation.Rag, a.Recommendation);
        Assert.Contains("retrieval works: rag recall@k 0.90 ≥ 0.80 in eval-report/results.json", a.Reasons);
        Assert.Contains(a.Reasons, r => r.StartsWith("distractors barely hurt"));
    }

    [Fact]
    public void Without_eval_results_rag_is_advised_and_the_eval_is_suggested()
    {
        var a = Advisor.Advise(Corpus(observedDays: 0), null, new AdviceFlags());
        Assert.Equal(Recommendation.Rag, a.Recommendation);
        Assert.Contains(a.Reasons, r => r.StartsWith("no eval results yet"));
        Assert.Contains(a.Reasons, r => r.StartsWith("note: the ingest history covers only 0 days"));
    }

    [Fact]
    public void Eval_evidence_is_read_from_results_json_and_bad_files_are_named()
    {
        using var dir = new TempDir();
        var path = dir.File("results.json", """
            {"modes":[{"mode":"base","contained":0.1,"recallAtK":null},{"mode":"rag","contained":0.6,"recallAtK":0.75}],
             "sweep":{"results":[{"mode":"rag","k":0,"contained":0.8},{"mode":"rag","k":4,"contained":0.5},{"mode":"rag","k":2,"contained":0.7}]}}
            """);
        var e = EvalEvidence.Load(path);
        Assert.Equal(0.6, e.Contained["rag"]);
        Assert.Equal(0.75, Assert.Single(e.RecallAtK).Value);
        Assert.Equal((0, 0.8, 4, 0.5), e.Sweep["rag"]);
        var bad = dir.File("bad.json", "{\"modes\":[{\"mode\":\"rag\"}]}");
        Assert.Contains(bad, Assert.Throws<OpenBookException>(() => EvalEvidence.Load(bad)).Message);
        Assert.Contains("not found", Assert.Throws<OpenBookException>(() => EvalEvidence.Load(Path.Combine(dir.Path, "none.json"))).Message);
    }
}
