using System.Text;
using System.Text.Json.Nodes;
using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Models.Formats;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Tests.FineTuning;

namespace OpenBook.Models.Tests.Hostile;

/// <summary>
/// Model files are untrusted input: each malformed config.json, generation_config.json, safetensors header,
/// tokenizer.json, tokenizer_config.json or trainer_state.json is one <see cref="OpenBookException"/> naming the
/// file and the field (these used to be InvalidOperationException / FormatException stack traces, or were
/// accepted silently).
/// </summary>
public sealed class HostileModelFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "openbook-hostile-" + Guid.NewGuid().ToString("N"));

    public HostileModelFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string CopyFixture(string name)
    {
        string target = Path.Combine(_dir, name);
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(ModelFixtureTests.FixtureDir(name))) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        return target;
    }

    private static void Edit(string file, Action<JsonObject> edit)
    {
        var o = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        edit(o);
        File.WriteAllText(file, o.ToJsonString());
    }

    private static OpenBookException Refused(Action load, string file, params string[] expected)
    {
        var e = Assert.ThrowsAny<OpenBookException>(load);
        Assert.Contains(file, e.Message, StringComparison.Ordinal);
        foreach (var x in expected) Assert.Contains(x, e.Message, StringComparison.Ordinal);
        return e;
    }

    // ---- config.json ------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("num_attention_heads", "0", "field 'num_attention_heads' must be between 1 and")]
    [InlineData("architectures", "[5]", "field 'architectures[0]' must be a string")]
    [InlineData("tie_word_embeddings", "\"yes\"", "field 'tie_word_embeddings' must be true or false")]
    [InlineData("hidden_size", "\"64\"", "field 'hidden_size' must be an integer")]
    [InlineData("num_hidden_layers", "1.5", "field 'num_hidden_layers' must be an integer")]
    [InlineData("vocab_size", "-3", "field 'vocab_size' must be between 1 and")]
    [InlineData("rms_norm_eps", "-1", "field 'rms_norm_eps' must be greater than 0")]
    [InlineData("rope_theta", "\"NaN\"", "field 'rope_theta' must be a finite number")]
    [InlineData("num_key_value_heads", "3", "field 'num_key_value_heads' must")]
    [InlineData("bos_token_id", "-5", "field 'bos_token_id' must be between 0 and")]
    [InlineData("eos_token_id", "[2, \"x\"]", "field 'eos_token_id[1]' must be an integer")]
    [InlineData("max_position_embeddings", "0", "field 'max_position_embeddings' must be between 1 and")]
    [InlineData("torch_dtype", "5", "field 'torch_dtype' must be a string")]
    [InlineData("rope_scaling", "{\"rope_type\": \"linear\", \"factor\": -2}", "field 'rope_scaling.factor' must be greater than 0")]
    [InlineData("attention_bias", "1", "field 'attention_bias' must be true or false")]
    [InlineData("hidden_act", "[]", "field 'hidden_act' must be a string")]
    public void Malformed_config_json_field_is_named(string key, string json, string expected)
    {
        var dir = CopyFixture("llama-tied");
        Edit(Path.Combine(dir, "config.json"), o => o[key] = JsonNode.Parse(json));
        Refused(() => ModelLoader.Load(dir), "config.json", expected);
    }

    [Theory]
    [InlineData("temperature", "\"hot\"", "field 'temperature' must be a number")]
    [InlineData("top_p", "3", "field 'top_p' must be between 0 and 1")]
    [InlineData("pad_token_id", "-1", "field 'pad_token_id' must be")]
    [InlineData("do_sample", "\"yes\"", "field 'do_sample' must be true or false")]
    [InlineData("max_new_tokens", "0", "field 'max_new_tokens' must be at least 1")]
    public void Malformed_generation_config_field_is_named(string key, string json, string expected)
    {
        var dir = CopyFixture("llama-tied");
        Edit(Path.Combine(dir, "generation_config.json"), o => o[key] = JsonNode.Parse(json));
        Refused(() => GenerationConfig.Load(dir), "generation_config.json", expected);
    }

    // ---- safetensors ------------------------------------------------------------------------------------------

    private string RawSafetensors(string header, int dataBytes)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".safetensors");
        var h = Encoding.UTF8.GetBytes(header);
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)h.Length));
        f.Write(h);
        f.Write(new byte[dataBytes]);
        return path;
    }

    [Theory]
    [InlineData("""{"w":{"dtype":5,"shape":[1],"data_offsets":[0,4]}}""", "field 'w.dtype' must be a string")]
    [InlineData("""{"w":{"dtype":"F32","shape":["a"],"data_offsets":[0,4]}}""", "field 'w.shape[0]' must be an integer")]
    [InlineData("""{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", "field 'w.shape[0]' must be between 0 and")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":["0",4]}}""", "field 'w.data_offsets.begin' must be an integer")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}""", "has too many elements")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", "overlap")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"format":5}}""", "__metadata__['format'] must be a string")]
    public void Malformed_safetensors_header_is_named(string header, string expected)
    {
        var path = RawSafetensors(header, 16);
        Refused(() => SafetensorsFile.Open(path).Dispose(), path, expected);
    }

    [Fact]
    public void Non_finite_weights_are_detected_at_load()
    {
        var values = new float[37];
        values[29] = float.NaN;
        var f32 = Path.Combine(_dir, "nan.safetensors");
        SafetensorsWriter.Write(f32, [SafetensorsTensor.F32("model.norm.weight", values, 37)]);
        using (var file = SafetensorsFile.Open(f32))
            Refused(() => file.ReadFloat32("model.norm.weight"), "nan.safetensors", "tensor 'model.norm.weight' holds a non-finite value", "element 29");

        values[29] = 0;
        values[3] = float.PositiveInfinity;
        var bf16 = Path.Combine(_dir, "inf.safetensors");
        SafetensorsWriter.Write(bf16, [SafetensorsTensor.BF16("w", values, 37)]);
        using (var file = SafetensorsFile.Open(bf16))
            Refused(() => file.ReadBf16("w"), "inf.safetensors", "tensor 'w' holds a non-finite value", "element 3");
    }

    [Fact]
    public void Nan_in_a_real_checkpoint_stops_the_model_load_with_the_tensor_name()
    {
        var dir = CopyFixture("llama-tied");
        var path = Path.Combine(dir, "model.safetensors");
        string name;
        long offset;
        byte[] nan;
        using (var file = SafetensorsFile.Open(path))
        {
            var info = file.Tensors.Values.First(t => t.Name.EndsWith("input_layernorm.weight", StringComparison.Ordinal));
            name = info.Name;
            offset = 8 + BitConverter.ToInt64(File.ReadAllBytes(path), 0) + info.Begin;
            nan = info.Dtype switch
            {
                SafetensorsDtype.F32 => BitConverter.GetBytes(float.NaN),
                SafetensorsDtype.BF16 => BitConverter.GetBytes((ushort)0x7FC0),
                _ => BitConverter.GetBytes(Half.NaN),
            };
        }
        var bytes = File.ReadAllBytes(path);
        Array.Copy(nan, 0, bytes, offset, nan.Length);
        File.WriteAllBytes(path, bytes);
        Refused(() => ModelLoader.Load(dir), "model.safetensors", $"tensor '{name}' holds a non-finite value");
    }

    [Fact]
    public void Shard_name_that_leaves_the_model_directory_is_refused()
    {
        var dir = CopyFixture("llama-untied-sharded");
        var index = Path.Combine(dir, SafetensorsCheckpoint.IndexFileName);
        Edit(index, o =>
        {
            var map = o["weight_map"]!.AsObject();
            var first = map.First().Key;
            map[first] = "../llama-tied/model.safetensors";
        });
        Refused(() => SafetensorsCheckpoint.Open(dir).Dispose(), SafetensorsCheckpoint.IndexFileName, "must be a file name in the model directory");
    }

    // ---- tokenizer.json / tokenizer_config.json ---------------------------------------------------------------

    private string CopyTokenizer()
    {
        var dir = Path.Combine(_dir, "tok");
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(Path.Combine(ModelFixtureTests.FixtureDir("tokenizer"), "smollm2")))
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    [Fact]
    public void Negative_or_non_numeric_token_ids_in_tokenizer_json_are_named()
    {
        var dir = CopyTokenizer();
        var tj = Path.Combine(dir, "tokenizer.json");
        var original = File.ReadAllText(tj);
        Edit(tj, o => o["model"]!["vocab"]!.AsObject().First().Value!.ReplaceWith(-5));
        Refused(() => HfTokenizer.FromDirectory(dir), "tokenizer.json", "must be a token id", "found -5");

        File.WriteAllText(tj, original);
        Edit(tj, o => o["added_tokens"]![0]!["id"] = "x");
        Refused(() => HfTokenizer.FromDirectory(dir), "tokenizer.json", "added_tokens[0].id must be a token id");

        File.WriteAllText(tj, original);
        Edit(tj, o => o["added_tokens"]![0]!["special"] = "yes");
        Refused(() => HfTokenizer.FromDirectory(dir), "tokenizer.json", "'special' must be true or false");
    }

    [Fact]
    public void Errors_in_tokenizer_config_json_name_that_file()
    {
        var dir = CopyTokenizer();
        var tc = Path.Combine(dir, "tokenizer_config.json");
        if (!File.Exists(tc)) File.WriteAllText(tc, "{}");
        var original = File.ReadAllText(tc);

        File.WriteAllText(tc, "{ \"add_bos_token\": ");
        var e = Refused(() => HfTokenizer.FromDirectory(dir), "tokenizer_config.json", "invalid JSON");
        Assert.DoesNotContain("tokenizer.json", e.Message.Replace("tokenizer_config.json", ""), StringComparison.Ordinal);

        File.WriteAllText(tc, original);
        Edit(tc, o => o["add_bos_token"] = "yes");
        e = Refused(() => HfTokenizer.FromDirectory(dir), "tokenizer_config.json", "'add_bos_token' must be true or false");
        Assert.DoesNotContain("tokenizer.json", e.Message.Replace("tokenizer_config.json", ""), StringComparison.Ordinal);

        File.WriteAllText(tc, original);
        Edit(tc, o => o["added_tokens_decoder"] = new JsonObject { ["-5"] = new JsonObject { ["content"] = "<evil>", ["special"] = true } });
        Refused(() => HfTokenizer.FromDirectory(dir), "tokenizer_config.json", "\"-5\" must be a token id");
    }

    // ---- trainer_state.json ----------------------------------------------------------------------------------

    [Theory]
    [InlineData("global_step", "\"x\"", "field 'global_step' must be an integer")]
    [InlineData("learning_rate", "\"NaN\"", "field 'learning_rate' must be a finite number")]
    [InlineData("learning_rate", "-0.1", "field 'learning_rate' must be greater than 0")]
    [InlineData("tokens", "-1", "field 'tokens' must be at least 0")]
    [InlineData("elapsed_seconds", "\"long\"", "field 'elapsed_seconds' must be a number")]
    [InlineData("best_eval_loss", "\"low\"", "field 'best_eval_loss' must be a number")]
    [InlineData("micro_index", "1000000", "field 'micro_index' must be at most micro_batches_per_epoch")]
    [InlineData("adam_step", "-2", "field 'adam_step' must be at least 0")]
    public void Malformed_trainer_state_field_is_named(string key, string json, string expected)
    {
        using var dir = new TempDirectory();
        (LoraModel Lora, ITrainingBatches Data, IReadOnlyList<SequenceBatch> Val) Setup()
        {
            var model = TinyModels.Model(TinyModels.Config(tied: false), std: 0.2f);
            var lora = LoraModel.Create(model, new LoraConfig { Rank = 2, Alpha = 4 }, seed: 3);
            var batches = Enumerable.Range(0, 2).Select(i => TinyModels.Batch(40, 1, 4, seed: 100 + i)).ToList();
            return (lora, new ShuffledBatches(batches, 7), [TinyModels.Batch(40, 1, 4, seed: 999)]);
        }
        var options = new TrainerOptions { Epochs = 1, LearningRate = 1e-2, EvalEvery = 0, Seed = 5 };
        var (lora, data, val) = Setup();
        new ModelTrainer(lora, data, val, options, dir.Path).Run();
        var state = Path.Combine(dir.Path, "checkpoint", "trainer_state.json");
        Assert.True(File.Exists(state));
        Edit(state, o => o[key] = JsonNode.Parse(json));
        var (lora2, data2, val2) = Setup();
        Refused(() => new ModelTrainer(lora2, data2, val2, options, dir.Path).Resume(), "trainer_state.json", expected);
    }
}
