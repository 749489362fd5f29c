using System.CommandLine;
using OpenBook.Runtime.Reports;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Models.Formats;
using OpenBook.Models.Hub;
using OpenBook.Models.Pretraining;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook pretrain</c>: a Llama-architecture model from random init on text files or the store's documents.</summary>
internal static class PretrainCommands
{
    public static Command Pretrain()
    {
        var config = new Option<string?>("--config") { Description = "config.json of the model to train (HF layout; vocab_size must hold the tokenizer)" };
        var shape = new Option<string>("--shape") { Description = $"Model shape without --config: {string.Join(", ", PretrainShapes.All.Keys)}", DefaultValueFactory = _ => "tiny" };
        var data = new Option<string[]>("--data") { Description = "Text files (one document each) or JSONL files ({\"text\": …} per line)", AllowMultipleArgumentsPerToken = true };
        var fromStore = new Option<bool>("--from-store") { Description = "Train on the documents of --store that the access scope (--as-groups, --all-access) lets through" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Take the tokenizer of this model directory or cached Hub id" };
        var vocab = new Option<int>("--vocab") { Description = "Without --tokenizer: train a byte-level BPE tokenizer of this size on the text", DefaultValueFactory = _ => 8192 };
        var output = new Option<string>("--out") { Description = "Output model directory (model, tokenizer, checkpoint/, metrics.jsonl, loss.png)", Required = true };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence", DefaultValueFactory = _ => 256 };
        var batchTokens = new Option<int>("--batch-tokens") { Description = "Tokens per optimizer step (multiple of --seq-len)", DefaultValueFactory = _ => 16384 };
        var microTokens = new Option<int>("--micro-batch-tokens") { Description = "Tokens per forward/backward pass (the rest by gradient accumulation)", DefaultValueFactory = _ => 4096 };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Optimizer steps (default: --epochs passes over the data)" };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the data without --max-steps", DefaultValueFactory = _ => 1 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (warmup, then cosine to 0)", DefaultValueFactory = _ => 6e-4 };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps", DefaultValueFactory = _ => 100 };
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW weight decay (never on biases and norms)", DefaultValueFactory = _ => 0.1 };
        var evalFraction = new Option<double>("--eval-fraction") { Description = "Fraction of the sequences held out for the eval loss", DefaultValueFactory = _ => 0.05 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Eval loss every N steps (0 = at the end)", DefaultValueFactory = _ => 100 };
        var saveEvery = new Option<int>("--save-every") { Description = "Checkpoint every N steps (always at the end and on Ctrl-C)", DefaultValueFactory = _ => 200 };
        var seed = new Option<int>("--seed") { Description = "Seed of the weights, the held-out split and the data order", DefaultValueFactory = _ => 1 };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --out" };
        var checkpointing = new Option<bool>("--gradient-checkpointing") { Description = "Recompute each layer in backward instead of keeping its activations" };
        var peak = new Option<double?>("--peak-gflops") { Description = "Peak GFLOP/s for MFU (default: this engine's SGEMM measured at start)" };
        var cmd = new Command("pretrain", "Pretrain a Llama-architecture model from random init (full training; writes a Hugging Face model directory)")
        {
            config, shape, data, fromStore, CoreCommands.Collections, CoreCommands.AsGroups, CoreCommands.AllAccess, tokenizer, vocab, output, seqLen, batchTokens, microTokens,
            maxSteps, epochs, lr, warmup, weightDecay, evalFraction, evalEvery, saveEvery, seed, resume, checkpointing, peak,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var files = CoreCommands.Split(r.GetValue(data));
            if (files is null && !r.GetValue(fromStore)) throw new OpenBookException("pretrain: give --data FILES and/or --from-store.");
            IEnumerable<string> documents = files is null ? [] : PretrainCorpus.ReadFiles(files);
            Book? book = null;
            try
            {
                if (r.GetValue(fromStore))
                {
                    book = await CoreCommands.OpenBook(r, ct);
                    var scope = CoreCommands.Scope(r);
                    var collections = CoreCommands.Split(r.GetValue(CoreCommands.Collections));
                    if (!r.GetValue(Cli.Quiet)) Cli.Out(r).MarkupLine($"[grey]store documents: {Markup.Escape(scope.ToString())}[/]");
                    documents = documents.Concat(collections is null ? book.ReadDocumentTexts(scope) : collections.SelectMany(c => book.ReadDocumentTexts(scope, c)));
                }
                var options = new PretrainOptions
                {
                    Documents = documents, OutputDirectory = r.GetValue(output)!, Shape = r.GetValue(shape)!,
                    Config = r.GetValue(config) is { } c ? ModelConfig.Load(c) : null,
                    TokenizerDirectory = r.GetValue(tokenizer) is { } t ? ModelLocator.Resolve(t, HubOptions.FromEnvironment()) : null,
                    VocabSize = r.GetValue(vocab), SequenceLength = r.GetValue(seqLen), BatchTokens = r.GetValue(batchTokens), MicroBatchTokens = r.GetValue(microTokens),
                    MaxSteps = r.GetValue(maxSteps), Epochs = r.GetValue(epochs), LearningRate = r.GetValue(lr), WarmupSteps = r.GetValue(warmup),
                    WeightDecay = r.GetValue(weightDecay), EvalFraction = r.GetValue(evalFraction), EvalEvery = r.GetValue(evalEvery), SaveEvery = r.GetValue(saveEvery),
                    Seed = r.GetValue(seed), Resume = r.GetValue(resume), GradientCheckpointing = r.GetValue(checkpointing),
                    PeakFlops = r.GetValue(peak) is { } g ? g * 1e9 : null,
                };
                return Run(r, options, ct);
            }
            finally
            {
                if (book is not null) await book.DisposeAsync();
            }
        });
        return cmd;
    }

    private static int Run(ParseResult r, PretrainOptions options, CancellationToken ct)
    {
        var console = Cli.Out(r);
        var job = new PretrainJob(options);
        double flopsPerToken = PretrainJob.FlopsPerToken(job.Config, options.SequenceLength);
        if (!r.GetValue(Cli.Quiet))
            console.MarkupLine($"[grey]{job.Config.ParameterCount() / 1e6:F2}M parameters, vocabulary {job.Tokenizer.VocabSize}; {job.TrainBlocks} training and " +
                               $"{job.EvalBlocks} held-out sequences of {options.SequenceLength} tokens; weights + gradients + AdamW moments " +
                               $"{job.Config.ParameterCount() * 16 / 1048576.0:F1} MiB (16 B/parameter)[/]");
        PretrainResult result;
        if (Cli.ShowProgress(r))
        {
            result = null!;
            AnsiConsole.Progress().AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("pretraining", maxValue: 1);
                    result = job.Run(new SyncProgress<TrainerProgress>(p =>
                    {
                        task.MaxValue = p.TotalSteps;
                        task.Value = p.Step;
                        task.Description = p.EvalLoss is { } e
                            ? $"step {p.Step}/{p.TotalSteps} eval loss {e:F4}"
                            : $"step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} lr {p.LearningRate:0.##e0} {p.TokensPerSecond:F0} tok/s";
                    }), ct);
                });
        }
        else result = job.Run(null, ct);

        var png = LossCurve.Write(Path.Combine(options.OutputDirectory, "metrics.jsonl"), Path.Combine(options.OutputDirectory, "loss.png"), "Pretraining loss");
        var t = result.Training;
        if (r.GetValue(Cli.Json))
        {
            Cli.WriteJson(new PretrainJson(result.ModelDirectory, result.Parameters, t.Steps, t.TotalSteps, t.Interrupted, t.FinalLoss, t.LastEvalLoss, t.BestEvalLoss,
                t.TrainedTokens, result.CorpusTokens, result.TrainBlocks, result.EvalBlocks, result.TokensPerStep, result.GradientAccumulation,
                Math.Round(t.Elapsed.TotalSeconds, 2), Math.Round(result.TokensPerSecond, 1), flopsPerToken, Math.Round(result.PeakFlops / 1e9, 2), Math.Round(result.Mfu, 4),
                result.TrainingStateBytes, t.ActivationBytes, result.TokenizerSource, t.CheckpointDirectory, png));
        }
        else
        {
            console.MarkupLine(t.Interrupted
                ? $"[yellow]interrupted at step {t.Steps}/{t.TotalSteps}; checkpoint saved in {Markup.Escape(t.CheckpointDirectory)} — continue with --resume[/]"
                : $"trained {t.Steps} steps, {t.TrainedTokens:N0} tokens in {t.Elapsed.TotalSeconds:F1} s: {result.TokensPerSecond:F0} tokens/s, " +
                  $"MFU {result.Mfu:P1} of {result.PeakFlops / 1e9:F1} GFLOP/s (measured SGEMM peak unless --peak-gflops); final loss {t.FinalLoss:F4}" +
                  (t.LastEvalLoss is { } e ? $", eval loss {e:F4}" : ""));
            console.MarkupLine($"model: [green]{Markup.Escape(result.ModelDirectory)}[/] ({result.Parameters:N0} parameters; activations {t.ActivationBytes / 1048576.0:F1} MiB)");
            if (png is not null) console.MarkupLine($"loss curve: [green]{Markup.Escape(png)}[/]");
        }
        return t.Interrupted ? 130 : 0;
    }
}

/// <summary>
/// <c>openbook pretrain --json</c>: the model directory, the run's length and losses, throughput (tokens/s; MFU against
/// <c>PeakGflops</c>, the SGEMM peak measured at start unless given) and memory (weights + gradients + AdamW moments;
/// activation buffers of the largest pass).
/// </summary>
internal sealed record PretrainJson(string Model, long Parameters, int Steps, int TotalSteps, bool Interrupted, double? FinalLoss, double? EvalLoss,
    double? BestEvalLoss, long Tokens, long CorpusTokens, int TrainSequences, int EvalSequences, int TokensPerStep, int GradientAccumulation, double Seconds,
    double TokensPerSecond, double FlopsPerToken, double PeakGflops, double Mfu, long TrainingStateBytes, long ActivationBytes, string Tokenizer,
    string Checkpoint, string? LossCurve);
