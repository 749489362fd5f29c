using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.Formats;

using OpenBook.Shared;

namespace OpenBook.Models.FineTuning.Trainer;

/// <summary>Hyper-parameters of a training run, LoRA or full (names and defaults close to HF <c>TrainingArguments</c>).</summary>
public sealed record TrainerOptions
{
    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>Stop after this many optimizer steps (null = all epochs).</summary>
    public int? MaxSteps { get; init; }
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 2e-4;
    /// <summary>Schedule after warmup.</summary>
    public LrSchedule Schedule { get; init; } = LrSchedule.Cosine;
    /// <summary>Warmup steps (linear from 0); when 0, <see cref="WarmupRatio"/> of the total is used.</summary>
    public int WarmupSteps { get; init; }
    /// <summary>Warmup as a fraction of the total steps (used when <see cref="WarmupSteps"/> is 0).</summary>
    public double WarmupRatio { get; init; }
    /// <summary>AdamW decoupled weight decay.</summary>
    public double WeightDecay { get; init; }
    /// <summary>AdamW β1.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>AdamW β2.</summary>
    public double Beta2 { get; init; } = 0.999;
    /// <summary>AdamW ε.</summary>
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Global gradient-norm clip (0 = off).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Micro-batches per optimizer step.</summary>
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>Evaluate the validation loss every N optimizer steps (0 = at the end of each epoch only, when validation data exists).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Stop when the validation loss has not improved for this many evaluations (0 = never).</summary>
    public int EarlyStoppingPatience { get; init; }
    /// <summary>Save a checkpoint every N optimizer steps (0 = only at the end and on interruption).</summary>
    public int SaveEvery { get; init; }
    /// <summary>Keep only each layer's input and recompute the layer during backward (less activation memory, ~⅓ more compute).</summary>
    public bool GradientCheckpointing { get; init; }
    /// <summary>Seed of dropout masks (and, by the caller, of data order and adapter init).</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Checks ranges, naming the bad option.</summary>
    public TrainerOptions Validate()
    {
        if (Epochs < 1) throw new OpenBookException($"--epochs must be ≥ 1 (got {Epochs}).");
        if (MaxSteps is < 1) throw new OpenBookException($"--max-steps must be ≥ 1 (got {MaxSteps}).");
        if (LearningRate <= 0) throw new OpenBookException($"--lr must be > 0 (got {LearningRate}).");
        if (GradientAccumulation < 1) throw new OpenBookException($"--grad-accum must be ≥ 1 (got {GradientAccumulation}).");
        if (WarmupSteps < 0 || WarmupRatio is < 0 or >= 1) throw new OpenBookException("--warmup must be ≥ 0 steps or a ratio in [0, 1).");
        return this;
    }
}

/// <summary>Training data by epoch: the same (seed, epoch) must always give the same batches (this is what makes resume exact).</summary>
public interface ITrainingBatches
{
    /// <summary>Micro-batches of epoch <paramref name="epoch"/>, in order.</summary>
    IReadOnlyList<SequenceBatch> Epoch(int epoch);
}

/// <summary>Progress after each optimizer step.</summary>
public sealed record TrainerProgress(int Step, int TotalSteps, int Epoch, double Loss, double LearningRate, double TokensPerSecond, TimeSpan Elapsed, double? EvalLoss);

/// <summary>How a run ended.</summary>
public sealed record TrainingResult(int Steps, int TotalSteps, double? FinalLoss, double? BestEvalLoss, bool Interrupted, bool EarlyStopped, long TrainedTokens, TimeSpan Elapsed, string CheckpointDirectory)
{
    /// <summary>Activation and scratch buffers the training graph held at the end (bytes; the largest pass's).</summary>
    public long ActivationBytes { get; init; }
    /// <summary>Loss of the last validation, when there was one.</summary>
    public double? LastEvalLoss { get; init; }
}

/// <summary>
/// What a <see cref="ModelTrainer"/> trains: LoRA adapters on a frozen model (<see cref="Lora.LoraModel"/>) or every
/// weight of the model (<see cref="Full.FullModel"/>).
/// </summary>
public interface ITrainableModel
{
    /// <summary>The model the training graph runs.</summary>
    Architectures.LlamaForCausalLM Model { get; }
    /// <summary>Gradient buffers of the model's own weights (null when they are frozen, as with LoRA).</summary>
    WeightGradients? WeightGradients { get; }
    /// <summary>Trainable parameters (values).</summary>
    long TrainableParameters { get; }
    /// <summary>Every trainable tensor with its gradient under a stable name, in a fixed order (what the optimizer updates).</summary>
    IReadOnlyList<Parameter> Parameters();
    /// <summary>Sets every gradient to zero.</summary>
    void ZeroGrad();
    /// <summary>Writes the trained weights (adapter directory or model directory) into <paramref name="directory"/>.</summary>
    void Save(string directory);
    /// <summary>Reads back what <see cref="Save"/> wrote (resume).</summary>
    void Load(string directory);
}

/// <summary>
/// Trains an <see cref="ITrainableModel"/> (LoRA adapters, or every weight): micro-batches through <see cref="LlamaTrainingGraph"/>,
/// gradient accumulation, clipping, AdamW with warmup + cosine/linear schedule, periodic validation loss, early
/// stopping, checkpoints (trained weights + optimizer moments + step/epoch/data position; dropout masks derive from the seed
/// and the micro-batch index, so no RNG state is lost) and exact resume. Writes <c>metrics.jsonl</c>.
/// Cancellation finishes nothing half-way: the state of the last completed optimizer step is checkpointed.
/// </summary>
public sealed class ModelTrainer
{
    /// <summary>Sub-directory holding the resumable checkpoint.</summary>
    public const string CheckpointDirectoryName = "checkpoint";

    private readonly ITrainableModel _lora;
    private readonly ITrainingBatches _train;
    private readonly IReadOnlyList<SequenceBatch> _validation;
    private readonly TrainerOptions _o;
    private readonly string _outDir;
    private readonly LlamaTrainingGraph _graph;
    private readonly AdamW _optimizer;
    private readonly int _microPerEpoch;
    private State _state = new();
    private double? _lastEval;

    /// <summary>Prepares a run writing into <paramref name="outputDirectory"/>.</summary>
    public ModelTrainer(ITrainableModel model, ITrainingBatches train, IReadOnlyList<SequenceBatch> validation, TrainerOptions options, string outputDirectory)
    {
        _lora = model; _train = train; _validation = validation; _o = options.Validate(); _outDir = outputDirectory;
        _graph = new LlamaTrainingGraph(model.Model, model.WeightGradients, options.GradientCheckpointing);
        _optimizer = new AdamW(model.Parameters(), options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay);
        _microPerEpoch = train.Epoch(0).Count;
        if (_microPerEpoch == 0) throw new OpenBookException("The training set has no usable example (nothing to learn from).");
        int perEpoch = (_microPerEpoch + _o.GradientAccumulation - 1) / _o.GradientAccumulation;
        TotalSteps = Math.Min(_o.MaxSteps ?? int.MaxValue, perEpoch * _o.Epochs);
        WarmupSteps = _o.WarmupSteps > 0 ? _o.WarmupSteps : (int)Math.Ceiling(_o.WarmupRatio * TotalSteps);
    }

    /// <summary>Optimizer steps the run will take.</summary>
    public int TotalSteps { get; }
    /// <summary>Warmup steps.</summary>
    public int WarmupSteps { get; }
    /// <summary>Optimizer steps done so far (after a resume: including the earlier run's).</summary>
    public int Step => _state.Step;
    /// <summary>The optimizer (moments, step count).</summary>
    public AdamW Optimizer => _optimizer;

    /// <summary>Where the resumable checkpoint lives.</summary>
    public string CheckpointDirectory => Path.Combine(_outDir, CheckpointDirectoryName);

    private sealed class State
    {
        public int Step, Epoch, MicroIndex, BadEvals;
        public double? BestEvalLoss;
        public long Tokens;
        public double ElapsedSeconds;
    }

    /// <summary>Loads the checkpoint in the output directory (weights, optimizer, position); throws when there is none or it does not fit.</summary>
    public void Resume()
    {
        var dir = CheckpointDirectory;
        var statePath = Path.Combine(dir, "trainer_state.json");
        if (!File.Exists(statePath)) throw new OpenBookException($"--resume: no checkpoint in {dir} (trainer_state.json not found).");
        // trainer_state.json is read as untrusted input: every field type- and range-checked, errors name the field.
        var json = JsonFields.Load(statePath);
        int microPerEpoch = json.Int("micro_batches_per_epoch", null, 1), seed = json.Int("seed", null);
        int globalStep = json.Int("global_step", null, 0), adamStep = json.Int("adam_step", null, 0);
        int epoch = json.Int("epoch", null, 0), microIndex = json.Int("micro_index", null, 0), badEvals = json.Int("bad_evals", null, 0);
        double? bestEvalLoss = json.OptionalNumber("best_eval_loss", min: 0);
        long tokens = json.Long("tokens", null, 0);
        double elapsed = json.Number("elapsed_seconds", null, min: 0);
        if (json.Has("learning_rate")) json.Number("learning_rate", null, positive: true);
        if (json.Has("total_steps")) json.Int("total_steps", null, 0);
        if (json.Has("warmup_steps")) json.Int("warmup_steps", null, 0);
        if (microIndex > microPerEpoch) throw json.Error("micro_index", $"must be at most micro_batches_per_epoch ({microPerEpoch}), found {microIndex}");
        // The data and seed must be the same (they fix the batch order and dropout masks); the length of the run may
        // change (more epochs, --max-steps), in which case the schedule continues with the new total, as in HF Trainer.
        if (microPerEpoch != _microPerEpoch || seed != _o.Seed)
            throw new OpenBookException($"--resume: {statePath} was written for different data or options (micro-batches per epoch {microPerEpoch}, seed {seed}; now {_microPerEpoch}, {_o.Seed}).");
        if (globalStep > TotalSteps)
            throw new OpenBookException($"--resume: the checkpoint is at step {globalStep}, past the {TotalSteps} steps of this run.");
        _lora.Load(dir);
        using (var moments = SafetensorsFile.Open(Path.Combine(dir, "optimizer.safetensors")))
            for (int k = 0; k < _optimizer.Parameters.Count; k++)
            {
                var p = _optimizer.Parameters[k];
                Copy(moments.ReadFloat32("exp_avg." + p.Name), _optimizer.M[k], p.Name);
                Copy(moments.ReadFloat32("exp_avg_sq." + p.Name), _optimizer.V[k], p.Name);
            }
        _optimizer.Step = adamStep;
        _state = new State
        {
            Step = globalStep, Epoch = epoch, MicroIndex = microIndex, BadEvals = badEvals,
            BestEvalLoss = bestEvalLoss, Tokens = tokens, ElapsedSeconds = elapsed,
        };
        _lora.ZeroGrad();

        static void Copy(float[] src, float[] dst, string name)
        {
            if (src.Length != dst.Length) throw new OpenBookException($"--resume: checkpoint tensor {name} has {src.Length} values, the model {dst.Length}.");
            src.CopyTo(dst, 0);
        }
    }

    /// <summary>Runs to the end (or to cancellation / early stop), checkpointing as configured and at the end.</summary>
    public TrainingResult Run(IProgress<TrainerProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(_outDir);
        var metricsPath = Path.Combine(_outDir, "metrics.jsonl");
        if (_state.Step == 0 && File.Exists(metricsPath)) File.Delete(metricsPath);
        else if (_state.Step > 0) TruncateMetrics(metricsPath, _state.Step);
        using var metrics = new StreamWriter(metricsPath, append: true);
        var clock = Stopwatch.StartNew();
        double startElapsed = _state.ElapsedSeconds;
        long startTokens = _state.Tokens;
        double? lastLoss = null;
        bool interrupted = false, earlyStopped = false;
        int accum = _o.GradientAccumulation;
        _lora.ZeroGrad();
        while (_state.Step < TotalSteps && !earlyStopped)
        {
            var batches = _train.Epoch(_state.Epoch);
            if (_state.MicroIndex >= batches.Count)
            {
                _state.Epoch++;
                _state.MicroIndex = 0;
                if (_validation.Count > 0 && _o.EvalEvery == 0) earlyStopped = Evaluate(metrics, progress, clock, startElapsed, startTokens, lastLoss ?? 0);
                continue;
            }
            if (cancellationToken.IsCancellationRequested)
            {
                interrupted = true;
                break;
            }
            int count = Math.Min(accum, batches.Count - _state.MicroIndex);
            double lossSum = 0;
            for (int i = 0; i < count; i++)
            {
                var batch = batches[_state.MicroIndex + i];
                double w = batch.Targets.Sum(t => (double)t);
                if (w == 0) continue;
                int globalMicro = _state.Epoch * _microPerEpoch + _state.MicroIndex + i;
                var pass = _graph.ForwardBackward(batch, (float)(1.0 / (w * count)), Seeds.Mix(_o.Seed, globalMicro));
                lossSum += pass.LossSum / w / count;
                _state.Tokens += batch.RealTokens;
            }
            double gradNorm = _optimizer.ClipGradients(_o.MaxGradNorm);
            double lr = _o.LearningRate * LearningRate.Factor(_o.Schedule, _state.Step, WarmupSteps, TotalSteps);
            _optimizer.Update(lr);
            _lora.ZeroGrad();
            _state.Step++;
            _state.MicroIndex += count;
            lastLoss = lossSum;
            double elapsed = startElapsed + clock.Elapsed.TotalSeconds;
            double tps = (_state.Tokens - startTokens) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            WriteMetric(metrics, new JsonObject
            {
                ["step"] = _state.Step, ["epoch"] = Math.Round(_state.Epoch + (double)_state.MicroIndex / _microPerEpoch, 4), ["loss"] = Math.Round(lossSum, 6),
                ["lr"] = lr, ["grad_norm"] = Math.Round(gradNorm, 6), ["tokens"] = _state.Tokens, ["tokens_per_second"] = Math.Round(tps, 1), ["elapsed_s"] = Math.Round(elapsed, 3),
            });
            progress?.Report(new TrainerProgress(_state.Step, TotalSteps, _state.Epoch, lossSum, lr, tps, TimeSpan.FromSeconds(elapsed), null));
            if (_validation.Count > 0 && _o.EvalEvery > 0 && _state.Step % _o.EvalEvery == 0)
                earlyStopped = Evaluate(metrics, progress, clock, startElapsed, startTokens, lossSum);
            if (_o.SaveEvery > 0 && _state.Step % _o.SaveEvery == 0) SaveCheckpoint(startElapsed + clock.Elapsed.TotalSeconds);
        }
        if (!interrupted && !earlyStopped && _validation.Count > 0 && (_o.EvalEvery == 0 || _state.Step % _o.EvalEvery != 0))
            Evaluate(metrics, progress, clock, startElapsed, startTokens, lastLoss ?? 0);
        _state.ElapsedSeconds = startElapsed + clock.Elapsed.TotalSeconds;
        SaveCheckpoint(_state.ElapsedSeconds);
        return new TrainingResult(_state.Step, TotalSteps, lastLoss, _state.BestEvalLoss, interrupted, earlyStopped, _state.Tokens,
            TimeSpan.FromSeconds(_state.ElapsedSeconds), CheckpointDirectory) { ActivationBytes = _graph.ArenaBytes, LastEvalLoss = _lastEval };
    }

    /// <summary>Mean validation loss per target token.</summary>
    public double ValidationLoss()
    {
        double loss = 0, weight = 0;
        foreach (var b in _validation)
        {
            var p = _graph.Loss(b);
            loss += p.LossSum;
            weight += p.WeightSum;
        }
        return weight > 0 ? loss / weight : double.NaN;
    }

    private bool Evaluate(StreamWriter metrics, IProgress<TrainerProgress>? progress, Stopwatch clock, double startElapsed, long startTokens, double loss)
    {
        double eval = ValidationLoss();
        _lastEval = eval;
        WriteMetric(metrics, new JsonObject { ["step"] = _state.Step, ["epoch"] = _state.Epoch, ["eval_loss"] = Math.Round(eval, 6) });
        double elapsed = startElapsed + clock.Elapsed.TotalSeconds;
        progress?.Report(new TrainerProgress(_state.Step, TotalSteps, _state.Epoch, loss, 0, (_state.Tokens - startTokens) / Math.Max(1e-9, clock.Elapsed.TotalSeconds), TimeSpan.FromSeconds(elapsed), eval));
        if (_state.BestEvalLoss is null || eval < _state.BestEvalLoss)
        {
            _state.BestEvalLoss = eval;
            _state.BadEvals = 0;
            _lora.Save(Path.Combine(_outDir, "best"));
            return false;
        }
        _state.BadEvals++;
        return _o.EarlyStoppingPatience > 0 && _state.BadEvals >= _o.EarlyStoppingPatience;
    }

    private static void WriteMetric(StreamWriter w, JsonObject o)
    {
        w.WriteLine(o.ToJsonString());
        w.Flush();
    }

    /// <summary>After a resume, drops metric lines logged after the checkpoint's step (they will be logged again).</summary>
    private static void TruncateMetrics(string path, int step)
    {
        if (!File.Exists(path)) return;
        var keep = File.ReadAllLines(path).Where(l => JsonNode.Parse(l)?["step"] is { } s && (int)s <= step).ToList();
        File.WriteAllLines(path, keep);
    }

    /// <summary>Writes the checkpoint to a temporary directory and swaps it into place.</summary>
    private void SaveCheckpoint(double elapsedSeconds)
    {
        var dir = CheckpointDirectory;
        var tmp = dir + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        _lora.Save(tmp);
        var moments = new List<SafetensorsTensor>();
        for (int k = 0; k < _optimizer.Parameters.Count; k++)
        {
            var name = _optimizer.Parameters[k].Name;
            moments.Add(SafetensorsTensor.F32("exp_avg." + name, _optimizer.M[k], _optimizer.M[k].Length));
            moments.Add(SafetensorsTensor.F32("exp_avg_sq." + name, _optimizer.V[k], _optimizer.V[k].Length));
        }
        SafetensorsWriter.Write(Path.Combine(tmp, "optimizer.safetensors"), moments);
        var state = new JsonObject
        {
            ["global_step"] = _state.Step, ["epoch"] = _state.Epoch, ["micro_index"] = _state.MicroIndex, ["adam_step"] = _optimizer.Step,
            ["bad_evals"] = _state.BadEvals, ["best_eval_loss"] = _state.BestEvalLoss, ["tokens"] = _state.Tokens, ["elapsed_seconds"] = elapsedSeconds,
            ["micro_batches_per_epoch"] = _microPerEpoch, ["total_steps"] = TotalSteps, ["seed"] = _o.Seed,
            ["learning_rate"] = _o.LearningRate, ["schedule"] = _o.Schedule.ToString().ToLowerInvariant(), ["warmup_steps"] = WarmupSteps,
        };
        File.WriteAllText(Path.Combine(tmp, "trainer_state.json"), state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var old = dir + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(dir)) Directory.Move(dir, old);
        Directory.Move(tmp, dir);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }
}
