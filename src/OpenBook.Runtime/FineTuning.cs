using OpenBook.Models.FineTuning;
using OpenBook.Models.FineTuning.Export;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Runtime.Reports;

namespace OpenBook.Runtime;

/// <summary>The JSON summary of a fine-tuning run (<c>openbook finetune --json</c>, <c>raft train --json</c>).</summary>
public sealed record FineTuneSummary(
    string Adapter, int Steps, int TotalSteps, bool Interrupted, bool EarlyStopped, double? FinalLoss, double? InitialEvalLoss, double? BestEvalLoss,
    long Tokens, double Seconds, double TokensPerSecond, int TrainExamples, int ValidationExamples, int SkippedExamples, long TrainableParameters,
    long FrozenWeightBytes, long Fp32WeightBytes, string Checkpoint, string? LossCurve, string? Merged, string Method = "lora", long TrainingStateBytes = 0,
    long ActivationBytes = 0);

/// <summary>What a fine-tuning run is about to do, reported before the first step.</summary>
/// <param name="TrainExamples">Training examples after encoding.</param>
/// <param name="Skipped">Examples skipped (nothing left to train on after truncation).</param>
/// <param name="ValidationExamples">Validation examples.</param>
/// <param name="FrozenWeightBytes">Memory of the frozen weights at their training precision.</param>
/// <param name="Fp32WeightBytes">The same weights in fp32.</param>
/// <param name="Method">LoRA, QLoRA or full (every weight trained).</param>
public sealed record FineTunePlan(int TrainExamples, int Skipped, int ValidationExamples, long FrozenWeightBytes, long Fp32WeightBytes, FineTuneMethod Method = FineTuneMethod.Lora);

/// <summary>
/// A fine-tuning run end to end: train (LoRA / QLoRA / full, checkpoints, resume), write loss.png from metrics.jsonl, and
/// optionally the merged full model into OUT/merged.
/// </summary>
public static class FineTuneRun
{
    /// <summary>Runs <paramref name="options"/>; <paramref name="plan"/> hears what will be trained before the first step.</summary>
    public static FineTuneSummary Run(FineTuneOptions options, bool merge = false, Action<FineTunePlan>? plan = null,
        IProgress<TrainerProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var job = new FineTuneJob(options);
        plan?.Invoke(new FineTunePlan(job.Train.Count, job.Skipped, job.Validation.Count, job.FrozenWeightBytes, job.Fp32WeightBytes, options.Method));
        var result = job.Run(progress, cancellationToken);
        var png = LossCurve.Write(Path.Combine(options.OutputDirectory, "metrics.jsonl"), Path.Combine(options.OutputDirectory, "loss.png"));
        string? merged = null;
        if (merge && !result.Training.Interrupted && options.Method != FineTuneMethod.Full)
        {
            merged = Path.Combine(options.OutputDirectory, "merged");
            MergedModelExport.Write(options.ModelDirectory, options.OutputDirectory, merged);
        }
        var t = result.Training;
        return new FineTuneSummary(result.AdapterDirectory, t.Steps, t.TotalSteps, t.Interrupted, t.EarlyStopped, t.FinalLoss, result.InitialValidationLoss,
            t.BestEvalLoss, t.TrainedTokens, Math.Round(t.Elapsed.TotalSeconds, 2), Math.Round(t.TrainedTokens / Math.Max(1e-9, t.Elapsed.TotalSeconds), 1),
            result.TrainExamples, result.ValidationExamples, result.SkippedExamples, result.TrainableParameters, result.FrozenWeightBytes, result.Fp32WeightBytes,
            t.CheckpointDirectory, png, merged, options.Method.ToString().ToLowerInvariant(), result.TrainingStateBytes, t.ActivationBytes);
    }
}
