using OpenBook.Models.Formats;

namespace OpenBook.Models.Generation;

/// <summary>
/// How to pick tokens and when to stop, with Hugging Face <c>generate()</c> semantics: repetition penalty, then
/// temperature, top-k and top-p; <see cref="Temperature"/> 0 (or <see cref="DoSample"/> false) means greedy.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Maximum tokens to generate (HF max_new_tokens).</summary>
    public int MaxNewTokens { get; init; } = 256;
    /// <summary>False = greedy (argmax) decoding regardless of the sampling knobs.</summary>
    public bool DoSample { get; init; }
    /// <summary>Softmax temperature when sampling (&gt; 0).</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>Keep only the k most likely tokens (0 = off).</summary>
    public int TopK { get; init; }
    /// <summary>Nucleus sampling: keep the smallest set of tokens whose probability reaches p (1 = off).</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>HF repetition penalty over prompt and generated tokens (1 = off): positive logits divided, negative multiplied.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Random seed for sampling; null = nondeterministic.</summary>
    public int? Seed { get; init; }
    /// <summary>Token ids that end generation (e.g. eos); the stop token itself is not part of the output.</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    /// <summary>Strings that end generation; the output text is cut before the first occurrence (needs a decoder).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Greedy decoding with the given token budget.</summary>
    public static GenerationOptions Greedy(int maxNewTokens = 256) => new() { MaxNewTokens = maxNewTokens };

    /// <summary>
    /// Options from a model's <c>generation_config.json</c> (falling back to config.json's eos ids), as HF's
    /// <c>generate()</c> would use them by default.
    /// </summary>
    public static GenerationOptions FromModel(ModelConfig config, GenerationConfig? generation)
    {
        var eos = generation?.EosTokenIds is { Count: > 0 } g ? g : config.EosTokenIds;
        return new GenerationOptions
        {
            MaxNewTokens = generation?.MaxNewTokens ?? 256,
            DoSample = generation?.DoSample ?? false,
            Temperature = generation?.Temperature ?? 1f,
            TopK = generation?.TopK ?? 0,
            TopP = generation?.TopP ?? 1f,
            RepetitionPenalty = generation?.RepetitionPenalty ?? 1f,
            StopTokenIds = eos,
        };
    }

    internal void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), "MaxNewTokens must be ≥ 0.");
        if (DoSample && !(Temperature > 0)) throw new ArgumentOutOfRangeException(nameof(Temperature), "Temperature must be > 0 when sampling.");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), "TopK must be ≥ 0.");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), "TopP must be in (0, 1].");
        if (!(RepetitionPenalty > 0)) throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), "RepetitionPenalty must be > 0.");
        if (StopStrings.Any(string.IsNullOrEmpty)) throw new ArgumentException("Stop strings must not be empty.", nameof(StopStrings));
    }
}

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>A stop token or stop string was produced.</summary>
    Stop,
    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> was reached.</summary>
    Length,
}
