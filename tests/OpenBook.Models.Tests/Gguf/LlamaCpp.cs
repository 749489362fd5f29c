using LLama;
using LLama.Common;
using LLama.Native;

namespace OpenBook.Models.Tests.Gguf;

/// <summary>llama.cpp (LLamaSharp's CPU backend) running a GGUF file: logits of a token sequence, greedy decoding, tokenisation.</summary>
internal sealed class LlamaCpp : IDisposable
{
    private static readonly Lock LogLock = new();
    private static bool _quiet;
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;

    private LlamaCpp(LLamaWeights weights, LLamaContext context) => (_weights, _context) = (weights, context);

    public IReadOnlyDictionary<string, string> Metadata => _weights.Metadata;

    public static LlamaCpp Load(string gguf, uint contextSize = 64)
    {
        lock (LogLock)
        {
            if (!_quiet) NativeLogConfig.llama_log_set((level, message) => { if (level == LLamaLogLevel.Error) Console.Error.Write(message); });
            _quiet = true;
        }
        // f32 KV cache and no flash attention: llama.cpp's defaults (f16 cache; CPU flash attention, which rounds Q to f16)
        // add their own rounding (measured: 4e-3 on the fixture logits, vs 4e-6 without).
        var p = new ModelParams(gguf)
        {
            ContextSize = contextSize, BatchSize = contextSize, UBatchSize = contextSize, GpuLayerCount = 0, Threads = 1, BatchThreads = 1,
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32, FlashAttention = false,
        };
        var weights = LLamaWeights.LoadFromFile(p);
        return new LlamaCpp(weights, weights.CreateContext(p));
    }

    /// <summary>Logits at every position of <paramref name="tokens"/> (a fresh sequence).</summary>
    public float[][] Logits(IReadOnlyList<int> tokens)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Count; i++) batch.Add(tokens[i], i, LLamaSeqId.Zero, logits: true);
        var result = _context.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
        return Enumerable.Range(0, tokens.Count).Select(i => _context.NativeHandle.GetLogitsIth(i).ToArray()).ToArray();
    }

    /// <summary>Greedy continuation of <paramref name="prompt"/>, one decode call per new token.</summary>
    public int[] Greedy(IReadOnlyList<int> prompt, int count)
    {
        var last = Logits(prompt)[^1];
        var output = new List<int>();
        for (int step = 0; step < count; step++)
        {
            int next = ArgMax(last);
            output.Add(next);
            if (step == count - 1) break;
            var batch = new LLamaBatch();
            batch.Add(next, prompt.Count + step, LLamaSeqId.Zero, logits: true);
            if (_context.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed");
            last = _context.NativeHandle.GetLogitsIth(0).ToArray();
        }
        return output.ToArray();
    }

    public int[] Tokenize(string text, bool addBos) =>
        _weights.Tokenize(text, addBos, special: false, System.Text.Encoding.UTF8).Select(t => (int)t).ToArray();

    internal static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
