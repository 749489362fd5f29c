using System.Numerics.Tensors;
using OpenBook.Models.Architectures;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.FineTuning.Lora;

/// <summary>
/// One LoRA adapter on a frozen <see cref="Linear"/> (PEFT's <c>lora.Linear</c>):
/// <c>y = x·Wᵀ + scaling · (dropout(x)·Aᵀ)·Bᵀ</c> with A [r, in] and B [out, r].
/// As an <see cref="ILinearAdapter"/> it serves inference (no dropout); <see cref="TrainForward"/> and
/// <see cref="Backward"/> are its training pass, accumulating into <see cref="GradA"/> / <see cref="GradB"/>.
/// </summary>
public sealed class LoraLinear : ILinearAdapter
{
    /// <summary>Creates an adapter for <paramref name="module"/> with the given (not copied) A and B.</summary>
    public LoraLinear(string module, int inFeatures, int outFeatures, int rank, float scaling, float dropout, float[] a, float[] b)
    {
        if (a.Length != (long)rank * inFeatures) throw new OpenBookException($"{module}.lora_A: expected [{rank}, {inFeatures}], got {a.Length} values.");
        if (b.Length != (long)outFeatures * rank) throw new OpenBookException($"{module}.lora_B: expected [{outFeatures}, {rank}], got {b.Length} values.");
        Module = module; InFeatures = inFeatures; OutFeatures = outFeatures; Rank = rank; Scaling = scaling; Dropout = dropout;
        A = a; B = b;
        GradA = new float[a.Length];
        GradB = new float[b.Length];
    }

    /// <summary>Full module name, e.g. <c>model.layers.0.self_attn.q_proj</c>.</summary>
    public string Module { get; }
    /// <summary>Input features of the wrapped layer.</summary>
    public int InFeatures { get; }
    /// <summary>Output features of the wrapped layer.</summary>
    public int OutFeatures { get; }
    /// <summary>Rank r.</summary>
    public int Rank { get; }
    /// <summary>alpha / r (or alpha / √r).</summary>
    public float Scaling { get; }
    /// <summary>Training-time dropout probability on the adapter's input.</summary>
    public float Dropout { get; }
    /// <summary>lora_A.weight [r, in].</summary>
    public float[] A { get; }
    /// <summary>lora_B.weight [out, r].</summary>
    public float[] B { get; }
    /// <summary>Accumulated gradient of A.</summary>
    public float[] GradA { get; }
    /// <summary>Accumulated gradient of B.</summary>
    public float[] GradB { get; }

    /// <summary>PEFT's tensor name for A (<c>base_model.model.{module}.lora_A.weight</c>).</summary>
    public string PeftNameA => $"base_model.model.{Module}.lora_A.weight";
    /// <summary>PEFT's tensor name for B.</summary>
    public string PeftNameB => $"base_model.model.{Module}.lora_B.weight";

    /// <inheritdoc />
    public void AddTo(ReadOnlySpan<float> x, int rows, Span<float> y)
    {
        var t = new float[rows * Rank];
        Sgemm.Multiply(Transpose.No, Transpose.Yes, rows, Rank, InFeatures, x, InFeatures, A, InFeatures, t, Rank);
        Sgemm.Multiply(Transpose.No, Transpose.Yes, rows, OutFeatures, Rank, t, Rank, B, Rank, y, OutFeatures, Scaling, 1f);
    }

    /// <summary>
    /// Training forward: adds the adapter term to <paramref name="y"/> and returns what <see cref="Backward"/> needs
    /// (the rank-r projection and the dropout seed; the mask is regenerated from the seed instead of stored).
    /// Scratch and the returned projection come from <paramref name="arena"/> when one is given.
    /// </summary>
    public LoraState TrainForward(ReadOnlySpan<float> x, int rows, Span<float> y, int dropoutSeed, BufferArena? arena = null)
    {
        float[]? dropped = null;
        var input = x[..(rows * InFeatures)];
        if (Dropout > 0)
        {
            dropped = Rent(arena, rows * InFeatures);
            FillDropoutMask(dropped, dropoutSeed);
            TensorPrimitives.Multiply(input, dropped, dropped);
            input = dropped;
        }
        var t = Rent(arena, rows * Rank);
        Sgemm.Multiply(Transpose.No, Transpose.Yes, rows, Rank, InFeatures, input, InFeatures, A, InFeatures, t, Rank);
        Sgemm.Multiply(Transpose.No, Transpose.Yes, rows, OutFeatures, Rank, t, Rank, B, Rank, y, OutFeatures, Scaling, 1f);
        if (dropped is not null) arena?.Return(dropped);
        return new LoraState(t, dropoutSeed);
    }

    /// <summary>
    /// Backward of the adapter term for upstream gradient <paramref name="dy"/> [rows, out] with the layer input
    /// <paramref name="x"/> [rows, in]: accumulates <c>dB += s·dyᵀ·t</c>, <c>dA += s·(dy·B)ᵀ·dropout(x)</c> and adds the
    /// input gradient <c>s·(dy·B)·A</c> (through the dropout mask) to <paramref name="dx"/> — skipped when
    /// <paramref name="dx"/> is empty (no gradient is needed below this layer).
    /// </summary>
    public void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int rows, LoraState state, Span<float> dx, BufferArena? arena = null)
    {
        float s = Scaling;
        Sgemm.Multiply(Transpose.Yes, Transpose.No, OutFeatures, Rank, rows, dy, OutFeatures, state.Projected, Rank, GradB, Rank, s, 1f);
        var u = Rent(arena, rows * Rank);
        Sgemm.Multiply(Transpose.No, Transpose.No, rows, Rank, OutFeatures, dy, OutFeatures, B, Rank, u, Rank);
        var input = x[..(rows * InFeatures)];
        float[]? mask = null, dropped = null;
        if (Dropout > 0)
        {
            mask = Rent(arena, rows * InFeatures);
            FillDropoutMask(mask, state.DropoutSeed);
            dropped = Rent(arena, rows * InFeatures);
            TensorPrimitives.Multiply(input, mask, dropped);
            input = dropped;
        }
        Sgemm.Multiply(Transpose.Yes, Transpose.No, Rank, InFeatures, rows, u, Rank, input, InFeatures, GradA, InFeatures, s, 1f);
        if (!dx.IsEmpty)
        {
            if (mask is null)
                Sgemm.Multiply(Transpose.No, Transpose.No, rows, InFeatures, Rank, u, Rank, A, InFeatures, dx, InFeatures, s, 1f);
            else
            {
                var g = dropped!; // reused: the dropped input is no longer needed
                Sgemm.Multiply(Transpose.No, Transpose.No, rows, InFeatures, Rank, u, Rank, A, InFeatures, g, InFeatures, s);
                TensorPrimitives.Multiply(g, mask, g);
                TensorPrimitives.Add(dx[..g.Length], g, dx[..g.Length]);
            }
        }
        arena?.Return(u);
        if (mask is not null) arena?.Return(mask, dropped!);
    }

    private static float[] Rent(BufferArena? arena, int length) => arena?.Rent(length, clear: false) ?? new float[length];

    /// <summary>Inverted-dropout multipliers (0 or 1/(1−p)), reproducible from the seed.</summary>
    private void FillDropoutMask(float[] mask, int seed)
    {
        var rng = new Random(seed);
        float keep = 1f / (1f - Dropout);
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.NextSingle() < Dropout ? 0f : keep;
    }

    /// <summary>Clears the accumulated gradients.</summary>
    public void ZeroGrad()
    {
        Array.Clear(GradA);
        Array.Clear(GradB);
    }

    /// <summary><c>scaling · B·A</c> [out, in], the weight delta merged into the base layer.</summary>
    public float[] Delta()
    {
        var d = new float[(long)OutFeatures * InFeatures];
        Sgemm.Multiply(Transpose.No, Transpose.No, OutFeatures, InFeatures, Rank, B, Rank, A, InFeatures, d, InFeatures, Scaling);
        return d;
    }
}

/// <summary>What one adapter keeps from its training forward: t = dropout(x)·Aᵀ [rows, r] and the dropout seed.</summary>
public sealed record LoraState(float[] Projected, int DropoutSeed)
{
    /// <summary>Gives <see cref="Projected"/> back to the arena it was rented from.</summary>
    internal void ReturnTo(BufferArena arena) => arena.Return(Projected);
}
