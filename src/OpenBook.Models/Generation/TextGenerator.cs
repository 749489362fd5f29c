using System.Diagnostics;
using System.Runtime.CompilerServices;
using OpenBook.Models.Architectures;

namespace OpenBook.Models.Generation;

/// <summary>One step of a streamed generation.</summary>
/// <param name="TokenId">The token produced (for the final update of a stop, the stop token or the token that completed a stop string).</param>
/// <param name="Text">Newly released text (empty while text is held back or without a decoder).</param>
/// <param name="FinishReason">Set on the last update.</param>
public sealed record GenerationUpdate(int TokenId, string Text, FinishReason? FinishReason = null);

/// <summary>The outcome of a whole generation.</summary>
/// <param name="Tokens">Generated ids (without a stop token; with the tokens that spelled a stop string).</param>
/// <param name="Text">Decoded text, cut before a stop string (empty without a decoder).</param>
/// <param name="FinishReason">Why it ended.</param>
/// <param name="PromptTokens">Prompt length.</param>
/// <param name="PrefillTime">Time to process the prompt (to the first token's logits).</param>
/// <param name="DecodeTime">Time spent on the following decode steps.</param>
public sealed record GenerationResult(IReadOnlyList<int> Tokens, string Text, FinishReason FinishReason, int PromptTokens,
    TimeSpan PrefillTime, TimeSpan DecodeTime);

/// <summary>
/// Autoregressive generation over any <see cref="ICausalLM"/>: prompt prefill into a KV cache, then one token per
/// step with <see cref="Sampler"/>, stop tokens, stop strings (through <see cref="TextStream"/> and the given
/// decoder, e.g. a tokenizer's Decode), streaming as <see cref="IAsyncEnumerable{T}"/> and cancellation between
/// steps (throws <see cref="OperationCanceledException"/>, as Microsoft.Extensions.AI clients do).
/// </summary>
public sealed class TextGenerator(ICausalLM model, TokenDecoder? decoder = null)
{
    /// <summary>The model.</summary>
    public ICausalLM Model { get; } = model;

    /// <summary>Streams the continuation of <paramref name="prompt"/> token by token.</summary>
    public async IAsyncEnumerable<GenerationUpdate> StreamAsync(IReadOnlyList<int> prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var session = Start(prompt, options);
        if (options.MaxNewTokens == 0) { yield return new GenerationUpdate(-1, "", FinishReason.Length); yield break; }
        var logits = await Task.Run(() => Model.Forward(prompt.ToArray(), session.Cache), cancellationToken).ConfigureAwait(false);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var update = session.Step(logits);
            yield return update;
            if (update.FinishReason is not null) yield break;
            int next = update.TokenId;
            logits = await Task.Run(() => Model.Forward([next], session.Cache), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Generates the whole continuation of <paramref name="prompt"/>.</summary>
    public GenerationResult Generate(IReadOnlyList<int> prompt, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        var session = Start(prompt, options);
        var watch = Stopwatch.StartNew();
        if (options.MaxNewTokens == 0) return session.Result(FinishReason.Length, TimeSpan.Zero, TimeSpan.Zero);
        var logits = Model.Forward(prompt.ToArray(), session.Cache);
        var prefill = watch.Elapsed;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var update = session.Step(logits);
            if (update.FinishReason is FinishReason reason) return session.Result(reason, prefill, watch.Elapsed - prefill);
            logits = Model.Forward([update.TokenId], session.Cache);
        }
    }

    /// <summary>
    /// Generates continuations of several prompts together: prompts of equal length are prefilled in one batched
    /// forward (others one slot at a time), then every step decodes all sequences in one forward (finished ones
    /// are fed their last token and ignored). Each prompt gets its own sampler (seed + index when seeded).
    /// </summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options,
        CancellationToken cancellationToken = default)
    {
        int batch = prompts.Count;
        if (batch == 0) return [];
        var watch = Stopwatch.StartNew();
        int capacity = prompts.Max(p => p.Count) + Math.Max(1, options.MaxNewTokens);
        var cache = Model.CreateCache(batch, capacity);
        var sessions = new Session[batch];
        for (int b = 0; b < batch; b++)
            sessions[b] = new Session(this, prompts[b], options with { Seed = options.Seed + b }, cache.Slot(b));
        if (options.MaxNewTokens == 0) return sessions.Select(s => s.Result(FinishReason.Length, TimeSpan.Zero, TimeSpan.Zero)).ToArray();

        int vocab = Model.Config.VocabSize;
        var logits = new float[batch * vocab];
        if (prompts.All(p => p.Count == prompts[0].Count))
            Model.Forward(prompts.SelectMany(p => p).ToArray(), cache).CopyTo(logits, 0);
        else
            for (int b = 0; b < batch; b++) Model.Forward(prompts[b].ToArray(), cache.Slot(b)).CopyTo(logits, b * vocab);
        var prefill = watch.Elapsed;

        var finish = new FinishReason?[batch];
        var next = new int[batch];
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            for (int b = 0; b < batch; b++)
            {
                if (finish[b] is not null) continue;
                var update = sessions[b].Step(logits.AsSpan(b * vocab, vocab).ToArray());
                finish[b] = update.FinishReason;
                next[b] = update.TokenId;
            }
            if (finish.All(f => f is not null)) break;
            logits = Model.Forward(next, cache);
        }
        var decode = watch.Elapsed - prefill;
        return sessions.Select((s, b) => s.Result(finish[b]!.Value, prefill, decode)).ToArray();
    }

    private Session Start(IReadOnlyList<int> prompt, GenerationOptions options)
    {
        var cache = Model.CreateCache(1, prompt.Count + Math.Max(1, options.MaxNewTokens));
        return new Session(this, prompt, options, cache);
    }

    /// <summary>Per-sequence state: history for the repetition penalty, sampler, text stream, produced tokens.</summary>
    private sealed class Session
    {
        private readonly GenerationOptions _options;
        private readonly Sampler _sampler;
        private readonly TextStream? _text;
        private readonly List<int> _history;
        private readonly List<int> _generated = [];
        private readonly int _promptTokens;

        public KvCache Cache { get; }

        public Session(TextGenerator owner, IReadOnlyList<int> prompt, GenerationOptions options, KvCache cache)
        {
            if (prompt.Count == 0) throw new ArgumentException("The prompt must hold at least one token (e.g. BOS).", nameof(prompt));
            if (options.StopStrings.Count > 0 && owner._decoder is null)
                throw new ArgumentException("Stop strings need a token decoder.", nameof(options));
            _options = options;
            _sampler = new Sampler(options);
            _text = owner._decoder is null ? null : new TextStream(owner._decoder, options.StopStrings);
            _history = [.. prompt];
            _promptTokens = prompt.Count;
            Cache = cache;
        }

        public GenerationUpdate Step(float[] logits)
        {
            int token = _sampler.Next(logits, _history);
            _history.Add(token);
            if (_options.StopTokenIds.Contains(token)) return new GenerationUpdate(token, _text?.Flush() ?? "", FinishReason.Stop);
            _generated.Add(token);
            string text = _text?.Push(token) ?? "";
            if (_text is { Stopped: true }) return new GenerationUpdate(token, text, FinishReason.Stop);
            if (_generated.Count >= _options.MaxNewTokens) return new GenerationUpdate(token, text + (_text?.Flush() ?? ""), FinishReason.Length);
            return new GenerationUpdate(token, text);
        }

        public GenerationResult Result(FinishReason reason, TimeSpan prefill, TimeSpan decode) =>
            new(_generated.ToArray(), _text?.Text ?? "", reason, _promptTokens, prefill, decode);
    }

    private readonly TokenDecoder? _decoder = decoder;
}
