using System.CommandLine;
using OpenBook.Onnx;
using Spectre.Console;

namespace OpenBook.Bench.Commands;

using Cli = OpenBook.Cli.Cli;

/// <summary><c>openbook-bench embed</c>: sentence-encoder throughput (chunks/s, tokens/s) vs the CPU FLOP bound.</summary>
internal static class EmbedBenchCommands
{
    private static readonly string DefaultModelDir =
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "openbook", "bench", "minilm-l6-random");

    public static Command Build()
    {
        var model = new Option<string>("--model", "-m")
        {
            Description = "Sentence-transformers model directory (default: a MiniLM-L6-shaped random model made by tools/onnx/make_tiny_encoder.py)",
            DefaultValueFactory = _ => DefaultModelDir,
        };
        var batches = new Option<int[]>("--batch", "-b") { Description = "Batch sizes", DefaultValueFactory = _ => [1, 16, 64], AllowMultipleArgumentsPerToken = true };
        var chunks = new Option<int>("--chunks") { Description = "Chunks encoded per configuration", DefaultValueFactory = _ => 128 };
        var tokens = new Option<int>("--tokens") { Description = "Chunk length target in tokens (lengths spread over 60-100%)", DefaultValueFactory = _ => 128 };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads (0: one per core)", DefaultValueFactory = _ => 0 };
        var variants = new Option<string[]>("--variant") { Description = "fp32, int8 or both", DefaultValueFactory = _ => ["fp32", "int8"], AllowMultipleArgumentsPerToken = true };
        var repeat = new Option<int>("--repeat") { Description = "Runs per configuration; the fastest is reported", DefaultValueFactory = _ => 2 };
        var quick = new Option<bool>("--quick") { Description = "32 chunks, one run per configuration (smoke run)" };
        var ghz = new Option<double?>("--ghz") { Description = "CPU clock for the FLOP bound (default: /proc/cpuinfo)" };
        var fpc = new Option<int?>("--flops-per-cycle") { Description = "fp32 FLOP/cycle/core for the bound (default: 64 with AVX-512, 32 with AVX2+FMA)" };

        var cmd = new Command("embed", "Sentence-encoder throughput at several batch sizes, fp32 vs int8, vs the CPU FLOP bound")
        {
            model, batches, chunks, tokens, threads, variants, repeat, quick, ghz, fpc,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var dir = r.GetValue(model)!;
            if (!Directory.Exists(dir))
                throw new OpenBookException(
                    $"Model directory '{dir}' does not exist. Make the MiniLM-shaped random model with:\n" +
                    $"  /usr/bin/python3 tools/onnx/make_tiny_encoder.py minilm {dir} --int8");
            int n = r.GetValue(quick) ? 32 : r.GetValue(chunks);
            int repeats = r.GetValue(quick) ? 1 : r.GetValue(repeat);
            if (n < 1) throw new OpenBookException($"--chunks must be at least 1, found {n}.");
            if (repeats < 1) throw new OpenBookException($"--repeat must be at least 1, found {repeats}.");
            var shape = EncoderShape.FromConfig(dir);
            var (peak, assumption) = EncoderBenchmark.CpuPeak(r.GetValue(ghz), r.GetValue(fpc));
            var loadBefore = BenchEnvironment.LoadAverage();
            var results = new List<EmbedBenchResult>();
            var console = Cli.Out(r);
            foreach (var variant in r.GetValue(variants)!)
            {
                if (variant is not ("fp32" or "int8")) throw new OpenBookException($"--variant '{variant}': expected fp32 or int8.");
                foreach (var b in r.GetValue(batches)!)
                {
                    if (b < 1) throw new OpenBookException($"--batch {b}: must be at least 1.");
                    using var encoder = OnnxSentenceEncoder.Load(dir, new OnnxEncoderOptions
                    {
                        Quantized = variant == "int8",
                        MaxBatchSize = b,
                        MaxBatchTokens = int.MaxValue,
                        Threading = new OnnxThreading { IntraOpThreads = r.GetValue(threads) },
                    });
                    var texts = EncoderBenchmark.MakeChunks(encoder, n, r.GetValue(tokens));
                    var result = await EncoderBenchmark.RunAsync(encoder, texts, b, shape, variant, repeats, ct);
                    results.Add(result);
                    if (!r.GetValue(Cli.Quiet))
                        console.MarkupLine($"[grey]{variant} batch {b}: {result.ChunksPerSecond:0.0} chunks/s, {result.TokensPerSecond:0} tokens/s[/]");
                }
            }
            var loadAfter = BenchEnvironment.LoadAverage();

            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new
                {
                    model = Path.GetFullPath(dir),
                    repeats,
                    shape,
                    peakGflops = peak,
                    peakAssumption = assumption,
                    loadBefore,
                    loadAfter,
                    results = results.Select(x => new
                    {
                        x.Variant, x.Batch, x.Chunks, x.Tokens, x.PaddedTokens, x.Seconds, x.ChunksPerSecond, x.TokensPerSecond,
                        x.Gflop, x.GflopPerSecond, peakFraction = x.GflopPerSecond / peak,
                    }),
                });
                return 0;
            }
            var table = new Table().AddColumns("var", "batch", "n", "tokens", "pad%", "s", "chunk/s", "tok/s", "GFLOP/s", "%peak");
            foreach (var x in results)
                table.AddRow(x.Variant, x.Batch.ToString(), x.Chunks.ToString(), x.Tokens.ToString(),
                    $"{100.0 * (x.PaddedTokens - x.Tokens) / x.PaddedTokens:0.0}", $"{x.Seconds:0.00}", $"{x.ChunksPerSecond:0.0}",
                    $"{x.TokensPerSecond:0}", $"{x.GflopPerSecond:0.0}", $"{100 * x.GflopPerSecond / peak:0.0}");
            console.Write(table);
            console.MarkupLine($"shape: {shape.Layers} layers, hidden {shape.Hidden}, FFN {shape.Intermediate}; " +
                               $"{shape.FlopsPerSequence(r.GetValue(tokens)) / 1e9:0.00} GFLOP per {r.GetValue(tokens)}-token chunk");
            console.MarkupLine($"FLOP bound: {peak:0} GFLOP/s ({Markup.Escape(assumption)})");
            console.MarkupLine($"load average: before {Markup.Escape(loadBefore)}, after {Markup.Escape(loadAfter)}");
            return 0;
        });
        return cmd;
    }
}
