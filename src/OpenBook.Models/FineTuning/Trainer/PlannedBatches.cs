using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Datasets;

namespace OpenBook.Models.FineTuning.Trainer;

/// <summary>
/// Tokenized examples as the trainer's data source: each epoch is <see cref="BatchPlanner.Plan"/>'s batches for
/// (seed, epoch) so the same epoch always gives the same batches (exact resume).
/// The last few epochs asked for are kept, since the trainer asks for the same epoch once per step.
/// </summary>
public sealed class PlannedBatches(IReadOnlyList<TokenizedExample> examples, BatchOptions options) : ITrainingBatches
{
    private readonly Dictionary<int, IReadOnlyList<SequenceBatch>> _cache = [];

    /// <summary>How batches are made.</summary>
    public BatchOptions Options { get; } = options.Validate();

    /// <inheritdoc />
    public IReadOnlyList<SequenceBatch> Epoch(int epoch)
    {
        lock (_cache)
        {
            if (_cache.TryGetValue(epoch, out var hit)) return hit;
            if (_cache.Count > 2) _cache.Clear();
            return _cache[epoch] = BatchPlanner.Plan(examples, Options, epoch);
        }
    }
}

