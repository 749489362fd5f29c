using OpenBook.Models.Architectures;
using OpenBook.Models.Formats;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.FineTuning.Lora;

/// <summary>
/// A frozen base model with LoRA adapters on its target projections, in PEFT's format:
/// <c>adapter_config.json</c> + <c>adapter_model.safetensors</c> with tensors named
/// <c>base_model.model.{module}.lora_A.weight</c> / <c>.lora_B.weight</c>. Attaching sets each target
/// <see cref="Linear.Adapter"/>, so every forward path (generation, chat, eval) uses the adapter without merging.
/// </summary>
public sealed class LoraModel : Trainer.ITrainableModel
{
    /// <summary>File name of the adapter weights.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";
    /// <summary>File name of the adapter configuration.</summary>
    public const string ConfigFileName = "adapter_config.json";

    private LoraModel(LlamaForCausalLM model, LoraConfig config, IReadOnlyList<LoraLinear> adapters)
    {
        Model = model; Config = config; Adapters = adapters;
    }

    /// <summary>The base model (its weights are never changed except by <see cref="MergeIntoBase"/>).</summary>
    public LlamaForCausalLM Model { get; }
    /// <summary>The adapter configuration.</summary>
    public LoraConfig Config { get; }
    /// <summary>One adapter per targeted projection, in model order.</summary>
    public IReadOnlyList<LoraLinear> Adapters { get; }

    /// <inheritdoc />
    Backward.WeightGradients? Trainer.ITrainableModel.WeightGradients => null;

    /// <summary>Trainable parameters (all A and B values).</summary>
    public long TrainableParameters => Adapters.Sum(a => (long)a.A.Length + a.B.Length);

    /// <summary>Every A and B with its gradient under its PEFT tensor name, in model order (what the optimizer updates).</summary>
    public IReadOnlyList<Trainer.Parameter> Parameters() =>
        [.. Adapters.SelectMany(a => new[] { new Trainer.Parameter(a.PeftNameA, a.A, a.GradA), new Trainer.Parameter(a.PeftNameB, a.B, a.GradB) })];

    /// <summary>
    /// New adapters with PEFT's initialisation: A ~ Kaiming-uniform(a = √5), i.e. U(−1/√in, 1/√in); B = 0, so the
    /// adapted model starts exactly equal to the base model.
    /// </summary>
    public static LoraModel Create(LlamaForCausalLM model, LoraConfig config, int seed)
    {
        config.Validate();
        var rng = new Random(seed);
        return Attach(model, config, (linear, r) =>
        {
            var a = new float[r * linear.InFeatures];
            float bound = 1f / MathF.Sqrt(linear.InFeatures);
            for (int i = 0; i < a.Length; i++) a[i] = (rng.NextSingle() * 2f - 1f) * bound;
            return (a, new float[linear.OutFeatures * r]);
        });
    }

    /// <summary>Loads a PEFT LoRA adapter directory (made by OpenBook or by PEFT's <c>save_pretrained</c>) onto <paramref name="model"/>.</summary>
    public static LoraModel Load(LlamaForCausalLM model, string directory)
    {
        var configPath = Path.Combine(directory, ConfigFileName);
        var weightsPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(configPath)) throw new OpenBookException($"{directory}: not a LoRA adapter ({ConfigFileName} not found).");
        if (!File.Exists(weightsPath))
            throw new OpenBookException(File.Exists(Path.Combine(directory, "adapter_model.bin"))
                ? $"{directory}: adapter_model.bin (pickle) is not supported; save the adapter with safe_serialization=True."
                : $"{directory}: {WeightsFileName} not found.");
        var config = LoraConfig.FromPeftJson(File.ReadAllText(configPath), configPath);
        using var file = SafetensorsFile.Open(weightsPath);
        var byName = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in file.Tensors.Keys)
        {
            // PEFT writes "….lora_A.weight"; in-memory state dicts carry the adapter name ("….lora_A.default.weight").
            var canonical = name.Replace(".lora_A.default.weight", ".lora_A.weight").Replace(".lora_B.default.weight", ".lora_B.weight");
            byName[canonical] = name;
        }
        var used = new HashSet<string>(StringComparer.Ordinal);
        var lora = Attach(model, config, (linear, r) =>
        {
            string prefix = $"base_model.model.{linear.Name}";
            float[] Read(string suffix, long rows, long cols)
            {
                if (!byName.TryGetValue(prefix + suffix, out var stored))
                    throw new OpenBookException($"{weightsPath}: tensor '{prefix + suffix}' is missing (target_modules includes {linear.Name}).");
                var info = file.Info(stored);
                if (info.Shape.Length != 2 || info.Shape[0] != rows || info.Shape[1] != cols)
                    throw new OpenBookException($"{weightsPath}: '{stored}' has shape {info.ShapeText}, expected [{rows}, {cols}].");
                used.Add(stored);
                return file.ReadFloat32(stored);
            }
            return (Read(".lora_A.weight", r, linear.InFeatures), Read(".lora_B.weight", linear.OutFeatures, r));
        });
        var extra = file.Tensors.Keys.Where(n => !used.Contains(n)).ToList();
        if (extra.Count > 0)
        {
            lora.Detach();
            throw new OpenBookException($"{weightsPath}: {extra.Count} tensor(s) match no adapted layer of this model, e.g. '{extra[0]}' (wrong base model, or unsupported PEFT options).");
        }
        return lora;
    }

    private static LoraModel Attach(LlamaForCausalLM model, LoraConfig config, Func<Linear, int, (float[] A, float[] B)> init)
    {
        var adapters = new List<LoraLinear>();
        foreach (var linear in model.Linears())
        {
            if (linear.Name == "lm_head" || !config.Targets(linear.Name)) continue;
            if (linear.Adapter is not null) throw new OpenBookException($"{linear.Name} already has an adapter attached.");
            var (a, b) = init(linear, config.Rank);
            adapters.Add(new LoraLinear(linear.Name, linear.InFeatures, linear.OutFeatures, config.Rank, config.Scaling, (float)config.Dropout, a, b));
        }
        if (adapters.Count == 0)
            throw new OpenBookException($"target_modules [{string.Join(", ", config.TargetModules)}{config.TargetPattern}] matches no linear layer of this model.");
        var byName = adapters.ToDictionary(a => a.Module);
        foreach (var linear in model.Linears())
            if (byName.TryGetValue(linear.Name, out var adapter)) linear.Adapter = adapter;
        return new LoraModel(model, config, adapters);
    }

    /// <summary>Removes the adapters from the model's layers.</summary>
    public void Detach()
    {
        var mine = Adapters.ToHashSet();
        foreach (var linear in Model.Linears())
            if (linear.Adapter is LoraLinear l && mine.Contains(l)) linear.Adapter = null;
    }

    /// <summary>Writes <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> (fp32) into <paramref name="directory"/>, atomically per file.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        SafetensorsWriter.Write(Path.Combine(directory, WeightsFileName), Tensors(), new Dictionary<string, string> { ["format"] = "pt" });
        var configPath = Path.Combine(directory, ConfigFileName);
        File.WriteAllText(configPath + ".tmp", Config.ToPeftJson());
        File.Move(configPath + ".tmp", configPath, overwrite: true);
    }

    /// <summary>Reads A and B back from an adapter directory written by <see cref="Save"/> (same config; used by resume).</summary>
    public void Load(string directory)
    {
        using var file = SafetensorsFile.Open(Path.Combine(directory, WeightsFileName));
        foreach (var p in Parameters())
        {
            var values = file.ReadFloat32(p.Name);
            if (values.Length != p.Value.Length) throw new OpenBookException($"{directory}: tensor {p.Name} has {values.Length} values, the adapter {p.Value.Length}.");
            values.CopyTo(p.Value, 0);
        }
    }

    /// <summary>The adapter tensors with PEFT's names.</summary>
    public IEnumerable<SafetensorsTensor> Tensors()
    {
        foreach (var a in Adapters)
        {
            yield return SafetensorsTensor.F32(a.PeftNameA, a.A, a.Rank, a.InFeatures);
            yield return SafetensorsTensor.F32(a.PeftNameB, a.B, a.OutFeatures, a.Rank);
        }
    }

    /// <summary>
    /// Folds every adapter into its base weight (<c>W ← W + scaling·B·A</c>, computed in fp32; bf16 weights stay bf16,
    /// quantized ones become fp32 so the merge loses nothing) and detaches the adapters: the model then computes the same function without them.
    /// </summary>
    public void MergeIntoBase()
    {
        var byName = Adapters.ToDictionary(a => a.Module);
        foreach (var linear in Model.Linears())
        {
            if (!byName.TryGetValue(linear.Name, out var adapter)) continue;
            var format = linear.Weight.Format;
            var w = (float[])linear.Weight.ToFloat().Clone();
            System.Numerics.Tensors.TensorPrimitives.Add(w, adapter.Delta(), w);
            var merged = WeightMatrix.FromF32(w, linear.OutFeatures, linear.InFeatures);
            linear.Weight = format == WeightFormat.Bf16 ? merged.ConvertTo(format) : merged;
        }
        Detach();
    }

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var a in Adapters) a.ZeroGrad();
    }
}
