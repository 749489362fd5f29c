using System.CommandLine;
using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Text.Json.Nodes;
using OpenBook.Models.Architectures;
using OpenBook.Models.Formats;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;
using Spectre.Console;

namespace OpenBook.Bench.Commands;

using Cli = OpenBook.Cli.Cli;

/// <summary>
/// <c>openbook-bench llm --shape smollm2-135m|smollm2-360m|qwen2.5-0.5b [--quick]</c>: the managed engine's SGEMM
/// against PyTorch on OpenBLAS (same machine, same run), memory bandwidth, prefill and decode throughput of a
/// random-weight model of a real shape in fp32/bf16/int8 at batch 1 and 8, the decode bandwidth bound, per-token
/// decode time at short vs long context, and peak memory.
/// </summary>
internal static class LlmBenchCommands
{
    /// <summary>Real model shapes (from their config.json), filled with random weights.</summary>
    internal static readonly IReadOnlyDictionary<string, ModelConfig> Shapes = new Dictionary<string, ModelConfig>
    {
        ["smollm2-135m"] = Shape("LlamaForCausalLM", hidden: 576, intermediate: 1536, layers: 30, heads: 9, kvHeads: 3, vocab: 49152, theta: 100000),
        ["smollm2-360m"] = Shape("LlamaForCausalLM", hidden: 960, intermediate: 2560, layers: 32, heads: 15, kvHeads: 5, vocab: 49152, theta: 100000),
        ["qwen2.5-0.5b"] = Shape("Qwen2ForCausalLM", hidden: 896, intermediate: 4864, layers: 24, heads: 14, kvHeads: 2, vocab: 151936, theta: 1000000),
    };

    private static ModelConfig Shape(string arch, int hidden, int intermediate, int layers, int heads, int kvHeads, int vocab, double theta) => new()
    {
        Architecture = arch, HiddenSize = hidden, IntermediateSize = intermediate, NumHiddenLayers = layers,
        NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, HeadDim = hidden / heads, VocabSize = vocab,
        RopeTheta = theta, RmsNormEps = 1e-5, TieWordEmbeddings = true, MaxPositionEmbeddings = 8192,
    };

    public static Command Build()
    {
        var shape = new Option<string>("--shape") { Description = "Model shape: " + string.Join(", ", Shapes.Keys), DefaultValueFactory = _ => "smollm2-135m" };
        var quick = new Option<bool>("--quick") { Description = "Fewer steps and shorter contexts (about a minute)" };
        var threads = new Option<int>("--threads") { Description = "Threads for both engines (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var python = new Option<string>("--python") { Description = "Interpreter with PyTorch for the SGEMM peer", DefaultValueFactory = _ => "/usr/bin/python3" };
        var cmd = new Command("llm", "Language-model engine: SGEMM vs PyTorch, prefill/decode tokens/s (fp32, bf16, int8), bandwidth bound, memory")
        {
            shape, quick, threads, python,
        };
        Cli.SetHandler(cmd, (r, ct) =>
        {
            string name = r.GetValue(shape)!;
            if (!Shapes.TryGetValue(name, out var config))
                throw new OpenBookException($"--shape: unknown shape '{name}' (known: {string.Join(", ", Shapes.Keys)}).");
            int t = r.GetValue(threads);
            if (t < 1) throw new OpenBookException("--threads must be at least 1.");
            var bench = new LlmBench(name, config, r.GetValue(quick), t, r.GetValue(python)!, Cli.Out(r), r.GetValue(Cli.Quiet) || r.GetValue(Cli.Json));
            var result = bench.Run(ct);
            if (r.GetValue(Cli.Json)) Cli.WriteJson(result);
            else bench.Print(result);
            return Task.FromResult(0);
        });
        return cmd;
    }
}

/// <summary>The measurements of <c>openbook-bench llm</c>.</summary>
internal sealed class LlmBench(string shapeName, ModelConfig config, bool quick, int threads, string python, IAnsiConsole console, bool silent)
{
    private void Log(string message)
    {
        if (!silent) console.MarkupLine($"[grey]{Markup.Escape(message)}[/]");
    }

    public JsonObject Run(CancellationToken ct)
    {
        KernelThreads.Max = threads;
        var result = new JsonObject
        {
            ["shape"] = shapeName,
            ["quick"] = quick,
            ["threads"] = threads,
            ["cpu"] = Vector512.IsHardwareAccelerated ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : "scalar",
            ["loadAverageBefore"] = BenchEnvironment.LoadAverage(),
            ["parameters"] = config.ParameterCount(),
        };
        Log("SGEMM: OpenBook vs PyTorch…");
        result["sgemm"] = Sgemm(ct);
        ct.ThrowIfCancellationRequested();
        // Bandwidth is measured here and again after the decode runs; the bound uses the higher figure (the
        // conservative choice when other processes compete for memory).
        Log("Memory bandwidth…");
        double bandwidth = MeasureBandwidth();

        Log($"Building {shapeName} with random weights ({config.ParameterCount() / 1e6:F0}M parameters)…");
        var model = ModelLoader.Create(config, new RandomWeightSource(42));
        var rng = new Random(1);
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(config.VocabSize)).ToArray();

        int prompt = quick ? 64 : 128;
        Log($"Prefill {prompt} tokens (fp32)…");
        double prefillSeconds = Median(5, () => model.Forward(Tokens(prompt), model.CreateCache(1, prompt)), warmup: 1);
        result["prefillTokensPerSecond"] = Math.Round(prompt / prefillSeconds, 1);

        var decodeRuns = new List<(WeightFormat Format, int Batch, double TokensPerSecond, long WeightBytes)>();
        var context = new JsonArray();
        int longContext = quick ? 256 : 1024;
        int steps = quick ? 9 : 33;
        foreach (var format in new[] { WeightFormat.F32, WeightFormat.Bf16, WeightFormat.Int8, WeightFormat.Nf4 })
        {
            ct.ThrowIfCancellationRequested();
            model.ConvertWeights(format);
            GC.Collect();
            long weightBytes = model.DecodeWeightBytes();
            foreach (int batch in new[] { 1, 8 })
            {
                Log($"Decode {format} batch {batch}…");
                decodeRuns.Add((format, batch, batch / DecodeSeconds(model, batch, 16, steps, Tokens), weightBytes));
            }
            if (format == WeightFormat.F32) continue;
            // Per-token decode time at short vs long context (batch 1): attention and KV-cache reads grow with context.
            Log($"Decode {format} at context 16 vs {longContext}…");
            double shortMs = DecodeSeconds(model, 1, 16, steps, Tokens) * 1000;
            double longMs = DecodeSeconds(model, 1, longContext, steps, Tokens) * 1000;
            context.Add(new JsonObject
            {
                ["format"] = format.ToString().ToLowerInvariant(),
                ["shortContext"] = 16,
                ["longContext"] = longContext,
                ["msPerTokenShort"] = Math.Round(shortMs, 2),
                ["msPerTokenLong"] = Math.Round(longMs, 2),
                ["ratio"] = Math.Round(longMs / shortMs, 3),
                ["kvCacheBytesReadAtLong"] = 2L * config.NumHiddenLayers * config.NumKeyValueHeads * config.HeadDim * longContext * sizeof(float),
            });
        }
        double bandwidthAfter = MeasureBandwidth();
        result["memoryBandwidthGBps"] = Math.Round(Math.Max(bandwidth, bandwidthAfter) / 1e9, 2);
        result["memoryBandwidthSamplesGBps"] = new JsonArray(Math.Round(bandwidth / 1e9, 2), Math.Round(bandwidthAfter / 1e9, 2));
        bandwidth = Math.Max(bandwidth, bandwidthAfter);
        var decode = new JsonArray();
        foreach (var (format, batch, tps, weightBytes) in decodeRuns)
        {
            double bound = bandwidth / weightBytes;
            decode.Add(new JsonObject
            {
                ["format"] = format.ToString().ToLowerInvariant(),
                ["batch"] = batch,
                ["tokensPerSecond"] = Math.Round(tps, 2),
                ["weightBytesPerStep"] = weightBytes,
                ["boundTokensPerSecond"] = batch == 1 ? Math.Round(bound, 2) : null,
                ["ratioToBound"] = batch == 1 ? Math.Round(tps / bound, 3) : null,
            });
        }
        result["decode"] = decode;

        result["contextScaling"] = context;
        result["peakWorkingSetBytes"] = Process.GetCurrentProcess().PeakWorkingSet64;
        result["loadAverageAfter"] = BenchEnvironment.LoadAverage();
        return result;
    }

    /// <summary>
    /// Median seconds of one decode step of <paramref name="batch"/> sequences after a prefill of
    /// <paramref name="context"/> tokens each (the median keeps other processes' bursts out of the figure).
    /// </summary>
    private static double DecodeSeconds(LlamaForCausalLM model, int batch, int context, int steps, Func<int, int[]> tokens)
    {
        var cache = model.CreateCache(batch, context + steps + 24); // + warm-up steps (at most 20)
        model.Forward(tokens(batch * context), cache);
        return Median(steps, () => model.Forward(tokens(batch), cache), warmup: 1);
    }

    /// <summary>
    /// Median wall time of <paramref name="runs"/> calls after <paramref name="warmup"/> untimed ones (and at least
    /// half a second of them, so the JIT has promoted the hot methods to optimized code).
    /// </summary>
    internal static double Median(int runs, Action action, int warmup = 0)
    {
        long warmStart = Stopwatch.GetTimestamp();
        for (int i = 0; i < warmup || (warmup > 0 && i < 20 && Stopwatch.GetElapsedTime(warmStart).TotalSeconds < 0.5); i++) action();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(times);
        return runs % 2 == 1 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
    }

    private JsonArray Sgemm(CancellationToken ct)
    {
        (int M, int N, int K)[] shapes = [(1024, 1024, 1024), (4096, 1024, 1024)];
        double seconds = quick ? 0.5 : 2;
        var peer = TorchPeer(shapes, seconds);
        var rows = new JsonArray();
        for (int i = 0; i < shapes.Length; i++)
        {
            ct.ThrowIfCancellationRequested();
            var (m, n, k) = shapes[i];
            var a = new float[m * k];
            var b = new float[k * n];
            var c = new float[m * n];
            var r = new Random(i);
            for (int j = 0; j < a.Length; j++) a[j] = (float)r.NextDouble() - 0.5f;
            for (int j = 0; j < b.Length; j++) b[j] = (float)r.NextDouble() - 0.5f;
            int reps = (int)Math.Clamp(seconds * 50e9 / (2.0 * m * n * k), 3, 50);
            double ours = 2.0 * m * n * k / Median(reps, () => OpenBook.Models.Kernels.Sgemm.Multiply(Transpose.No, Transpose.No, m, n, k, a, k, b, n, c, n), warmup: 1) / 1e9;
            double? theirs = peer.Results?.ElementAtOrDefault(i);
            rows.Add(new JsonObject
            {
                ["m"] = m, ["n"] = n, ["k"] = k,
                ["openbookGflops"] = Math.Round(ours, 1),
                ["torchGflops"] = theirs is double t ? Math.Round(t, 1) : null,
                ["ratio"] = theirs is double t2 ? Math.Round(ours / t2, 3) : null,
                ["torch"] = peer.Note,
            });
        }
        return rows;
    }

    /// <summary>Runs bench/peers/torch_sgemm.py; on any failure returns the reason instead of numbers.</summary>
    private (double[]? Results, string Note) TorchPeer((int M, int N, int K)[] shapes, double seconds)
    {
        string? script = BenchEnvironment.PeerScript("peers", "torch_sgemm.py");
        if (script is null) return (null, "unavailable: bench/peers/torch_sgemm.py not found");
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { script, "--threads", threads.ToString(), "--seconds", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(arg);
        foreach (var (m, n, k) in shapes) psi.ArgumentList.Add($"{m}x{n}x{k}");
        psi.Environment["OPENBLAS_NUM_THREADS"] = threads.ToString();
        psi.Environment["OMP_NUM_THREADS"] = threads.ToString();
        try
        {
            using var p = Process.Start(psi)!;
            string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) return (null, $"unavailable: {python} exited {p.ExitCode}: {stderr.Trim().Split('\n').LastOrDefault()}");
            var json = JsonNode.Parse(stdout)!;
            return (json["results"]!.AsArray().Select(x => x!["gflops"]!.GetValue<double>()).ToArray(), $"PyTorch {json["torch"]} ({threads} threads)");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or System.Text.Json.JsonException or InvalidOperationException)
        {
            return (null, $"unavailable: {e.Message}");
        }
    }

    /// <summary>Read bandwidth in bytes/s: best of several multi-threaded passes summing a buffer far larger than the caches.</summary>
    private double MeasureBandwidth()
    {
        int count = (quick ? 128 : 512) << 18; // floats: 128 MiB or 512 MiB
        var data = new float[count];
        Array.Fill(data, 1f);
        double best = 0;
        for (int pass = 0; pass < 5; pass++)
        {
            var watch = Stopwatch.StartNew();
            int chunk = count / threads;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
                t => System.Numerics.Tensors.TensorPrimitives.Sum(data.AsSpan(t * chunk, chunk)));
            best = Math.Max(best, count * 4.0 / watch.Elapsed.TotalSeconds);
        }
        return best;
    }

    public void Print(JsonObject r)
    {
        console.MarkupLine($"[bold]openbook-bench llm[/] --shape {shapeName}{(quick ? " --quick" : "")}: {r["parameters"]!.GetValue<long>() / 1e6:F0}M parameters, {threads} threads, {Markup.Escape(r["cpu"]?.ToString() ?? "")}, load {r["loadAverageBefore"]} → {r["loadAverageAfter"]}");
        var sg = new Table().AddColumns("SGEMM m×n×k", "OpenBook GFLOP/s", "PyTorch GFLOP/s", "ratio");
        foreach (var row in r["sgemm"]!.AsArray())
            sg.AddRow($"{row!["m"]}×{row["n"]}×{row["k"]}", $"{row["openbookGflops"]}", $"{row["torchGflops"]?.ToString() ?? "—"}", $"{row["ratio"]?.ToString() ?? row["torch"]!.ToString()}");
        console.Write(sg);
        console.MarkupLine($"memory bandwidth {r["memoryBandwidthGBps"]} GB/s (best of {Markup.Escape(r["memoryBandwidthSamplesGBps"]!.ToJsonString())}); prefill {r["prefillTokensPerSecond"]} tokens/s (fp32)");
        var dt = new Table().AddColumns("decode", "batch", "tokens/s", "weights MB/step", "bound tokens/s", "ratio");
        foreach (var row in r["decode"]!.AsArray())
            dt.AddRow($"{row!["format"]}", $"{row["batch"]}", $"{row["tokensPerSecond"]}", $"{row["weightBytesPerStep"]!.GetValue<long>() / 1e6:F0}",
                $"{row["boundTokensPerSecond"]?.ToString() ?? ""}", $"{row["ratioToBound"]?.ToString() ?? ""}");
        console.Write(dt);
        foreach (var cs in r["contextScaling"]!.AsArray())
            console.MarkupLine($"per-token decode ({cs!["format"]}): {cs["msPerTokenShort"]} ms at context {cs["shortContext"]}, {cs["msPerTokenLong"]} ms at {cs["longContext"]} (×{cs["ratio"]}; KV cache read per token at {cs["longContext"]}: {cs["kvCacheBytesReadAtLong"]!.GetValue<long>() / 1e6:F0} MB)");
        console.MarkupLine($"peak working set {r["peakWorkingSetBytes"]!.GetValue<long>() / (1 << 20)} MiB");
    }
}
