using OpenBook.Models.Tensors;

namespace OpenBook.Models.Architectures;

/// <summary>
/// Something added to a <see cref="Linear"/> layer's output, e.g. a LoRA adapter: <c>y += Δ(x)</c>.
/// </summary>
public interface ILinearAdapter
{
    /// <summary>Adds the adapter's contribution for <paramref name="rows"/> input rows to <paramref name="y"/>.</summary>
    void AddTo(ReadOnlySpan<float> x, int rows, Span<float> y);
}

/// <summary>
/// <c>nn.Linear</c>: <c>y = x·Wᵀ + b</c> with W of shape [OutFeatures, InFeatures] under its checkpoint name
/// (e.g. <c>model.layers.0.self_attn.q_proj</c>). The weight may be fp32, bf16 or int8; an optional
/// <see cref="Adapter"/> (LoRA) adds its own term.
/// </summary>
public sealed class Linear(string name, WeightMatrix weight, float[]? bias = null)
{
    /// <summary>Checkpoint prefix of this layer (without <c>.weight</c>).</summary>
    public string Name { get; } = name;
    /// <summary>The weight [out, in].</summary>
    public WeightMatrix Weight { get; set; } = weight;
    /// <summary>Optional bias [out].</summary>
    public float[]? Bias { get; } = bias;
    /// <summary>Optional adapter applied after the base projection.</summary>
    public ILinearAdapter? Adapter { get; set; }

    /// <summary>Input features.</summary>
    public int InFeatures => Weight.Cols;
    /// <summary>Output features.</summary>
    public int OutFeatures => Weight.Rows;

    /// <summary>Computes <paramref name="y"/>[rows, out] from <paramref name="x"/>[rows, in].</summary>
    public void Forward(ReadOnlySpan<float> x, int rows, Span<float> y)
    {
        Weight.MultiplyTransposed(x, rows, y);
        AddBiasAndAdapter(x, rows, y);
    }

    /// <summary>
    /// Several layers reading the same input (q/k/v, gate/up): <c>outputs[i] = layers[i](x)</c>, with the weight
    /// products fused into one parallel pass at decode sizes.
    /// </summary>
    public static void ForwardMany(float[] x, int rows, IReadOnlyList<Linear> layers, IReadOnlyList<float[]> outputs)
    {
        WeightMatrix.MultiplyTransposedMany(x, rows, layers.Select(l => l.Weight).ToArray(), outputs);
        for (int i = 0; i < layers.Count; i++) layers[i].AddBiasAndAdapter(x, rows, outputs[i]);
    }

    private void AddBiasAndAdapter(ReadOnlySpan<float> x, int rows, Span<float> y)
    {
        if (Bias is not null)
            for (int r = 0; r < rows; r++)
                System.Numerics.Tensors.TensorPrimitives.Add(y.Slice(r * OutFeatures, OutFeatures), Bias, y.Slice(r * OutFeatures, OutFeatures));
        Adapter?.AddTo(x[..(rows * InFeatures)], rows, y[..(rows * OutFeatures)]);
    }
}
