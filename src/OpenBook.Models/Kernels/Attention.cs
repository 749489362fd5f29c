using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Numerics.Tensors;

namespace OpenBook.Models.Kernels;

/// <summary>
/// Causal scaled-dot-product attention for one sequence with grouped-query attention (GQA): query head h
/// reads key/value head <c>h / (heads / kvHeads)</c>. Keys and values come from the KV cache laid out
/// [kvHeads, capacity, headDim], already holding this step's tokens.
/// </summary>
public static unsafe class Attention
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
        if (queries.Length < tokens * dim || output.Length < tokens * dim || keys.Length < kvHeads * capacity * headDim || values.Length < kvHeads * capacity * headDim)
            throw new ArgumentException("Attention: a buffer is smaller than its shape.");
        float scale = 1f / MathF.Sqrt(headDim);
        int lastHead = headCount < 0 ? heads : firstHead + headCount;
        bool simd = Vector512.IsHardwareAccelerated && headDim % 16 == 0;
        float[] scoresBuf = System.Buffers.ArrayPool<float>.Shared.Rent(start + tokens);
        try
        {
            fixed (float* q0 = queries, k0 = keys, v0 = values, o0 = output, sc = scoresBuf)
                for (int h = firstHead; h < lastHead; h++)
                {
                    int kvh = h / group;
                    float* kHead = k0 + (long)kvh * capacity * headDim, vHead = v0 + (long)kvh * capacity * headDim;
                    for (int t = 0; t < tokens; t++)
                    {
                        int p = start + t;
                        int first = window > 0 ? Math.Max(0, p - window + 1) : 0, count = p - first + 1;
                        float* q = q0 + (long)t * dim + h * headDim, o = o0 + (long)t * dim + h * headDim;
                        var scores = new Span<float>(sc, count);
                        for (int j = 0; j < count; j++)
                            scores[j] = (simd ? Dot512(q, kHead + (long)(first + j) * headDim, headDim)
                                : TensorPrimitives.Dot(new ReadOnlySpan<float>(q, headDim), new ReadOnlySpan<float>(kHead + (long)(first + j) * headDim, headDim))) * scale;
                        Ops.Softmax(scores);
                        if (simd) WeightedSum512(sc, count, vHead + (long)first * headDim, headDim, o);
                        else
                        {
                            var os = new Span<float>(o, headDim);
                            os.Clear();
                            for (int j = 0; j < count; j++)
                                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vHead + (long)(first + j) * headDim, headDim), scores[j], os, os);
                        }
                    }
                }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(scoresBuf);
        }
    }

    /// <summary>
    /// <see cref="Causal"/> over a bf16 KV cache: scores are fp32 dot products of the query with the widened keys, the
    /// output an fp32 weighted sum of the widened values. Same layout, same arguments.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CausalBf16(ReadOnlySpan<float> queries, int tokens, int start, int heads, int kvHeads, int headDim,
        ReadOnlySpan<ushort> keys, ReadOnlySpan<ushort> values, int capacity, int window, Span<float> output,
        int firstHead = 0, int headCount = -1)
    {
        if (heads % kvHeads != 0) throw new ArgumentException("heads must be a multiple of kvHeads.");
        if (start + tokens > capacity) throw new ArgumentException("KV cache capacity exceeded.");
        int group = heads / kvHeads, dim = heads * headDim;
        if (queries.Length < tokens * dim || output.Length < tokens * dim || keys.Length < kvHeads * capacity * headDim || values.Length < kvHeads * capacity * headDim)
            throw new ArgumentException("Attention: a buffer is smaller than its shape.");
        float scale = 1f / MathF.Sqrt(headDim);
        int lastHead = headCount < 0 ? heads : firstHead + headCount;
        bool simd = Vector512.IsHardwareAccelerated && headDim % 16 == 0;
        bool simd256 = !simd && Vector256.IsHardwareAccelerated && headDim % 8 == 0;
        float[] scoresBuf = System.Buffers.ArrayPool<float>.Shared.Rent(start + tokens);
        try
        {
            fixed (float* q0 = queries, o0 = output, sc = scoresBuf)
            fixed (ushort* k0 = keys, v0 = values)
                for (int h = firstHead; h < lastHead; h++)
                {
                    int kvh = h / group;
                    ushort* kHead = k0 + (long)kvh * capacity * headDim, vHead = v0 + (long)kvh * capacity * headDim;
                    for (int t = 0; t < tokens; t++)
                    {
                        int p = start + t;
                        int first = window > 0 ? Math.Max(0, p - window + 1) : 0, count = p - first + 1;
                        float* q = q0 + (long)t * dim + h * headDim, o = o0 + (long)t * dim + h * headDim;
                        var scores = new Span<float>(sc, count);
                        for (int j = 0; j < count; j++) scores[j] = Bf16.Dot(q, kHead + (long)(first + j) * headDim, headDim) * scale;
                        Ops.Softmax(scores);
                        if (simd) WeightedSumBf16x512(sc, count, vHead + (long)first * headDim, headDim, o);
                        else if (simd256) WeightedSumBf16x256(sc, count, vHead + (long)first * headDim, headDim, o);
                        else
                        {
                            for (int c = 0; c < headDim; c++) o[c] = 0;
                            for (int j = 0; j < count; j++)
                            {
                                ushort* v = vHead + (long)(first + j) * headDim;
                                for (int c = 0; c < headDim; c++) o[c] += scores[j] * Bf16.ToFloat(v[c]);
                            }
                        }
                    }
                }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(scoresBuf);
        }
    }

    /// <summary><see cref="WeightedSum512"/> over bf16 values (16 values widened per load).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WeightedSumBf16x512(float* w, int count, ushort* v, int d, float* o)
    {
        for (int c = 0; c < d; c += 16)
        {
            var acc = Vector512<float>.Zero;
            ushort* vc = v + c;
            for (int j = 0; j < count; j++, vc += d)
                acc = Vector512.FusedMultiplyAdd(Vector512.Create(w[j]), Vector512.ShiftLeft(Vector512.WidenLower(Vector256.Load(vc).ToVector512Unsafe()), 16).AsSingle(), acc);
            acc.Store(o + c);
        }
    }

    /// <summary>The AVX2 form of <see cref="WeightedSumBf16x512"/>: 8-wide column blocks.</summary>
    private static void WeightedSumBf16x256(float* w, int count, ushort* v, int d, float* o)
    {
        for (int c = 0; c < d; c += 8)
        {
            var acc = Vector256<float>.Zero;
            ushort* vc = v + c;
            for (int j = 0; j < count; j++, vc += d)
                acc = Vector256.FusedMultiplyAdd(Vector256.Create(w[j]), Vector256.ShiftLeft(Vector256.WidenLower(Vector128.Load(vc).ToVector256Unsafe()), 16).AsSingle(), acc);
            acc.Store(o + c);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot512(float* a, float* b, int n)
    {
        var acc = Vector512.Multiply(Vector512.Load(a), Vector512.Load(b));
        for (int i = 16; i < n; i += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), acc);
        return Vector512.Sum(acc);
    }

    /// <summary><c>o[0..d) = Σ_j w[j]·v[j·d ..]</c>, one 16-wide column block at a time so the sum stays in a register.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WeightedSum512(float* w, int count, float* v, int d, float* o)
    {
        for (int c = 0; c < d; c += 16)
        {
            var acc = Vector512<float>.Zero;
            float* vc = v + c;
            for (int j = 0; j < count; j++, vc += d) acc = Vector512.FusedMultiplyAdd(Vector512.Create(w[j]), Vector512.Load(vc), acc);
            acc.Store(o + c);
        }
    }
}
