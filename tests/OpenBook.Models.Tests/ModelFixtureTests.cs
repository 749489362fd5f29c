using System.Text.Json.Nodes;
using OpenBook.Models.Architectures;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.Tests;

/// <summary>
/// The tiny HF-layout fixtures (tools/reference/make_fixtures.py) loaded through the user's code path and checked
/// against logits of the plain-PyTorch reference (tools/reference/reference_model.py).
/// </summary>
public class ModelFixtureTests
{
    public static readonly TheoryData<string> Families = new() { "llama-tied", "llama-untied-sharded", "qwen2-bf16", "mistral" };

    internal static string FixtureDir(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    internal sealed record Reference(int[][] Inputs, float[][][] Logits, int[] GreedyPrompt, int[] GreedyTokens);

    internal static Reference LoadReference(string name)
    {
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureDir(name), "reference.json")))!;
        var seqs = root["sequences"]!.AsArray();
        var greedy = root["greedy"]!;
        return new Reference(
            seqs.Select(s => s!["input_ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray()).ToArray(),
            seqs.Select(s => s!["logits"]!.AsArray().Select(r => r!.AsArray().Select(x => x!.GetValue<float>()).ToArray()).ToArray()).ToArray(),
            greedy["prompt"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray(),
            greedy["tokens"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray());
    }

    private static void AssertLogits(float[][] expected, float[] actual, int vocab, string what)
    {
        for (int t = 0; t < expected.Length; t++)
            for (int v = 0; v < vocab; v++)
            {
                float e = expected[t][v], a = actual[t * vocab + v];
                Assert.True(Math.Abs(e - a) <= 1e-4f, $"{what}: position {t}, token {v}: reference {e}, engine {a}");
            }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Forward_matches_pytorch_reference_at_every_position(string family)
    {
        var model = ModelLoader.Load(FixtureDir(family));
        var reference = LoadReference(family);
        int vocab = model.Config.VocabSize;
        for (int s = 0; s < reference.Inputs.Length; s++)
        {
            var ids = reference.Inputs[s];
            var cache = model.CreateCache(1, 32);
            var logits = model.Forward(ids, cache, LogitsMode.AllPositions);
            AssertLogits(reference.Logits[s], logits, vocab, $"{family} sequence {s}");
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Batched_prefill_then_decode_matches_reference(string family)
    {
        var model = ModelLoader.Load(FixtureDir(family));
        var reference = LoadReference(family);
        int vocab = model.Config.VocabSize;
        // Sequences 0 and 1 have the same length: prefill the first 8 tokens of both in one batch, then decode
        // the remaining tokens one per step for both sequences at once.
        int n = reference.Inputs[0].Length, prefill = 8;
        Assert.Equal(n, reference.Inputs[1].Length);
        var cache = model.CreateCache(2, 32);
        var logits = model.Forward([.. reference.Inputs[0][..prefill], .. reference.Inputs[1][..prefill]], cache, LogitsMode.AllPositions);
        for (int b = 0; b < 2; b++)
            AssertLogits(reference.Logits[b][..prefill], logits.AsSpan(b * prefill * vocab, prefill * vocab).ToArray(), vocab, $"{family} batched prefill {b}");
        for (int t = prefill; t < n; t++)
        {
            var step = model.Forward([reference.Inputs[0][t], reference.Inputs[1][t]], cache);
            for (int b = 0; b < 2; b++)
                AssertLogits([reference.Logits[b][t]], step.AsSpan(b * vocab, vocab).ToArray(), vocab, $"{family} decode {b}@{t}");
        }
        Assert.Equal(n, cache.Length(0));
        Assert.Equal(n, cache.Length(1));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Greedy_kv_cache_decode_reproduces_reference_continuation(string family)
    {
        var model = ModelLoader.Load(FixtureDir(family));
        var reference = LoadReference(family);
        var cache = model.CreateCache(1, 32);
        var logits = model.Forward(reference.GreedyPrompt, cache);
        var produced = new List<int>();
        for (int i = 0; i < reference.GreedyTokens.Length; i++)
        {
            int next = Kernels.Ops.Argmax(logits);
            produced.Add(next);
            logits = model.Forward([next], cache);
        }
        Assert.Equal(reference.GreedyTokens, produced);
    }

    [Fact]
    public void Bf16_checkpoint_keeps_bf16_storage_and_fp32_checkpoint_can_be_narrowed()
    {
        var qwen = ModelLoader.Load(FixtureDir("qwen2-bf16"));
        Assert.All(qwen.Linears(), l => Assert.Equal(WeightFormat.Bf16, l.Weight.Format));
        Assert.NotNull(qwen.Layers[0].QProj.Bias);
        Assert.Null(qwen.Layers[0].OProj.Bias);

        // The same fp32 weights stored as bf16 give logits within bf16 rounding of the fp32 ones.
        var f32 = ModelLoader.Load(FixtureDir("llama-tied"));
        var bf16 = ModelLoader.Load(FixtureDir("llama-tied"), new ModelLoadOptions { WeightFormat = WeightFormat.Bf16 });
        Assert.Equal(WeightFormat.Bf16, bf16.Layers[1].DownProj.Weight.Format);
        int[] ids = [1, 17, 300, 42, 7];
        var a = f32.Forward(ids, f32.CreateCache(1, 8));
        var b = bf16.Forward(ids, bf16.CreateCache(1, 8));
        float maxDiff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        Assert.InRange(maxDiff, 1e-7f, 0.05f); // different (rounded) but close
    }

    [Fact]
    public void Int8_weights_track_fp32_logits()
    {
        var f32 = ModelLoader.Load(FixtureDir("mistral"));
        var q8 = ModelLoader.Load(FixtureDir("mistral"), new ModelLoadOptions { WeightFormat = WeightFormat.Int8 });
        Assert.Equal(WeightFormat.Int8, q8.Layers[0].QProj.Weight.Format);
        int[] ids = [1, 200, 201, 202, 9, 9];
        var a = f32.Forward(ids, f32.CreateCache(1, 8), LogitsMode.AllPositions);
        var b = q8.Forward(ids, q8.CreateCache(1, 8), LogitsMode.AllPositions);
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        Assert.True(dot / Math.Sqrt(na * nb) > 0.995, $"cosine {dot / Math.Sqrt(na * nb)}");
        Assert.True(q8.DecodeWeightBytes() * 3 < f32.DecodeWeightBytes());
    }
}

public class SharedBlockTests
{
    /// <summary>Records the order in which a layer's projections run.</summary>
    private sealed class Recorder(List<string> log, string name) : ILinearAdapter
    {
        public void AddTo(ReadOnlySpan<float> x, int rows, Span<float> y) => log.Add(name);
    }

    [Fact]
    public void Inference_and_training_run_the_same_block_code()
    {
        var model = ModelLoader.Load(ModelFixtureTests.FixtureDir("qwen2-bf16"));
        var log = new List<string>();
        foreach (var l in model.Linears().Where(l => l.Name != "lm_head")) l.Adapter = new Recorder(log, l.Name);
        int[] ids = [1, 5, 6, 7, 9, 11, 13, 2, 3, 4];
        var inference = model.Forward(ids, model.CreateCache(1, 16), LogitsMode.AllPositions);
        var inferenceOrder = log.ToList();
        log.Clear();
        var training = new OpenBook.Models.FineTuning.Backward.LlamaTrainingGraph(model)
            .Logits(new OpenBook.Models.FineTuning.Backward.SequenceBatch(1, ids.Length, ids, new float[ids.Length]));
        // Same projections in the same order (q, k, v, o, gate, up, down per layer), and the same function.
        Assert.Equal(7 * model.Config.NumHiddenLayers, inferenceOrder.Count);
        Assert.Equal(inferenceOrder, log);
        KernelTests.AssertClose(inference, training, 1e-4f);
    }
}

public class LinearAdapterTests
{
    private sealed class ScaledCopy(float scale) : ILinearAdapter
    {
        public int Calls;
        public void AddTo(ReadOnlySpan<float> x, int rows, Span<float> y)
        {
            Calls++;
            Assert.Equal(0, y.Length % rows);
            Assert.Equal(0, x.Length % rows);
            for (int r = 0; r < rows; r++) y[r * (y.Length / rows)] += scale * x[r * (x.Length / rows)];
        }
    }

    [Theory]
    [InlineData(1)]   // decode path (fused streaming)
    [InlineData(12)]  // prefill path (SGEMM)
    public void Adapters_on_linear_layers_change_the_forward_only_by_their_term(int tokens)
    {
        var model = ModelLoader.Load(ModelFixtureTests.FixtureDir("llama-tied"));
        var ids = Enumerable.Range(1, tokens).ToArray();
        var baseline = model.Forward(ids, model.CreateCache(1, 16));
        var zero = new ScaledCopy(0f);
        model.Layers[0].KProj.Adapter = zero;
        Assert.Equal(baseline, model.Forward(ids, model.CreateCache(1, 16)));
        Assert.Equal(1, zero.Calls);
        model.Layers[1].UpProj.Adapter = new ScaledCopy(0.5f);
        Assert.NotEqual(baseline, model.Forward(ids, model.CreateCache(1, 16)));
    }
}
