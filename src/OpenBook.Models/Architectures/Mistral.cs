using OpenBook.Models.Formats;

namespace OpenBook.Models.Architectures;

/// <summary>
/// Mistral (<c>MistralForCausalLM</c>): the Llama block (no biases) with sliding-window attention: position p
/// attends to positions p-W+1 … p where W = <c>sliding_window</c> (as HF's mask). The KV cache keeps every
/// position (no rolling buffer), so memory grows with the context like Llama's; null sliding_window = full attention.
/// </summary>
public sealed class MistralForCausalLM(ModelConfig config, IWeightSource weights) : LlamaForCausalLM(config, weights)
{
    /// <summary>The HF architecture name this class implements.</summary>
    public new const string ArchitectureName = "MistralForCausalLM";

    /// <inheritdoc />
    protected override bool QkvBias => false;
    /// <inheritdoc />
    protected override bool OutputBias => false;
    /// <inheritdoc />
    protected override int SlidingWindow => Config.SlidingWindow ?? 0;
}
