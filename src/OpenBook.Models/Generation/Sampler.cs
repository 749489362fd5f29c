using System.Numerics.Tensors;
using OpenBook.Models.Kernels;

namespace OpenBook.Models.Generation;

/// <summary>
/// Next-token choice from logits, as Hugging Face's logits processors and warpers in their default order:
/// <c>RepetitionPenaltyLogitsProcessor</c>, then <c>TemperatureLogitsWarper</c>, <c>TopKLogitsWarper</c>,
/// <c>TopPLogitsWarper</c>, then a draw from the softmax (or argmax when not sampling).
/// </summary>
public sealed class Sampler
{
    private readonly GenerationOptions _options;
    private readonly Random _random;

    /// <summary>Creates a sampler; the seed (when set) makes draws reproducible.</summary>
    public Sampler(GenerationOptions options)
    {
        options.Validate();
        _options = options;
        _random = options.Seed is int seed ? new Random(seed) : new Random();
    }

    /// <summary>Picks the next token. <paramref name="logits"/> is modified in place; <paramref name="history"/> = prompt + generated ids.</summary>
    public int Next(Span<float> logits, IReadOnlyCollection<int> history)
    {
        if (_options.RepetitionPenalty != 1f) ApplyRepetitionPenalty(logits, history, _options.RepetitionPenalty);
        if (!_options.DoSample) return Ops.Argmax(logits);
        if (_options.Temperature != 1f) TensorPrimitives.Multiply(logits, 1f / _options.Temperature, logits);
        if (_options.TopK > 0 && _options.TopK < logits.Length) KeepTopK(logits, _options.TopK);
        if (_options.TopP < 1f) KeepTopP(logits, _options.TopP);
        return Draw(logits, _random.NextDouble());
    }

    /// <summary>HF repetition penalty: for each distinct seen token, a positive logit is divided by the penalty, a negative one multiplied.</summary>
    public static void ApplyRepetitionPenalty(Span<float> logits, IEnumerable<int> seen, float penalty)
    {
        foreach (int t in seen.Distinct())
        {
            if ((uint)t >= (uint)logits.Length) continue;
            logits[t] = logits[t] < 0 ? logits[t] * penalty : logits[t] / penalty;
        }
    }

    /// <summary>Sets every logit below the k-th largest to −∞ (ties with the k-th largest are kept, as torch.topk's threshold).</summary>
    public static void KeepTopK(Span<float> logits, int k)
    {
        var copy = logits.ToArray();
        // k-th largest = element n-k of the ascending order.
        Array.Sort(copy);
        float threshold = copy[copy.Length - k];
        for (int i = 0; i < logits.Length; i++)
            if (logits[i] < threshold) logits[i] = float.NegativeInfinity;
    }

    /// <summary>
    /// Nucleus filter: sorts ascending, removes tokens whose cumulative probability is ≤ 1 − p (always keeping
    /// the most likely one), exactly as HF's TopPLogitsWarper.
    /// </summary>
    public static void KeepTopP(Span<float> logits, float p)
    {
        int n = logits.Length;
        var order = new int[n];
        var sorted = logits.ToArray();
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(sorted, order);
        var probs = (float[])sorted.Clone();
        Ops.Softmax(probs);
        double cumulative = 0;
        for (int i = 0; i < n - 1; i++) // the last (largest) is always kept
        {
            cumulative += probs[i];
            if (cumulative <= 1 - p) logits[order[i]] = float.NegativeInfinity;
            else break;
        }
    }

    /// <summary>Draws an index from softmax(logits) using the uniform number <paramref name="u"/> in [0, 1).</summary>
    public static int Draw(Span<float> logits, double u)
    {
        Ops.Softmax(logits);
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < logits.Length; i++)
        {
            if (logits[i] <= 0f) continue;
            cumulative += logits[i];
            last = i;
            if (u < cumulative) return i;
        }
        return last; // rounding: u landed past the accumulated total
    }
}
