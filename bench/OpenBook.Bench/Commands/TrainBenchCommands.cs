using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using OpenBook.Cli.Commands;
using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning;
using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;
using Spectre.Console;

namespace OpenBook.Bench.Commands;

using Cli = OpenBook.Cli.Cli;

/// <summary>
/// <c>openbook-bench train --shape smollm2-135m</c>: LoRA, QLoRA and full-parameter training steps (forward, backward, AdamW) on a
/// random-weight model of a real shape at sequence 256 and 512, tokens/s and peak memory — each configuration in its
/// own child process so peak memory is its own — and the same step in PyTorch (bench/train/torch_lora_step.py) in
/// the same run (torch_full_step.py for full): the ratio is the figure. Shape <c>lab</c> is the ~10 M-parameter
/// model <c>openbook pretrain --shape lab</c> builds (vocab 8192).
/// </summary>
internal static class TrainBenchCommands
{
    public static Command Build()
    {
        var shape = new Option<string>("--shape") { Description = "Model shape: " + string.Join(", ", LlmBenchCommands.Shapes.Keys) + ", lab", DefaultValueFactory = _ => "smollm2-135m" };
        var seqs = new Option<int[]>("--seq") { Description = "Sequence lengths", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [256, 512] };
        var methods = new Option<string[]>("--methods") { Description = "lora, qlora, full", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => ["lora", "qlora"] };
        var steps = new Option<int>("--steps") { Description = "Timed steps per configuration (after one warmup step)", DefaultValueFactory = _ => 3 };
        var rank = new Option<int>("--rank") { Description = "LoRA rank (alpha = 2·rank, all 7 projections)", DefaultValueFactory = _ => 16 };
        var threads = new Option<int>("--threads") { Description = "Threads for both engines", DefaultValueFactory = _ => Environment.ProcessorCount };
        var python = new Option<string>("--python") { Description = "Interpreter with PyTorch for the peer", DefaultValueFactory = _ => "/usr/bin/python3" };
        var noPeer = new Option<bool>("--no-peer") { Description = "Skip the PyTorch peer" };
        var child = new Option<string?>("--child") { Description = "Internal: run one METHOD:SEQ configuration and print its JSON", Hidden = true };
        var checkpointing = new Option<bool>("--gradient-checkpointing") { Description = "full: recompute layers in backward (OpenBook only)" };
        var cmd = new Command("train", "Training speed: LoRA/QLoRA/full training tokens/s and peak memory vs the same step in PyTorch")
        {
            shape, seqs, methods, steps, rank, threads, python, noPeer, child, checkpointing,
        };
        Cli.SetHandler(cmd, (r, ct) =>
        {
            string name = r.GetValue(shape)!;
            var config = name == "lab" ? Models.Pretraining.PretrainShapes.Config("lab", 8192, 8192) : LlmBenchCommands.Shapes.GetValueOrDefault(name);
            if (config is null)
                throw new OpenBookException($"--shape: unknown shape '{name}' (known: {string.Join(", ", LlmBenchCommands.Shapes.Keys)}).");
            int t = r.GetValue(threads), n = r.GetValue(steps), rk = r.GetValue(rank);
            if (t < 1 || n < 1 || rk < 1) throw new OpenBookException("--threads, --steps and --rank must be at least 1.");
            if (r.GetValue(child) is { } one)
            {
                var parts = one.Split(':');
                BenchEnvironment.WriteJson(RunOne(config, parts[0], int.Parse(parts[1], CultureInfo.InvariantCulture), n, rk, t, r.GetValue(checkpointing)));
                return Task.FromResult(0);
            }
            var silent = r.GetValue(Cli.Quiet) || r.GetValue(Cli.Json);
            var console = Cli.Out(r);
            var result = new JsonObject
            {
                ["shape"] = name, ["threads"] = t, ["rank"] = rk, ["steps"] = n, ["loadAverageBefore"] = BenchEnvironment.LoadAverage(),
            };
            var rows = new JsonArray();
            foreach (var seq in r.GetValue(seqs)!)
            {
                var chosen = CoreCommands.Split(r.GetValue(methods)) ?? ["lora", "qlora"];
                foreach (var method in chosen)
                {
                    if (method is not ("lora" or "qlora" or "full")) throw new OpenBookException($"--methods: unknown method '{method}' (known: lora, qlora, full).");
                    ct.ThrowIfCancellationRequested();
                    if (!silent) console.MarkupLine($"[grey]{method} seq {seq}…[/]");
                    rows.Add(Child(name, method, seq, n, rk, t, r.GetValue(checkpointing)));
                }
                if (!r.GetValue(noPeer) && chosen.Any(m => m != "full") && name != "lab")
                {
                    if (!silent) console.MarkupLine($"[grey]PyTorch LoRA seq {seq}…[/]");
                    rows.Add(Peer(r.GetValue(python)!, name, seq, n, rk, t));
                }
                if (!r.GetValue(noPeer) && chosen.Contains("full"))
                {
                    if (!silent) console.MarkupLine($"[grey]PyTorch full seq {seq}…[/]");
                    rows.Add(FullPeer(r.GetValue(python)!, name, seq, n, t));
                }
            }
            // Ratios against the PyTorch row of the same sequence length.
            foreach (var row in rows.OfType<JsonObject>())
            {
                string peerMethod = (string?)row["method"] == "full" ? "pytorch-full" : "pytorch-lora";
                var peer = rows.OfType<JsonObject>().FirstOrDefault(p => (string?)p["method"] == peerMethod && (int?)p["seq"] == (int?)row["seq"] && p["tokensPerSecond"] is not null);
                if (peer is not null && row["tokensPerSecond"] is not null && !((string?)row["method"])!.StartsWith("pytorch", StringComparison.Ordinal))
                    row["ratioToPytorch"] = Math.Round((double)row["tokensPerSecond"]! / (double)peer["tokensPerSecond"]!, 3);
            }
            result["runs"] = rows;
            result["loadAverageAfter"] = BenchEnvironment.LoadAverage();
            if (r.GetValue(Cli.Json)) BenchEnvironment.WriteJson(result);
            else Print(console, result);
            return Task.FromResult(0);
        });
        return cmd;
    }

    /// <summary>One configuration in this process: builds the model, times the steps.</summary>
    internal static JsonObject RunOne(Models.Formats.ModelConfig config, string method, int seq, int steps, int rank, int threads, bool checkpointing = false)
    {
        KernelThreads.Max = threads;
        if (method == "full") return RunFull(config, seq, steps, checkpointing);
        // QLoRA as `finetune --method qlora` loads it: projections NF4, embedding / lm_head bf16, each converted as created.
        var q = FineTuneJob.QLoraLoadOptions;
        var model = ModelLoader.Create(config, method == "qlora" ? new RandomWeightSource(42, q.WeightFormat!.Value, q.ProjectionFormat) : new RandomWeightSource(42));
        long fp32Bytes = FineTuneJob.FrozenBytes(model, fp32: true);
        long frozenBytes = FineTuneJob.FrozenBytes(model, fp32: false);
        var lora = LoraModel.Create(model, new LoraConfig { Rank = rank, Alpha = 2 * rank, Dropout = 0 }, seed: 1);
        var optimizer = new AdamW(lora.Parameters());
        var graph = new LlamaTrainingGraph(model);
        var rng = new Random(7);
        var batch = new SequenceBatch(1, seq, Enumerable.Range(0, seq).Select(_ => rng.Next(config.VocabSize)).ToArray(), Enumerable.Repeat(1f, seq).ToArray());
        var times = new List<double>();
        double loss = 0;
        long allocatedBefore = 0;
        var pauseBefore = TimeSpan.Zero;
        int gen2Before = 0;
        for (int s = 0; s <= steps; s++)
        {
            if (s == 1)
            {
                allocatedBefore = GC.GetTotalAllocatedBytes();
                pauseBefore = GC.GetTotalPauseDuration();
                gen2Before = GC.CollectionCount(2);
            }
            var watch = Stopwatch.StartNew();
            loss = graph.ForwardBackward(batch, 1f / (seq - 1)).Mean;
            optimizer.ClipGradients(1.0);
            optimizer.Update(1e-4);
            lora.ZeroGrad();
            if (s > 0) times.Add(watch.Elapsed.TotalSeconds);
        }
        var inOrder = times.Select(t => (JsonNode)Math.Round(t * 1000, 1)).ToArray();
        times.Sort();
        double median = times[times.Count / 2];
        return new JsonObject
        {
            ["method"] = method, ["seq"] = seq, ["stepMs"] = Math.Round(median * 1000, 1), ["tokensPerSecond"] = Math.Round(seq / median, 1),
            ["peakWorkingSetMiB"] = Process.GetCurrentProcess().PeakWorkingSet64 >> 20, ["workingSetAfterStepsMiB"] = Process.GetCurrentProcess().WorkingSet64 >> 20, ["frozenWeightMiB"] = Math.Round(frozenBytes / 1048576.0, 1),
            ["fp32FrozenWeightMiB"] = Math.Round(fp32Bytes / 1048576.0, 1), ["frozenRatioToFp32"] = Math.Round((double)frozenBytes / fp32Bytes, 3),
            ["trainableParameters"] = lora.TrainableParameters, ["loss"] = Math.Round(loss, 4),
            ["stepsMs"] = new JsonArray(inOrder),
            ["allocatedMiBPerStep"] = Math.Round((GC.GetTotalAllocatedBytes() - allocatedBefore) / 1048576.0 / steps, 1),
            ["gcPauseMsPerStep"] = Math.Round((GC.GetTotalPauseDuration() - pauseBefore).TotalMilliseconds / steps, 1),
            ["gen2CollectionsPerStep"] = Math.Round((GC.CollectionCount(2) - gen2Before) / (double)steps, 2),
        };
    }

    /// <summary>
    /// One full-parameter step as <c>finetune --method full</c> runs it: forward, backward with every weight gradient,
    /// global-norm clipping, AdamW (β2 0.95, weight decay 0.1 except norms) over all parameters, gradients cleared.
    /// </summary>
    private static JsonObject RunFull(Models.Formats.ModelConfig config, int seq, int steps, bool checkpointing)
    {
        var model = ModelLoader.Create(config, new RandomWeightSource(42));
        var full = Models.FineTuning.Full.FullModel.Create(model);
        var optimizer = new AdamW(full.Parameters(), 0.9, 0.95, 1e-8, 0.1);
        var graph = new LlamaTrainingGraph(model, full.Gradients, checkpointing);
        var rng = new Random(7);
        var batch = new SequenceBatch(1, seq, Enumerable.Range(0, seq).Select(_ => rng.Next(config.VocabSize)).ToArray(), Enumerable.Repeat(1f, seq).ToArray());
        var times = new List<double>();
        double loss = 0;
        for (int s = 0; s <= steps; s++)
        {
            var watch = Stopwatch.StartNew();
            loss = graph.ForwardBackward(batch, 1f / (seq - 1)).Mean;
            optimizer.ClipGradients(1.0);
            optimizer.Update(1e-4);
            full.ZeroGrad();
            if (s > 0) times.Add(watch.Elapsed.TotalSeconds);
        }
        var inOrder = times.Select(t => (JsonNode)Math.Round(t * 1000, 1)).ToArray();
        times.Sort();
        double median = times[times.Count / 2];
        return new JsonObject
        {
            ["method"] = "full", ["seq"] = seq, ["stepMs"] = Math.Round(median * 1000, 1), ["tokensPerSecond"] = Math.Round(seq / median, 1),
            ["peakWorkingSetMiB"] = Process.GetCurrentProcess().PeakWorkingSet64 >> 20, ["trainableParameters"] = full.TrainableParameters,
            ["trainingStateMiB"] = Math.Round(full.StateBytes / 1048576.0, 1), ["activationMiB"] = Math.Round(graph.ArenaBytes / 1048576.0, 1),
            ["gradientCheckpointing"] = checkpointing, ["loss"] = Math.Round(loss, 4), ["stepsMs"] = new JsonArray(inOrder),
        };
    }

    private static JsonObject FullPeer(string python, string shape, int seq, int steps, int threads)
    {
        var fallback = new JsonObject { ["method"] = "pytorch-full", ["seq"] = seq };
        var script = BenchEnvironment.PeerScript("train", "torch_full_step.py");
        if (script is null)
        {
            fallback["error"] = "bench/train/torch_full_step.py not found";
            return fallback;
        }
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { script, "--shape", shape, "--seq", seq.ToString(CultureInfo.InvariantCulture), "--steps", steps.ToString(CultureInfo.InvariantCulture),
                     "--threads", threads.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        var raw = RunJson(psi, fallback);
        if (raw.ContainsKey("error")) return raw;
        var run = raw["results"] is JsonArray { Count: > 0 } list ? list[0]!.AsObject() : raw;
        return new JsonObject
        {
            ["method"] = "pytorch-full", ["seq"] = seq, ["stepMs"] = run["step_ms"]?.DeepClone(), ["tokensPerSecond"] = run["tokens_per_s"]?.DeepClone(),
            ["peakWorkingSetMiB"] = run["peak_rss_mb"]?.DeepClone(), ["trainableParameters"] = run["params"]?.DeepClone(), ["torch"] = run["torch"]?.DeepClone(),
        };
    }

    private static JsonObject Child(string shape, string method, int seq, int steps, int rank, int threads, bool checkpointing)
    {
        var psi = SelfInvocation();
        foreach (var a in new[] { "train", "--shape", shape, "--child", $"{method}:{seq}", "--steps", steps.ToString(CultureInfo.InvariantCulture),
                     "--rank", rank.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture), "--json" })
            psi.ArgumentList.Add(a);
        if (checkpointing) psi.ArgumentList.Add("--gradient-checkpointing");
        return RunJson(psi, new JsonObject { ["method"] = method, ["seq"] = seq });
    }

    private static JsonObject Peer(string python, string shape, int seq, int steps, int rank, int threads)
    {
        var fallback = new JsonObject { ["method"] = "pytorch-lora", ["seq"] = seq };
        var script = BenchEnvironment.PeerScript("train", "torch_lora_step.py");
        if (script is null)
        {
            fallback["error"] = "bench/train/torch_lora_step.py not found";
            return fallback;
        }
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { script, "--shape", shape, "--seq", seq.ToString(CultureInfo.InvariantCulture), "--steps", steps.ToString(CultureInfo.InvariantCulture),
                     "--rank", rank.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        psi.Environment["OPENBLAS_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        var raw = RunJson(psi, fallback);
        if (raw.ContainsKey("error")) return raw;
        var run = raw["results"] is JsonArray { Count: > 0 } list ? list[0]!.AsObject() : raw;
        return new JsonObject
        {
            ["method"] = "pytorch-lora", ["seq"] = seq, ["stepMs"] = run["step_ms"]?.DeepClone(), ["tokensPerSecond"] = run["tokens_per_s"]?.DeepClone(),
            ["peakWorkingSetMiB"] = run["peak_rss_mb"]?.DeepClone(), ["trainableParameters"] = run["lora_params"]?.DeepClone(),
            ["torch"] = raw["torch"]?.DeepClone() ?? run["torch"]?.DeepClone(),
        };
    }

    /// <summary>Starts this CLI again (apphost, or <c>dotnet OpenBook.Cli.dll</c>).</summary>
    private static ProcessStartInfo SelfInvocation()
    {
        var exe = Environment.ProcessPath ?? "dotnet";
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") psi.ArgumentList.Add(typeof(TrainBenchCommands).Assembly.Location);
        return psi;
    }

    private static JsonObject RunJson(ProcessStartInfo psi, JsonObject fallback)
    {
        try
        {
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                fallback["error"] = $"exit {p.ExitCode}: {stderr.Result.Trim().Split('\n').LastOrDefault()}";
                return fallback;
            }
            return JsonNode.Parse(stdout)!.AsObject();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or System.Text.Json.JsonException or InvalidOperationException)
        {
            fallback["error"] = e.Message;
            return fallback;
        }
    }

    private static void Print(IAnsiConsole console, JsonObject r)
    {
        console.MarkupLine($"[bold]openbook-bench train[/] --shape {r["shape"]}: rank {r["rank"]}, {r["threads"]} threads, median of {r["steps"]} steps, load {r["loadAverageBefore"]} → {r["loadAverageAfter"]}");
        var table = new Table().AddColumns("method", "seq", "step ms", "tokens/s", "× PyTorch", "peak MiB", "frozen weights MiB", "vs fp32");
        foreach (var row in r["runs"]!.AsArray().OfType<JsonObject>())
        {
            if (row["error"] is { } e)
            {
                table.AddRow($"{row["method"]}", $"{row["seq"]}", "[red]failed[/]", Markup.Escape(e.ToString()), "", "", "", "");
                continue;
            }
            table.AddRow($"{row["method"]}", $"{row["seq"]}", $"{row["stepMs"]}", $"{row["tokensPerSecond"]}", $"{row["ratioToPytorch"]?.ToString() ?? ""}",
                $"{row["peakWorkingSetMiB"]}", $"{row["frozenWeightMiB"]?.ToString() ?? ""}", $"{row["frozenRatioToFp32"]?.ToString() ?? ""}");
        }
        console.Write(table);
    }
}
