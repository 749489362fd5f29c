using OpenBook.Models.Formats;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.Architectures;

/// <summary>Where a model's parameters come from, by checkpoint name.</summary>
public interface IWeightSource
{
    /// <summary>A [rows, cols] matrix (linear weight or embedding table).</summary>
    WeightMatrix Matrix(string name, int rows, int cols, bool isEmbedding = false);
    /// <summary>A vector (norm weight or bias), always fp32.</summary>
    float[] Vector(string name, int length);
}

/// <summary>Options for <see cref="ModelLoader.Load"/>.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>
    /// Storage for linear weights and embeddings. Null = as stored: bf16 checkpoints stay bf16, fp32/fp16 become fp32.
    /// <see cref="WeightFormat.Int8"/> quantizes per output channel after loading (decode speed, ~¼ the memory);
    /// <see cref="WeightFormat.Nf4"/> quantizes to 4-bit NormalFloat (~0.13× fp32; for QLoRA prefer
    /// <see cref="LlamaForCausalLM.ConvertLinears"/>, which leaves the embedding and lm_head as stored).
    /// </summary>
    public WeightFormat? WeightFormat { get; init; }

    /// <summary>
    /// Storage for the decoder layers' projection weights (q/k/v/o, gate/up/down) only, overriding
    /// <see cref="WeightFormat"/> for them. QLoRA loads with <c>WeightFormat = Bf16, ProjectionFormat = Nf4</c>: each
    /// tensor is converted as it is read, so the full-precision model is never in memory at once.
    /// </summary>
    public WeightFormat? ProjectionFormat { get; init; }

    /// <summary>The format a matrix named <paramref name="name"/> gets, or null for "as stored".</summary>
    internal WeightFormat? FormatOf(string name, bool isEmbedding) =>
        !isEmbedding && ProjectionFormat is { } p && IsProjection(name) ? p : WeightFormat;

    /// <summary>True for the weight of a decoder layer's linear projection (<c>model.layers.N.….weight</c>).</summary>
    internal static bool IsProjection(string name) => name.StartsWith("model.layers.", StringComparison.Ordinal) && name.EndsWith(".weight", StringComparison.Ordinal);
}

/// <summary>
/// Loads a Hugging Face model directory (config.json + model.safetensors or a sharded index) into the
/// family class named by <c>architectures</c> in config.json.
/// </summary>
public static class ModelLoader
{
    private static readonly Dictionary<string, Func<ModelConfig, IWeightSource, LlamaForCausalLM>> Families = new(StringComparer.Ordinal)
    {
        [LlamaForCausalLM.ArchitectureName] = (c, w) => new LlamaForCausalLM(c, w),
        [Qwen2ForCausalLM.ArchitectureName] = (c, w) => new Qwen2ForCausalLM(c, w),
        [MistralForCausalLM.ArchitectureName] = (c, w) => new MistralForCausalLM(c, w),
    };

    /// <summary>Architectures (config.json <c>architectures[0]</c>) this engine runs.</summary>
    public static IReadOnlyCollection<string> SupportedArchitectures => Families.Keys;

    /// <summary>Loads the model in <paramref name="directory"/>.</summary>
    public static LlamaForCausalLM Load(string directory, ModelLoadOptions? options = null)
    {
        if (!Directory.Exists(directory)) throw new OpenBookException($"{directory}: model directory not found.");
        var config = ModelConfig.Load(directory);
        var factory = Create(config, Path.Combine(directory, "config.json"));
        using var checkpoint = SafetensorsCheckpoint.Open(directory);
        var source = new CheckpointWeightSource(checkpoint, options);
        return factory(config, source);
    }

    /// <summary>Builds a model of <paramref name="config"/>'s family from any weight source (e.g. <see cref="RandomWeightSource"/>).</summary>
    public static LlamaForCausalLM Create(ModelConfig config, IWeightSource weights) => Create(config, "config.json")(config, weights);

    private static Func<ModelConfig, IWeightSource, LlamaForCausalLM> Create(ModelConfig config, string source) =>
        Families.TryGetValue(config.Architecture, out var f) ? f
            : throw new OpenBookException($"{source}: unsupported architecture '{config.Architecture}' (supported: {string.Join(", ", Families.Keys)}).");
}

/// <summary>Reads parameters from a safetensors checkpoint, checking every shape against config.json.</summary>
public sealed class CheckpointWeightSource(SafetensorsCheckpoint checkpoint, ModelLoadOptions? options = null) : IWeightSource
{
    /// <inheritdoc />
    public WeightMatrix Matrix(string name, int rows, int cols, bool isEmbedding = false)
    {
        var info = checkpoint.Expect(name, rows, cols);
        var target = options?.FormatOf(name, isEmbedding) ?? (info.Dtype == SafetensorsDtype.BF16 ? WeightFormat.Bf16 : WeightFormat.F32);
        return target switch
        {
            WeightFormat.Bf16 => WeightMatrix.FromBf16(checkpoint.ReadBf16(name), rows, cols),
            WeightFormat.F32 => WeightMatrix.FromF32(checkpoint.ReadFloat32(name), rows, cols),
            _ => WeightMatrix.FromF32(checkpoint.ReadFloat32(name), rows, cols).ConvertTo(target),
        };
    }

    /// <inheritdoc />
    public float[] Vector(string name, int length)
    {
        checkpoint.Expect(name, length);
        return checkpoint.ReadFloat32(name);
    }
}

/// <summary>
/// Deterministic random parameters (normal, std 0.02 as HF's initializer_range; norms = 1, biases small) for
/// benchmarks and tests that need real shapes without files.
/// </summary>
public sealed class RandomWeightSource(int seed, WeightFormat format = WeightFormat.F32, WeightFormat? projectionFormat = null) : IWeightSource
{
    private readonly Random _random = new(seed);

    /// <inheritdoc />
    public WeightMatrix Matrix(string name, int rows, int cols, bool isEmbedding = false)
    {
        var data = new float[(long)rows * cols];
        Fill(data, 0.02f);
        var m = WeightMatrix.FromF32(data, rows, cols);
        var target = !isEmbedding && projectionFormat is { } p && ModelLoadOptions.IsProjection(name) ? p : format;
        return target == WeightFormat.F32 ? m : m.ConvertTo(target);
    }

    /// <inheritdoc />
    public float[] Vector(string name, int length)
    {
        var v = new float[length];
        if (name.EndsWith(".bias", StringComparison.Ordinal)) Fill(v, 0.02f);
        else Array.Fill(v, 1f);
        return v;
    }

    private void Fill(float[] data, float std)
    {
        // Box-Muller pairs; fast enough for hundreds of millions of values.
        for (int i = 0; i < data.Length; i += 2)
        {
            double u1 = 1.0 - _random.NextDouble(), u2 = _random.NextDouble();
            double r = Math.Sqrt(-2 * Math.Log(u1)) * std;
            data[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < data.Length) data[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
    }
}
