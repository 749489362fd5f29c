using System.Text.Json.Nodes;
using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Models.Formats;
using OpenBook.Models.Tests.Tokenization;

namespace OpenBook.Models.Tests.FineTuning;

/// <summary>
/// The managed LoRA training pass against PyTorch autograd on the same fixtures (tools/reference/make_lora_fixtures.py:
/// HF-math reference model + PEFT-style LoRA): loss, logits, every LoRA gradient, the input gradient, and the weights
/// after five optimiser steps (AdamW, warmup + cosine, clipping, accumulation).
/// </summary>
public class PyTorchParityTests
{
    public static TheoryData<string> Cases => ["llama-tied-all-linear", "qwen2-qv-rslora", "llama-packed", "mistral-window"];

    private static string CaseDir(string name) => Path.Combine(Fixtures.Root, "lora", name);

    private static (LlamaForCausalLM Model, LoraModel Lora, SequenceBatch Batch, JsonObject Inputs) Load(string name)
    {
        var dir = CaseDir(name);
        var inputs = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "inputs.json")))!.AsObject();
        var model = ModelLoader.Load(Path.GetFullPath(Path.Combine(dir, (string)inputs["model"]!)), new ModelLoadOptions { WeightFormat = Tensors.WeightFormat.F32 });
        var lora = LoraModel.Load(model, dir);
        int[] Ints(string key) => inputs[key]!.AsArray().SelectMany(row => row!.AsArray().Select(v => (int)v!)).ToArray();
        var rows = inputs["tokens"]!.AsArray();
        var batch = new SequenceBatch(rows.Count, rows[0]!.AsArray().Count, Ints("tokens"),
            inputs["targets"]!.AsArray().SelectMany(row => row!.AsArray().Select(v => (float)(double)v!)).ToArray(), Ints("positions"), Ints("segments"));
        return (model, lora, batch, inputs);
    }

    private static void Close(float[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= atol + rtol * Math.Abs(expected[i]), $"{what}[{i}]: PyTorch {expected[i]:g7}, OpenBook {actual[i]:g7}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Loss_logits_and_gradients_match_pytorch_autograd(string name)
    {
        var (model, lora, batch, _) = Load(name);
        using var expected = SafetensorsFile.Open(Path.Combine(CaseDir(name), "expected.safetensors"));
        var graph = new LlamaTrainingGraph(model);
        double weight = batch.Targets.Sum(t => (double)t);
        var dEmbeds = new float[batch.Tokens.Length * model.Config.HiddenSize];
        var pass = graph.ForwardBackward(batch, (float)(1 / weight), 0, dEmbeds);
        Assert.Equal(expected.ReadFloat32("loss")[0], pass.Mean, 4);

        // Logits of real (non-padding) tokens; padding rows attend differently by design and carry no target.
        var logits = graph.Logits(batch);
        var reference = expected.ReadFloat32("logits");
        int vocab = model.Config.VocabSize;
        var real = Enumerable.Range(0, batch.Tokens.Length).Where(r => batch.Segments![r] >= 0).ToList();
        Close(real.SelectMany(r => reference.AsSpan(r * vocab, vocab).ToArray()).ToArray(), real.SelectMany(r => logits.AsSpan(r * vocab, vocab).ToArray()).ToArray(), 1e-4, 1e-4, "logits");

        foreach (var a in lora.Adapters)
        {
            Close(expected.ReadFloat32("grad." + a.PeftNameA), a.GradA, 2e-6, 2e-3, "grad." + a.PeftNameA);
            Close(expected.ReadFloat32("grad." + a.PeftNameB), a.GradB, 2e-6, 2e-3, "grad." + a.PeftNameB);
        }
        var embedsGrad = expected.ReadFloat32("grad.inputs_embeds");
        int h = model.Config.HiddenSize;
        Close(real.SelectMany(r => embedsGrad.AsSpan(r * h, h).ToArray()).ToArray(), real.SelectMany(r => dEmbeds.AsSpan(r * h, h).ToArray()).ToArray(), 2e-6, 2e-3, "grad.inputs_embeds");
    }

    /// <summary>Each row of the fixture is one micro-batch; two per optimiser step, the same two every step.</summary>
    private sealed class SameRows(IReadOnlyList<SequenceBatch> rows) : ITrainingBatches
    {
        public IReadOnlyList<SequenceBatch> Epoch(int epoch) => rows;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Five_optimizer_steps_match_torch_adamw_with_warmup_cosine_clipping_and_accumulation(string name)
    {
        var (_, lora, batch, _) = Load(name);
        var train = JsonNode.Parse(File.ReadAllText(Path.Combine(CaseDir(name), "train.json")))!.AsObject();
        int seq = batch.Seq;
        var rows = Enumerable.Range(0, batch.Batch).Select(b => new SequenceBatch(1, seq, batch.Tokens[(b * seq)..((b + 1) * seq)],
            batch.Targets[(b * seq)..((b + 1) * seq)], batch.Positions![(b * seq)..((b + 1) * seq)], batch.Segments![(b * seq)..((b + 1) * seq)])).ToList();
        int total = (int)train["total_steps"]!;
        var options = new TrainerOptions
        {
            Epochs = total, LearningRate = (double)train["lr"]!, Beta1 = (double)train["betas"]![0]!, Beta2 = (double)train["betas"]![1]!, Epsilon = (double)train["eps"]!,
            WeightDecay = (double)train["weight_decay"]!, WarmupSteps = (int)train["warmup_steps"]!, Schedule = LrSchedule.Cosine,
            MaxGradNorm = (double)train["max_grad_norm"]!, GradientAccumulation = (int)train["grad_accum"]!, Seed = 1,
        };
        using var dir = new TempDirectory();
        var trainer = new ModelTrainer(lora, new SameRows(rows), [], options, dir.Path);
        Assert.Equal(total, trainer.TotalSteps);
        var losses = new List<double>();
        trainer.Run(new Inline(p => losses.Add(p.Loss)));
        var trace = train["trace"]!.AsArray();
        for (int s = 0; s < total; s++) Assert.Equal((double)trace[s]!["loss"]!, losses[s], 4);
        using var after = SafetensorsFile.Open(Path.Combine(CaseDir(name), "after_steps.safetensors"));
        foreach (var a in lora.Adapters)
        {
            AdamParity.AssertClose(after.ReadFloat32(a.PeftNameA), a.A, options.LearningRate, a.PeftNameA);
            AdamParity.AssertClose(after.ReadFloat32(a.PeftNameB), a.B, options.LearningRate, a.PeftNameB);
        }
    }

    [Fact]
    public void Merged_model_matches_the_pytorch_merge()
    {
        var (model, lora, batch, _) = Load("llama-tied-all-linear");
        lora.MergeIntoBase();
        var mergedDir = Path.Combine(CaseDir("llama-tied-all-linear"), "merged");
        var theirs = ModelLoader.Load(mergedDir);
        using var expected = SafetensorsFile.Open(Path.Combine(mergedDir, "logits.safetensors"));
        var reference = expected.ReadFloat32("logits");
        int vocab = model.Config.VocabSize, seq = batch.Seq;
        var plain = new SequenceBatch(1, seq, batch.Tokens[..seq], batch.Targets[..seq]);
        var ours = new LlamaTrainingGraph(model).Logits(plain);
        var loaded = new LlamaTrainingGraph(theirs).Logits(plain);
        Close(reference[..(seq * vocab)], ours, 1e-4, 1e-4, "our merge");
        Close(reference[..(seq * vocab)], loaded, 1e-4, 1e-4, "their merged checkpoint");
    }

    private sealed class Inline(Action<TrainerProgress> a) : IProgress<TrainerProgress>
    {
        public void Report(TrainerProgress value) => a(value);
    }
}
