using System.Numerics;
using System.Numerics.Tensors;
using OpenBook.Models.Kernels;

namespace OpenBook.Models.FineTuning.Trainer;

/// <summary>Learning-rate schedules of Hugging Face transformers (<c>get_*_schedule_with_warmup</c>).</summary>
public enum LrSchedule
{
    /// <summary>Linear warmup from 0, then half a cosine down to 0.</summary>
    Cosine,
    /// <summary>Linear warmup from 0, then linear decay to 0.</summary>
    Linear,
    /// <summary>Linear warmup from 0, then constant.</summary>
    Constant,
}

/// <summary>The multiplier of the base learning rate at an optimizer step.</summary>
public static class LearningRate
{
    /// <summary>
    /// Multiplier used by optimizer step <paramref name="step"/> (0-based; HF's scheduler value before its
    /// <c>step()</c>): warmup <c>step / warmup</c>, then cosine <c>½(1 + cos(π·progress))</c>, linear
    /// <c>(total − step) / (total − warmup)</c> or 1.
    /// </summary>
    public static double Factor(LrSchedule schedule, int step, int warmupSteps, int totalSteps)
    {
        if (step < warmupSteps) return (double)step / Math.Max(1, warmupSteps);
        double progress = (double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps);
        return schedule switch
        {
            LrSchedule.Cosine => Math.Max(0, 0.5 * (1 + Math.Cos(Math.PI * progress))),
            LrSchedule.Linear => Math.Max(0, (double)(totalSteps - step) / Math.Max(1, totalSteps - warmupSteps)),
            _ => 1,
        };
    }
}

/// <summary>
/// One trainable tensor: its values and the gradient accumulated for it, under a stable name; <paramref name="WeightDecay"/>
/// false exempts it from AdamW's decoupled weight decay (HF Trainer: biases and norm weights).
/// </summary>
public sealed record Parameter(string Name, float[] Value, float[] Grad, bool WeightDecay = true);

/// <summary>
/// AdamW exactly as <c>torch.optim.AdamW</c> (decoupled weight decay, bias-corrected moments, eps added to the
/// corrected √v), plus global-norm gradient clipping as <c>torch.nn.utils.clip_grad_norm_</c>.
/// </summary>
public sealed class AdamW
{
    private readonly IReadOnlyList<Parameter> _parameters;

    /// <summary>Creates the optimizer state (zero moments) for <paramref name="parameters"/>.</summary>
    public AdamW(IReadOnlyList<Parameter> parameters, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.0)
    {
        _parameters = parameters;
        Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay;
        M = parameters.Select(p => new float[p.Value.Length]).ToArray();
        V = parameters.Select(p => new float[p.Value.Length]).ToArray();
    }

    /// <summary>β1.</summary>
    public double Beta1 { get; }
    /// <summary>β2.</summary>
    public double Beta2 { get; }
    /// <summary>ε.</summary>
    public double Eps { get; }
    /// <summary>Decoupled weight decay λ (p ← p − lr·λ·p), for the parameters with <see cref="Parameter.WeightDecay"/>.</summary>
    public double WeightDecay { get; }
    /// <summary>Steps taken (t).</summary>
    public int Step { get; set; }
    /// <summary>First moments, one array per parameter.</summary>
    public float[][] M { get; }
    /// <summary>Second moments, one array per parameter.</summary>
    public float[][] V { get; }

    /// <summary>The parameters, in order.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Global L2 norm of all gradients; when above <paramref name="maxNorm"/> (&gt; 0) every gradient is scaled by maxNorm / (norm + 1e-6).</summary>
    public double ClipGradients(double maxNorm)
    {
        // Per-tensor sums in parallel chunks, accumulated in double (a 135M-parameter model has 135M squares).
        double sum = 0;
        foreach (var p in _parameters)
        {
            var g = p.Grad;
            int chunks = Math.Max(1, g.Length / ChunkElements);
            var partial = new double[chunks];
            ParallelRanges.For(chunks, c =>
            {
                var (start, length) = Chunk(g.Length, chunks, c);
                double acc = 0;
                var span = g.AsSpan(start, length);
                for (int i = 0; i < span.Length; i += 4096) acc += TensorPrimitives.SumOfSquares(span[i..Math.Min(span.Length, i + 4096)]);
                partial[c] = acc;
            }, work: g.Length * 2L);
            sum += partial.Sum();
        }
        double norm = Math.Sqrt(sum);
        if (maxNorm > 0)
        {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1)
                foreach (var p in _parameters)
                    TensorPrimitives.Multiply(p.Grad, (float)coef, p.Grad);
        }
        return norm;
    }

    private const int ChunkElements = 1 << 18;

    private static (int Start, int Length) Chunk(int n, int chunks, int c)
    {
        int start = (int)((long)n * c / chunks), end = (int)((long)n * (c + 1) / chunks);
        return (start, end - start);
    }

    /// <summary>One update with learning rate <paramref name="lr"/>; gradients are left for the caller to clear.</summary>
    public void Update(double lr)
    {
        Step++;
        double bc1 = 1 - Math.Pow(Beta1, Step), bc2Sqrt = Math.Sqrt(1 - Math.Pow(Beta2, Step));
        float decay = (float)(1 - lr * WeightDecay), b1 = (float)Beta1, b2 = (float)Beta2, eps = (float)Eps;
        float stepSize = (float)(lr / bc1), bc2 = (float)bc2Sqrt;
        for (int k = 0; k < _parameters.Count; k++)
        {
            var p = _parameters[k].Value;
            var g = _parameters[k].Grad;
            var m = M[k];
            var v = V[k];
            bool decays = WeightDecay != 0 && _parameters[k].WeightDecay;
            int chunks = Math.Max(1, p.Length / ChunkElements);
            ParallelRanges.For(chunks, c =>
            {
                var (start, length) = Chunk(p.Length, chunks, c);
                UpdateRange(p.AsSpan(start, length), g.AsSpan(start, length), m.AsSpan(start, length), v.AsSpan(start, length), decays, decay, b1, b2, eps, stepSize, bc2);
            }, work: p.Length * 12L);
        }
    }

    /// <summary>
    /// The per-element update, vectorised: the same fp32 operations in the same order as the scalar form
    /// <c>p *= 1 − lr·λ; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g·g; p −= (lr/bc1)·m / (√v / √bc2 + ε)</c>, so the
    /// result does not depend on the vector width.
    /// </summary>
    private static void UpdateRange(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, bool decays, float decay, float b1, float b2, float eps, float stepSize, float bc2)
    {
        float c1 = 1 - b1, c2 = 1 - b2;
        int i = 0, w = Vector<float>.Count;
        var vDecay = new Vector<float>(decay);
        var vB1 = new Vector<float>(b1);
        var vB2 = new Vector<float>(b2);
        var vC1 = new Vector<float>(c1);
        var vC2 = new Vector<float>(c2);
        var vEps = new Vector<float>(eps);
        var vStep = new Vector<float>(stepSize);
        var vBc2 = new Vector<float>(bc2);
        for (; i + w <= p.Length; i += w)
        {
            var pi = new Vector<float>(p[i..]);
            var gi = new Vector<float>(g[i..]);
            if (decays) pi *= vDecay;
            var mi = vB1 * new Vector<float>(m[i..]) + vC1 * gi;
            var vi = vB2 * new Vector<float>(v[i..]) + vC2 * gi * gi;
            pi -= vStep * mi / (Vector.SquareRoot(vi) / vBc2 + vEps);
            mi.CopyTo(m[i..]);
            vi.CopyTo(v[i..]);
            pi.CopyTo(p[i..]);
        }
        for (; i < p.Length; i++)
        {
            if (decays) p[i] *= decay;
            m[i] = b1 * m[i] + c1 * g[i];
            v[i] = b2 * v[i] + c2 * g[i] * g[i];
            p[i] -= stepSize * m[i] / (MathF.Sqrt(v[i]) / bc2 + eps);
        }
    }
}
