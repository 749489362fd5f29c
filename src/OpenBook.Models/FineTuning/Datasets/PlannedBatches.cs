using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Trainer;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>
/// Tokenized examples as the trainer's data source: each epoch is <see cref="BatchPlanner.Plan"/>'s batches for
/// (seed, epoch) as <see cref="SequenceBatch"/>es, so the same epoch always gives the same batches (exact resume).
/// </summary>
public sealed class PlannedBatches(IReadOnlyList<TokenizedExample> examples, BatchOptions options) : ITrainingBatches
{
    /// <summary>How batches are made.</summary>
    public BatchOptions Options { get; } = options.Validate();

    /// <inheritdoc />
    public IReadOnlyList<SequenceBatch> Epoch(int epoch) =>
        BatchPlanner.Plan(examples, Options, epoch).Select(b => b.ToSequenceBatch()).ToList();
}

/// <summary>Conversions of planned batches.</summary>
public static class TrainingBatchExtensions
{
    /// <summary>The batch as the training graph's input (same arrays, not copied).</summary>
    public static SequenceBatch ToSequenceBatch(this TrainingBatch b) => new(b.Batch, b.Seq, b.Tokens, b.Targets, b.Positions, b.Segments);
}
