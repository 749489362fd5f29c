using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using LLama;
using LLama.Common;
using LLama.Native;
using OpenBook.Models.Architectures;
using OpenBook.Models.Formats;
using OpenBook.Models.Formats.Gguf;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;
using Spectre.Console;

namespace OpenBook.Bench.Commands;

using Cli = OpenBook.Cli.Cli;

/// <summary>
/// <c>openbook-bench llamacpp --shape smollm2-135m</c>: the managed engine against llama.cpp (LLamaSharp 0.30 CPU
/// backend) on the same random weights of a real shape — OpenBook's model exported with <see cref="GgufExport"/> —
/// at batch 1: prefill tokens/s and per-token decode time after a prompt of 16 … 1024 tokens, fp32 / bf16 / int8
/// (llama.cpp: F32 / BF16 / Q8_0), OpenBook with an f32 and with a bf16 KV cache; the engines take turns step by step
/// so all see the same load.
/// </summary>
internal static class LlamaCppBenchCommands
{
    private static readonly string[] KnownFormats = ["f32", "bf16", "int8"];

    public static Command Build()
    {
        var shape = new Option<string>("--shape") { Description = "Model shape: " + string.Join(", ", LlmBenchCommands.Shapes.Keys), DefaultValueFactory = _ => "smollm2-135m" };
        var contexts = new Option<int[]>("--contexts") { Description = "Prompt lengths before decoding", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [16, 64, 256, 1024] };
        var formats = new Option<string[]>("--formats") { Description = "f32, bf16, int8 (llama.cpp: F32, BF16, Q8_0)", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => KnownFormats };
        var steps = new Option<int>("--steps") { Description = "Timed decode steps per context (median reported)", DefaultValueFactory = _ => 16 };
        var threads = new Option<int>("--threads") { Description = "Threads for both engines", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cmd = new Command("llamacpp", "Language-model engine vs llama.cpp on the same weights: prefill and decode tokens/s, batch 1, contexts 16 → 1024")
        {
            shape, contexts, formats, steps, threads,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            // llama.cpp's CPU backend is built with OpenMP, whose workers spin while they wait: on a machine shared with
            // other processes that costs it 3-30× (measured). A strong peer runs with OMP_WAIT_POLICY=PASSIVE, which
            // libgomp reads when it loads, so the bench restarts itself with it set.
            if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null) return await RestartWithPassiveOpenMp(ct);
            string name = r.GetValue(shape)!;
            if (!LlmBenchCommands.Shapes.TryGetValue(name, out var config))
                throw new OpenBookException($"--shape: unknown shape '{name}' (known: {string.Join(", ", LlmBenchCommands.Shapes.Keys)}).");
            var fs = r.GetValue(formats)!.SelectMany(f => f.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToArray();
            foreach (var f in fs)
                if (!KnownFormats.Contains(f)) throw new OpenBookException($"--formats: unknown format '{f}' (known: {string.Join(", ", KnownFormats)}).");
            var ctxs = r.GetValue(contexts)!;
            if (ctxs.Length == 0 || ctxs.Any(c => c < 1 || c > 8192)) throw new OpenBookException("--contexts: each must be between 1 and 8192.");
            int t = r.GetValue(threads), n = r.GetValue(steps);
            if (t < 1 || n < 1) throw new OpenBookException("--threads and --steps must be at least 1.");
            var silent = r.GetValue(Cli.Quiet) || r.GetValue(Cli.Json);
            var result = Run(name, config, fs, ctxs, n, t, silent ? null : Cli.Out(r), ct);
            if (r.GetValue(Cli.Json)) BenchEnvironment.WriteJson(result);
            else Print(Cli.Out(r), result);
            return 0;
        });
        return cmd;
    }

    private static async Task<int> RestartWithPassiveOpenMp(CancellationToken ct)
    {
        var exe = Environment.ProcessPath ?? "dotnet";
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false };
        var args = Environment.GetCommandLineArgs();
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") psi.ArgumentList.Add(typeof(LlamaCppBenchCommands).Assembly.Location);
        foreach (var a in args.Skip(1)) psi.ArgumentList.Add(a);
        psi.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        using var p = Process.Start(psi) ?? throw new OpenBookException($"could not restart {exe} with OMP_WAIT_POLICY=PASSIVE");
        await p.WaitForExitAsync(ct);
        return p.ExitCode;
    }

    private static JsonObject Run(string shapeName, ModelConfig config, string[] formats, int[] contexts, int steps, int threads,
        IAnsiConsole? log, CancellationToken ct)
    {
        void Log(string m) => log?.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
        KernelThreads.Max = threads;
        var result = new JsonObject
        {
            ["shape"] = shapeName, ["threads"] = threads, ["steps"] = steps, ["parameters"] = config.ParameterCount(),
            ["openbookKvCache"] = "f32 and bf16 (both measured)", ["llamacppKvCache"] = "f16 (default)",
            ["ompWaitPolicy"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY"),
            ["loadAverageBefore"] = BenchEnvironment.LoadAverage(), ["cores"] = Environment.ProcessorCount,
        };
        string dir = Path.Combine(Path.GetTempPath(), "openbook-bench-llamacpp", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            Log($"Building {shapeName} with random weights ({config.ParameterCount() / 1e6:F0}M parameters)…");
            var model = ModelLoader.Create(config, new RandomWeightSource(42));
            var files = new Dictionary<string, (string Path, long Bytes)>();
            foreach (var f in formats)
            {
                Log($"Exporting GGUF {GgufType(f)}…");
                var e = GgufExport.WriteWithPlaceholderVocabulary(model, Path.Combine(dir, f + ".gguf"), GgufType(f), shapeName);
                files[f] = (e.Path, e.Bytes);
            }
            NativeLogConfig.llama_log_set((level, message) => { if (level == LLamaLogLevel.Error) Console.Error.Write(message); });
            result["llamacppSystemInfo"] = System.Runtime.InteropServices.Marshal.PtrToStringUTF8(NativeApi.llama_print_system_info())?.Trim();
            var rows = new JsonArray();
            var rng = new Random(1);
            int[] Tokens(int count) => Enumerable.Range(0, count).Select(_ => rng.Next(config.VocabSize)).ToArray();
            int maxContext = contexts.Max();
            foreach (var f in formats)
            {
                ct.ThrowIfCancellationRequested();
                model.ConvertWeights(f switch { "bf16" => WeightFormat.Bf16, "int8" => WeightFormat.Int8, _ => WeightFormat.F32 });
                GC.Collect();
                double openbookBits = MatrixBytes(model) * 8.0 / config.ParameterCount();
                var p = new ModelParams(files[f].Path)
                {
                    ContextSize = (uint)(maxContext + steps + 32), BatchSize = (uint)maxContext, GpuLayerCount = 0, Threads = threads, BatchThreads = threads,
                };
                using var weights = LLamaWeights.LoadFromFile(p);
                using var context = weights.CreateContext(p);
                // OpenBook with an f32 KV cache, OpenBook with a bf16 KV cache, llama.cpp (its default f16 cache).
                ISequence[] sequences =
                [
                    new OpenBookSequence(model, maxContext + steps + 1, kvBf16: false),
                    new OpenBookSequence(model, maxContext + steps + 1, kvBf16: true),
                    new LlamaCppSequence(context),
                ];
                Interleaved(sequences, Tokens(16), 3, 0); // warm-up: JIT tiering here, page-in of the mapped file there
                for (int i = 0; i < contexts.Length; i++)
                {
                    int c = contexts[i];
                    Log($"{f}: context {c}…");
                    string load = BenchEnvironment.LoadAverage();
                    var timings = Interleaved(sequences, Tokens(c), steps, i);
                    var (o, ob, t) = (timings[0], timings[1], timings[2]);
                    rows.Add(new JsonObject
                    {
                        ["format"] = f, ["llamacppType"] = GgufType(f).ToString(), ["context"] = c,
                        ["openbookBitsPerWeight"] = Math.Round(openbookBits, 2), ["llamacppBitsPerWeight"] = Math.Round(files[f].Bytes * 8.0 / config.ParameterCount(), 2),
                        ["openbookPrefillTokensPerSecond"] = Math.Round(c / o.Prefill, 1), ["llamacppPrefillTokensPerSecond"] = Math.Round(c / t.Prefill, 1),
                        ["openbookDecodeMsPerToken"] = Math.Round(o.DecodeMedian * 1000, 2), ["llamacppDecodeMsPerToken"] = Math.Round(t.DecodeMedian * 1000, 2),
                        ["openbookDecodeMsPerTokenMin"] = Math.Round(o.DecodeMin * 1000, 2), ["llamacppDecodeMsPerTokenMin"] = Math.Round(t.DecodeMin * 1000, 2),
                        ["openbookBf16KvDecodeMsPerToken"] = Math.Round(ob.DecodeMedian * 1000, 2), ["openbookBf16KvDecodeMsPerTokenMin"] = Math.Round(ob.DecodeMin * 1000, 2),
                        ["decodeRatio"] = Math.Round(t.DecodeMedian / o.DecodeMedian, 3), ["decodeRatioMin"] = Math.Round(t.DecodeMin / o.DecodeMin, 3),
                        ["decodeRatioBf16Kv"] = Math.Round(t.DecodeMedian / ob.DecodeMedian, 3),
                        ["prefillRatio"] = Math.Round(t.Prefill / o.Prefill, 3),
                        ["loadAverage"] = load,
                    });
                }
            }
            result["rows"] = rows;
            result["summary"] = Summary(rows, formats, contexts);
            result["loadAverageAfter"] = BenchEnvironment.LoadAverage();
            result["peakWorkingSetBytes"] = Process.GetCurrentProcess().PeakWorkingSet64;
            return result;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static GgufFileType GgufType(string format) => format switch { "bf16" => GgufFileType.BF16, "int8" => GgufFileType.Q8_0, _ => GgufFileType.F32 };

    private static long MatrixBytes(LlamaForCausalLM model) =>
        model.EmbedTokens.ByteSize + model.Layers.SelectMany(l => l.Linears()).Sum(l => l.Weight.ByteSize)
        + (model.Config.TieWordEmbeddings ? 0 : model.LmHead.Weight.ByteSize);

    /// <summary>One engine holding one sequence: a timed prefill, then timed single-token decode steps (greedy).</summary>
    private interface ISequence
    {
        double Prefill(int[] prompt);
        double Step();
    }

    private sealed class OpenBookSequence(LlamaForCausalLM model, int capacity, bool kvBf16) : ISequence
    {
        private readonly KvCache _cache = model.CreateCache(1, capacity, kvBf16 ? KvCacheFormat.Bf16 : KvCacheFormat.F32);
        private float[] _logits = [];

        public double Prefill(int[] prompt)
        {
            _cache.Reset();
            long start = Stopwatch.GetTimestamp();
            _logits = model.Forward(prompt, _cache);
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        public double Step()
        {
            int next = ArgMax(_logits);
            long start = Stopwatch.GetTimestamp();
            _logits = model.Forward([next], _cache);
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
    }

    private sealed class LlamaCppSequence(LLamaContext context) : ISequence
    {
        private readonly LLamaBatch _batch = new();
        private int _position;
        private float[] _logits = [];

        public double Prefill(int[] prompt)
        {
            context.NativeHandle.MemoryClear(true);
            _batch.Clear();
            for (int i = 0; i < prompt.Length; i++) _batch.Add(prompt[i], i, LLamaSeqId.Zero, logits: i == prompt.Length - 1);
            long start = Stopwatch.GetTimestamp();
            Check(context.Decode(_batch));
            _logits = context.NativeHandle.GetLogitsIth(prompt.Length - 1).ToArray();
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            _position = prompt.Length;
            return seconds;
        }

        public double Step()
        {
            int next = ArgMax(_logits);
            _batch.Clear();
            _batch.Add(next, _position++, LLamaSeqId.Zero, logits: true);
            long start = Stopwatch.GetTimestamp();
            Check(context.Decode(_batch));
            _logits = context.NativeHandle.GetLogitsIth(0).ToArray();
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
    }

    /// <summary>
    /// Every sequence on the same prompt, turn about: prefills in an order rotated by <paramref name="rotate"/>, then
    /// decode steps round-robin (one step of each in turn), so a burst of other load hits all of them.
    /// </summary>
    private static Timing[] Interleaved(ISequence[] sequences, int[] prompt, int steps, int rotate)
    {
        int n = sequences.Length;
        var prefill = new double[n];
        for (int i = 0; i < n; i++)
        {
            int e = (i + rotate) % n;
            prefill[e] = sequences[e].Prefill(prompt);
        }
        var times = new double[n][];
        for (int e = 0; e < n; e++) times[e] = new double[steps];
        for (int s = 0; s < steps; s++)
            for (int e = 0; e < n; e++) times[e][s] = sequences[e].Step();
        return Enumerable.Range(0, n).Select(e => new Timing(prefill[e], Median(times[e]), times[e].Min())).ToArray();
    }

    private sealed record Timing(double Prefill, double DecodeMedian, double DecodeMin);

    private static void Check(DecodeResult r)
    {
        if (r != DecodeResult.Ok) throw new OpenBookException($"llama.cpp decode failed: {r}");
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private static double Median(double[] times)
    {
        var sorted = times.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>Per format: the goals — decode ≥ 1.0× llama.cpp, and per-token time at the longest context within 20 % of the shortest.</summary>
    private static JsonArray Summary(JsonArray rows, string[] formats, int[] contexts)
    {
        var summary = new JsonArray();
        int lo = contexts.Min(), hi = contexts.Max();
        foreach (var f in formats)
        {
            var mine = rows.OfType<JsonObject>().Where(r => (string?)r["format"] == f).ToList();
            double Ms(int c, string key) => (double)mine.First(r => (int?)r["context"] == c)![key]!;
            double minRatio = mine.Min(r => (double)r["decodeRatio"]!);
            double minRatioOfMins = mine.Min(r => (double)r["decodeRatioMin"]!);
            double growth = Ms(hi, "openbookDecodeMsPerToken") / Ms(lo, "openbookDecodeMsPerToken");
            double growthOfMins = Ms(hi, "openbookDecodeMsPerTokenMin") / Ms(lo, "openbookDecodeMsPerTokenMin");
            double growthBf16 = Ms(hi, "openbookBf16KvDecodeMsPerToken") / Ms(lo, "openbookBf16KvDecodeMsPerToken");
            double growthBf16OfMins = Ms(hi, "openbookBf16KvDecodeMsPerTokenMin") / Ms(lo, "openbookBf16KvDecodeMsPerTokenMin");
            summary.Add(new JsonObject
            {
                ["format"] = f,
                ["decodeRatioMin"] = Math.Round(minRatio, 3),
                ["decodeRatioAtShortest"] = Math.Round((double)mine.First(r => (int?)r["context"] == lo)!["decodeRatio"]!, 3),
                ["decodeRatioMinOfFastestSteps"] = Math.Round(minRatioOfMins, 3),
                ["decodeGoalMet"] = minRatio >= 1.0,
                ["openbookPerTokenGrowth"] = Math.Round(growth, 3),
                ["openbookPerTokenGrowthOfFastestSteps"] = Math.Round(growthOfMins, 3),
                ["llamacppPerTokenGrowth"] = Math.Round(Ms(hi, "llamacppDecodeMsPerToken") / Ms(lo, "llamacppDecodeMsPerToken"), 3),
                ["openbookBf16KvPerTokenGrowth"] = Math.Round(growthBf16, 3),
                ["openbookBf16KvPerTokenGrowthOfFastestSteps"] = Math.Round(growthBf16OfMins, 3),
                ["flatGoalMet"] = growthBf16 <= 1.2 && growthBf16 >= 0.8,
            });
        }
        return summary;
    }

    private static void Print(IAnsiConsole console, JsonObject r)
    {
        console.MarkupLine($"[bold]openbook-bench llamacpp[/] --shape {r["shape"]}: {r["parameters"]!.GetValue<long>() / 1e6:F0}M parameters, {r["threads"]} threads, " +
                           $"KV cache OpenBook {r["openbookKvCache"]} / llama.cpp {r["llamacppKvCache"]}, load {r["loadAverageBefore"]} → {r["loadAverageAfter"]}");
        var table = new Table().AddColumns("format", "ctx", "bits/w ours / llama.cpp", "prefill tok/s ours", "llama.cpp", "decode ms/token ours (min)", "ours, bf16 KV (min)", "llama.cpp (min)", "decode × llama.cpp (of mins)", "load");
        foreach (var row in r["rows"]!.AsArray().OfType<JsonObject>())
            table.AddRow($"{row["format"]} / {row["llamacppType"]}", $"{row["context"]}", $"{row["openbookBitsPerWeight"]} / {row["llamacppBitsPerWeight"]}",
                $"{row["openbookPrefillTokensPerSecond"]}", $"{row["llamacppPrefillTokensPerSecond"]}", $"{row["openbookDecodeMsPerToken"]} ({row["openbookDecodeMsPerTokenMin"]})",
                $"{row["openbookBf16KvDecodeMsPerToken"]} ({row["openbookBf16KvDecodeMsPerTokenMin"]})",
                $"{row["llamacppDecodeMsPerToken"]} ({row["llamacppDecodeMsPerTokenMin"]})", $"{row["decodeRatio"]} ({row["decodeRatioMin"]})", $"{row["loadAverage"]}");
        console.Write(table);
        foreach (var s in r["summary"]!.AsArray().OfType<JsonObject>())
            console.MarkupLine($"{s["format"]}: decode ≥ 1.0× llama.cpp at every context: {((bool)s["decodeGoalMet"]! ? "[green]met[/]" : "[red]not met[/]")} (lowest {s["decodeRatioMin"]}×); " +
                               $"per-token time longest/shortest context {s["openbookPerTokenGrowth"]}× with an f32 KV cache, {s["openbookBf16KvPerTokenGrowth"]}× with bf16 (llama.cpp {s["llamacppPerTokenGrowth"]}×), bf16 within ±20 %: {((bool)s["flatGoalMet"]! ? "[green]met[/]" : "[red]not met[/]")}");
    }
}
