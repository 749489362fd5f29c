using System.Numerics.Tensors;

namespace OpenBook.Onnx;

/// <summary>Pools token vectors (one row of a <c>[batch, sequence, hidden]</c> output) into a sentence vector.</summary>
internal static class Pooling
{
    /// <param name="hidden">The sequence's rows, <c>sequence × dim</c> values (padding rows after <paramref name="length"/>).</param>
    /// <param name="length">Non-padding tokens (the attention mask's ones, all at the start).</param>
    /// <param name="dim">Hidden size.</param>
    /// <param name="mode">Pooling mode.</param>
    /// <param name="normalize">L2-normalise the result.</param>
    public static float[] Pool(ReadOnlySpan<float> hidden, int length, int dim, PoolingMode mode, bool normalize)
    {
        var v = new float[dim];
        if (mode == PoolingMode.Cls)
            hidden[..dim].CopyTo(v);
        else if (mode == PoolingMode.Max)
        {
            hidden[..dim].CopyTo(v);
            for (int t = 1; t < length; t++) TensorPrimitives.Max(v, hidden.Slice(t * dim, dim), v);
        }
        else
        {
            for (int t = 0; t < length; t++) TensorPrimitives.Add(v, hidden.Slice(t * dim, dim), v);
            TensorPrimitives.Divide(v, mode == PoolingMode.Mean ? length : MathF.Sqrt(length), v);
        }
        if (normalize) Normalize(v);
        return v;
    }

    /// <summary>In-place L2 normalisation (a zero vector stays zero), like torch.nn.functional.normalize.</summary>
    public static void Normalize(Span<float> v) => TensorPrimitives.Divide(v, MathF.Max(TensorPrimitives.Norm(v), 1e-12f), v);
}
