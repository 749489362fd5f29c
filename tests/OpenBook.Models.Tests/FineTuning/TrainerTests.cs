using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.FineTuning.Trainer;

namespace OpenBook.Models.Tests.FineTuning;

/// <summary>A fixed list of batches, reshuffled per epoch from a seed.</summary>
internal sealed class ShuffledBatches(IReadOnlyList<SequenceBatch> batches, int seed) : ITrainingBatches
{
    public IReadOnlyList<SequenceBatch> Epoch(int epoch)
    {
        var list = batches.ToList();
        var rng = new Random(OpenBook.Shared.Seeds.Mix(seed, epoch));
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
        return list;
    }
}

public class TrainerTests
{
    private static (LoraModel Lora, ITrainingBatches Data, IReadOnlyList<SequenceBatch> Val) Setup(double dropout = 0.1)
    {
        var model = TinyModels.Model(TinyModels.Config(tied: false), std: 0.2f);
        var lora = LoraModel.Create(model, new LoraConfig { Rank = 4, Alpha = 8, Dropout = dropout }, seed: 3);
        var batches = Enumerable.Range(0, 5).Select(i => TinyModels.Batch(40, 2, 8, seed: 100 + i)).ToList();
        return (lora, new ShuffledBatches(batches, 7), [TinyModels.Batch(40, 2, 8, seed: 999)]);
    }

    private static TrainerOptions Options => new() { Epochs = 4, LearningRate = 2e-2, WarmupSteps = 2, GradientAccumulation = 2, WeightDecay = 0.01, EvalEvery = 2, Seed = 5 };

    [Fact]
    public void Training_lowers_the_loss_on_the_training_data()
    {
        using var dir = new TempDirectory();
        var (lora, data, _) = Setup(dropout: 0);
        var trainer = new ModelTrainer(lora, data, data.Epoch(0), Options with { Epochs = 12, EvalEvery = 0 }, dir.Path);
        double before = trainer.ValidationLoss();
        var result = trainer.Run();
        double after = trainer.ValidationLoss();
        Assert.Equal(36, result.Steps); // 5 micro-batches, accumulation 2 → 3 steps per epoch
        Assert.True(after < 0.8 * before, $"loss {before:F4} → {after:F4}");
        var lines = File.ReadAllLines(Path.Combine(dir.Path, "metrics.jsonl"));
        Assert.Equal(36, lines.Count(l => l.Contains("\"loss\"")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "checkpoint", "adapter_model.safetensors")));
    }

    [Fact]
    public void Interrupted_and_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one()
    {
        using var full = new TempDirectory();
        var (loraA, dataA, valA) = Setup();
        var resultA = new ModelTrainer(loraA, dataA, valA, Options, full.Path).Run();
        Assert.False(resultA.Interrupted);

        using var split = new TempDirectory();
        var (loraB, dataB, valB) = Setup();
        using var cts = new CancellationTokenSource();
        var first = new ModelTrainer(loraB, dataB, valB, Options, split.Path);
        var partial = first.Run(new Inline(p => { if (p.Step == 5 && p.EvalLoss is null) cts.Cancel(); }), cts.Token);
        Assert.True(partial.Interrupted);
        Assert.Equal(5, partial.Steps);

        var (loraC, dataC, valC) = Setup(); // a fresh process: new model, new adapter init, then the checkpoint
        var resumed = new ModelTrainer(loraC, dataC, valC, Options, split.Path);
        resumed.Resume();
        Assert.Equal(5, resumed.Step);
        var resultC = resumed.Run();
        Assert.Equal(resultA.Steps, resultC.Steps);
        for (int i = 0; i < loraA.Adapters.Count; i++)
        {
            Assert.Equal(loraA.Adapters[i].A, loraC.Adapters[i].A);
            Assert.Equal(loraA.Adapters[i].B, loraC.Adapters[i].B);
        }
        Assert.Equal(resultA.BestEvalLoss, resultC.BestEvalLoss);
        Assert.Equal(File.ReadAllLines(Path.Combine(full.Path, "metrics.jsonl")).Select(StripTiming),
            File.ReadAllLines(Path.Combine(split.Path, "metrics.jsonl")).Select(StripTiming));
    }

    private static string StripTiming(string line) =>
        System.Text.RegularExpressions.Regex.Replace(line, "\"(tokens_per_second|elapsed_s)\":[^,}]*", "");

    [Fact]
    public void Resume_refuses_a_checkpoint_written_for_other_options()
    {
        using var dir = new TempDirectory();
        var (lora, data, val) = Setup();
        new ModelTrainer(lora, data, val, Options with { MaxSteps = 2 }, dir.Path).Run();
        var (lora2, data2, val2) = Setup();
        var other = new ModelTrainer(lora2, data2, val2, Options with { Seed = 6 }, dir.Path);
        var e = Assert.Throws<OpenBookException>(other.Resume);
        Assert.Contains("different data or options", e.Message);
    }

    [Fact]
    public void Early_stopping_stops_when_validation_loss_stops_improving()
    {
        using var dir = new TempDirectory();
        var (lora, data, _) = Setup(dropout: 0);
        // Validation on unrelated random tokens with a huge learning rate: it gets worse, so patience 1 stops the run.
        var val = new[] { TinyModels.Batch(40, 2, 8, seed: 31337) };
        var result = new ModelTrainer(lora, data, val, Options with { Epochs = 30, LearningRate = 0.3, EvalEvery = 1, EarlyStoppingPatience = 2 }, dir.Path).Run();
        Assert.True(result.EarlyStopped);
        Assert.True(result.Steps < result.TotalSteps);
        Assert.True(File.Exists(Path.Combine(dir.Path, "best", "adapter_model.safetensors")));
    }

    [Theory]
    [InlineData(LrSchedule.Cosine, 0, 0.0)]
    [InlineData(LrSchedule.Cosine, 1, 0.5)]
    [InlineData(LrSchedule.Cosine, 2, 1.0)]
    [InlineData(LrSchedule.Cosine, 6, 0.5)]
    [InlineData(LrSchedule.Cosine, 10, 0.0)]
    [InlineData(LrSchedule.Linear, 6, 0.5)]
    [InlineData(LrSchedule.Linear, 9, 0.125)]
    [InlineData(LrSchedule.Constant, 9, 1.0)]
    public void Schedules_match_transformers(LrSchedule schedule, int step, double expected) =>
        Assert.Equal(expected, LearningRate.Factor(schedule, step, warmupSteps: 2, totalSteps: 10), 12);

    [Fact]
    public void AdamW_step_matches_the_hand_computed_update()
    {
        var value = new[] { 1.0f, -2.0f };
        var grad = new[] { 0.5f, 0.1f };
        var adam = new AdamW([new Parameter("p", value, grad)], 0.9, 0.999, 1e-8, weightDecay: 0.1);
        adam.Update(0.01);
        // p ← p(1 − lr·λ) − lr·m̂/(√v̂ + ε) with m̂ = g, v̂ = g² after one step.
        Assert.Equal(1.0 * (1 - 0.001) - 0.01 * 0.5 / (0.5 + 1e-8), value[0], 6);
        Assert.Equal(-2.0 * (1 - 0.001) - 0.01 * 0.1 / (0.1 + 1e-8), value[1], 6);
        Assert.Equal(Math.Sqrt(0.5 * 0.5 + 0.1 * 0.1), adam.ClipGradients(0.1), 6);
        Assert.Equal(0.1, Math.Sqrt(grad[0] * grad[0] + grad[1] * grad[1]), 5);
    }

    private sealed class Inline(Action<TrainerProgress> a) : IProgress<TrainerProgress>
    {
        public void Report(TrainerProgress value) => a(value);
    }
}

internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("openbook-ft-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, true); } catch (IOException) { }
    }
}
