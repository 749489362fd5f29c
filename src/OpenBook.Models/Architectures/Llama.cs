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
    public float[] Forward(ReadOnlySpan<int> tokens, KvCache cache, LogitsMode mode = LogitsMode.LastPosition)
    {
        int batch = cache.BatchSize;
        if (tokens.Length == 0 || tokens.Length % batch != 0)
            throw new ArgumentException($"tokens ({tokens.Length}) must be a non-empty multiple of the cache batch size ({batch}).");
        int seq = tokens.Length / batch;
        for (int b = 0; b < batch; b++)
            if (cache.Length(b) + seq > cache.Capacity)
                throw new OpenBookException($"Sequence {b} would grow to {cache.Length(b) + seq} tokens, over the KV cache capacity of {cache.Capacity}.");

        lock (_forwardGate)
        {
            int rows = tokens.Length, hidden = Config.HiddenSize;
            var x = new float[rows * hidden];
            Embed(tokens, x);
            var state = new ForwardState(Config, rows, batch, seq, cache, Rope, SlidingWindow);
            foreach (var layer in Layers) layer.Forward(x, state);
            for (int b = 0; b < batch; b++) cache.Advance(b, seq);
            return Head(x, batch, seq, mode);
        }
    }

    /// <summary><c>x[r] = embed_tokens[tokens[r]]</c> for every row (the first step of every forward, inference or training).</summary>
    internal void Embed(ReadOnlySpan<int> tokens, float[] x)
    {
        int hidden = Config.HiddenSize;
        for (int r = 0; r < tokens.Length; r++)
        {
            if ((uint)tokens[r] >= (uint)Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"Token id {tokens[r]} is outside the vocabulary (0..{Config.VocabSize - 1}).");
            EmbedTokens.ReadRow(tokens[r], x.AsSpan(r * hidden, hidden));
        }
    }

    private float[] Head(float[] x, int batch, int seq, LogitsMode mode)
    {
        int hidden = Config.HiddenSize, vocab = Config.VocabSize;
        int outRows = mode == LogitsMode.AllPositions ? batch * seq : batch;
        var picked = mode == LogitsMode.AllPositions ? x : new float[outRows * hidden];
        if (mode != LogitsMode.AllPositions)
            for (int b = 0; b < batch; b++) x.AsSpan((b * seq + seq - 1) * hidden, hidden).CopyTo(picked.AsSpan(b * hidden, hidden));
        var normed = new float[outRows * hidden];
        Ops.RmsNorm(picked.AsSpan(0, outRows * hidden), Norm, (float)Config.RmsNormEps, normed, new float[outRows]);
        var logits = new float[(long)outRows * vocab];
        LmHead.Forward(normed, outRows, logits);
        return logits;
    }
}

/// <summary>
/// Activations of one decoder layer for one pass, all [rows, features] row-major (rows = batch × tokens), named after
/// the HF module whose input or output they are. Inference reuses one set of buffers for every layer (and keeps no
/// input copies); training keeps one set per layer for its backward pass.
/// </summary>
internal sealed class BlockActivations
{
    /// <summary>Residual stream entering the layer (training only).</summary>
    public float[]? X;
    /// <summary>1/rms of each row at <c>input_layernorm</c> and <c>post_attention_layernorm</c>.</summary>
    public required float[] Rstd1, Rstd2;
    /// <summary><c>input_layernorm</c> output, the input of q/k/v_proj.</summary>
    public required float[] H1;
    /// <summary>Queries and keys (after RoPE) and values.</summary>
    public required float[] Q, K, V;
    /// <summary>Attention output, the input of <c>o_proj</c>.</summary>
    public required float[] Attn;
    /// <summary>Residual stream after the attention block (training only).</summary>
    public float[]? X2;
    /// <summary><c>post_attention_layernorm</c> output, the input of gate/up_proj.</summary>
    public required float[] H2;
    /// <summary><c>gate_proj</c> output (before SiLU), <c>up_proj</c> output, and <c>silu(gate)·up</c> (the input of <c>down_proj</c>).</summary>
    public required float[] Gate, Up, Mh;
    /// <summary>Scratch for the o_proj / down_proj outputs before they are added to the residual stream.</summary>
    public required float[] Proj;
    /// <summary>Attention probabilities per (sequence, head) (training only).</summary>
    public float[][]? Probs;
    /// <summary>What each LoRA adapter kept from its training forward: q, k, v, o, gate, up, down (training only).</summary>
    public object?[] AdapterState { get; } = new object?[7];
}

/// <summary>
/// What differs between an inference pass and a training pass through the same <see cref="LlamaDecoderLayer.Forward"/>:
/// where the activations live, how a projection runs (a LoRA adapter keeps its state and applies dropout when
/// training), and attention (inference: positions from the KV cache, keys appended to it; training: the batch's own
/// positions, causal block-diagonal by packed segment, probabilities kept for backward).
/// </summary>
internal abstract class BlockPass
{
    /// <summary>batch × tokens.</summary>
    public abstract int Rows { get; }
    /// <summary>The buffers layer <paramref name="layer"/> writes into (with <see cref="BlockActivations.X"/> already a copy of the input when it is kept).</summary>
    public abstract BlockActivations Begin(LlamaDecoderLayer layer, float[] x);
    /// <summary><c>ys[i] = layers[i](x)</c>; <paramref name="slot"/> is the first projection's index (q 0 … down 6).</summary>
    public abstract void Project(ReadOnlySpan<Linear> layers, float[] x, ReadOnlySpan<float[]> ys, int slot, BlockActivations a);
    /// <summary>RoPE on <see cref="BlockActivations.Q"/> and <see cref="BlockActivations.K"/>, then attention into <see cref="BlockActivations.Attn"/>.</summary>
    public abstract void Attend(LlamaDecoderLayer layer, BlockActivations a);
    /// <summary>Called after the residual update of the attention block (training keeps a copy of the stream).</summary>
    public virtual void AfterAttention(BlockActivations a, float[] x) { }
}

/// <summary>Per-call state of one inference pass, shared by the layers: shapes, positions, cache, scratch buffers.</summary>
internal sealed class ForwardState : BlockPass
{
    private readonly BlockActivations _scratch;

    internal ForwardState(ModelConfig c, int rows, int batch, int seq, KvCache cache, RotaryEmbedding rope, int window)
    {
        RowCount = rows; Batch = batch; Seq = seq; Cache = cache; Rope = rope; Window = window;
        int q = c.NumAttentionHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim, h = c.HiddenSize, i = c.IntermediateSize;
        var normed = new float[rows * h];
        var rstd = new float[rows];
        // One set of buffers for every layer; both norms share theirs (nothing is kept between the blocks).
        _scratch = new BlockActivations
        {
            Rstd1 = rstd, Rstd2 = rstd, H1 = normed, H2 = normed, Q = new float[rows * q], K = new float[rows * kv], V = new float[rows * kv],
            Attn = new float[rows * q], Gate = new float[rows * i], Up = new float[rows * i], Mh = new float[rows * i], Proj = new float[rows * h],
        };
    }

    private int RowCount { get; }
    /// <inheritdoc />
    public override int Rows => RowCount;
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

    /// <summary>Absolute position of row <paramref name="row"/> (before the cache is advanced).</summary>
    public int Position(int row) => Cache.Length(row / Seq) + row % Seq;

    public override BlockActivations Begin(LlamaDecoderLayer layer, float[] x) => _scratch;

    public override void Project(ReadOnlySpan<Linear> layers, float[] x, ReadOnlySpan<float[]> ys, int slot, BlockActivations a)
    {
        if (layers.Length == 1) layers[0].Forward(x, Rows, ys[0]);
        else Linear.ForwardMany(x, Rows, layers.ToArray(), ys.ToArray()); // fused weight streaming at decode sizes
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Attend(LlamaDecoderLayer layer, BlockActivations a)
    {
        var c = layer.Config;
        int heads = c.NumAttentionHeads, kvHeads = c.NumKeyValueHeads, hd = c.HeadDim, index = layer.Index;
        int qDim = heads * hd, kvDim = kvHeads * hd;
        // RoPE on q and k, then append k/v to the cache (f32 or bf16; [kvHead, position, headDim] per slot).
        for (int r = 0; r < Rows; r++)
        {
            int pos = Position(r), slot = r / Seq;
            Rope.Apply(a.Q.AsSpan(r * qDim, qDim), heads, pos);
            Rope.Apply(a.K.AsSpan(r * kvDim, kvDim), kvHeads, pos);
            for (int g = 0; g < kvHeads; g++)
                Cache.Store(index, slot, g, pos, a.K.AsSpan(r * kvDim + g * hd, hd), a.V.AsSpan(r * kvDim + g * hd, hd));
        }
        // One work item per (sequence, head).
        int seq = Seq, window = Window;
        ParallelRanges.For(Batch * heads, item =>
        {
            int b = item / heads, h = item % heads;
            Cache.Attend(index, b, a.Q.AsSpan(b * seq * qDim, seq * qDim), seq, heads, window, a.Attn.AsSpan(b * seq * qDim, seq * qDim), h, 1);
        }, work: (long)Batch * heads * seq * (Cache.Length(0) + seq) * hd * 2);
    }
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

    /// <summary>The model's config.</summary>
    internal ModelConfig Config => _c;

    /// <summary>
    /// The block, for inference and training alike: updates the residual stream <paramref name="x"/> [rows, hidden] in
    /// place, leaving its activations where <paramref name="pass"/> says (and returning them).
    /// </summary>
    internal BlockActivations Forward(float[] x, BlockPass pass)
    {
        float eps = (float)_c.RmsNormEps;
        var a = pass.Begin(this, x);
        // Attention block: x = x + o_proj(attention(rope(q_proj(h)), rope(k_proj(h)), v_proj(h))), h = input_layernorm(x).
        Ops.RmsNorm(x, InputLayerNorm, eps, a.H1, a.Rstd1);
        pass.Project([QProj, KProj, VProj], a.H1, [a.Q, a.K, a.V], 0, a);
        pass.Attend(this, a);
        pass.Project([OProj], a.Attn, [a.Proj], 3, a);
        TensorPrimitives.Add(x, a.Proj, x);
        pass.AfterAttention(a, x);
        // MLP block: x = x + down_proj(silu(gate_proj(h)) · up_proj(h)), h = post_attention_layernorm(x).
        Ops.RmsNorm(x, PostAttentionLayerNorm, eps, a.H2, a.Rstd2);
        pass.Project([GateProj, UpProj], a.H2, [a.Gate, a.Up], 4, a);
        Ops.SwiGlu(a.Gate, a.Up, a.Mh);
        pass.Project([DownProj], a.Mh, [a.Proj], 6, a);
        TensorPrimitives.Add(x, a.Proj, x);
        return a;
    }
}
