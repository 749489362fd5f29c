using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Datasets;

using OpenBook.Models.FineTuning.Trainer;

namespace OpenBook.Models.Tests.FineTuning.Datasets;

public class PackedBatchLossTests
{
    /// <summary>Random examples over the tiny models' 40-token vocabulary, targets on the second half.</summary>
    private static List<TokenizedExample> Examples(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(k =>
        {
            int n = rng.Next(3, 20);
            var ids = Enumerable.Range(0, n).Select(_ => rng.Next(1, 40)).ToArray();
            var targets = Enumerable.Range(0, n).Select(t => t > 0 && t >= n / 2 ? 1f : 0f).ToArray();
            return new TokenizedExample(ids, targets, k + 1, false) { FullLength = n };
        }).ToList();
    }

    [Fact]
    public void Epochs_are_the_planner_batches_as_sequence_batches()
    {
        var data = Examples(30, 1);
        var o = new BatchOptions { BatchSize = 4, MaxLength = 48, Packing = true, Seed = 3 };
        var source = new PlannedBatches(data, o);
        var planned = BatchPlanner.Plan(data, o, 1);
        var epoch = source.Epoch(1);
        Assert.Same(epoch, source.Epoch(1));
        Assert.Equal(planned.Count, epoch.Count);
        for (int i = 0; i < planned.Count; i++)
        {
            epoch[i].Validate();
            Assert.Equal((planned[i].Batch, planned[i].Seq), (epoch[i].Batch, epoch[i].Seq));
            Assert.Equal(planned[i].Tokens, epoch[i].Tokens);
            Assert.Equal(planned[i].Targets, epoch[i].Targets);
            Assert.Equal(planned[i].Positions, epoch[i].Positions);
            Assert.Equal(planned[i].Segments, epoch[i].Segments);
        }
    }

    [Fact]
    public void A_packed_batch_has_the_same_loss_as_its_examples_one_by_one()
    {
        // The contract between the planner and the training graph: positions restart and attention stays inside each
        // segment, so packing changes nothing but speed.
        var graph = new LlamaTrainingGraph(TinyModels.Model(TinyModels.Config()));
        var data = Examples(24, 2);
        var packed = BatchPlanner.Plan(data, new BatchOptions { BatchSize = 2, MaxLength = 60, Packing = true, Seed = 9 }, 0);
        var single = BatchPlanner.Plan(data, new BatchOptions { BatchSize = 1, MaxLength = 60, Seed = 9 }, 0);
        Assert.True(packed.Count < single.Count);
        double packedSum = 0, singleSum = 0, packedWeight = 0, singleWeight = 0;
        foreach (var b in packed) { var l = graph.Loss(b); packedSum += l.LossSum; packedWeight += l.WeightSum; }
        foreach (var b in single) { var l = graph.Loss(b); singleSum += l.LossSum; singleWeight += l.WeightSum; }
        Assert.Equal(singleWeight, packedWeight);
        Assert.Equal(data.Sum(e => e.TargetCount), packedWeight);
        Assert.Equal(singleSum, packedSum, 1e-3 * singleSum);
    }
}
