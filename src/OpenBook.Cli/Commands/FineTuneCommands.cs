using System.CommandLine;
using System.Globalization;
using OpenBook.Runtime;
using OpenBook.Models.FineTuning;
using OpenBook.Models.FineTuning.Datasets;
using OpenBook.Models.FineTuning.Export;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Models.Hub;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook finetune</c> (LoRA / QLoRA on chat data) and <c>openbook merge</c> (adapter → full HF model).</summary>
internal static class FineTuneCommands
{
    /// <summary>The options of a fine-tuning run, shared with <c>raft train</c>.</summary>
    internal sealed class RunOptions
    {
        public readonly Option<string> Model = new("--model") { Description = "Base model: a local directory or a cached Hub id (needs a chat template)", Required = true };
        public readonly Option<string?> Val = new("--val") { Description = "Validation data (same formats) for eval loss, early stopping and best/" };
        public readonly Option<FineTuneMethod> Method = new("--method") { Description = "lora (base as stored), qlora (NF4 base) or full (every weight; writes a full model directory)", DefaultValueFactory = _ => FineTuneMethod.Lora };
        public readonly Option<int> Rank = new("--rank") { Description = "LoRA rank r", DefaultValueFactory = _ => 16 };
        public readonly Option<double?> Alpha = new("--alpha") { Description = "lora_alpha (default 2·rank)" };
        public readonly Option<double> Dropout = new("--dropout") { Description = "LoRA dropout", DefaultValueFactory = _ => 0.05 };
        public readonly Option<string> Targets = new("--targets") { Description = "Projections to adapt: all-linear or a list of q,k,v,o,gate,up,down", DefaultValueFactory = _ => "all-linear" };
        public readonly Option<bool> RsLora = new("--rslora") { Description = "Rank-stabilised scaling alpha/√r" };
        public readonly Option<int> Epochs = new("--epochs") { Description = "Passes over the data", DefaultValueFactory = _ => 3 };
        public readonly Option<int?> MaxSteps = new("--max-steps") { Description = "Stop after N optimizer steps" };
        public readonly Option<double> Lr = new("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => 2e-4 };
        public readonly Option<LrSchedule> Schedule = new("--schedule") { Description = "cosine, linear or constant (after warmup)", DefaultValueFactory = _ => LrSchedule.Cosine };
        public readonly Option<double> Warmup = new("--warmup") { Description = "Warmup: steps when ≥ 1, else a fraction of the steps", DefaultValueFactory = _ => 0.03 };
        public readonly Option<double> WeightDecay = new("--weight-decay") { Description = "AdamW weight decay", DefaultValueFactory = _ => 0.0 };
        public readonly Option<double> MaxGradNorm = new("--max-grad-norm") { Description = "Gradient clipping (0 = off)", DefaultValueFactory = _ => 1.0 };
        public readonly Option<int> BatchSize = new("--batch-size") { Description = "Sequences per micro-batch", DefaultValueFactory = _ => 1 };
        public readonly Option<int> GradAccum = new("--grad-accum") { Description = "Micro-batches per optimizer step", DefaultValueFactory = _ => 4 };
        public readonly Option<int> MaxLength = new("--max-length") { Description = "Longest sequence in tokens", DefaultValueFactory = _ => 1024 };
        public readonly Option<TruncationPolicy> Truncation = new("--truncation") { Description = "right (keep the start), left (keep the end) or drop", DefaultValueFactory = _ => TruncationPolicy.Right };
        public readonly Option<bool> Packing = new("--packing") { Description = "Pack several examples per sequence (attention stays within each example)" };
        public readonly Option<bool> GroupByLength = new("--group-by-length") { Description = "Batch examples of similar length together" };
        public readonly Option<int> EvalEvery = new("--eval-every") { Description = "Validation loss every N steps (0 = every epoch)", DefaultValueFactory = _ => 0 };
        public readonly Option<int> EarlyStopping = new("--early-stopping") { Description = "Stop after N evaluations without improvement (0 = off)", DefaultValueFactory = _ => 0 };
        public readonly Option<int> SaveEvery = new("--save-every") { Description = "Checkpoint every N steps (always at the end and on Ctrl-C)", DefaultValueFactory = _ => 50 };
        public readonly Option<int> Seed = new("--seed") { Description = "Seed of adapter init, data order and dropout (same seed → same weights)", DefaultValueFactory = _ => 42 };
        public readonly Option<bool> Resume = new("--resume") { Description = "Continue from the checkpoint in --out" };
        public readonly Option<bool> Merge = new("--merge") { Description = "Also write the merged full model to OUT/merged" };
        public readonly Option<bool> GradientCheckpointing = new("--gradient-checkpointing") { Description = "Recompute each layer in backward instead of keeping its activations (less memory)" };
        public readonly Option<bool> NoEmbeddingDecay = new("--no-embedding-decay") { Description = "--method full: no weight decay on the embedding (biases and norms never get any)" };

        public IEnumerable<Option> All() =>
        [
            Model, Val, Method, Rank, Alpha, Dropout, Targets, RsLora, Epochs, MaxSteps, Lr, Schedule, Warmup, WeightDecay, MaxGradNorm, BatchSize, GradAccum,
            MaxLength, Truncation, Packing, GroupByLength, EvalEvery, EarlyStopping, SaveEvery, Seed, Resume, Merge, GradientCheckpointing, NoEmbeddingDecay,
        ];

        public FineTuneOptions Build(ParseResult r, string dataPath, string outDir, AdapterPromptFormat promptFormat, DatasetFormat format = DatasetFormat.Auto, CsvColumns? columns = null)
        {
            var spec = r.GetValue(Model)!;
            var dir = ModelLocator.Resolve(spec, HubOptions.FromEnvironment());
            int rank = r.GetValue(Rank);
            double warmup = r.GetValue(Warmup);
            return new FineTuneOptions
            {
                // A local directory is recorded as a full path, so the adapter finds its base from any working directory.
                ModelDirectory = dir, BaseModelName = Directory.Exists(spec) ? Path.GetFullPath(spec) : spec, DataPath = dataPath, ValidationPath = r.GetValue(Val), OutputDirectory = outDir,
                Format = format, Columns = columns, PromptFormat = promptFormat,
                Method = r.GetValue(Method),
                Lora = new LoraConfig
                {
                    Rank = rank, Alpha = r.GetValue(Alpha) ?? 2.0 * rank, Dropout = r.GetValue(Dropout), TargetModules = LoraConfig.ParseTargets(r.GetValue(Targets)!),
                    UseRsLora = r.GetValue(RsLora),
                }.Validate(),
                Trainer = new TrainerOptions
                {
                    Epochs = r.GetValue(Epochs), MaxSteps = r.GetValue(MaxSteps), LearningRate = r.GetValue(Lr),
                    Schedule = r.GetValue(Schedule),
                    WarmupSteps = warmup >= 1 ? (int)warmup : 0, WarmupRatio = warmup < 1 ? warmup : 0, WeightDecay = r.GetValue(WeightDecay),
                    MaxGradNorm = r.GetValue(MaxGradNorm), GradientAccumulation = r.GetValue(GradAccum), EvalEvery = r.GetValue(EvalEvery),
                    EarlyStoppingPatience = r.GetValue(EarlyStopping), SaveEvery = r.GetValue(SaveEvery), Seed = r.GetValue(Seed),
                    GradientCheckpointing = r.GetValue(GradientCheckpointing),
                }.Validate(),
                BatchSize = r.GetValue(BatchSize) >= 1 ? r.GetValue(BatchSize) : throw new OpenBookException("--batch-size must be ≥ 1."),
                MaxLength = r.GetValue(MaxLength) >= 8 ? r.GetValue(MaxLength) : throw new OpenBookException("--max-length must be ≥ 8."),
                Truncation = r.GetValue(Truncation),
                Packing = r.GetValue(Packing), GroupByLength = r.GetValue(GroupByLength), Resume = r.GetValue(Resume), DecayEmbeddings = !r.GetValue(NoEmbeddingDecay),
            };
        }
    }

    public static Command FineTune()
    {
        var o = new RunOptions();
        var data = new Option<string>("--data") { Description = "Training data: OpenAI chat JSONL, prompt/completion JSONL, instruction JSONL or CSV", Required = true };
        var output = new Option<string>("--out") { Description = "Output directory (adapter, checkpoint/, metrics.jsonl, loss.png)", DefaultValueFactory = _ => "adapter" };
        var format = DatasetFormatOption();
        var columns = new Option<string?>("--columns") { Description = "CSV columns: user=…,assistant=…[,system=…]" };
        var cmd = new Command("finetune", "Train a LoRA or QLoRA adapter on chat data (loss on assistant turns), saved in PEFT format — or every weight (--method full), saved as a model directory") { data, output, format, columns };
        foreach (var opt in o.All()) cmd.Options.Add(opt);
        Cli.SetHandler(cmd, (r, ct) =>
        {
            var options = o.Build(r, r.GetValue(data)!, r.GetValue(output)!, AdapterPromptFormat.Chat, r.GetValue(format), r.GetValue(columns) is { } c ? CsvColumns.Parse(c) : null);
            return Task.FromResult(Run(r, (plan, progress) => FineTuneRun.Run(options, r.GetValue(o.Merge), plan, progress, ct)));
        });
        return cmd;
    }

    /// <summary><c>--format</c>: a dataset layout, parsed by <see cref="TrainingData.ParseFormat"/> (auto, chat, prompt-completion, instruction, csv).</summary>
    public static Option<DatasetFormat> DatasetFormatOption() => new("--format")
    {
        Description = "auto, chat, prompt-completion, instruction or csv", DefaultValueFactory = _ => DatasetFormat.Auto,
        CustomParser = a =>
        {
            try { return TrainingData.ParseFormat(a.Tokens.Single().Value); }
            catch (Models.OpenBookException e) { a.AddError(e.Message); return DatasetFormat.Auto; }
        },
    };

    /// <summary>Runs a training with a progress bar (through <paramref name="train"/>), prints or emits JSON.</summary>
    internal static int Run(ParseResult r, Func<Action<FineTunePlan>, IProgress<TrainerProgress>?, FineTuneSummary> train)
    {
        var console = Cli.Out(r);
        void Plan(FineTunePlan p)
        {
            if (!r.GetValue(Cli.Quiet) && !r.GetValue(Cli.Json))
                console.MarkupLine($"[grey]{p.TrainExamples} training examples ({p.Skipped} skipped), {p.ValidationExamples} validation; " +
                                   (p.Method == FineTuneMethod.Full
                                       ? $"every weight trained: {p.Fp32WeightBytes / 1048576.0:F1} MiB fp32, ×4 with gradients and AdamW moments[/]"
                                       : $"frozen weights {p.FrozenWeightBytes / 1048576.0:F1} MiB (fp32 would be {p.Fp32WeightBytes / 1048576.0:F1} MiB)[/]"));
        }
        FineTuneSummary t;
        if (Cli.ShowProgress(r))
        {
            t = null!;
            AnsiConsole.Progress().AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: 1);
                    t = train(Plan, new SyncProgress<TrainerProgress>(p =>
                    {
                        task.MaxValue = p.TotalSteps;
                        task.Value = p.Step;
                        task.Description = p.EvalLoss is { } e
                            ? $"step {p.Step}/{p.TotalSteps} eval loss {e:F4}"
                            : $"step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} lr {p.LearningRate:0.##e0} {p.TokensPerSecond:F0} tok/s";
                    }));
                });
        }
        else t = train(Plan, null);

        if (r.GetValue(Cli.Json)) Cli.WriteJson(t);
        else
        {
            console.MarkupLine(t.Interrupted
                ? $"[yellow]interrupted at step {t.Steps}/{t.TotalSteps}; checkpoint saved in {Markup.Escape(t.Checkpoint)} — continue with --resume[/]"
                : $"trained {t.Steps} steps{(t.EarlyStopped ? " (early stop)" : "")}, {t.Tokens:N0} tokens in {t.Seconds:F1} s " +
                  $"({t.TokensPerSecond:F0} tokens/s); final loss {t.FinalLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "–"}" +
                  (t.BestEvalLoss is { } b ? $", best eval loss {b:F4}" + (t.InitialEvalLoss is { } i ? $" (from {i:F4})" : "") : ""));
            console.MarkupLine(t.Method == "full"
                ? $"model: [green]{Markup.Escape(t.Adapter)}[/] ({t.TrainableParameters:N0} parameters trained; weights + gradients + AdamW moments " +
                  $"{t.TrainingStateBytes / 1048576.0:F1} MiB = 16 B/parameter, activations {t.ActivationBytes / 1048576.0:F1} MiB)"
                : $"adapter: [green]{Markup.Escape(t.Adapter)}[/] ({t.TrainableParameters:N0} trainable parameters, PEFT format)");
            if (t.LossCurve is not null) console.MarkupLine($"loss curve: [green]{Markup.Escape(t.LossCurve)}[/]");
            if (t.Merged is not null) console.MarkupLine($"merged model: [green]{Markup.Escape(t.Merged)}[/]");
        }
        return t.Interrupted ? 130 : 0;
    }

    public static Command Merge()
    {
        var model = new Option<string>("--model") { Description = "Base model directory or cached Hub id", Required = true };
        var adapter = new Option<string>("--adapter") { Description = "LoRA adapter directory (PEFT format)", Required = true };
        var output = new Option<string>("--out") { Description = "Directory for the merged model", Required = true };
        var cmd = new Command("merge", "Merge a LoRA adapter into its base model and write a full Hugging Face model directory") { model, adapter, output };
        Cli.SetHandler(cmd, (r, _) =>
        {
            var dir = ModelLocator.Resolve(r.GetValue(model)!, HubOptions.FromEnvironment());
            var files = MergedModelExport.Write(dir, r.GetValue(adapter)!, r.GetValue(output)!);
            if (r.GetValue(Cli.Json)) Cli.WriteJson(new MergeJson(r.GetValue(output)!, files));
            else foreach (var f in files) Cli.Out(r).MarkupLine($"wrote [green]{Markup.Escape(f)}[/]");
            return Task.FromResult(0);
        });
        return cmd;
    }
}

/// <summary><c>openbook merge --json</c>.</summary>
internal sealed record MergeJson(string Output, IReadOnlyList<string> Files);
