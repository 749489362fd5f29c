using System.Numerics.Tensors;
using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;

using OpenBook.Shared;

namespace OpenBook.Models.FineTuning.Backward;

/// <summary>
/// A training batch: <see cref="Batch"/> rows of <see cref="Seq"/> tokens, row-major.
/// <see cref="Targets"/>[t] &gt; 0 makes token t a training target (predicted from position t−1) with that weight;
/// <see cref="Positions"/> are the RoPE positions (default 0..Seq−1 per row) and <see cref="Segments"/> the example
/// index of each token inside a packed row (−1 = padding; default one segment per row). Attention is causal and
/// block-diagonal by segment. <see cref="Datasets.BatchPlanner"/> also records where the batch came from.
/// </summary>
public sealed record SequenceBatch(int Batch, int Seq, int[] Tokens, float[] Targets, int[]? Positions = null, int[]? Segments = null)
{
    /// <summary>Index of this batch within its epoch (resume skips to it).</summary>
    public int Index { get; init; }
    /// <summary>Dataset lines of the examples in this batch, row by row (empty when not planned from a dataset).</summary>
    public IReadOnlyList<int> ExampleLines { get; init; } = [];
    /// <summary>Tokens with a target &gt; 0.</summary>
    public int TargetCount => Targets.Count(t => t > 0);
    /// <summary>Real (non-padding) tokens.</summary>
    public int RealTokens => Segments?.Count(s => s >= 0) ?? Tokens.Length;

    /// <summary>Checks that every array has Batch × Seq entries.</summary>
    public SequenceBatch Validate()
    {
        long n = (long)Batch * Seq;
        if (Batch < 1 || Seq < 1 || Tokens.Length != n || Targets.Length != n || Positions is { } p && p.Length != n || Segments is { } s && s.Length != n)
            throw new ArgumentException($"SequenceBatch: every array must hold Batch×Seq = {n} entries.");
        return this;
    }
}

/// <summary>Loss of one forward (and backward) pass: Σ weight·cross-entropy and Σ weight over the target tokens.</summary>
public readonly record struct PassLoss(double LossSum, double WeightSum)
{
    /// <summary>Mean loss per target weight (0 when there is no target).</summary>
    public double Mean => WeightSum > 0 ? LossSum / WeightSum : 0;
}

/// <summary>
/// Gradient buffers of the model's own weights for full-parameter training, keyed by the weight array they belong to
/// (<see cref="WeightMatrix.F32Data"/> of a projection or the embedding, a norm or bias vector). The training graph
/// accumulates into every weight that has one; weights without a buffer are frozen (only input gradients flow).
/// Tied embeddings share one array, hence one gradient (the lookup's and lm_head's contributions add up).
/// </summary>
public sealed class WeightGradients
{
    private readonly Dictionary<float[], float[]> _byValue = new(ReferenceEqualityComparer.Instance);

    /// <summary>The gradient buffer of <paramref name="value"/>, created (zero) on first use.</summary>
    public float[] Add(float[] value)
    {
        if (!_byValue.TryGetValue(value, out var grad)) _byValue[value] = grad = new float[value.Length];
        return grad;
    }

    /// <summary>The gradient buffer of <paramref name="value"/>, or null when that weight is frozen.</summary>
    public float[]? Of(float[]? value) => value is not null && _byValue.TryGetValue(value, out var g) ? g : null;

    /// <summary>The gradient of a fp32 weight matrix (null when frozen or not stored as fp32).</summary>
    public float[]? Of(WeightMatrix w) => Of(w.F32Data);

    /// <summary>Sets every gradient to zero.</summary>
    public void Clear()
    {
        foreach (var g in _byValue.Values) Array.Clear(g);
    }
}

/// <summary>
/// Training forward and backward for the Llama family (Llama, Qwen2, Mistral), written out explicitly in the llm.c
/// style rather than on a general autograd tape. The forward is the model's own block code
/// (<see cref="LlamaDecoderLayer.Forward"/>, the same as inference) run through a training <see cref="BlockPass"/>
/// that keeps each layer's activations; this class adds the backward of each op, a few lines each.
/// <para>
/// Why explicit: the graph is fixed (embedding → N × [RMSNorm, q/k/v, RoPE, GQA causal attention, o_proj, residual,
/// RMSNorm, SwiGLU MLP, residual] → RMSNorm → lm_head → cross-entropy), so every saved activation is visible (memory
/// is predictable and reviewable). Frozen weights never get a weight-gradient buffer — only input gradients
/// <c>dx = dy·W</c> flow through them, while LoRA adapters accumulate dA/dB; with <see cref="WeightGradients"/> every
/// weight learns: <c>dW += dyᵀ·x</c> through the same packed SGEMM, bias and RMSNorm weight gradients, the embedding
/// rows of the batch's tokens (sparse scatter-add) and lm_head (tied or not).
/// </para>
/// <para>
/// What is saved per layer: the residual input, both RMSNorm outputs and their 1/rms, q/k (after RoPE), v, the
/// attention probabilities per (sequence, head), the attention output, gate/up (before SiLU) and the MLP hidden,
/// plus each adapter's rank-r projection. With gradient checkpointing only each layer's input is kept and the layer
/// is recomputed during backward (same dropout masks). Logits are never materialised for the whole batch: only
/// positions whose next token is a target go through lm_head, in chunks, and their gradient is folded back immediately.
/// </para>
/// </summary>
public sealed class LlamaTrainingGraph
{
    private const int HeadChunkRows = 64;
    private readonly LlamaForCausalLM _model;
    private readonly WeightGradients? _grads;
    private readonly bool _checkpoint;
    private readonly int _hidden, _heads, _kvHeads, _headDim, _inter, _vocab, _window;
    private readonly float _eps;
    private readonly BufferArena _arena = new();
    private int _busy;

    /// <summary>
    /// A graph over <paramref name="model"/> (with or without LoRA adapters attached; with <paramref name="weightGradients"/>
    /// the model's own weights that have a buffer there learn too). <paramref name="checkpointLayers"/> keeps only each
    /// layer's input and recomputes the layer in backward (less memory, one more forward). One pass at a time: its
    /// buffers are reused from pass to pass (see <see cref="BufferArena"/>).
    /// </summary>
    public LlamaTrainingGraph(LlamaForCausalLM model, WeightGradients? weightGradients = null, bool checkpointLayers = false)
    {
        _model = model;
        _grads = weightGradients;
        _checkpoint = checkpointLayers;
        var c = model.Config;
        _hidden = c.HiddenSize; _heads = c.NumAttentionHeads; _kvHeads = c.NumKeyValueHeads; _headDim = c.HeadDim;
        _inter = c.IntermediateSize; _vocab = c.VocabSize; _eps = (float)c.RmsNormEps; _window = model.AttentionWindow;
    }

    /// <summary>Float buffers held between passes (activations and scratch of the largest pass so far), in bytes.</summary>
    public long ArenaBytes => _arena.Bytes;

    /// <summary>
    /// Forward and backward over <paramref name="batch"/>: accumulates <c>gradScale · ∂(Σ weight·CE)/∂θ</c> into every
    /// attached LoRA adapter's gradient buffers and every weight gradient (callers pass 1 / (Σ weight · accumulation
    /// steps) for a mean loss). Dropout masks derive from <paramref name="dropoutSeed"/>. When <paramref name="inputGradient"/>
    /// is not null it receives the gradient with respect to the embedding output (inputs_embeds) [rows, hidden].
    /// </summary>
    public PassLoss ForwardBackward(SequenceBatch batch, float gradScale, int dropoutSeed = 0, float[]? inputGradient = null) => InPass(() =>
    {
        var ctx = new Context(batch.Validate(), this);
        int layers = _model.Layers.Count;
        var saved = new BlockActivations?[layers];
        var inputs = new float[]?[layers];
        var x = Embed(batch);
        for (int l = 0; l < layers; l++)
        {
            var pass = new TrainingPass(this, ctx, train: true, Seeds.Mix(dropoutSeed, l));
            if (_checkpoint) inputs[l] = _arena.RentCopy(x);
            var a = _model.Layers[l].Forward(x, pass);
            if (_checkpoint) Release(a);
            else saved[l] = a;
        }
        var dx = _arena.Rent(x.Length);
        var loss = Head(x, ctx, gradScale, dx);
        bool full = _grads is not null;
        int lowest = inputGradient is not null || full ? 0 : LowestAdaptedLayer();
        for (int l = layers - 1; l >= 0 && l >= lowest; l--)
        {
            var a = saved[l] ?? Recompute(l, inputs[l]!, ctx, Seeds.Mix(dropoutSeed, l));
            LayerBackward(_model.Layers[l], a, dx, ctx, needInputGrad: l > lowest || inputGradient is not null || full);
            Release(a);
            if (inputs[l] is { } input) _arena.Return(input);
        }
        if (_grads?.Of(_model.EmbedTokens) is { } dEmbed)
            for (int r = 0; r < ctx.Rows; r++)
            {
                var row = dEmbed.AsSpan(batch.Tokens[r] * _hidden, _hidden);
                TensorPrimitives.Add(row, dx.AsSpan(r * _hidden, _hidden), row);
            }
        if (inputGradient is not null) dx.AsSpan().CopyTo(inputGradient);
        return loss;
    });

    /// <summary>The loss without gradients (evaluation; no dropout).</summary>
    public PassLoss Loss(SequenceBatch batch) => InPass(() =>
    {
        var ctx = new Context(batch.Validate(), this);
        var x = ForwardOnly(batch, ctx);
        return Head(x, ctx, 0f, null);
    });

    /// <summary>Logits of every position [rows, vocab] through the training forward (used to check it against inference).</summary>
    public float[] Logits(SequenceBatch batch) => InPass(() =>
    {
        var ctx = new Context(batch.Validate(), this);
        var x = ForwardOnly(batch, ctx);
        int rows = ctx.Rows;
        var normed = new float[x.Length];
        Ops.RmsNorm(x, _model.Norm, _eps, normed);
        var logits = new float[(long)rows * _vocab];
        _model.LmHead.Forward(normed, rows, logits);
        return logits;
    });

    private float[] ForwardOnly(SequenceBatch batch, Context ctx)
    {
        var x = Embed(batch);
        foreach (var layer in _model.Layers) Release(layer.Forward(x, new TrainingPass(this, ctx, train: false, 0)));
        return x;
    }

    /// <summary>Gradient checkpointing: runs layer <paramref name="l"/> again from its saved input (same dropout masks).</summary>
    private BlockActivations Recompute(int l, float[] input, Context ctx, int seed)
    {
        var x = _arena.RentCopy(input);
        var a = _model.Layers[l].Forward(x, new TrainingPass(this, ctx, train: true, seed));
        _arena.Return(x);
        return a;
    }

    /// <summary>Runs one pass; its buffers go back to the arena afterwards (also when it throws).</summary>
    private T InPass<T>(Func<T> pass)
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0)
            throw new InvalidOperationException("LlamaTrainingGraph runs one pass at a time; use one graph per thread.");
        try
        {
            return pass();
        }
        finally
        {
            _arena.Reset();
            Volatile.Write(ref _busy, 0);
        }
    }

    private int LowestAdaptedLayer()
    {
        for (int l = 0; l < _model.Layers.Count; l++)
            if (_model.Layers[l].Linears().Any(x => x.Adapter is LoraLinear)) return l;
        return _model.Layers.Count;
    }

    private float[] Embed(SequenceBatch b)
    {
        var x = _arena.Rent(b.Tokens.Length * _hidden, clear: false);
        _model.Embed(b.Tokens, x);
        return x;
    }

    /// <summary>Shapes, positions and the attention span of every row of one batch.</summary>
    private sealed class Context
    {
        public readonly SequenceBatch Batch;
        public readonly int Rows;
        public readonly int[] Positions;
        /// <summary>First key row (within the sequence) each query row may attend to.</summary>
        public readonly int[] SpanStart;

        public Context(SequenceBatch b, LlamaTrainingGraph g)
        {
            Batch = b;
            Rows = b.Batch * b.Seq;
            Positions = b.Positions ?? Enumerable.Range(0, Rows).Select(r => r % b.Seq).ToArray();
            SpanStart = new int[Rows];
            for (int s = 0; s < b.Batch; s++)
            {
                int segStart = 0;
                for (int t = 0; t < b.Seq; t++)
                {
                    int r = s * b.Seq + t;
                    int seg = b.Segments?[r] ?? 0;
                    if (t == 0 || seg < 0 || seg != (b.Segments?[r - 1] ?? 0)) segStart = t;
                    SpanStart[r] = g._window > 0 ? Math.Max(segStart, t - g._window + 1) : segStart;
                }
            }
        }

        public int Segment(int row) => Batch.Segments?[row] ?? 0;
    }

    /// <summary>
    /// The training side of the shared block code: every activation in its own arena buffer (kept for backward),
    /// LoRA adapters run their training forward (dropout, saved projection), attention over the batch's positions and
    /// packed segments with the probabilities kept.
    /// </summary>
    private sealed class TrainingPass(LlamaTrainingGraph g, Context ctx, bool train, int dropoutSeed) : BlockPass
    {
        public override int Rows => ctx.Rows;

        public override BlockActivations Begin(LlamaDecoderLayer layer, float[] x)
        {
            int rows = ctx.Rows, qd = g._heads * g._headDim, kvd = g._kvHeads * g._headDim;
            var arena = g._arena;
            return new BlockActivations
            {
                X = arena.RentCopy(x), Rstd1 = arena.Rent(rows, clear: false), H1 = arena.Rent(rows * g._hidden, clear: false),
                Q = arena.Rent(rows * qd, clear: false), K = arena.Rent(rows * kvd, clear: false), V = arena.Rent(rows * kvd, clear: false),
                Attn = arena.Rent(rows * qd, clear: false), Rstd2 = arena.Rent(rows, clear: false), H2 = arena.Rent(rows * g._hidden, clear: false),
                Gate = arena.Rent(rows * g._inter, clear: false), Up = arena.Rent(rows * g._inter, clear: false), Mh = arena.Rent(rows * g._inter, clear: false),
                Proj = arena.Rent(rows * g._hidden, clear: false),
            };
        }

        public override void Project(ReadOnlySpan<Linear> layers, float[] x, ReadOnlySpan<float[]> ys, int slot, BlockActivations a)
        {
            for (int i = 0; i < layers.Length; i++)
                a.AdapterState[slot + i] = g.LinearForward(layers[i], x, ctx.Rows, ys[i], train, dropoutSeed + slot + i + 1);
        }

        public override void Attend(LlamaDecoderLayer layer, BlockActivations a)
        {
            int qd = g._heads * g._headDim, kvd = g._kvHeads * g._headDim;
            for (int r = 0; r < ctx.Rows; r++)
            {
                g._model.Rope.Apply(a.Q.AsSpan(r * qd, qd), g._heads, ctx.Positions[r]);
                g._model.Rope.Apply(a.K.AsSpan(r * kvd, kvd), g._kvHeads, ctx.Positions[r]);
            }
            a.Probs = g.AttentionForward(a.Q, a.K, a.V, ctx, a.Attn);
        }

        public override void AfterAttention(BlockActivations a, float[] x) => a.X2 = g._arena.RentCopy(x);
    }

    /// <summary>Gives every buffer of a layer's activations back to the arena.</summary>
    private void Release(BlockActivations a)
    {
        _arena.Return(a.Rstd1, a.H1, a.Q, a.K, a.V, a.Attn, a.Rstd2, a.H2, a.Gate, a.Up, a.Mh, a.Proj);
        if (a.X is not null) _arena.Return(a.X);
        if (a.X2 is not null) _arena.Return(a.X2);
        if (a.Probs is not null) _arena.Return(a.Probs);
        foreach (var state in a.AdapterState) (state as LoraState)?.ReturnTo(_arena);
    }

    private void LayerBackward(LlamaDecoderLayer layer, BlockActivations s, float[] dx, Context ctx, bool needInputGrad)
    {
        int rows = ctx.Rows, qd = _heads * _headDim, kvd = _kvHeads * _headDim;
        // MLP block: x = x2 + down(silu(gate)·up), gate/up = proj(h2), h2 = rmsnorm(x2).
        var dMh = _arena.Rent(rows * _inter);
        LinearBackward(layer.DownProj, s.Mh, dx, rows, s.AdapterState[6], dMh, needDx: true);
        var dGate = _arena.Rent(rows * _inter, clear: false);
        var dUp = _arena.Rent(rows * _inter, clear: false);
        SwiGluBackward(s.Gate, s.Up, dMh, dGate, dUp);
        var dH2 = _arena.Rent(rows * _hidden);
        LinearBackward(layer.GateProj, s.H2, dGate, rows, s.AdapterState[4], dH2, needDx: true);
        LinearBackward(layer.UpProj, s.H2, dUp, rows, s.AdapterState[5], dH2, needDx: true);
        RmsNormBackward(s.X2!, s.Rstd2, layer.PostAttentionLayerNorm, dH2, rows, dx, _grads?.Of(layer.PostAttentionLayerNorm));
        // Attention block: x2 = x + o_proj(attn).
        _arena.Return(dMh, dGate, dUp, dH2);
        var dAttn = _arena.Rent(rows * qd);
        LinearBackward(layer.OProj, s.Attn, dx, rows, s.AdapterState[3], dAttn, needDx: true);
        var dQ = _arena.Rent(rows * qd, clear: false);
        var dK = _arena.Rent(rows * kvd);
        var dV = _arena.Rent(rows * kvd);
        AttentionBackward(s, dAttn, ctx, dQ, dK, dV);
        for (int r = 0; r < rows; r++)
        {
            _model.Rope.ApplyInverse(dQ.AsSpan(r * qd, qd), _heads, ctx.Positions[r]);
            _model.Rope.ApplyInverse(dK.AsSpan(r * kvd, kvd), _kvHeads, ctx.Positions[r]);
        }
        var dH1 = _arena.Rent(rows * _hidden);
        LinearBackward(layer.QProj, s.H1, dQ, rows, s.AdapterState[0], dH1, needInputGrad);
        LinearBackward(layer.KProj, s.H1, dK, rows, s.AdapterState[1], dH1, needInputGrad);
        LinearBackward(layer.VProj, s.H1, dV, rows, s.AdapterState[2], dH1, needInputGrad);
        if (needInputGrad) RmsNormBackward(s.X!, s.Rstd1, layer.InputLayerNorm, dH1, rows, dx, _grads?.Of(layer.InputLayerNorm));
        _arena.Return(dAttn, dQ, dK, dV, dH1);
    }

    // ---- linear layers (frozen or trained base + optional LoRA) ----

    private LoraState? LinearForward(Linear l, float[] x, int rows, float[] y, bool train, int dropoutSeed)
    {
        l.Weight.MultiplyTransposed(x, rows, y);
        if (l.Bias is { } bias)
            for (int r = 0; r < rows; r++) TensorPrimitives.Add(y.AsSpan(r * l.OutFeatures, l.OutFeatures), bias, y.AsSpan(r * l.OutFeatures, l.OutFeatures));
        if (l.Adapter is LoraLinear lora && train) return lora.TrainForward(x, rows, y, dropoutSeed, _arena);
        l.Adapter?.AddTo(x.AsSpan(0, rows * l.InFeatures), rows, y);
        return null;
    }

    /// <summary>
    /// dx += dy·W; with a weight gradient dW += dyᵀ·x (and db += Σ dy); then the adapter's backward (dA, dB and its
    /// input gradient).
    /// </summary>
    private void LinearBackward(Linear l, float[] x, float[] dy, int rows, object? state, float[] dx, bool needDx)
    {
        if (needDx) InputGradient(l.Weight, dy, rows, dx);
        if (_grads?.Of(l.Weight) is { } dW)
            Sgemm.Multiply(Transpose.Yes, Transpose.No, l.OutFeatures, l.InFeatures, rows, dy, l.OutFeatures, x, l.InFeatures, dW, l.InFeatures, 1f, 1f);
        if (l.Bias is { } bias && _grads?.Of(bias) is { } dB)
            for (int r = 0; r < rows; r++) TensorPrimitives.Add(dB, dy.AsSpan(r * l.OutFeatures, l.OutFeatures), dB);
        if (state is LoraState lora) ((LoraLinear)l.Adapter!).Backward(x, dy, rows, lora, needDx ? dx : default, _arena);
    }

    /// <summary><c>dx[m, in] += dy[m, out]·W[out, in]</c>.</summary>
    private static void InputGradient(WeightMatrix w, float[] dy, int m, float[] dx) => w.Multiply(dy, m, dx, beta: 1f);

    // ---- RMSNorm ----

    /// <summary>
    /// y = w ⊙ x·r with r = (mean x² + eps)^−½: <c>dx += r·(w⊙dy − x·r²/n · Σ w⊙dy⊙x)</c> and, when the weight
    /// learns, <c>dw += Σ_rows dy⊙x·r</c>.
    /// </summary>
    private void RmsNormBackward(float[] x, float[] rstd, float[] weight, float[] dy, int rows, float[] dx, float[]? dWeight)
    {
        int n = _hidden;
        var wdy = new float[n];
        for (int r = 0; r < rows; r++)
        {
            var xr = x.AsSpan(r * n, n);
            var dyr = dy.AsSpan(r * n, n);
            TensorPrimitives.Multiply(dyr, weight, wdy);
            float rs = rstd[r];
            float c = TensorPrimitives.Dot(wdy, xr) * rs * rs / n;
            var dxr = dx.AsSpan(r * n, n);
            for (int i = 0; i < n; i++) dxr[i] += rs * (wdy[i] - xr[i] * c);
            if (dWeight is not null)
                for (int i = 0; i < n; i++) dWeight[i] += dyr[i] * xr[i] * rs;
        }
    }
    // ---- SwiGLU ----

    /// <summary>out = silu(g)·u: du = dout·silu(g), dg = dout·u·σ(g)·(1 + g·(1 − σ(g))).</summary>
    private static void SwiGluBackward(float[] gate, float[] up, float[] dOut, float[] dGate, float[] dUp)
    {
        int chunks = Math.Max(1, gate.Length / 16384);
        ParallelRanges.For(chunks, c =>
        {
            int start = (int)((long)gate.Length * c / chunks), end = (int)((long)gate.Length * (c + 1) / chunks);
            for (int i = start; i < end; i++)
            {
                float g = gate[i], sig = 1f / (1f + MathF.Exp(-g));
                dUp[i] = dOut[i] * g * sig;
                dGate[i] = dOut[i] * up[i] * sig * (1f + g * (1f - sig));
            }
        }, work: gate.Length * 16L);
    }

    // ---- attention (GQA, causal, block-diagonal by segment, optional sliding window) ----

    private float[][] AttentionForward(float[] q, float[] k, float[] v, Context ctx, float[] attn)
    {
        int seq = ctx.Batch.Seq, hd = _headDim, qd = _heads * hd, kvd = _kvHeads * hd, group = _heads / _kvHeads;
        float scale = 1f / MathF.Sqrt(hd);
        var probs = new float[ctx.Batch.Batch * _heads][];
        ParallelRanges.For(probs.Length, item =>
        {
            int b = item / _heads, h = item % _heads, g = h / group;
            var p = _arena.Rent(seq * seq, clear: false);
            Sgemm.Multiply(Transpose.No, Transpose.Yes, seq, seq, hd, q.AsSpan(b * seq * qd + h * hd), qd, k.AsSpan(b * seq * kvd + g * hd), kvd, p, seq, scale);
            for (int i = 0; i < seq; i++)
            {
                int start = ctx.SpanStart[b * seq + i];
                var row = p.AsSpan(i * seq, seq);
                row[..start].Clear();
                row[(i + 1)..].Clear();
                Ops.Softmax(row[start..(i + 1)]);
            }
            Sgemm.Multiply(Transpose.No, Transpose.No, seq, hd, seq, p, seq, v.AsSpan(b * seq * kvd + g * hd), kvd, attn.AsSpan(b * seq * qd + h * hd), qd);
            probs[item] = p;
        }, work: (long)probs.Length * seq * seq * hd * 2);
        return probs;
    }

    /// <summary>
    /// For O = P·V with P = softmax(scale·Q·Kᵀ + mask): dP = dO·Vᵀ, dV = Pᵀ·dO, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
    /// dQ = scale·dS·K, dK = scale·dSᵀ·Q; GQA sums dK/dV over the query heads sharing a key/value head.
    /// </summary>
    private void AttentionBackward(BlockActivations s, float[] dAttn, Context ctx, float[] dQ, float[] dK, float[] dV)
    {
        int seq = ctx.Batch.Seq, hd = _headDim, qd = _heads * hd, kvd = _kvHeads * hd, group = _heads / _kvHeads;
        float scale = 1f / MathF.Sqrt(hd);
        int items = ctx.Batch.Batch * _heads;
        var dKh = new float[items][];
        var dVh = new float[items][];
        ParallelRanges.For(items, item =>
        {
            int b = item / _heads, h = item % _heads, g = h / group;
            var p = s.Probs![item];
            var dO = dAttn.AsSpan(b * seq * qd + h * hd);
            var vh = s.V.AsSpan(b * seq * kvd + g * hd);
            var kh = s.K.AsSpan(b * seq * kvd + g * hd);
            var qh = s.Q.AsSpan(b * seq * qd + h * hd);
            var dP = _arena.Rent(seq * seq, clear: false);
            Sgemm.Multiply(Transpose.No, Transpose.Yes, seq, seq, hd, dO, qd, vh, kvd, dP, seq);
            var dv = _arena.Rent(seq * hd, clear: false);
            Sgemm.Multiply(Transpose.Yes, Transpose.No, seq, hd, seq, p, seq, dO, qd, dv, hd);
            for (int i = 0; i < seq; i++)
            {
                int start = ctx.SpanStart[b * seq + i];
                var pr = p.AsSpan(i * seq + start, i + 1 - start);
                var dr = dP.AsSpan(i * seq + start, i + 1 - start);
                float c = TensorPrimitives.Dot(pr, dr);
                TensorPrimitives.Subtract(dr, c, dr);
                TensorPrimitives.Multiply(dr, pr, dr);
                dP.AsSpan(i * seq, start).Clear();
                dP.AsSpan(i * seq + i + 1, seq - i - 1).Clear();
            }
            Sgemm.Multiply(Transpose.No, Transpose.No, seq, hd, seq, dP, seq, kh, kvd, dQ.AsSpan(b * seq * qd + h * hd), qd, scale);
            var dk = _arena.Rent(seq * hd, clear: false);
            Sgemm.Multiply(Transpose.Yes, Transpose.No, seq, hd, seq, dP, seq, qh, qd, dk, hd, scale);
            _arena.Return(dP);
            dKh[item] = dk;
            dVh[item] = dv;
        }, work: (long)items * seq * seq * hd * 8);
        for (int item = 0; item < items; item++)
        {
            int b = item / _heads, g = item % _heads / group;
            for (int t = 0; t < seq; t++)
            {
                int off = (b * seq + t) * kvd + g * hd;
                TensorPrimitives.Add(dK.AsSpan(off, hd), dKh[item].AsSpan(t * hd, hd), dK.AsSpan(off, hd));
                TensorPrimitives.Add(dV.AsSpan(off, hd), dVh[item].AsSpan(t * hd, hd), dV.AsSpan(off, hd));
            }
            _arena.Return(dKh[item], dVh[item]);
        }
    }

    // ---- final norm, lm_head and cross-entropy ----

    /// <summary>
    /// Loss over the target tokens; with <paramref name="dx"/> also the gradient into the residual stream.
    /// Only rows whose next token is a target are normalised and projected, <see cref="HeadChunkRows"/> at a time.
    /// </summary>
    private PassLoss Head(float[] x, Context ctx, float gradScale, float[]? dx)
    {
        var b = ctx.Batch;
        var rowsToScore = new List<(int Row, int Target, float Weight)>();
        for (int s = 0; s < b.Batch; s++)
            for (int t = 0; t + 1 < b.Seq; t++)
            {
                int r = s * b.Seq + t;
                float w = b.Targets[r + 1];
                if (w > 0 && ctx.Segment(r) >= 0 && ctx.Segment(r) == ctx.Segment(r + 1)) rowsToScore.Add((r, b.Tokens[r + 1], w));
            }
        double lossSum = 0, weightSum = 0;
        int n = _hidden;
        for (int c0 = 0; c0 < rowsToScore.Count; c0 += HeadChunkRows)
        {
            int m = Math.Min(HeadChunkRows, rowsToScore.Count - c0);
            var xs = _arena.Rent(m * n, clear: false);
            for (int i = 0; i < m; i++) x.AsSpan(rowsToScore[c0 + i].Row * n, n).CopyTo(xs.AsSpan(i * n, n));
            var normed = _arena.Rent(m * n, clear: false);
            var rstd = _arena.Rent(m, clear: false);
            Ops.RmsNorm(xs, _model.Norm, _eps, normed, rstd);
            var logits = _arena.Rent(m * _vocab, clear: false);
            _model.LmHead.Forward(normed, m, logits);
            var losses = new double[m];
            ParallelRanges.For(m, i =>
            {
                var (_, target, w) = rowsToScore[c0 + i];
                var row = logits.AsSpan(i * _vocab, _vocab);
                float max = TensorPrimitives.Max(row);
                double logitGap = row[target] - max;
                TensorPrimitives.Subtract(row, max, row);
                TensorPrimitives.Exp(row, row);
                float sum = TensorPrimitives.Sum(row);
                losses[i] = w * (Math.Log(sum) - logitGap);
                if (dx is not null)
                {
                    TensorPrimitives.Multiply(row, w * gradScale / sum, row);
                    row[target] -= w * gradScale;
                }
            }, work: (long)m * _vocab * 8);
            for (int i = 0; i < m; i++)
            {
                lossSum += losses[i];
                weightSum += rowsToScore[c0 + i].Weight;
            }
            if (dx is null)
            {
                _arena.Return(xs, normed, rstd, logits);
                continue;
            }
            var dNormed = _arena.Rent(m * n);
            InputGradient(_model.LmHead.Weight, logits, m, dNormed);
            if (_grads?.Of(_model.LmHead.Weight) is { } dHead) // lm_head (the embedding when tied): dW += dlogitsᵀ·normed
                Sgemm.Multiply(Transpose.Yes, Transpose.No, _vocab, n, m, logits, _vocab, normed, n, dHead, n, 1f, 1f);
            _arena.Return(normed);
            var dxs = _arena.Rent(m * n);
            RmsNormBackward(xs, rstd, _model.Norm, dNormed, m, dxs, _grads?.Of(_model.Norm));
            for (int i = 0; i < m; i++)
            {
                var dst = dx.AsSpan(rowsToScore[c0 + i].Row * n, n);
                TensorPrimitives.Add(dst, dxs.AsSpan(i * n, n), dst);
            }
            _arena.Return(xs, rstd, logits, dNormed, dxs);
        }
        return new PassLoss(lossSum, weightSum);
    }
}
