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
/// block-diagonal by segment.
/// </summary>
public sealed record SequenceBatch(int Batch, int Seq, int[] Tokens, float[] Targets, int[]? Positions = null, int[]? Segments = null)
{
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
/// Training forward and backward for the Llama family (Llama, Qwen2, Mistral), written out explicitly in the llm.c
/// style rather than on a general autograd tape.
/// <para>
/// Why explicit: the graph is fixed (embedding → N × [RMSNorm, q/k/v, RoPE, GQA causal attention, o_proj, residual,
/// RMSNorm, SwiGLU MLP, residual] → RMSNorm → lm_head → cross-entropy), so each op's backward is a few lines next
/// to its forward, every saved activation is visible (memory is predictable and reviewable), and frozen weights
/// simply never get a weight-gradient buffer — only input gradients <c>dx = dy·W</c> flow through them, while
/// LoRA adapters accumulate dA/dB. A tape would buy generality this engine does not need and hide the memory.
/// </para>
/// <para>
/// What is saved per layer: the residual input, both RMSNorm outputs and their 1/rms, q/k (after RoPE), v, the
/// attention probabilities per (sequence, head), the attention output, gate/up (before SiLU) and the MLP hidden,
/// plus each adapter's rank-r projection. Logits are never materialised for the whole batch: only positions whose
/// next token is a target go through lm_head, in chunks, and their gradient is folded back immediately.
/// </para>
/// Names follow the HF modules (<c>input_layernorm</c>, <c>self_attn.q_proj</c>, …). The forward computes the same
/// function as <see cref="LlamaForCausalLM.Forward(ReadOnlySpan{int}, KvCache, LogitsMode)"/> (checked in tests).
/// </summary>
public sealed class LlamaTrainingGraph
{
    private const int HeadChunkRows = 64;
    private readonly LlamaForCausalLM _model;
    private readonly int _hidden, _heads, _kvHeads, _headDim, _inter, _vocab, _window;
    private readonly float _eps;
    private readonly BufferArena _arena = new();
    private int _busy;

    /// <summary>
    /// A graph over <paramref name="model"/> (with or without LoRA adapters attached). One pass at a time: its buffers
    /// are reused from pass to pass (see <see cref="BufferArena"/>).
    /// </summary>
    public LlamaTrainingGraph(LlamaForCausalLM model)
    {
        _model = model;
        var c = model.Config;
        _hidden = c.HiddenSize; _heads = c.NumAttentionHeads; _kvHeads = c.NumKeyValueHeads; _headDim = c.HeadDim;
        _inter = c.IntermediateSize; _vocab = c.VocabSize; _eps = (float)c.RmsNormEps; _window = model.AttentionWindow;
    }

    /// <summary>
    /// Forward and backward over <paramref name="batch"/>: accumulates <c>gradScale · ∂(Σ weight·CE)/∂θ</c> into every
    /// attached LoRA adapter's gradient buffers (callers pass 1 / (Σ weight · accumulation steps) for a mean loss).
    /// Dropout masks derive from <paramref name="dropoutSeed"/>. When <paramref name="inputGradient"/> is not null it
    /// receives the gradient with respect to the embedding output (inputs_embeds) [rows, hidden].
    /// </summary>
    public PassLoss ForwardBackward(SequenceBatch batch, float gradScale, int dropoutSeed = 0, float[]? inputGradient = null) => InPass(() =>
    {
        var ctx = new Context(batch.Validate(), this);
        var saved = new List<LayerSaved>(_model.Layers.Count);
        var x = Embed(batch);
        for (int l = 0; l < _model.Layers.Count; l++)
            saved.Add(LayerForward(_model.Layers[l], x, ctx, train: true, dropoutSeed: Mix(dropoutSeed, l)));
        var dx = _arena.Rent(x.Length);
        var loss = Head(x, ctx, gradScale, dx);
        int lowest = inputGradient is not null ? 0 : LowestAdaptedLayer();
        for (int l = _model.Layers.Count - 1; l >= 0 && l >= lowest; l--)
        {
            LayerBackward(_model.Layers[l], saved[l], dx, ctx, needInputGrad: l > lowest || inputGradient is not null);
            saved[l].ReturnTo(_arena);
        }
        if (inputGradient is not null) dx.AsSpan().CopyTo(inputGradient);
        return loss;
    });

    /// <summary>The loss without gradients (evaluation; no dropout).</summary>
    public PassLoss Loss(SequenceBatch batch) => InPass(() =>
    {
        var ctx = new Context(batch.Validate(), this);
        var x = Embed(batch);
        foreach (var layer in _model.Layers) LayerForward(layer, x, ctx, train: false, dropoutSeed: 0).ReturnTo(_arena);
        return Head(x, ctx, 0f, null);
    });

    /// <summary>Logits of every position [rows, vocab] through the training forward (used to check it against inference).</summary>
    public float[] Logits(SequenceBatch batch) => InPass(() =>
    {
        var ctx = new Context(batch.Validate(), this);
        var x = Embed(batch);
        foreach (var layer in _model.Layers) LayerForward(layer, x, ctx, train: false, dropoutSeed: 0).ReturnTo(_arena);
        int rows = ctx.Rows;
        var normed = new float[x.Length];
        RmsNormForward(x, _model.Norm, rows, normed, new float[rows]);
        var logits = new float[(long)rows * _vocab];
        _model.LmHead.Forward(normed, rows, logits);
        return logits;
    });

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

    private static int Mix(int seed, int layer) => Seeds.Mix(seed, layer);

    private float[] Embed(SequenceBatch b)
    {
        var x = _arena.Rent(b.Tokens.Length * _hidden, clear: false);
        for (int r = 0; r < b.Tokens.Length; r++)
        {
            if ((uint)b.Tokens[r] >= (uint)_vocab) throw new ArgumentOutOfRangeException(nameof(b), $"Token id {b.Tokens[r]} is outside the vocabulary (0..{_vocab - 1}).");
            _model.EmbedTokens.ReadRow(b.Tokens[r], x.AsSpan(r * _hidden, _hidden));
        }
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

    private sealed class LayerSaved
    {
        public required float[] X, Rstd1, H1, Q, K, V, Attn, X2, Rstd2, H2, Gate, Up, Mh;
        public required float[][] Probs;
        public required LoraState?[] Lora; // q, k, v, o, gate, up, down

        /// <summary>Gives every saved buffer back once the layer's backward is done.</summary>
        public void ReturnTo(BufferArena arena)
        {
            arena.Return(X, Rstd1, H1, Q, K, V, Attn, X2, Rstd2, H2, Gate, Up, Mh);
            arena.Return(Probs);
            foreach (var state in Lora) state?.ReturnTo(arena);
        }
    }

    private LayerSaved LayerForward(LlamaDecoderLayer layer, float[] x, Context ctx, bool train, int dropoutSeed)
    {
        int rows = ctx.Rows, qd = _heads * _headDim, kvd = _kvHeads * _headDim;
        var lora = new LoraState?[7];
        var xIn = _arena.RentCopy(x);
        var rstd1 = _arena.Rent(rows, clear: false);
        var h1 = _arena.Rent(rows * _hidden, clear: false);
        RmsNormForward(x, layer.InputLayerNorm, rows, h1, rstd1);
        var q = _arena.Rent(rows * qd, clear: false);
        var k = _arena.Rent(rows * kvd, clear: false);
        var v = _arena.Rent(rows * kvd, clear: false);
        lora[0] = LinearForward(layer.QProj, h1, rows, q, train, dropoutSeed + 1);
        lora[1] = LinearForward(layer.KProj, h1, rows, k, train, dropoutSeed + 2);
        lora[2] = LinearForward(layer.VProj, h1, rows, v, train, dropoutSeed + 3);
        for (int r = 0; r < rows; r++)
        {
            _model.Rope.Apply(q.AsSpan(r * qd, qd), _heads, ctx.Positions[r]);
            _model.Rope.Apply(k.AsSpan(r * kvd, kvd), _kvHeads, ctx.Positions[r]);
        }
        var attn = _arena.Rent(rows * qd, clear: false);
        var probs = AttentionForward(q, k, v, ctx, attn);
        var proj = _arena.Rent(rows * _hidden, clear: false);
        lora[3] = LinearForward(layer.OProj, attn, rows, proj, train, dropoutSeed + 4);
        TensorPrimitives.Add(x, proj, x);
        var x2 = _arena.RentCopy(x);
        var rstd2 = _arena.Rent(rows, clear: false);
        var h2 = _arena.Rent(rows * _hidden, clear: false);
        RmsNormForward(x, layer.PostAttentionLayerNorm, rows, h2, rstd2);
        var gate = _arena.Rent(rows * _inter, clear: false);
        var up = _arena.Rent(rows * _inter, clear: false);
        lora[4] = LinearForward(layer.GateProj, h2, rows, gate, train, dropoutSeed + 5);
        lora[5] = LinearForward(layer.UpProj, h2, rows, up, train, dropoutSeed + 6);
        var mh = _arena.Rent(rows * _inter, clear: false);
        Ops.SwiGlu(gate, up, mh);
        lora[6] = LinearForward(layer.DownProj, mh, rows, proj, train, dropoutSeed + 7);
        TensorPrimitives.Add(x, proj, x);
        _arena.Return(proj);
        return new LayerSaved
        {
            X = xIn, Rstd1 = rstd1, H1 = h1, Q = q, K = k, V = v, Attn = attn, X2 = x2, Rstd2 = rstd2, H2 = h2,
            Gate = gate, Up = up, Mh = mh, Probs = probs, Lora = lora,
        };
    }

    private void LayerBackward(LlamaDecoderLayer layer, LayerSaved s, float[] dx, Context ctx, bool needInputGrad)
    {
        int rows = ctx.Rows, qd = _heads * _headDim, kvd = _kvHeads * _headDim;
        // MLP block: x = x2 + down(silu(gate)·up), gate/up = proj(h2), h2 = rmsnorm(x2).
        var dMh = _arena.Rent(rows * _inter);
        LinearBackward(layer.DownProj, s.Mh, dx, rows, s.Lora[6], dMh, needDx: true);
        var dGate = _arena.Rent(rows * _inter, clear: false);
        var dUp = _arena.Rent(rows * _inter, clear: false);
        SwiGluBackward(s.Gate, s.Up, dMh, dGate, dUp);
        var dH2 = _arena.Rent(rows * _hidden);
        LinearBackward(layer.GateProj, s.H2, dGate, rows, s.Lora[4], dH2, needDx: true);
        LinearBackward(layer.UpProj, s.H2, dUp, rows, s.Lora[5], dH2, needDx: true);
        RmsNormBackward(s.X2, s.Rstd2, layer.PostAttentionLayerNorm, dH2, rows, dx);
        // Attention block: x2 = x + o_proj(attn).
        _arena.Return(dMh, dGate, dUp, dH2);
        var dAttn = _arena.Rent(rows * qd);
        LinearBackward(layer.OProj, s.Attn, dx, rows, s.Lora[3], dAttn, needDx: true);
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
        LinearBackward(layer.QProj, s.H1, dQ, rows, s.Lora[0], dH1, needInputGrad);
        LinearBackward(layer.KProj, s.H1, dK, rows, s.Lora[1], dH1, needInputGrad);
        LinearBackward(layer.VProj, s.H1, dV, rows, s.Lora[2], dH1, needInputGrad);
        if (needInputGrad) RmsNormBackward(s.X, s.Rstd1, layer.InputLayerNorm, dH1, rows, dx);
        _arena.Return(dAttn, dQ, dK, dV, dH1);
    }

    // ---- linear layers (frozen base + optional LoRA) ----

    private LoraState? LinearForward(Linear l, float[] x, int rows, float[] y, bool train, int dropoutSeed)
    {
        l.Weight.MultiplyTransposed(x, rows, y);
        if (l.Bias is { } bias)
            for (int r = 0; r < rows; r++) TensorPrimitives.Add(y.AsSpan(r * l.OutFeatures, l.OutFeatures), bias, y.AsSpan(r * l.OutFeatures, l.OutFeatures));
        if (l.Adapter is LoraLinear lora && train) return lora.TrainForward(x, rows, y, dropoutSeed, _arena);
        l.Adapter?.AddTo(x.AsSpan(0, rows * l.InFeatures), rows, y);
        return null;
    }

    /// <summary>dx += dy·W (frozen base: no weight gradient) and the adapter's backward (dA, dB and its input gradient).</summary>
    private void LinearBackward(Linear l, float[] x, float[] dy, int rows, LoraState? state, float[] dx, bool needDx)
    {
        if (needDx) InputGradient(l.Weight, dy, rows, dx);
        if (state is not null) ((LoraLinear)l.Adapter!).Backward(x, dy, rows, state, needDx ? dx : default, _arena);
    }

    /// <summary><c>dx[m, in] += dy[m, out]·W[out, in]</c>.</summary>
    private static void InputGradient(WeightMatrix w, float[] dy, int m, float[] dx) => w.Multiply(dy, m, dx, beta: 1f);

    // ---- RMSNorm ----

    private void RmsNormForward(float[] x, float[] weight, int rows, float[] y, float[] rstd)
    {
        int n = _hidden;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.AsSpan(r * n, n);
            float rs = 1f / MathF.Sqrt(TensorPrimitives.Dot(xr, xr) / n + _eps);
            rstd[r] = rs;
            var yr = y.AsSpan(r * n, n);
            TensorPrimitives.Multiply(xr, rs, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    /// <summary>
    /// y = w ⊙ x·r with r = (mean x² + eps)^−½: <c>dx += r·(w⊙dy − x·r²/n · Σ w⊙dy⊙x)</c> (weight frozen).
    /// </summary>
    private void RmsNormBackward(float[] x, float[] rstd, float[] weight, float[] dy, int rows, float[] dx)
    {
        int n = _hidden;
        var wdy = new float[n];
        for (int r = 0; r < rows; r++)
        {
            var xr = x.AsSpan(r * n, n);
            TensorPrimitives.Multiply(dy.AsSpan(r * n, n), weight, wdy);
            float rs = rstd[r];
            float c = TensorPrimitives.Dot(wdy, xr) * rs * rs / n;
            var dxr = dx.AsSpan(r * n, n);
            for (int i = 0; i < n; i++) dxr[i] += rs * (wdy[i] - xr[i] * c);
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
    private void AttentionBackward(LayerSaved s, float[] dAttn, Context ctx, float[] dQ, float[] dK, float[] dV)
    {
        int seq = ctx.Batch.Seq, hd = _headDim, qd = _heads * hd, kvd = _kvHeads * hd, group = _heads / _kvHeads;
        float scale = 1f / MathF.Sqrt(hd);
        int items = ctx.Batch.Batch * _heads;
        var dKh = new float[items][];
        var dVh = new float[items][];
        ParallelRanges.For(items, item =>
        {
            int b = item / _heads, h = item % _heads, g = h / group;
            var p = s.Probs[item];
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
            RmsNormForward(xs, _model.Norm, m, normed, rstd);
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
            _arena.Return(normed);
            if (dx is null)
            {
                _arena.Return(xs, rstd, logits);
                continue;
            }
            var dNormed = _arena.Rent(m * n);
            InputGradient(_model.LmHead.Weight, logits, m, dNormed);
            var dxs = _arena.Rent(m * n);
            RmsNormBackward(xs, rstd, _model.Norm, dNormed, m, dxs);
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
