using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.Formats;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.Tests.FineTuning;

/// <summary>Random weights with a chosen spread (the default 0.02 makes gradients too small to check by finite differences in fp32).</summary>
internal sealed class SpreadWeights(int seed, float std) : IWeightSource
{
    private readonly Random _rng = new(seed);

    public WeightMatrix Matrix(string name, int rows, int cols, bool isEmbedding = false) => WeightMatrix.FromF32(Fill(rows * cols, std), rows, cols);

    public float[] Vector(string name, int length) =>
        name.EndsWith(".bias", StringComparison.Ordinal) ? Fill(length, std) : Fill(length, 0.2f).Select(v => 1f + v).ToArray();

    private float[] Fill(int n, float s)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((_rng.NextDouble() * 2 - 1) * s * Math.Sqrt(3));
        return a;
    }
}

internal static class TinyModels
{
    public static ModelConfig Config(string arch = "LlamaForCausalLM", bool tied = true, int? window = null, bool bias = false) => new()
    {
        Architecture = arch, HiddenSize = 16, IntermediateSize = 24, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        HeadDim = 4, VocabSize = 40, TieWordEmbeddings = tied, RmsNormEps = 1e-5, RopeTheta = 10000, SlidingWindow = window, AttentionBias = bias,
        MaxPositionEmbeddings = 64,
    };

    public static LlamaForCausalLM Model(ModelConfig config, int seed = 3, float std = 0.35f) => ModelLoader.Create(config, new SpreadWeights(seed, std));

    /// <summary>LoRA with random (non-zero) B so gradients reach A as well.</summary>
    public static LoraModel Lora(LlamaForCausalLM model, LoraConfig config, int seed = 5)
    {
        var lora = LoraModel.Create(model, config, seed);
        var rng = new Random(seed + 1);
        foreach (var a in lora.Adapters)
        {
            for (int i = 0; i < a.B.Length; i++) a.B[i] = (float)(rng.NextDouble() * 2 - 1) * 0.5f;
            for (int i = 0; i < a.A.Length; i++) a.A[i] *= 2f;
        }
        return lora;
    }

    public static SequenceBatch Batch(int vocab, int batch, int seq, int seed, bool packed = false)
    {
        var rng = new Random(seed);
        var tokens = Enumerable.Range(0, batch * seq).Select(_ => rng.Next(vocab)).ToArray();
        var targets = new float[batch * seq];
        var segments = new int[batch * seq];
        var positions = new int[batch * seq];
        for (int b = 0; b < batch; b++)
        {
            int split = packed ? seq / 2 : seq, padFrom = b == 1 ? seq - 2 : seq;
            for (int t = 0; t < seq; t++)
            {
                int r = b * seq + t;
                segments[r] = t >= padFrom ? -1 : t < split ? 0 : 1;
                positions[r] = t < split ? t : t - split;
                targets[r] = segments[r] >= 0 && t % 3 != 0 ? 1f : 0f;
            }
        }
        return new SequenceBatch(batch, seq, tokens, targets, positions, segments);
    }
}

public class BackwardTests
{
    public static TheoryData<string> Cases => ["llama", "llama-untied", "qwen2-bias", "mistral-window", "llama-packed", "llama-dropout", "llama-qlora"];

    private static (LlamaForCausalLM Model, LoraModel Lora, SequenceBatch Batch) Setup(string name)
    {
        var config = name switch
        {
            "llama-untied" => TinyModels.Config(tied: false),
            "qwen2-bias" => TinyModels.Config("Qwen2ForCausalLM", tied: false, bias: true),
            "mistral-window" => TinyModels.Config("MistralForCausalLM", tied: false, window: 3),
            "llama-packed" or "llama-qlora" => TinyModels.Config(tied: false),
            _ => TinyModels.Config(),
        };
        var model = TinyModels.Model(config);
        if (name == "llama-qlora") model.ConvertLinears(WeightFormat.Nf4); // frozen NF4 base, dequantised on the fly
        var lora = TinyModels.Lora(model, new LoraConfig { Rank = 2, Alpha = 4, Dropout = name == "llama-dropout" ? 0.3 : 0, UseRsLora = name == "qwen2-bias" });
        var batch = TinyModels.Batch(config.VocabSize, 2, 7, seed: 9, packed: name == "llama-packed");
        return (model, lora, batch);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Lora_gradients_match_central_finite_differences(string name)
    {
        var (model, lora, batch) = Setup(name);
        var graph = new LlamaTrainingGraph(model);
        const int seed = 77;
        var first = graph.ForwardBackward(batch, 1f, seed);
        Assert.True(first.WeightSum > 0);
        var rng = new Random(1);
        int checkedEntries = 0;
        foreach (var adapter in lora.Adapters)
        {
            foreach (var (param, grad) in new[] { (adapter.A, adapter.GradA), (adapter.B, adapter.GradB) })
            {
                int i = rng.Next(param.Length);
                float saved = param[i];
                // h = 3e-3 balances the O(h²) curvature error against fp32 rounding of the loss.
                const float h = 3e-3f;
                param[i] = saved + h;
                double plus = LossWithSeed(graph, batch, seed, lora);
                param[i] = saved - h;
                double minus = LossWithSeed(graph, batch, seed, lora);
                param[i] = saved;
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(numeric - grad[i]) <= 2e-3 + 1e-2 * Math.Abs(numeric),
                    $"{adapter.Module}[{i}]: analytic {grad[i]:g6} vs numeric {numeric:g6}");
                checkedEntries++;
            }
        }
        Assert.Equal(lora.Adapters.Count * 2, checkedEntries);
    }

    /// <summary>Loss (sum, as differentiated with gradScale 1) with the same dropout masks, gradients discarded.</summary>
    private static double LossWithSeed(LlamaTrainingGraph graph, SequenceBatch batch, int seed, LoraModel lora)
    {
        var keep = lora.Adapters.Select(a => ((float[])a.GradA.Clone(), (float[])a.GradB.Clone())).ToList();
        var loss = graph.ForwardBackward(batch, 1f, seed).LossSum;
        for (int i = 0; i < keep.Count; i++)
        {
            keep[i].Item1.CopyTo(lora.Adapters[i].GradA, 0);
            keep[i].Item2.CopyTo(lora.Adapters[i].GradB, 0);
        }
        return loss;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Input_gradient_through_frozen_layers_matches_finite_differences_on_the_embedding(string name)
    {
        var (model, lora, batch) = Setup(name);
        if (name == "llama-dropout") lora.Detach(); // the embedding check needs a deterministic loss without seeds
        var graph = new LlamaTrainingGraph(model);
        int hidden = model.Config.HiddenSize;
        var dEmbeds = new float[batch.Tokens.Length * hidden];
        graph.ForwardBackward(batch, 1f, 0, dEmbeds);
        // d loss / d E[token] = Σ over positions holding that token of d loss / d inputs_embeds.
        int token = batch.Tokens[3];
        var table = model.EmbedTokens.F32Data!;
        for (int d = 0; d < hidden; d += 5)
        {
            double analytic = 0;
            for (int r = 0; r < batch.Tokens.Length; r++)
                if (batch.Tokens[r] == token) analytic += dEmbeds[r * hidden + d];
            if (model.Config.TieWordEmbeddings) continue; // the tied table also feeds lm_head; only the input path is differentiated
            float saved = table[token * hidden + d];
            const float h = 3e-3f;
            table[token * hidden + d] = saved + h;
            double plus = graph.Loss(batch).LossSum;
            table[token * hidden + d] = saved - h;
            double minus = graph.Loss(batch).LossSum;
            table[token * hidden + d] = saved;
            double numeric = (plus - minus) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic) <= 2e-3 + 1e-2 * Math.Abs(numeric), $"dim {d}: analytic {analytic:g6} vs numeric {numeric:g6}");
        }
        Assert.Contains(dEmbeds, v => v != 0);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Training_forward_computes_the_inference_forward(string name)
    {
        var (model, _, batch) = Setup(name);
        if (name == "llama-packed") return; // packed rows have no inference equivalent in one sequence
        var graph = new LlamaTrainingGraph(model);
        var plain = batch with { Positions = null, Segments = null };
        var training = graph.Logits(plain);
        var cache = model.CreateCache(plain.Batch, plain.Seq);
        var inference = model.Forward(plain.Tokens, cache, LogitsMode.AllPositions);
        Assert.Equal(inference.Length, training.Length);
        for (int i = 0; i < inference.Length; i++) Assert.True(Math.Abs(inference[i] - training[i]) < 1e-4, $"logit {i}: {inference[i]} vs {training[i]}");
    }

    [Fact]
    public void Packed_rows_equal_the_examples_run_separately()
    {
        var model = TinyModels.Model(TinyModels.Config());
        TinyModels.Lora(model, new LoraConfig { Rank = 2, Alpha = 4, Dropout = 0 });
        var graph = new LlamaTrainingGraph(model);
        var packed = TinyModels.Batch(40, 1, 8, seed: 4, packed: true);
        var first = new SequenceBatch(1, 4, packed.Tokens[..4], packed.Targets[..4]);
        var second = new SequenceBatch(1, 4, packed.Tokens[4..], packed.Targets[4..]);
        var whole = graph.Loss(packed);
        var a = graph.Loss(first);
        var b = graph.Loss(second);
        Assert.Equal(a.WeightSum + b.WeightSum, whole.WeightSum);
        Assert.Equal(a.LossSum + b.LossSum, whole.LossSum, 4);
    }

    [Fact]
    public void Base_weights_are_not_changed_and_get_no_gradient_buffers()
    {
        var model = TinyModels.Model(TinyModels.Config());
        var before = model.Linears().Select(l => (float[])l.Weight.ToFloat().Clone()).ToList();
        var lora = TinyModels.Lora(model, new LoraConfig { Rank = 2, Alpha = 4, Dropout = 0, TargetModules = ["q_proj", "v_proj"] });
        Assert.Equal(model.Layers.Count * 2, lora.Adapters.Count);
        new LlamaTrainingGraph(model).ForwardBackward(TinyModels.Batch(40, 2, 6, 1), 1f);
        var after = model.Linears().Select(l => l.Weight.ToFloat()).ToList();
        for (int i = 0; i < before.Count; i++) Assert.Equal(before[i], after[i]);
        Assert.All(lora.Adapters, a => Assert.Contains(a.GradA, v => v != 0));
    }

    [Theory]
    [InlineData("llama-dropout")]
    [InlineData("llama-packed")]
    [InlineData("llama-qlora")]
    public void A_graph_reusing_its_buffers_gives_the_gradients_of_a_fresh_graph(string name)
    {
        var (model, lora, batch) = Setup(name);
        float[][] Gradients() => [.. lora.Adapters.SelectMany(a => new[] { (float[])a.GradA.Clone(), (float[])a.GradB.Clone() })];
        var fresh = new LlamaTrainingGraph(model).ForwardBackward(batch, 1f, 11);
        var expected = Gradients();
        lora.ZeroGrad();

        var reused = new LlamaTrainingGraph(model);
        // Earlier passes of other shapes and seeds leave other values in the buffers the next pass rents.
        reused.ForwardBackward(TinyModels.Batch(40, 1, 9, seed: 2), 1f, 5);
        reused.Loss(TinyModels.Batch(40, 3, 5, seed: 3));
        reused.ForwardBackward(batch, 0.5f, 12);
        lora.ZeroGrad();
        var again = reused.ForwardBackward(batch, 1f, 11);

        Assert.Equal(fresh.LossSum, again.LossSum);
        var actual = Gradients();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i]);
    }
}
