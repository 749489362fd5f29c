using OpenBook.Models.Formats;

namespace OpenBook.Models.Architectures;

/// <summary>
/// Qwen2 / Qwen2.5 (<c>Qwen2ForCausalLM</c>): the Llama block with biases on q_proj, k_proj and v_proj (none on
/// o_proj). Qwen2's optional sliding window (<c>use_sliding_window</c>, off in all released checkpoints) is
/// rejected rather than approximated.
/// </summary>
public sealed class Qwen2ForCausalLM : LlamaForCausalLM
{
    /// <summary>The HF architecture name this class implements.</summary>
    public new const string ArchitectureName = "Qwen2ForCausalLM";

    /// <summary>Builds the model from a weight source.</summary>
    public Qwen2ForCausalLM(ModelConfig config, IWeightSource weights) : base(Check(config), weights) { }

    private static ModelConfig Check(ModelConfig c) => c.SlidingWindow is null ? c
        : throw new OpenBookException("config.json: Qwen2 with use_sliding_window = true is not supported.");

    /// <inheritdoc />
    protected override bool QkvBias => true;
    /// <inheritdoc />
    protected override bool OutputBias => false;
}
