using System.Text.Json.Nodes;
using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.Formats;

namespace OpenBook.Models.Tests.FineTuning;

public class LoraAdapterTests
{
    private static float[] Logits(LlamaForCausalLM model, int[] tokens) =>
        model.Forward(tokens, model.CreateCache(1, tokens.Length), LogitsMode.AllPositions);

    private static readonly int[] Tokens = [3, 17, 5, 22, 9, 31, 2, 11];

    [Fact]
    public void New_adapter_starts_as_the_base_model_with_peft_initialisation()
    {
        var model = TinyModels.Model(TinyModels.Config());
        var before = Logits(model, Tokens);
        var lora = LoraModel.Create(model, new LoraConfig { Rank = 4, Alpha = 8 }, seed: 1);
        Assert.Equal(2 * 7, lora.Adapters.Count);
        Assert.Equal(before, Logits(model, Tokens));
        foreach (var a in lora.Adapters)
        {
            Assert.All(a.B, v => Assert.Equal(0f, v));
            float bound = 1f / MathF.Sqrt(a.InFeatures);
            Assert.All(a.A, v => Assert.InRange(v, -bound, bound));
            Assert.Contains(a.A, v => Math.Abs(v) > bound / 2);
        }
        Assert.Equal(2f, lora.Adapters[0].Scaling);
        Assert.Equal(4f, new LoraConfig { Rank = 4, Alpha = 8, UseRsLora = true }.Scaling);
    }

    [Fact]
    public void Saved_adapter_is_peft_format_and_reloads_to_identical_logits()
    {
        using var dir = new TempDirectory();
        var model = TinyModels.Model(TinyModels.Config("Qwen2ForCausalLM", bias: true));
        var lora = TinyModels.Lora(model, new LoraConfig { Rank = 3, Alpha = 6, TargetModules = ["q_proj", "v_proj", "down_proj"], BaseModel = "tiny" });
        var adapted = Logits(model, Tokens);
        lora.Save(dir.Path);

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "adapter_config.json")))!;
        Assert.Equal("LORA", (string?)config["peft_type"]);
        Assert.Equal("CAUSAL_LM", (string?)config["task_type"]);
        Assert.Equal(3, (int)config["r"]!);
        Assert.Equal(6.0, (double)config["lora_alpha"]!);
        Assert.Equal(["q_proj", "v_proj", "down_proj"], config["target_modules"]!.AsArray().Select(n => (string)n!));
        using (var file = SafetensorsFile.Open(Path.Combine(dir.Path, "adapter_model.safetensors")))
        {
            var info = file.Info("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
            Assert.Equal([3L, 16L], info.Shape);
            Assert.Equal([16L, 3L], file.Info("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight").Shape);
            Assert.Equal(2 * 3 * 2, file.Tensors.Count);
        }

        lora.Detach();
        var fresh = TinyModels.Model(TinyModels.Config("Qwen2ForCausalLM", bias: true));
        Assert.NotEqual(adapted, Logits(fresh, Tokens));
        var loaded = LoraModel.Load(fresh, dir.Path);
        Assert.Equal(adapted, Logits(fresh, Tokens));
        Assert.Equal(lora.TrainableParameters, loaded.TrainableParameters);
    }

    [Fact]
    public void Merged_model_equals_base_plus_adapter()
    {
        var model = TinyModels.Model(TinyModels.Config(tied: false));
        var lora = TinyModels.Lora(model, new LoraConfig { Rank = 4, Alpha = 16 });
        var adapted = Logits(model, Tokens);
        lora.MergeIntoBase();
        Assert.All(model.Linears(), l => Assert.Null(l.Adapter));
        var merged = Logits(model, Tokens);
        for (int i = 0; i < adapted.Length; i++) Assert.True(Math.Abs(adapted[i] - merged[i]) < 1e-5, $"{i}: {adapted[i]} vs {merged[i]}");
    }

    /// <summary>Writes <paramref name="model"/> as an HF directory (config.json + model.safetensors).</summary>
    internal static void WriteModelDirectory(LlamaForCausalLM model, string dir, bool bf16 = false)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), (model.Config with { TorchDtype = bf16 ? "bfloat16" : "float32" }).ToJson());
        SafetensorsWriter.WriteCheckpoint(dir, OpenBook.Models.FineTuning.Export.MergedModelExport.Tensors(model, bf16));
    }

    [Fact]
    public void Exported_merged_model_directory_equals_base_plus_adapter()
    {
        using var dir = new TempDirectory();
        var baseDir = Path.Combine(dir.Path, "base");
        WriteModelDirectory(TinyModels.Model(TinyModels.Config("Qwen2ForCausalLM", tied: false, bias: true)), baseDir);
        File.WriteAllText(Path.Combine(baseDir, "tokenizer.json"), "{}");
        var model = ModelLoader.Load(baseDir);
        var lora = TinyModels.Lora(model, new LoraConfig { Rank = 2, Alpha = 4 });
        var adapted = Logits(model, Tokens);
        lora.Save(Path.Combine(dir.Path, "adapter"));

        var files = OpenBook.Models.FineTuning.Export.MergedModelExport.Write(baseDir, Path.Combine(dir.Path, "adapter"), Path.Combine(dir.Path, "merged"));
        Assert.Contains(files, f => f.EndsWith("tokenizer.json", StringComparison.Ordinal));
        var merged = Logits(ModelLoader.Load(Path.Combine(dir.Path, "merged")), Tokens);
        for (int i = 0; i < adapted.Length; i++) Assert.True(Math.Abs(adapted[i] - merged[i]) < 1e-5, $"{i}: {adapted[i]} vs {merged[i]}");
    }

    [Fact]
    public void Peft_state_dict_names_with_the_adapter_name_also_load()
    {
        using var dir = new TempDirectory();
        var model = TinyModels.Model(TinyModels.Config());
        var lora = TinyModels.Lora(model, new LoraConfig { Rank = 2, Alpha = 2, TargetModules = ["o_proj"] });
        var expected = Logits(model, Tokens);
        lora.Detach();
        File.WriteAllText(Path.Combine(dir.Path, "adapter_config.json"), lora.Config.ToPeftJson());
        SafetensorsWriter.Write(Path.Combine(dir.Path, "adapter_model.safetensors"),
            lora.Tensors().Select(t => t with { Name = t.Name.Replace(".weight", ".default.weight") }));
        LoraModel.Load(model, dir.Path);
        Assert.Equal(expected, Logits(model, Tokens));
    }

    [Theory]
    [InlineData("{\"peft_type\":\"IA3\",\"r\":2,\"target_modules\":[\"q_proj\"]}", "peft_type 'IA3'")]
    [InlineData("{\"peft_type\":\"LORA\",\"r\":2,\"use_dora\":true,\"target_modules\":[\"q_proj\"]}", "use_dora")]
    [InlineData("{\"peft_type\":\"LORA\",\"r\":2,\"bias\":\"all\",\"target_modules\":[\"q_proj\"]}", "bias = 'all'")]
    [InlineData("{\"peft_type\":\"LORA\",\"r\":0,\"target_modules\":[\"q_proj\"]}", "rank must be")]
    [InlineData("{\"peft_type\":\"LORA\",\"r\":2}", "target_modules is missing")]
    [InlineData("{not json", "invalid JSON")]
    public void Unsupported_or_broken_adapter_configs_are_reported(string json, string expected)
    {
        var e = Assert.Throws<OpenBookException>(() => LoraConfig.FromPeftJson(json, "adapter_config.json"));
        Assert.Contains(expected, e.Message);
        Assert.Contains("adapter_config.json", e.Message);
    }

    [Fact]
    public void Adapter_for_another_model_is_rejected_with_the_tensor_name()
    {
        using var dir = new TempDirectory();
        var model = TinyModels.Model(TinyModels.Config());
        LoraModel.Create(model, new LoraConfig { Rank = 2, Alpha = 2 }, 1).Save(dir.Path);
        var wider = TinyModels.Model(TinyModels.Config() with { IntermediateSize = 32 });
        var e = Assert.Throws<OpenBookException>(() => LoraModel.Load(wider, dir.Path));
        Assert.Contains("gate_proj.lora_B.weight", e.Message);
        Assert.All(wider.Linears(), l => Assert.Null(l.Adapter));
    }

    [Fact]
    public void Target_parsing_accepts_short_names_and_all_linear()
    {
        Assert.Equal(["q_proj", "v_proj"], LoraConfig.ParseTargets("q,v"));
        Assert.Equal(LoraConfig.AllLinear, LoraConfig.ParseTargets("all-linear"));
        Assert.Throws<OpenBookException>(() => LoraConfig.ParseTargets("q,lm_head"));
        var regex = new LoraConfig { TargetPattern = @".*layers\.1\..*(q|k)_proj" };
        var model = TinyModels.Model(TinyModels.Config());
        var lora = LoraModel.Create(model, regex, 1);
        Assert.Equal(["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.k_proj"], lora.Adapters.Select(a => a.Module));
        _ = new LlamaTrainingGraph(model).ForwardBackward(TinyModels.Batch(40, 1, 5, 2), 1f);
    }
}
