using System.Runtime.CompilerServices;
using System.Numerics.Tensors;

namespace OpenBook.Models.Kernels;

/// <summary>
/// Causal scaled-dot-product attention for one sequence with grouped-query attention (GQA): query head h
/// reads key/value head <c>h / (heads / kvHeads)</c>. Keys and values come from the KV cache laid out
/// [kvHeads, capacity, headDim], already holding this step's tokens.
/// </summary>
public static class Attention
{
    /// <summary>
    /// Computes <paramref name="output"/>[t, heads·headDim] for the queries of positions
    /// <c>start .. start+T-1</c>; position p attends to cached positions <c>max(0, p-window+1) .. p</c>
    /// (window = 0 means unlimited). Only heads <c>firstHead .. firstHead+headCount-1</c> are computed (all when
    /// headCount &lt; 0), so callers can split heads over threads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Causal(ReadOnlySpan<float> queries, int tokens, int start, int heads, int kvHeads, int headDim,
        ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int capacity, int window, Span<float> output,
        int firstHead = 0, int headCount = -1)
    {
        if (heads % kvHeads != 0) throw new ArgumentException("heads must be a multiple of kvHeads.");
        if (start + tokens > capacity) throw new ArgumentException("KV cache capacity exceeded.");
        int group = heads / kvHeads, dim = heads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        int lastHead = headCount < 0 ? heads : firstHead + headCount;
        for (int h = firstHead; h < lastHead; h++)
        {
            int kvh = h / group;
            var kHead = keys.Slice(kvh * capacity * headDim, capacity * headDim);
            var vHead = values.Slice(kvh * capacity * headDim, capacity * headDim);
            float[] scoresBuf = System.Buffers.ArrayPool<float>.Shared.Rent(start + tokens);
            try
            {
                for (int t = 0; t < tokens; t++)
                {
                    int p = start + t;
                    int first = window > 0 ? Math.Max(0, p - window + 1) : 0;
                    var q = queries.Slice(t * dim + h * headDim, headDim);
                    var scores = scoresBuf.AsSpan(0, p - first + 1);
                    for (int j = first; j <= p; j++)
                        scores[j - first] = TensorPrimitives.Dot(q, kHead.Slice(j * headDim, headDim)) * scale;
                    Ops.Softmax(scores);
                    var o = output.Slice(t * dim + h * headDim, headDim);
                    o.Clear();
                    for (int j = first; j <= p; j++)
                        TensorPrimitives.MultiplyAdd(vHead.Slice(j * headDim, headDim), scores[j - first], o, o);
                }
            }
            finally
            {
                System.Buffers.ArrayPool<float>.Shared.Return(scoresBuf);
            }
        }
    }
}
