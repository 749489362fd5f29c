using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using OpenBook.Models.Formats;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.Architectures;

/// <summary>
/// Llama decoder (SmolLM2, TinyLlama, Llama-2/3.x), names and math as Hugging Face's <c>LlamaForCausalLM</c>:
/// <code>
/// x = embed_tokens[ids]
/// for each layer:
///     h = input_layernorm(x);            q,k,v = q_proj(h), k_proj(h), v_proj(h)
///     q,k = rope(q), rope(k);            cache k,v;   a = softmax(q·kᵀ/√d + causal) · v   (GQA)
///     x = x + o_proj(a)
///     h = post_attention_layernorm(x);   x = x + down_proj(silu(gate_proj(h)) · up_proj(h))
/// logits = lm_head(norm(x))              (lm_head = embed_tokens when tie_word_embeddings)
/// </code>
/// Qwen2 (q/k/v biases) and Mistral (sliding window) derive from this class with small overrides.
/// </summary>
public class LlamaForCausalLM : ICausalLM
{
    /// <summary>The HF architecture name this class implements.</summary>
    public const string ArchitectureName = "LlamaForCausalLM";

    private readonly Lock _forwardGate = new();

    /// <inheritdoc />
    public ModelConfig Config { get; }
    /// <summary><c>model.embed_tokens.weight</c> [vocab, hidden].</summary>
    public WeightMatrix EmbedTokens { get; private set; }
    /// <summary>Decoder layers <c>model.layers.N</c>.</summary>
    public IReadOnlyList<LlamaDecoderLayer> Layers { get; }
    /// <summary><c>model.norm.weight</c>.</summary>
    public float[] Norm { get; }
    /// <summary><c>lm_head</c> (shares <see cref="EmbedTokens"/> when tied).</summary>
    public Linear LmHead { get; }
    /// <summary>Rotary embedding shared by all layers.</summary>
    public RotaryEmbedding Rope { get; }

    /// <summary>Builds the model from a weight source (checkpoint or random init).</summary>
    public LlamaForCausalLM(ModelConfig config, IWeightSource weights)
    {
        Config = config;
        Validate(config);
        int h = config.HiddenSize, v = config.VocabSize;
        EmbedTokens = weights.Matrix("model.embed_tokens.weight", v, h, isEmbedding: true);
        var layers = new LlamaDecoderLayer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++) layers[i] = new LlamaDecoderLayer(config, i, weights, QkvBias, OutputBias);
        Layers = layers;
        Norm = weights.Vector("model.norm.weight", h);
        LmHead = config.TieWordEmbeddings
            ? new Linear("lm_head", EmbedTokens)
            : new Linear("lm_head", weights.Matrix("lm_head.weight", v, h));
        Rope = new RotaryEmbedding(config.HeadDim, config.RopeTheta, config.RopeScaling);
    }

    /// <summary>Whether q/k/v projections carry a bias (Llama: attention_bias; Qwen2: always).</summary>
    protected virtual bool QkvBias => Config.AttentionBias;
    /// <summary>Whether o_proj carries a bias (Llama: attention_bias; Qwen2: never).</summary>
    protected virtual bool OutputBias => Config.AttentionBias;
    /// <summary>Attention window in tokens, 0 = full causal attention (Mistral: sliding_window).</summary>
    protected virtual int SlidingWindow => 0;

    /// <summary>Attention window in tokens (position p attends to p−window+1 .. p), 0 = full causal attention.</summary>
    public int AttentionWindow => SlidingWindow;

    private static void Validate(ModelConfig c)
    {
        if (c.HiddenAct is not ("silu" or "swish"))
            throw new OpenBookException($"config.json: hidden_act '{c.HiddenAct}' is not supported (only silu).");
        if (c.NumAttentionHeads % c.NumKeyValueHeads != 0)
            throw new OpenBookException($"config.json: num_attention_heads {c.NumAttentionHeads} is not a multiple of num_key_value_heads {c.NumKeyValueHeads}.");
        if (c.MlpBias) throw new OpenBookException("config.json: mlp_bias = true is not supported.");
    }

    /// <inheritdoc />
    public KvCache CreateCache(int batchSize, int maxTokens) => CreateCache(batchSize, maxTokens, KvCacheFormat);

    /// <summary>A KV cache in <paramref name="format"/> (bf16 halves the bytes attention reads per decoded token).</summary>
    public KvCache CreateCache(int batchSize, int maxTokens, KvCacheFormat format) =>
        new(Config.NumHiddenLayers, batchSize, maxTokens, Config.NumKeyValueHeads, Config.HeadDim, format);

    /// <summary>Format of the caches <see cref="CreateCache(int, int)"/> makes (generation, chat): f32 by default.</summary>
    public KvCacheFormat KvCacheFormat { get; set; } = KvCacheFormat.F32;

    /// <summary>All linear layers with their checkpoint names (for adapters and weight export).</summary>
    public IEnumerable<Linear> Linears()
    {
        foreach (var layer in Layers)
            foreach (var l in layer.Linears()) yield return l;
        yield return LmHead;
    }

    /// <summary>
    /// Re-stores every linear weight and the embedding table in <paramref name="format"/> (with tied embeddings the
    /// converted table serves both the lookup and lm_head).
    /// </summary>
    public LlamaForCausalLM ConvertWeights(WeightFormat format)
    {
        lock (_forwardGate)
        {
            foreach (var layer in Layers)
                foreach (var l in layer.Linears()) l.Weight = l.Weight.ConvertTo(format);
            EmbedTokens = EmbedTokens.ConvertTo(format);
            LmHead.Weight = Config.TieWordEmbeddings ? EmbedTokens : LmHead.Weight.ConvertTo(format);
        }
        return this;
    }

    /// <summary>
    /// Re-stores only the decoder-layer projections (q, k, v, o, gate, up, down) in <paramref name="format"/>, leaving
    /// the embedding and lm_head as they are — what QLoRA does with its NF4 base.
    /// </summary>
    public LlamaForCausalLM ConvertLinears(WeightFormat format)
    {
        lock (_forwardGate)
            foreach (var layer in Layers)
                foreach (var l in layer.Linears()) l.Weight = l.Weight.ConvertTo(format);
        return this;
    }

    /// <summary>
    /// Bytes held by the decoder-layer projections (q, k, v, o, gate, up, down) in their current format: the frozen base
    /// that <see cref="ConvertLinears"/> quantises for QLoRA. Compare with <see cref="FrozenLinearParameters"/> × 4 (fp32).
    /// </summary>
    public long FrozenLinearBytes() => Layers.SelectMany(layer => layer.Linears()).Sum(l => l.Weight.ByteSize);

    /// <summary>Number of weights in the decoder-layer projections (q, k, v, o, gate, up, down).</summary>
    public long FrozenLinearParameters() => Layers.SelectMany(layer => layer.Linears()).Sum(l => (long)l.Weight.Rows * l.Weight.Cols);

    /// <summary>Bytes of weights one decode step streams (all linears incl. lm_head; norms and one embedding row are negligible).</summary>
    public long DecodeWeightBytes() => Linears().Sum(l => l.Weight.ByteSize);

    /// <inheritdoc />
    public float[] Forward(ReadOnlySpan<int> tokens, KvCache cache, LogitsMode mode = LogitsMode.LastPosition) => Forward(tokens, cache, mode, null);

    /// <summary>
    /// <see cref="ICausalLM.Forward"/> that also records every layer's activations into <paramref name="tape"/>
    /// (when not null), for backward passes and adapter training.
    /// </summary>
    public float[] Forward(ReadOnlySpan<int> tokens, KvCache cache, LogitsMode mode, ActivationTape? tape)
    {
        int batch = cache.BatchSize;
        if (tokens.Length == 0 || tokens.Length % batch != 0)
            throw new ArgumentException($"tokens ({tokens.Length}) must be a non-empty multiple of the cache batch size ({batch}).");
        int seq = tokens.Length / batch;
        for (int b = 0; b < batch; b++)
            if (cache.Length(b) + seq > cache.Capacity)
                throw new OpenBookException($"Sequence {b} would grow to {cache.Length(b) + seq} tokens, over the KV cache capacity of {cache.Capacity}.");
        foreach (var id in tokens)
            if ((uint)id >= (uint)Config.VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), $"Token id {id} is outside the vocabulary (0..{Config.VocabSize - 1}).");

        lock (_forwardGate)
        {
            int rows = tokens.Length, hidden = Config.HiddenSize;
            var x = new float[rows * hidden];
            for (int r = 0; r < rows; r++) EmbedTokens.ReadRow(tokens[r], x.AsSpan(r * hidden, hidden));
            var state = new ForwardState(Config, rows, batch, seq, cache, Rope, SlidingWindow) { Tape = tape };
            tape?.Clear();
            foreach (var layer in Layers) layer.Forward(x, state);
            for (int b = 0; b < batch; b++) cache.Advance(b, seq);
            return Head(x, batch, seq, mode, tape);
        }
    }

    private float[] Head(float[] x, int batch, int seq, LogitsMode mode, ActivationTape? tape)
    {
        if (tape is not null) tape.FinalHidden = (float[])x.Clone();
        int hidden = Config.HiddenSize, vocab = Config.VocabSize;
        int outRows = mode == LogitsMode.AllPositions ? batch * seq : batch;
        var normed = new float[outRows * hidden];
        for (int o = 0; o < outRows; o++)
        {
            int src = mode == LogitsMode.AllPositions ? o : o * seq + seq - 1;
            Ops.RmsNorm(x.AsSpan(src * hidden, hidden), Norm, (float)Config.RmsNormEps, normed.AsSpan(o * hidden, hidden));
        }
        if (tape is not null) tape.FinalNormed = normed;
        var logits = new float[(long)outRows * vocab];
        LmHead.Forward(normed, outRows, logits);
        return logits;
    }
}

/// <summary>Per-call state of one forward pass, shared by the layers: shapes, positions, cache, scratch buffers.</summary>
public sealed class ForwardState
{
    internal ForwardState(ModelConfig c, int rows, int batch, int seq, KvCache cache, RotaryEmbedding rope, int window)
    {
        Rows = rows; Batch = batch; Seq = seq; Cache = cache; Rope = rope; Window = window;
        int q = c.NumAttentionHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim;
        Normed = new float[rows * c.HiddenSize];
        Q = new float[rows * q];
        K = new float[rows * kv];
        V = new float[rows * kv];
        Attn = new float[rows * q];
        Proj = new float[rows * c.HiddenSize];
        Gate = new float[rows * c.IntermediateSize];
        Up = new float[rows * c.IntermediateSize];
    }

    /// <summary>batch × seq.</summary>
    public int Rows { get; }
    /// <summary>Sequences.</summary>
    public int Batch { get; }
    /// <summary>Tokens per sequence in this call.</summary>
    public int Seq { get; }
    /// <summary>The KV cache being extended.</summary>
    public KvCache Cache { get; }
    /// <summary>Rotary embedding.</summary>
    public RotaryEmbedding Rope { get; }
    /// <summary>Sliding window (0 = none).</summary>
    public int Window { get; }
    internal float[] Normed, Q, K, V, Attn, Proj, Gate, Up;

    /// <summary>Where layers record their activations, or null.</summary>
    public ActivationTape? Tape { get; init; }

    /// <summary>Absolute position of row <paramref name="row"/> (before the cache is advanced).</summary>
    public int Position(int row) => Cache.Length(row / Seq) + row % Seq;
}

/// <summary>One transformer block <c>model.layers.N</c>: pre-norm attention and pre-norm SwiGLU MLP with residuals.</summary>
public sealed class LlamaDecoderLayer
{
    private readonly ModelConfig _c;

    /// <summary>Layer index N.</summary>
    public int Index { get; }
    /// <summary><c>input_layernorm.weight</c>.</summary>
    public float[] InputLayerNorm { get; }
    /// <summary><c>post_attention_layernorm.weight</c>.</summary>
    public float[] PostAttentionLayerNorm { get; }
    /// <summary><c>self_attn.q_proj</c>.</summary>
    public Linear QProj { get; }
    /// <summary><c>self_attn.k_proj</c>.</summary>
    public Linear KProj { get; }
    /// <summary><c>self_attn.v_proj</c>.</summary>
    public Linear VProj { get; }
    /// <summary><c>self_attn.o_proj</c>.</summary>
    public Linear OProj { get; }
    /// <summary><c>mlp.gate_proj</c>.</summary>
    public Linear GateProj { get; }
    /// <summary><c>mlp.up_proj</c>.</summary>
    public Linear UpProj { get; }
    /// <summary><c>mlp.down_proj</c>.</summary>
    public Linear DownProj { get; }

    internal LlamaDecoderLayer(ModelConfig c, int index, IWeightSource w, bool qkvBias, bool oBias)
    {
        _c = c;
        Index = index;
        string p = $"model.layers.{index}.";
        int h = c.HiddenSize, q = c.NumAttentionHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        Linear Lin(string name, int rows, int cols, bool bias) =>
            new(p + name, w.Matrix(p + name + ".weight", rows, cols), bias ? w.Vector(p + name + ".bias", rows) : null);
        InputLayerNorm = w.Vector(p + "input_layernorm.weight", h);
        PostAttentionLayerNorm = w.Vector(p + "post_attention_layernorm.weight", h);
        QProj = Lin("self_attn.q_proj", q, h, qkvBias);
        KProj = Lin("self_attn.k_proj", kv, h, qkvBias);
        VProj = Lin("self_attn.v_proj", kv, h, qkvBias);
        OProj = Lin("self_attn.o_proj", h, q, oBias);
        GateProj = Lin("mlp.gate_proj", i, h, false);
        UpProj = Lin("mlp.up_proj", i, h, false);
        DownProj = Lin("mlp.down_proj", h, i, false);
    }

    /// <summary>The seven projections of this layer.</summary>
    public IEnumerable<Linear> Linears() => [QProj, KProj, VProj, OProj, GateProj, UpProj, DownProj];

    /// <summary>Updates the residual stream <paramref name="x"/> [rows, hidden] in place.</summary>
    public void Forward(float[] x, ForwardState s)
    {
        int rows = s.Rows;
        float eps = (float)_c.RmsNormEps;
        var saved = s.Tape is null ? null : new LayerActivations { Input = (float[])x.Clone() };
        // Attention block.
        Ops.RmsNorm(x, InputLayerNorm, eps, s.Normed);
        Linear.ForwardMany(s.Normed, rows, [QProj, KProj, VProj], [s.Q, s.K, s.V]);
        SelfAttention(s);
        if (saved is not null)
        {
            saved.AttentionNormed = (float[])s.Normed.Clone();
            saved.Q = (float[])s.Q.Clone();
            saved.K = (float[])s.K.Clone();
            saved.V = (float[])s.V.Clone();
            saved.Attention = (float[])s.Attn.Clone();
        }
        OProj.Forward(s.Attn, rows, s.Proj);
        TensorPrimitives.Add(x, s.Proj, x);
        // MLP block.
        Ops.RmsNorm(x, PostAttentionLayerNorm, eps, s.Normed);
        Linear.ForwardMany(s.Normed, rows, [GateProj, UpProj], [s.Gate, s.Up]);
        if (saved is not null)
        {
            saved.AfterAttention = (float[])x.Clone();
            saved.MlpNormed = (float[])s.Normed.Clone();
            saved.Gate = (float[])s.Gate.Clone();
            saved.Up = (float[])s.Up.Clone();
        }
        Ops.SwiGlu(s.Gate, s.Up, s.Gate);
        DownProj.Forward(s.Gate, rows, s.Proj);
        TensorPrimitives.Add(x, s.Proj, x);
        if (saved is not null)
        {
            saved.MlpHidden = (float[])s.Gate.Clone();
            s.Tape!.Layers.Add(saved);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SelfAttention(ForwardState s)
    {
        int heads = _c.NumAttentionHeads, kvHeads = _c.NumKeyValueHeads, hd = _c.HeadDim;
        int qDim = heads * hd, kvDim = kvHeads * hd;
        // RoPE on q and k, then append k/v to the cache ([kvHead, position, headDim] per slot).
        for (int r = 0; r < s.Rows; r++)
        {
            int pos = s.Position(r), slot = r / s.Seq;
            s.Rope.Apply(s.Q.AsSpan(r * qDim, qDim), heads, pos);
            s.Rope.Apply(s.K.AsSpan(r * kvDim, kvDim), kvHeads, pos);
            for (int g = 0; g < kvHeads; g++)
                s.Cache.Store(Index, slot, g, pos, s.K.AsSpan(r * kvDim + g * hd, hd), s.V.AsSpan(r * kvDim + g * hd, hd));
        }
        // One work item per (sequence, head).
        int seq = s.Seq, window = s.Window;
        ParallelRanges.For(s.Batch * heads, item =>
        {
            int b = item / heads, h = item % heads;
            s.Cache.Attend(Index, b, s.Q.AsSpan(b * seq * qDim, seq * qDim), seq, heads, window, s.Attn.AsSpan(b * seq * qDim, seq * qDim), h, 1);
        }, work: (long)s.Batch * heads * seq * (s.Cache.Length(0) + seq) * hd * 2);
    }
}

/// <summary>
/// Activations of one decoder layer for one forward pass, all [rows, features] row-major (rows = batch × tokens),
/// named after the HF module whose input or output they are. What a backward pass needs.
/// </summary>
public sealed class LayerActivations
{
    /// <summary>Residual stream entering the layer.</summary>
    public float[] Input { get; init; } = [];
    /// <summary><c>input_layernorm</c> output (input of q/k/v_proj).</summary>
    public float[] AttentionNormed { get; set; } = [];
    /// <summary>Queries after RoPE [rows, heads·headDim].</summary>
    public float[] Q { get; set; } = [];
    /// <summary>Keys after RoPE [rows, kvHeads·headDim] (this call's tokens only; earlier ones are in the KV cache).</summary>
    public float[] K { get; set; } = [];
    /// <summary>Values [rows, kvHeads·headDim].</summary>
    public float[] V { get; set; } = [];
    /// <summary>Attention output, input of <c>o_proj</c> [rows, heads·headDim].</summary>
    public float[] Attention { get; set; } = [];
    /// <summary>Residual stream after the attention block.</summary>
    public float[] AfterAttention { get; set; } = [];
    /// <summary><c>post_attention_layernorm</c> output (input of gate/up_proj).</summary>
    public float[] MlpNormed { get; set; } = [];
    /// <summary><c>gate_proj</c> output before SiLU.</summary>
    public float[] Gate { get; set; } = [];
    /// <summary><c>up_proj</c> output.</summary>
    public float[] Up { get; set; } = [];
    /// <summary><c>silu(gate)·up</c>, input of <c>down_proj</c>.</summary>
    public float[] MlpHidden { get; set; } = [];
}

/// <summary>Activations recorded by <see cref="LlamaForCausalLM.Forward(ReadOnlySpan{int}, KvCache, LogitsMode, ActivationTape?)"/>.</summary>
public sealed class ActivationTape
{
    /// <summary>One entry per decoder layer, in order.</summary>
    public List<LayerActivations> Layers { get; } = [];
    /// <summary>Residual stream after the last layer (input of <c>model.norm</c>), all rows.</summary>
    public float[] FinalHidden { get; set; } = [];
    /// <summary><c>model.norm</c> output for the rows that got logits (input of <c>lm_head</c>).</summary>
    public float[] FinalNormed { get; set; } = [];

    internal void Clear()
    {
        Layers.Clear();
        FinalHidden = [];
        FinalNormed = [];
    }
}
