using System.Text.Json;
using OpenBook.Lab;
using OpenBook.Runtime.Lab;

namespace OpenBook.Tests.Lab;

/// <summary>
/// The whole lab in a tiny configuration: world → a few pretraining steps of the tiny shape → lab run with every mode.
/// Asserts what holds by construction, never figures: the pieces are all there, and a base model that never saw the
/// private company cannot name its people, offices or products closed-book.
/// </summary>
public sealed class LabEndToEndTests
{
    [Fact]
    public async Task World_pretrain_and_run_give_every_mode_sweep_freshness_cost_and_advice()
    {
        using var dir = new TempDir();
        var worldDir = Path.Combine(dir.Path, "world");
        var world = LabWorld.Generate(new LabWorldOptions { Seed = 5, PublicPeople = 8, PrivatePeople = 8, DrillPeople = 8 });
        LabWorld.Write(world, worldDir);
        var model = Path.Combine(dir.Path, "base");
        var pre = await LabPretrain.RunAsync(new LabPretrainRequest
        {
            WorldDirectory = worldDir, OutputDirectory = model, Shape = "tiny", VocabSize = 320, SequenceLength = 128, BatchTokens = 256, MaxSteps = 2,
            WarmupSteps = 1, ReadingQuestions = 2, ReadingDistractors = [0, 1], EvalEvery = 0, SaveEvery = 100,
        });
        Assert.Equal(2, pre.Pretrain.Training.Steps);
        Assert.True(pre.Documents["grounded reading"] > 0 && pre.Documents["RAFT reading"] > 0 && pre.Documents["closed-book QA"] > 0);
        Assert.True(pre.Documents["grounded reading drills"] > 0 && pre.Documents["RAFT reading drills"] > 0);
        Assert.Equal([0, 1], pre.Reading.Keys.Order());
        Assert.True(File.Exists(Path.Combine(model, "model.safetensors")));

        var output = Path.Combine(dir.Path, "run");
        var run = await LabRun.RunAsync(new LabRunRequest
        {
            WorldDirectory = worldDir, ModelDirectory = model, OutputDirectory = output, Questions = 4, SweepQuestions = 2, Sweep = [0, 1],
            FreshnessQuestions = 2, Epochs = 1, MaxSteps = 1, BatchSize = 8, Embed = null,
        });
        Assert.Equal(["base", "rag", "ft-lora-docs", "ft-lora-docs+qa", "ft-full-docs", "ft", "raft", "ft+rag"], run.Rows.Select(r => r.Mode));
        Assert.All(run.Rows, r => Assert.False(double.IsNaN(r.UnseenExactMatch), $"{r.Mode}: no unseen-paraphrase result"));
        Assert.Equal(["ft+rag", "raft", "rag"], run.Sweep.Keys.Order(StringComparer.Ordinal));
        Assert.All(run.Sweep.Values, points => Assert.Equal([0, 1], points.Keys.Order()));
        Assert.Contains("rag (re-ingested)", run.Freshness.Keys);
        Assert.Contains("ft (not retrained)", run.Freshness.Keys);
        Assert.Contains("ft (not retrained): old value", run.Freshness.Keys);
        Assert.Equal(5, run.Training.Count);
        Assert.All(run.Training, t => Assert.True(t.Tokens > 0 && t.Steps == 1, $"{t.Mode}: {t.Steps} steps, {t.Tokens} tokens"));
        Assert.False(string.IsNullOrWhiteSpace(run.Recommendation));
        foreach (var f in new[] { "report.md", "report.html", "results.json", "lab.md", "lab.json" }) Assert.True(File.Exists(Path.Combine(output, f)), f);
        Assert.NotEmpty(Directory.GetFiles(output, "*.png"));
        Assert.True(run.Rows.Single(r => r.Mode == "rag").PromptTokens > run.Rows.Single(r => r.Mode == "base").PromptTokens);

        // A base model knows nothing private: it never saw a private name, so it cannot answer with one.
        var privateNames = world.Entities.Where(e => e.Part == LabPart.Private).Select(e => e.Name).ToHashSet();
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "results.json")));
        var baseRows = results.RootElement.GetProperty("modes").EnumerateArray().Single(m => m.GetProperty("mode").GetString() == "base").GetProperty("rows");
        foreach (var row in baseRows.EnumerateArray())
            if (row.GetProperty("gold").GetString() is { } gold && privateNames.Contains(gold)) Assert.Equal(0, row.GetProperty("exactMatch").GetDouble());
    }
}
