using System.Text.Json.Nodes;
using OpenBook.Models.Architectures;
using OpenBook.Models.Formats;

namespace OpenBook.Models.Tests;

/// <summary>Model directory formats: safetensors reader/writer, sharded index, config.json, generation_config.json, and clear errors.</summary>
public sealed class ModelDirectoryTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "openbook-models-" + Guid.NewGuid().ToString("N"));

    public ModelDirectoryTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string CopyFixture(string name)
    {
        string target = Path.Combine(_dir, name);
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(ModelFixtureTests.FixtureDir(name))) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        return target;
    }

    private static void EditConfig(string dir, Action<JsonObject> edit)
    {
        string path = Path.Combine(dir, "config.json");
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(o);
        File.WriteAllText(path, o.ToJsonString());
    }

    private static string LoadError(string dir) => Assert.Throws<OpenBookException>(() => ModelLoader.Load(dir)).Message;

    [Fact]
    public void Missing_directory_config_and_weights_are_named()
    {
        Assert.Contains("model directory not found", LoadError(Path.Combine(_dir, "nope")));
        string dir = CopyFixture("llama-tied");
        File.Delete(Path.Combine(dir, "model.safetensors"));
        var msg = LoadError(dir);
        Assert.Contains("missing model weights", msg);
        Assert.Contains("model.safetensors", msg);
        File.Delete(Path.Combine(dir, "config.json"));
        Assert.Contains("missing config.json", LoadError(dir));
    }

    [Fact]
    public void Unsupported_architecture_lists_the_supported_ones()
    {
        string dir = CopyFixture("llama-tied");
        EditConfig(dir, o => o["architectures"] = new JsonArray("GPT2LMHeadModel"));
        var msg = LoadError(dir);
        Assert.Contains("unsupported architecture 'GPT2LMHeadModel'", msg);
        Assert.Contains("LlamaForCausalLM", msg);
        Assert.Contains("config.json", msg);
    }

    [Fact]
    public void Shape_mismatch_names_tensor_file_and_both_shapes()
    {
        string dir = CopyFixture("mistral");
        EditConfig(dir, o => o["intermediate_size"] = 100);
        var msg = LoadError(dir);
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", msg);
        Assert.Contains("[128, 64]", msg);
        Assert.Contains("expected [100, 64]", msg);
        Assert.Contains("model.safetensors", msg);
    }

    [Fact]
    public void Truncated_safetensors_is_reported_as_truncated()
    {
        string dir = CopyFixture("llama-tied");
        string file = Path.Combine(dir, "model.safetensors");
        using (var fs = new FileStream(file, FileMode.Open)) fs.SetLength(fs.Length - 1000);
        var msg = LoadError(dir);
        Assert.Contains("truncated safetensors file", msg);
        Assert.Contains(file, msg);
        using (var fs = new FileStream(file, FileMode.Open)) fs.SetLength(50);
        Assert.Contains("truncated safetensors file", LoadError(dir));
        using (var fs = new FileStream(file, FileMode.Open)) fs.SetLength(3);
        Assert.Contains("truncated safetensors file", LoadError(dir));
    }

    [Fact]
    public void Broken_config_json_names_line_or_field()
    {
        string dir = CopyFixture("llama-tied");
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\n  \"hidden_size\": 64,\n  oops\n}");
        Assert.Contains("invalid JSON at line 3", LoadError(dir));
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"architectures\": [\"LlamaForCausalLM\"], \"num_attention_heads\": 4}");
        Assert.Contains("missing required field 'hidden_size'", LoadError(dir));
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": \"big\", \"num_attention_heads\": 4}");
        Assert.Contains("field 'hidden_size' must be an integer", LoadError(dir));
    }

    [Fact]
    public void Sharded_index_with_missing_shard_or_tensor_is_reported()
    {
        string dir = CopyFixture("llama-untied-sharded");
        File.Delete(Path.Combine(dir, "model-00002-of-00002.safetensors"));
        var msg = LoadError(dir);
        Assert.Contains("model-00002-of-00002.safetensors", msg);
        Assert.Contains("missing", msg);

        string dir2 = CopyFixture("llama-tied");
        string index = Path.Combine(dir2, SafetensorsCheckpoint.IndexFileName);
        File.WriteAllText(index, "{\"weight_map\": {\"model.norm.weight\": \"model.safetensors\"}}");
        Assert.Contains("tensor 'model.embed_tokens.weight' is missing", LoadError(dir2));
    }

    [Fact]
    public void Writer_round_trips_single_file_and_shards_that_load_to_the_same_logits()
    {
        var original = ModelLoader.Load(ModelFixtureTests.FixtureDir("llama-untied-sharded"));
        var tensors = new List<SafetensorsTensor>();
        using (var ckpt = SafetensorsCheckpoint.Open(ModelFixtureTests.FixtureDir("llama-untied-sharded")))
            foreach (var name in ckpt.Names)
                tensors.Add(SafetensorsTensor.F32(name, ckpt.ReadFloat32(name), ckpt.Info(name).Shape));

        foreach (var (sub, maxShard) in new[] { ("single", 1L << 30), ("shards", 100_000L) })
        {
            string dir = Path.Combine(_dir, sub);
            SafetensorsWriter.WriteCheckpoint(dir, tensors, maxShard);
            File.Copy(Path.Combine(ModelFixtureTests.FixtureDir("llama-untied-sharded"), "config.json"), Path.Combine(dir, "config.json"));
            bool sharded = File.Exists(Path.Combine(dir, SafetensorsCheckpoint.IndexFileName));
            Assert.Equal(sub == "shards", sharded);
            if (sharded) Assert.True(Directory.GetFiles(dir, "model-*-of-*.safetensors").Length > 2);
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
            var copy = ModelLoader.Load(dir);
            int[] ids = [1, 2, 3, 4, 5];
            Assert.Equal(original.Forward(ids, original.CreateCache(1, 8)), copy.Forward(ids, copy.CreateCache(1, 8)));
        }
    }

    [Fact]
    public void Bf16_tensor_written_and_read_back_keeps_its_bits()
    {
        string file = Path.Combine(_dir, "t.safetensors");
        float[] values = [1f, -2.5f, 3.14159f, 1e-3f, 0f, 65504f];
        SafetensorsWriter.Write(file, [SafetensorsTensor.BF16("w", values, 2, 3), SafetensorsTensor.F32("b", [7f], 1)],
            new Dictionary<string, string> { ["format"] = "pt" });
        using var st = SafetensorsFile.Open(file);
        Assert.Equal(SafetensorsDtype.BF16, st.Info("w").Dtype);
        Assert.Equal(new long[] { 2, 3 }, st.Info("w").Shape);
        Assert.Equal("pt", st.Metadata["format"]);
        var back = st.ReadFloat32("w");
        for (int i = 0; i < values.Length; i++) Assert.Equal(Kernels.Bf16.ToFloat(Kernels.Bf16.FromFloat(values[i])), back[i]);
        Assert.Equal([7f], st.ReadFloat32("b"));
        // Header length is a multiple of 8, as HF writes it.
        Assert.Equal(0, BitConverter.ToInt64(File.ReadAllBytes(file), 0) % 8);
    }

    [Fact]
    public void Config_and_generation_config_are_parsed_with_hf_defaults()
    {
        var qwen = ModelConfig.Load(ModelFixtureTests.FixtureDir("qwen2-bf16"));
        Assert.Equal("Qwen2ForCausalLM", qwen.Architecture);
        Assert.Null(qwen.SlidingWindow); // use_sliding_window = false
        Assert.Equal([2, 3], qwen.EosTokenIds);
        Assert.Equal(16, qwen.HeadDim);
        Assert.True(qwen.TieWordEmbeddings);
        var mistral = ModelConfig.Load(ModelFixtureTests.FixtureDir("mistral"));
        Assert.Equal(4, mistral.SlidingWindow);
        var llama = ModelConfig.Load(ModelFixtureTests.FixtureDir("llama-tied"));
        Assert.Equal("llama3", llama.RopeScaling!.Type);
        Assert.Equal(64, llama.RopeScaling.OriginalMaxPositionEmbeddings);

        var gen = GenerationConfig.Load(ModelFixtureTests.FixtureDir("qwen2-bf16"))!;
        Assert.Equal([2, 3], gen.EosTokenIds);
        Assert.Equal(0.7f, gen.Temperature);
        Assert.Equal(20, gen.TopK);
        Assert.Equal(0.9f, gen.TopP);
        Assert.Equal(1.05f, gen.RepetitionPenalty);
        Assert.Equal(64, gen.MaxNewTokens);
        Assert.True(gen.DoSample);
        Assert.Null(GenerationConfig.Load(_dir));
    }
}
