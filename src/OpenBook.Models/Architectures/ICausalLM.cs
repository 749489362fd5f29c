using OpenBook.Models.Formats;

namespace OpenBook.Models.Architectures;

/// <summary>Which positions <see cref="ICausalLM.Forward"/> returns logits for.</summary>
public enum LogitsMode
{
    /// <summary>Only the last position of each sequence: [batch, vocab].</summary>
    LastPosition,
    /// <summary>Every position: [batch, tokens, vocab].</summary>
    AllPositions,
}

/// <summary>
/// A decoder-only causal language model: token ids in, next-token logits out, with a KV cache.
/// </summary>
public interface ICausalLM
{
    /// <summary>The model's config.json.</summary>
    ModelConfig Config { get; }

    /// <summary>Allocates a KV cache for <paramref name="batchSize"/> sequences of up to <paramref name="maxTokens"/> tokens.</summary>
    KvCache CreateCache(int batchSize, int maxTokens);

    /// <summary>
    /// Runs <paramref name="tokens"/> laid out [batch, tokens/batch] (batch = <c>cache.BatchSize</c>) through the
    /// model. Row b continues sequence slot b at position <c>cache.Length(b)</c>; its keys/values are appended
    /// to the cache. Returns logits [batch, vocab] or [batch, tokens/batch, vocab] per <paramref name="mode"/>.
    /// Batched prefill: pass whole prompts; decode: pass one token per sequence.
    /// </summary>
    float[] Forward(ReadOnlySpan<int> tokens, KvCache cache, LogitsMode mode = LogitsMode.LastPosition);
}
