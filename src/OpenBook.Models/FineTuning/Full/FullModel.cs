using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Export;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Models.Formats;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.FineTuning.Full;

/// <summary>
/// Every weight of a model as a trainable parameter (full fine-tuning and pretraining): fp32 master weights updated in
/// place, one fp32 gradient buffer per tensor (<see cref="WeightGradients"/>), HF checkpoint names, and weight decay
/// as HF Trainer applies it (not on biases and RMSNorm weights; the embedding configurable, decayed by default as in HF).
/// Saved as a Hugging Face model directory (config.json, model.safetensors, the tokenizer and generation files of the
/// source directory).
/// </summary>
public sealed class FullModel : ITrainableModel
{
    /// <summary>Bytes of training state per parameter: fp32 weight, gradient and the two AdamW moments.</summary>
    public const int StateBytesPerParameter = 16;

    private readonly IReadOnlyList<Parameter> _parameters;
    private readonly IReadOnlyList<string> _companions;
    private readonly string? _configJson;

    private FullModel(LlamaForCausalLM model, WeightGradients grads, IReadOnlyList<Parameter> parameters, IReadOnlyList<string> companions, string? configJson)
    {
        Model = model; Gradients = grads; _parameters = parameters; _companions = companions; _configJson = configJson;
    }

    /// <inheritdoc />
    public LlamaForCausalLM Model { get; }
    /// <summary>The gradient buffers the training graph accumulates into.</summary>
    public WeightGradients Gradients { get; }
    /// <inheritdoc />
    WeightGradients? ITrainableModel.WeightGradients => Gradients;

    /// <inheritdoc />
    public long TrainableParameters => _parameters.Sum(p => (long)p.Value.Length);

    /// <summary>Bytes of weights, gradients and AdamW moments (<see cref="StateBytesPerParameter"/> per parameter; activations not included).</summary>
    public long StateBytes => TrainableParameters * StateBytesPerParameter;

    /// <summary>
    /// Makes every weight of <paramref name="model"/> trainable. Weights not stored as fp32 (bf16 checkpoints) are
    /// widened to fp32 master copies first. <paramref name="sourceDirectory"/> (the model's directory, when it has one)
    /// provides the non-weight files <see cref="Save"/> copies (config.json, tokenizer, generation config), as they are
    /// now; <paramref name="companionFiles"/> names such files explicitly instead.
    /// </summary>
    public static FullModel Create(LlamaForCausalLM model, bool decayEmbeddings = true, string? sourceDirectory = null, IReadOnlyList<string>? companionFiles = null)
    {
        if (model.Linears().Any(l => l.Adapter is not null))
            throw new OpenBookException("Full-parameter training needs a model without adapters attached.");
        if (model.EmbedTokens.Format != WeightFormat.F32 || model.Linears().Any(l => l.Weight.Format != WeightFormat.F32))
            model.ConvertWeights(WeightFormat.F32);
        var grads = new WeightGradients();
        var list = new List<Parameter>();
        void Add(string name, float[] value, bool decay) => list.Add(new Parameter(name, value, grads.Add(value), decay));
        Add("model.embed_tokens.weight", model.EmbedTokens.F32Data!, decayEmbeddings);
        foreach (var layer in model.Layers)
        {
            string p = $"model.layers.{layer.Index}.";
            Add(p + "input_layernorm.weight", layer.InputLayerNorm, decay: false);
            Add(p + "post_attention_layernorm.weight", layer.PostAttentionLayerNorm, decay: false);
            foreach (var l in layer.Linears())
            {
                Add(l.Name + ".weight", l.Weight.F32Data!, decay: true);
                if (l.Bias is { } b) Add(l.Name + ".bias", b, decay: false);
            }
        }
        Add("model.norm.weight", model.Norm, decay: false);
        if (!model.Config.TieWordEmbeddings) Add("lm_head.weight", model.LmHead.Weight.F32Data!, decay: true);
        string? configJson = sourceDirectory is not null && File.Exists(Path.Combine(sourceDirectory, "config.json"))
            ? File.ReadAllText(Path.Combine(sourceDirectory, "config.json")) : null;
        var companions = companionFiles?.ToList() ?? (sourceDirectory is null ? [] : Directory.EnumerateFiles(sourceDirectory).Where(IsCompanion).ToList());
        return new FullModel(model, grads, list, companions, configJson);
    }

    /// <summary>A small non-weight file of a model directory (tokenizer, chat template, generation config; not config.json).</summary>
    private static bool IsCompanion(string file)
    {
        var name = Path.GetFileName(file);
        if (name.EndsWith(".safetensors", StringComparison.Ordinal) || name == SafetensorsCheckpoint.IndexFileName || name.EndsWith(".bin", StringComparison.Ordinal)
            || name.EndsWith(".tmp", StringComparison.Ordinal) || name == "config.json" || name == "openbook_adapter.json") return false;
        return new FileInfo(file).Length <= 64L << 20;
    }

    /// <inheritdoc />
    public IReadOnlyList<Parameter> Parameters() => _parameters;

    /// <inheritdoc />
    public void ZeroGrad() => Gradients.Clear();

    /// <summary>
    /// Writes a Hugging Face model directory into <paramref name="directory"/>: <c>model.safetensors</c> (fp32, the
    /// master weights exactly; sharded above 5 GB), <c>config.json</c> (the source's, else generated) and every other
    /// non-weight file of the source directory (tokenizer, chat template, generation config).
    /// </summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (var old in Directory.EnumerateFiles(directory, "model*.safetensors*")) File.Delete(old);
        SafetensorsWriter.WriteCheckpoint(directory, MergedModelExport.Tensors(Model, bf16: false));
        foreach (var file in _companions)
        {
            var target = Path.Combine(directory, Path.GetFileName(file));
            if (File.Exists(file) && Path.GetFullPath(file) != Path.GetFullPath(target)) File.Copy(file, target, overwrite: true);
        }
        var configPath = Path.Combine(directory, "config.json");
        File.WriteAllText(configPath + ".tmp", _configJson ?? Model.Config.ToJson());
        File.Move(configPath + ".tmp", configPath, overwrite: true);
    }

    /// <inheritdoc />
    public void Load(string directory)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(directory);
        foreach (var p in _parameters)
        {
            if (!checkpoint.Contains(p.Name)) throw new OpenBookException($"{directory}: tensor '{p.Name}' is missing.");
            var values = checkpoint.ReadFloat32(p.Name);
            if (values.Length != p.Value.Length) throw new OpenBookException($"{directory}: tensor '{p.Name}' has {values.Length} values, the model {p.Value.Length}.");
            values.CopyTo(p.Value, 0);
        }
    }
}
