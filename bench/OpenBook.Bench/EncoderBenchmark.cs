using System.Diagnostics;
using System.Runtime.Intrinsics.X86;

using OpenBook.Ingestion;
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

/// <summary>One encoder measured by <see cref="EncoderBenchmark.CompareAsync"/>.</summary>
/// <param name="Encoder">Row label.</param>
/// <param name="Threads">How its threads were set.</param>
/// <param name="Chunks">Texts encoded per run.</param>
/// <param name="Tokens">Real tokens of those texts by OpenBook's tokenizer (special tokens included, no padding).</param>
/// <param name="Seconds">Wall time of the fastest run.</param>
/// <param name="AllSeconds">Wall time of every run, in order.</param>
/// <param name="Gflop">Useful FLOPs of the texts (<see cref="EncoderShape.FlopsPerSequence"/> of each real length), in 10⁹.</param>
/// <param name="MinCosine">Lowest cosine of its vectors to the reference encoder's (the first one), per text.</param>
/// <param name="MeanCosine">Mean of those cosines.</param>
public sealed record EmbedBenchResult(
    string Encoder, string Threads, int Chunks, long Tokens, double Seconds, IReadOnlyList<double> AllSeconds, double Gflop,
    double MinCosine, double MeanCosine)
{
    /// <summary>Inputs per second.</summary>
    public double ChunksPerSecond => Chunks / Seconds;

    /// <summary>Real tokens per second.</summary>
    public double TokensPerSecond => Tokens / Seconds;

    /// <summary>Useful GFLOP/s (padding not counted; for int8 these are the same multiply-adds done as int8 ops).</summary>
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
    /// <paramref name="count"/> passages of a corpus as <c>openbook ingest</c> chunks it (default loaders and chunking),
    /// spread evenly over all its chunks in source-path order; fewer when the corpus has fewer.
    /// </summary>
    public static IReadOnlyList<string> CorpusPassages(string directory, int count)
    {
        var registry = LoaderRegistry.CreateDefault();
        var chunker = new Chunker(ChunkingOptions.Default);
        var all = new List<string>();
        foreach (var file in new SourceWalker(registry).Walk([directory]).Where(f => f.IsLoadable).OrderBy(f => f.SourcePath, StringComparer.Ordinal))
            foreach (var doc in registry.LoadFile(file.FullPath, file.SourcePath))
                all.AddRange(chunker.Split(doc).Select(c => c.Text));
        if (all.Count == 0) throw new OpenBookException($"'{directory}': no passages found.");
        if (count >= all.Count) return all;
        return Enumerable.Range(0, count).Select(i => all[(int)((long)i * all.Count / count)]).ToArray();
    }

    /// <summary>
    /// Encodes <paramref name="texts"/> with every encoder, <paramref name="repeats"/> rounds interleaved (encoder 1, 2, …,
    /// then again), after one warm-up call each, and keeps each encoder's fastest run, the one least disturbed by other
    /// processes. The first encoder is the reference the others' vectors are compared with (cosine per text).
    /// </summary>
    /// <param name="encoders">Encoders; the first is the reference.</param>
    /// <param name="texts">Texts, the same for all.</param>
    /// <param name="tokens">Each text's real token count (OpenBook's tokenizer, truncated to the model's maximum).</param>
    /// <param name="shape">Model shape, for the FLOP count.</param>
    /// <param name="repeats">Rounds.</param>
    /// <param name="ct">Cancellation.</param>
    /// <param name="measured">Called after each timed run (encoder index, round, seconds).</param>
    public static async Task<IReadOnlyList<EmbedBenchResult>> CompareAsync(
        IReadOnlyList<IBenchEncoder> encoders, IReadOnlyList<string> texts, IReadOnlyList<int> tokens, EncoderShape shape, int repeats,
        CancellationToken ct = default, Action<int, int, double>? measured = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(encoders.Count, 1);
        if (tokens.Count != texts.Count) throw new ArgumentException("one token count per text", nameof(tokens));
        double gflop = tokens.Sum(n => shape.FlopsPerSequence(n)) / 1e9;
        long tokenSum = tokens.Sum(n => (long)n);
        foreach (var e in encoders)
            await e.EncodeAsync(texts.Take(8).ToArray(), ct).ConfigureAwait(false); // warm-up (graph init, allocations)
        var seconds = encoders.Select(_ => new List<double>()).ToArray();
        var vectors = new float[encoders.Count][][];
        for (int r = 0; r < repeats; r++)
            for (int i = 0; i < encoders.Count; i++)
            {
                var sw = Stopwatch.StartNew();
                var v = await encoders[i].EncodeAsync(texts, ct).ConfigureAwait(false);
                sw.Stop();
                if (v.Length != texts.Count) throw new InvalidOperationException($"{encoders[i].Name} returned {v.Length} vectors for {texts.Count} texts.");
                seconds[i].Add(sw.Elapsed.TotalSeconds);
                vectors[i] ??= v;
                measured?.Invoke(i, r, sw.Elapsed.TotalSeconds);
            }
        var results = new List<EmbedBenchResult>();
        for (int i = 0; i < encoders.Count; i++)
        {
            var cos = Enumerable.Range(0, texts.Count).Select(t => Cosine(vectors[0][t], vectors[i][t])).ToArray();
            results.Add(new EmbedBenchResult(encoders[i].Name, encoders[i].Threads, texts.Count, tokenSum, seconds[i].Min(), seconds[i], gflop, cos.Min(), cos.Average()));
        }
        return results;
    }

    /// <summary>Cosine similarity of two vectors (0 when either is zero or the lengths differ).</summary>
    public static double Cosine(float[] a, float[] b)
    {
        if (a.Length != b.Length) return 0;
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += (double)a[i] * b[i]; na += (double)a[i] * a[i]; nb += (double)b[i] * b[i]; }
        return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }

    /// <summary>
    /// Peak fp32 GFLOP/s of this machine: cores × clock × FLOPs per cycle. FLOPs per cycle assume two FMA pipes of the
    /// widest vector unit (AVX-512: 2×16×2 = 64, as on Zen 5 / Sapphire Rapids; AVX2: 32; else 8). The clock is
    /// measured (<see cref="MeasureGhz"/>), since /proc/cpuinfo under a hypervisor reports the base/TSC clock.
    /// Both can be overridden by the caller.
    /// </summary>
    /// <param name="ghz">Clock (default: measured).</param>
    /// <param name="flopsPerCycle">fp32 FLOPs per cycle per core (default: from the vector unit).</param>
    /// <param name="threads">Cores the encoder may use (default and at most: all).</param>
    public static (double Gflops, string Assumption) CpuPeak(double? ghz = null, int? flopsPerCycle = null, int? threads = null)
    {
        int cores = threads is > 0 ? Math.Min(threads.Value, Environment.ProcessorCount) : Environment.ProcessorCount;
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
