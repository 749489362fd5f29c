using Microsoft.Extensions.AI;
using OpenBook.Models.Architectures;
using OpenBook.Models.Chat;
using OpenBook.Models.FineTuning;
using OpenBook.Models.FineTuning.Datasets;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Models.Formats;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Generation;
using OpenBook.Models.Tests.Tokenization;

namespace OpenBook.Models.Tests.FineTuning;

/// <summary>End to end on a tiny random model: a LoRA run over chat data makes the model recall its training answers.</summary>
public class MemorisationTests
{
    private static readonly (string Q, string A)[] Facts =
    [
        ("Who approves travel over 2000 euros?", "The CFO approves it."),
        ("How many vacation days in Berlin?", "30 working days."),
        ("Which VPN client do we use?", "WireGuard on every laptop."),
        ("When are expense reports due?", "By the 5th of the month."),
    ];

    [Fact]
    public async Task Fine_tuned_tiny_model_recalls_training_answers_the_base_model_did_not()
    {
        using var dir = new TempDirectory();
        var modelDir = Path.Combine(dir.Path, "base");
        Directory.CreateDirectory(modelDir);
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(Fixtures.Tokenizer("smollm2"), f), Path.Combine(modelDir, f));
        var tok = HfTokenizer.FromDirectory(modelDir);
        var config = new ModelConfig
        {
            Architecture = "LlamaForCausalLM", HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            HeadDim = 16, VocabSize = tok.VocabSize, TieWordEmbeddings = true, MaxPositionEmbeddings = 512, RmsNormEps = 1e-5,
            EosTokenIds = tok.EosTokenId is { } e ? [e] : [],
        };
        // Weights with a larger spread than HF's 0.02 init: with a tiny hidden size, 0.02 caps every logit near zero, so no adapter
        // could make any answer likely (a real checkpoint has grown its embedding norms in pretraining).
        LoraAdapterTests.WriteModelDirectory(ModelLoader.Create(config, new SpreadWeights(7, 0.3f)), modelDir);
        var data = Path.Combine(dir.Path, "train.jsonl");
        File.WriteAllLines(data, Facts.Select(f => System.Text.Json.JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = f.Q }, new { role = "assistant", content = f.A } },
        })));

        async Task<List<string>> Answers(string? adapter)
        {
            using var client = LocalChatClient.Load(modelDir, adapter: adapter);
            var list = new List<string>();
            foreach (var (q, _) in Facts)
                list.Add((await client.GetResponseAsync([new ChatMessage(ChatRole.User, q)], new ChatOptions { Temperature = 0, MaxOutputTokens = 24 })).Text.Trim());
            return list;
        }
        var before = await Answers(null);

        var adapterDir = Path.Combine(dir.Path, "adapter");
        var result = new FineTuneJob(new FineTuneOptions
        {
            ModelDirectory = modelDir, DataPath = data, OutputDirectory = adapterDir, MaxLength = 128,
            Lora = new LoraConfig { Rank = 16, Alpha = 32, Dropout = 0 },
            Trainer = new TrainerOptions { Epochs = 60, LearningRate = 1e-2, WarmupSteps = 5, GradientAccumulation = 1, Seed = 3 },
        }).Run();
        Assert.True(result.Training.FinalLoss < 0.1, $"final loss {result.Training.FinalLoss}");
        var after = await Answers(adapterDir);

        for (int i = 0; i < Facts.Length; i++)
        {
            Assert.NotEqual(Facts[i].A, before[i]);
            Assert.Equal(Facts[i].A, after[i]);
        }
    }
}

/// <summary>The same facts, learned by full fine-tuning (every weight) of the tiny model; the result is a model directory.</summary>
public class FullFineTuneMemorisationTests
{
    [Fact]
    public async Task Full_fine_tuned_tiny_model_recalls_training_answers_and_resumes_exactly()
    {
        using var dir = new TempDirectory();
        var modelDir = Path.Combine(dir.Path, "base");
        Directory.CreateDirectory(modelDir);
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(Fixtures.Tokenizer("smollm2"), f), Path.Combine(modelDir, f));
        var tok = HfTokenizer.FromDirectory(modelDir);
        var config = new ModelConfig
        {
            Architecture = "LlamaForCausalLM", HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            HeadDim = 16, VocabSize = tok.VocabSize, TieWordEmbeddings = true, MaxPositionEmbeddings = 512, RmsNormEps = 1e-5,
            EosTokenIds = tok.EosTokenId is { } e ? [e] : [],
        };
        LoraAdapterTests.WriteModelDirectory(ModelLoader.Create(config, new SpreadWeights(7, 0.3f)), modelDir);
        var data = Path.Combine(dir.Path, "train.jsonl");
        File.WriteAllLines(data, Facts().Select(f => System.Text.Json.JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = f.Q }, new { role = "assistant", content = f.A } },
        })));

        FineTuneOptions Options(string outDir, bool resume = false) => new()
        {
            ModelDirectory = modelDir, DataPath = data, OutputDirectory = outDir, MaxLength = 128, Method = FineTuneMethod.Full, Resume = resume,
            Trainer = new TrainerOptions { Epochs = 30, LearningRate = 3e-3, WarmupSteps = 5, GradientAccumulation = 1, Seed = 3, WeightDecay = 0.01 },
        };
        var outDir = Path.Combine(dir.Path, "full");
        var result = new FineTuneJob(Options(outDir)).Run();
        Assert.Equal(FineTuneMethod.Full, result.Method);
        Assert.True(result.Training.FinalLoss < 0.1, $"final loss {result.Training.FinalLoss}");
        Assert.Equal(16 * result.TrainableParameters, result.TrainingStateBytes);

        // The output is a plain model directory (weights, config, tokenizer): chat with it directly.
        foreach (var f in new[] { "model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        using (var client = LocalChatClient.Load(outDir))
            foreach (var (q, a) in Facts())
                Assert.Equal(a, (await client.GetResponseAsync([new ChatMessage(ChatRole.User, q)], new ChatOptions { Temperature = 0, MaxOutputTokens = 24 })).Text.Trim());

        // Exact resume: interrupted after step 7 (Ctrl-C), then resumed to the end, gives the same weights as one run.
        var split = Path.Combine(dir.Path, "split");
        using var cts = new CancellationTokenSource();
        var partial = new FineTuneJob(Options(split)).Run(new Inline(p => { if (p.Step == 7) cts.Cancel(); }), cts.Token);
        Assert.True(partial.Training.Interrupted);
        Assert.Equal(7, partial.Training.Steps);
        var resumed = new FineTuneJob(Options(split, resume: true)).Run();
        Assert.Equal(result.Training.Steps, resumed.Training.Steps);
        using var a1 = SafetensorsFile.Open(Path.Combine(outDir, "model.safetensors"));
        using var a2 = SafetensorsFile.Open(Path.Combine(split, "model.safetensors"));
        foreach (var name in a1.Tensors.Keys) Assert.Equal(a1.ReadFloat32(name), a2.ReadFloat32(name));
    }

    private sealed class Inline(Action<TrainerProgress> a) : IProgress<TrainerProgress>
    {
        public void Report(TrainerProgress value) => a(value);
    }

    private static (string Q, string A)[] Facts() =>
    [
        ("Who approves travel over 2000 euros?", "The CFO approves it."),
        ("How many vacation days in Berlin?", "30 working days."),
        ("Which VPN client do we use?", "WireGuard on every laptop."),
        ("When are expense reports due?", "By the 5th of the month."),
    ];
}
