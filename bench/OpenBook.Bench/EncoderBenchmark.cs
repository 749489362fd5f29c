using System.Diagnostics;
using System.Runtime.Intrinsics.X86;

using OpenBook.Onnx;

namespace OpenBook.Bench;

/// <summary>A BERT encoder's size, for counting the FLOPs of a forward pass.</summary>
/// <param name="Layers">Transformer layers.</param>
/// <param name="Hidden">Hidden size.</param>
/// <param name="Intermediate">Feed-forward size.</param>
public sealed record EncoderShape(int Layers, int Hidden, int Intermediate)
{
    /// <summary>all-MiniLM-L6-v2.</summary>
    public static EncoderShape MiniLmL6 { get; } = new(6, 384, 1536);

    /// <summary>Reads <c>num_hidden_layers</c>, <c>hidden_size</c>, <c>intermediate_size</c> from the directory's config.json.</summary>
    public static EncoderShape FromConfig(string directory)
    {
        var path = Path.Combine(directory, "config.json");
        var c = ModelJson.Read(path);
        int Need(string field) => ModelJson.Int(c, field, path) ?? throw new OpenBookException($"'{path}': field '{field}' is missing.");
        return new EncoderShape(Need("num_hidden_layers"), Need("hidden_size"), Need("intermediate_size"));
    }

    /// <summary>
    /// Multiply-add FLOPs (2 per MAC) of one sequence of <paramref name="tokens"/> tokens through all layers:
    /// Q, K, V and output projections 4·2·s·h², feed-forward 2·2·s·h·i, attention scores and context 2·2·s²·h.
    /// Embeddings, layer norms, softmax and pooling are O(s·h) and left out.
    /// </summary>
    public double FlopsPerSequence(int tokens)
    {
        double s = tokens, h = Hidden, i = Intermediate;
        return Layers * (8 * s * h * h + 4 * s * h * i + 4 * s * s * h);
    }
}

/// <summary>One measured configuration of <see cref="EncoderBenchmark"/>.</summary>
/// <param name="Variant">"fp32" or "int8".</param>
/// <param name="Batch">Maximum batch size.</param>
/// <param name="Chunks">Inputs encoded.</param>
/// <param name="Tokens">Real tokens (special tokens included, padding excluded).</param>
/// <param name="PaddedTokens">Tokens the model ran, padding included.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="Gflop">FLOPs executed (padded), in 10⁹.</param>
public sealed record EmbedBenchResult(string Variant, int Batch, int Chunks, long Tokens, long PaddedTokens, double Seconds, double Gflop)
{
    /// <summary>Inputs per second.</summary>
    public double ChunksPerSecond => Chunks / Seconds;

    /// <summary>Real tokens per second.</summary>
    public double TokensPerSecond => Tokens / Seconds;

    /// <summary>Achieved GFLOP/s (for int8 these are the same multiply-adds done as int8 ops).</summary>
    public double GflopPerSecond => Gflop / Seconds;
}

/// <summary>Measures encoder throughput and compares it with the CPU's arithmetic peak.</summary>
public static class EncoderBenchmark
{
    private const string Words =
        "OpenBook adapts a language model to an organisation's own knowledge: retrieval augmented generation with citations, " +
        "fine-tuning with low rank adapters, and retrieval augmented fine-tuning. Documents are loaded, split into chunks, " +
        "indexed with BM25 and dense vectors, and searched with hybrid reciprocal rank fusion. The encoder turns every chunk " +
        "into a vector; the query is embedded the same way and compared with cosine similarity. Teams build internal " +
        "assistants for support, engineering, finance and legal questions. How do I reset my password? Where is the holiday " +
        "policy? What is the refund period for annual plans? The server returns an error when the token has expired.";

    /// <summary>
    /// Deterministic chunk texts whose token counts are spread between 60% and 100% of <paramref name="targetTokens"/>
    /// (capped by the encoder's maximum), like the output of a token-budget chunker.
    /// </summary>
    public static IReadOnlyList<string> MakeChunks(OnnxSentenceEncoder encoder, int count, int targetTokens, int seed = 42)
    {
        var words = Words.Split(' ');
        var cost = words.Select(w => encoder.Tokenizer.EncodeWords(w).Count).ToArray();
        int max = Math.Min(targetTokens, encoder.MaxSequenceLength) - 2;
        var rng = new Random(seed);
        var chunks = new List<string>(count);
        for (int c = 0; c < count; c++)
        {
            int budget = (int)(max * (0.6 + 0.4 * rng.NextDouble()));
            var text = new List<string>();
            int used = 0, w = rng.Next(words.Length);
            while (used + cost[w] <= budget)
            {
                text.Add(words[w]);
                used += cost[w];
                w = (w + 1) % words.Length;
            }
            chunks.Add(string.Join(' ', text));
        }
        return chunks;
    }

    /// <summary>
    /// Encodes <paramref name="chunks"/> <paramref name="repeats"/> times (after a one-batch warm-up) and reports the
    /// fastest run, the one least disturbed by other processes.
    /// </summary>
    public static async Task<EmbedBenchResult> RunAsync(
        OnnxSentenceEncoder encoder, IReadOnlyList<string> chunks, int batch, EncoderShape shape, string variant, int repeats = 1, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        var ids = chunks.Select(c => encoder.Tokenize(c)).ToArray();
        long tokens = ids.Sum(x => (long)x.Length), padded = 0;
        double flops = 0;
        foreach (var b in OnnxSentenceEncoder.LengthBuckets(ids, batch, int.MaxValue))
        {
            int len = ids[b[0]].Length; // longest first
            padded += (long)b.Length * len;
            flops += b.Length * shape.FlopsPerSequence(len);
        }
        await encoder.GenerateAsync(chunks.Take(batch), cancellationToken: ct).ConfigureAwait(false); // warm-up (graph init, allocations)
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            await encoder.GenerateAsync(chunks, cancellationToken: ct).ConfigureAwait(false);
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return new EmbedBenchResult(variant, batch, chunks.Count, tokens, padded, best, flops / 1e9);
    }

    /// <summary>
    /// Peak fp32 GFLOP/s of this machine: cores × clock × FLOPs per cycle. FLOPs per cycle assume two FMA pipes of the
    /// widest vector unit (AVX-512: 2×16×2 = 64, as on Zen 5 / Sapphire Rapids; AVX2: 32; else 8). The clock is
    /// measured (<see cref="MeasureGhz"/>), since /proc/cpuinfo under a hypervisor reports the base/TSC clock.
    /// Both can be overridden by the caller.
    /// </summary>
    public static (double Gflops, string Assumption) CpuPeak(double? ghz = null, int? flopsPerCycle = null)
    {
        int cores = Environment.ProcessorCount;
        int fpc = flopsPerCycle ?? (Avx512F.IsSupported ? 64 : Fma.IsSupported ? 32 : 8);
        string source = ghz is null ? "measured" : "given";
        double clock = ghz ?? MeasureGhz();
        var cpuinfo = CpuGhz() is double c ? $"; /proc/cpuinfo says {c:0.###} GHz" : "";
        return (cores * clock * fpc, $"{cores} cores × {clock:0.###} GHz ({source}{cpuinfo}) × {fpc} fp32 FLOP/cycle");
    }

    /// <summary>
    /// Core clock in GHz from a chain of dependent integer additions (one cycle each): the best of several short runs,
    /// so time slices lost to other processes do not lower it.
    /// </summary>
    public static double MeasureGhz()
    {
        const long iterations = 250_000; // × 8 dependent adds ≈ 2 M cycles ≈ 0.6 ms, shorter than a scheduler time slice
        double best = double.MaxValue;
        long sink = 0;
        for (int run = 0; run < 200; run++)
        {
            var sw = Stopwatch.StartNew();
            sink += AddChain(iterations, run);
            sw.Stop();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        GC.KeepAlive(sink);
        return iterations * 8 / best / 1e9;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static long AddChain(long n, long seed)
    {
        long a = seed, b = seed | 1;
        for (long i = 0; i < n; i++)
        {
            a += b; a += b; a += b; a += b;
            a += b; a += b; a += b; a += b;
        }
        return a;
    }

    private static double? CpuGhz()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("cpu MHz", StringComparison.Ordinal) &&
                    double.TryParse(line[(line.IndexOf(':') + 1)..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var mhz))
                    return mhz / 1000;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}
