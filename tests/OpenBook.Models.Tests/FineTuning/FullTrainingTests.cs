using System.Text.Json.Nodes;
using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Full;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Models.Formats;
using OpenBook.Models.Tensors;
using OpenBook.Models.Tests.Tokenization;

namespace OpenBook.Models.Tests.FineTuning;

/// <summary>
/// Full-parameter gradients (every weight learns) against PyTorch autograd on the fixtures of
/// tools/reference/make_full_fixtures.py (loss, the gradient of every checkpoint tensor, five AdamW steps with HF's
/// weight-decay groups) and against central finite differences on tiny random models.
/// </summary>
public class FullTrainingTests
{
    public static TheoryData<string> ParityCases => ["llama-tied-packed", "qwen2-bias", "mistral-window"];

    private static string CaseDir(string name) => Path.Combine(Fixtures.Root, "full", name);

    private static (FullModel Full, SequenceBatch Batch) LoadCase(string name)
    {
        var dir = CaseDir(name);
        var inputs = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "inputs.json")))!.AsObject();
        var modelDir = Path.GetFullPath(Path.Combine(dir, (string)inputs["model"]!));
        var model = ModelLoader.Load(modelDir, new ModelLoadOptions { WeightFormat = WeightFormat.F32 });
        int[] Ints(string key) => inputs[key]!.AsArray().SelectMany(row => row!.AsArray().Select(v => (int)v!)).ToArray();
        var rows = inputs["tokens"]!.AsArray();
        var batch = new SequenceBatch(rows.Count, rows[0]!.AsArray().Count, Ints("tokens"),
            inputs["targets"]!.AsArray().SelectMany(row => row!.AsArray().Select(v => (float)(double)v!)).ToArray(), Ints("positions"), Ints("segments"));
        return (FullModel.Create(model, decayEmbeddings: true, modelDir), batch);
    }

    private static void Close(float[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= atol + rtol * Math.Abs(expected[i]), $"{what}[{i}]: PyTorch {expected[i]:g7}, OpenBook {actual[i]:g7}");
    }

    [Theory]
    [MemberData(nameof(ParityCases))]
    public void Loss_and_every_parameter_gradient_match_pytorch_autograd(string name)
    {
        var (full, batch) = LoadCase(name);
        using var expected = SafetensorsFile.Open(Path.Combine(CaseDir(name), "expected.safetensors"));
        var graph = new LlamaTrainingGraph(full.Model, full.Gradients);
        var pass = graph.ForwardBackward(batch, (float)(1 / batch.Targets.Sum(t => (double)t)));
        Assert.Equal(expected.ReadFloat32("loss")[0], pass.Mean, 4);
        var parameters = full.Parameters();
        // Every tensor of the checkpoint has a gradient, and nothing else does.
        Assert.Equal(expected.Tensors.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)).Select(k => k[5..]).Order(), parameters.Select(p => p.Name).Order());
        foreach (var p in parameters)
        {
            var reference = expected.ReadFloat32("grad." + p.Name);
            double scale = reference.Max(v => Math.Abs(v));
            Close(reference, p.Grad, 1e-5 * scale + 1e-8, 2e-3, "grad." + p.Name);
        }
    }

    /// <summary>Each row of the fixture is one micro-batch; two per optimiser step, the same two every step.</summary>
    private sealed class SameRows(IReadOnlyList<SequenceBatch> rows) : ITrainingBatches
    {
        public IReadOnlyList<SequenceBatch> Epoch(int epoch) => rows;
    }

    private static List<SequenceBatch> Rows(SequenceBatch batch)
    {
        int seq = batch.Seq;
        return Enumerable.Range(0, batch.Batch).Select(b => new SequenceBatch(1, seq, batch.Tokens[(b * seq)..((b + 1) * seq)],
            batch.Targets[(b * seq)..((b + 1) * seq)], batch.Positions![(b * seq)..((b + 1) * seq)], batch.Segments![(b * seq)..((b + 1) * seq)])).ToList();
    }

    [Theory]
    [MemberData(nameof(ParityCases))]
    public void Five_adamw_steps_over_all_parameters_match_torch_with_hf_weight_decay_groups(string name)
    {
        var (full, batch) = LoadCase(name);
        var train = JsonNode.Parse(File.ReadAllText(Path.Combine(CaseDir(name), "train.json")))!.AsObject();
        var noDecay = train["no_decay"]!.AsArray().Select(n => (string)n!).ToHashSet();
        Assert.Equal(noDecay, full.Parameters().Where(p => !p.WeightDecay).Select(p => p.Name).ToHashSet());
        int total = (int)train["total_steps"]!;
        var options = new TrainerOptions
        {
            Epochs = total, LearningRate = (double)train["lr"]!, Beta1 = (double)train["betas"]![0]!, Beta2 = (double)train["betas"]![1]!, Epsilon = (double)train["eps"]!,
            WeightDecay = (double)train["weight_decay"]!, WarmupSteps = (int)train["warmup_steps"]!, Schedule = LrSchedule.Cosine,
            MaxGradNorm = (double)train["max_grad_norm"]!, GradientAccumulation = (int)train["grad_accum"]!, Seed = 1,
        };
        using var dir = new TempDirectory();
        var trainer = new ModelTrainer(full, new SameRows(Rows(batch)), [], options, dir.Path);
        var losses = new List<double>();
        trainer.Run(new Inline(p => losses.Add(p.Loss)));
        var trace = train["trace"]!.AsArray();
        for (int s = 0; s < total; s++) Assert.Equal((double)trace[s]!["loss"]!, losses[s], 4);
        using var after = SafetensorsFile.Open(Path.Combine(CaseDir(name), "after_steps.safetensors"));
        // Entries whose initial gradient is below 1e-4 of the tensor's largest (k_proj bias components cancel under
        // RoPE to ~1e-8) are held to 0.1·lr only.
        double lr = options.LearningRate;
        using var initial = SafetensorsFile.Open(Path.Combine(CaseDir(name), "expected.safetensors"));
        foreach (var p in full.Parameters())
        {
            var grad0 = initial.ReadFloat32("grad." + p.Name);
            double floor = 1e-4 * grad0.Max(v => Math.Abs(v));
            AdamParity.AssertClose(after.ReadFloat32(p.Name), p.Value, lr, p.Name, i => Math.Abs(grad0[i]) > floor);
        }
        // The checkpoint is a loadable HF model directory holding the trained weights.
        var reloaded = ModelLoader.Load(trainer.CheckpointDirectory);
        Assert.Equal(full.Model.Layers[1].DownProj.Weight.ToFloat(), reloaded.Layers[1].DownProj.Weight.ToFloat());
    }

    public static TheoryData<string> TinyCases => ["llama", "llama-untied", "qwen2-bias", "mistral-window", "llama-packed"];

    private static (FullModel Full, SequenceBatch Batch) Tiny(string name)
    {
        var config = name switch
        {
            "llama-untied" or "llama-packed" => TinyModels.Config(tied: false),
            "qwen2-bias" => TinyModels.Config("Qwen2ForCausalLM", tied: false, bias: true),
            "mistral-window" => TinyModels.Config("MistralForCausalLM", tied: false, window: 3),
            _ => TinyModels.Config(),
        };
        var model = TinyModels.Model(config);
        return (FullModel.Create(model), TinyModels.Batch(config.VocabSize, 2, 7, seed: 9, packed: name == "llama-packed"));
    }

    [Theory]
    [MemberData(nameof(TinyCases))]
    public void Every_parameter_gradient_matches_central_finite_differences(string name)
    {
        var (full, batch) = Tiny(name);
        var graph = new LlamaTrainingGraph(full.Model, full.Gradients);
        graph.ForwardBackward(batch, 1f);
        var rng = new Random(2);
        foreach (var p in full.Parameters())
        {
            var grad = (float[])p.Grad.Clone();
            // Two entries with a gradient per tensor (embedding rows of tokens absent from the batch have none).
            var candidates = Enumerable.Range(0, grad.Length).Where(i => Math.Abs(grad[i]) > 1e-4).ToList();
            Assert.NotEmpty(candidates);
            for (int k = 0; k < 2; k++)
            {
                int i = candidates[rng.Next(candidates.Count)];
                float saved = p.Value[i];
                const float h = 3e-3f;
                p.Value[i] = saved + h;
                double plus = graph.Loss(batch).LossSum;
                p.Value[i] = saved - h;
                double minus = graph.Loss(batch).LossSum;
                p.Value[i] = saved;
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(numeric - grad[i]) <= 2e-3 + 1e-2 * Math.Abs(numeric), $"{p.Name}[{i}]: analytic {grad[i]:g6} vs numeric {numeric:g6}");
            }
        }
        // An embedding row of a token the batch never uses gets no gradient (sparse rows).
        var unused = Enumerable.Range(0, full.Model.Config.VocabSize).First(t => !batch.Tokens.Contains(t));
        if (!full.Model.Config.TieWordEmbeddings)
            Assert.All(full.Gradients.Of(full.Model.EmbedTokens)!.AsSpan(unused * full.Model.Config.HiddenSize, full.Model.Config.HiddenSize).ToArray(), v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("mistral-window")]
    public void Gradient_checkpointing_recomputes_the_same_gradients(string name)
    {
        var (full, batch) = Tiny(name);
        var plain = new LlamaTrainingGraph(full.Model, full.Gradients).ForwardBackward(batch, 0.5f);
        var expected = full.Parameters().Select(p => (float[])p.Grad.Clone()).ToList();
        full.ZeroGrad();
        var checkpointed = new LlamaTrainingGraph(full.Model, full.Gradients, checkpointLayers: true).ForwardBackward(batch, 0.5f);
        Assert.Equal(plain.LossSum, checkpointed.LossSum);
        var actual = full.Parameters().Select(p => p.Grad).ToList();
        for (int i = 0; i < expected.Count; i++) Assert.Equal(expected[i], actual[i]);
    }

    [Fact]
    public void Gradient_checkpointing_keeps_lora_dropout_masks()
    {
        var model = TinyModels.Model(TinyModels.Config());
        var lora = TinyModels.Lora(model, new LoraConfig { Rank = 2, Alpha = 4, Dropout = 0.3 });
        var batch = TinyModels.Batch(40, 2, 7, seed: 9);
        new LlamaTrainingGraph(model).ForwardBackward(batch, 1f, 21);
        var expected = lora.Parameters().Select(p => (float[])p.Grad.Clone()).ToList();
        lora.ZeroGrad();
        new LlamaTrainingGraph(model, checkpointLayers: true).ForwardBackward(batch, 1f, 21);
        var actual = lora.Parameters().Select(p => p.Grad).ToList();
        for (int i = 0; i < expected.Count; i++) Assert.Equal(expected[i], actual[i]);
    }

    [Fact]
    public void Weight_decay_groups_follow_hf_trainer_and_the_embedding_is_configurable()
    {
        var model = TinyModels.Model(TinyModels.Config("Qwen2ForCausalLM", tied: false, bias: true));
        var full = FullModel.Create(model, decayEmbeddings: false);
        var noDecay = full.Parameters().Where(p => !p.WeightDecay).Select(p => p.Name).ToList();
        Assert.Contains("model.embed_tokens.weight", noDecay);
        Assert.Contains("model.norm.weight", noDecay);
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", noDecay);
        Assert.Contains("model.layers.1.post_attention_layernorm.weight", noDecay);
        Assert.DoesNotContain(full.Parameters(), p => p.WeightDecay && (p.Name.EndsWith(".bias", StringComparison.Ordinal) || p.Name.Contains("norm")));
        Assert.Contains(full.Parameters(), p => p.Name == "lm_head.weight" && p.WeightDecay);
        Assert.Equal(model.Config.ParameterCount() + model.Linears().Sum(l => l.Bias?.Length ?? 0), full.TrainableParameters);
        Assert.Equal(16 * full.TrainableParameters, full.StateBytes);
    }

    [Fact]
    public void A_bf16_model_trains_on_fp32_master_weights()
    {
        var model = ModelLoader.Load(Path.Combine(Fixtures.Root, "qwen2-bf16"));
        Assert.Equal(WeightFormat.Bf16, model.Layers[0].QProj.Weight.Format);
        var full = FullModel.Create(model);
        Assert.All(model.Linears(), l => Assert.Equal(WeightFormat.F32, l.Weight.Format));
        Assert.Same(model.EmbedTokens, model.LmHead.Weight); // still tied after widening
        Assert.Equal(full.Parameters().Count, full.Parameters().Select(p => p.Value).Distinct(ReferenceEqualityComparer.Instance).Count());
    }

    private sealed class Inline(Action<TrainerProgress> a) : IProgress<TrainerProgress>
    {
        public void Report(TrainerProgress value) => a(value);
    }
}
