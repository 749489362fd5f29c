using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Datasets;

namespace OpenBook.Models.Tests.FineTuning.Datasets;

public class BatchPlannerTests
{
    /// <summary>Synthetic examples: example k (line k+1) has ids 1000k+t and targets on its second half.</summary>
    private static List<TokenizedExample> Examples(int count, int seed, int minLength = 3, int maxLength = 60)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(k =>
        {
            int n = rng.Next(minLength, maxLength + 1);
            var ids = Enumerable.Range(0, n).Select(t => 1000 * k + t).ToArray();
            var targets = Enumerable.Range(0, n).Select(t => t >= n / 2 && t > 0 ? 1f : 0f).ToArray();
            return new TokenizedExample(ids, targets, k + 1, false) { FullLength = n };
        }).ToList();
    }

    private static string Fingerprint(IReadOnlyList<SequenceBatch> batches) =>
        string.Join("|", batches.Select(b => string.Join(",", b.ExampleLines) + ":" + string.Join(",", b.Tokens)));

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Plans_are_a_function_of_seed_and_epoch(bool packing, bool grouped)
    {
        var data = Examples(120, 1);
        var o = new BatchOptions { BatchSize = 4, MaxLength = 128, Packing = packing, GroupByLength = grouped, Seed = 7, PadTokenId = -1 };
        var a = BatchPlanner.Plan(data, o, epoch: 2);
        Assert.Equal(Fingerprint(a), Fingerprint(BatchPlanner.Plan(data, o, epoch: 2)));
        Assert.NotEqual(Fingerprint(a), Fingerprint(BatchPlanner.Plan(data, o, epoch: 3)));
        Assert.NotEqual(Fingerprint(a), Fingerprint(BatchPlanner.Plan(data, o with { Seed = 8 }, epoch: 2)));
        Assert.Equal(Enumerable.Range(0, a.Count), a.Select(b => b.Index));
        // Every example is used exactly once per epoch.
        Assert.Equal(Enumerable.Range(1, 120), a.SelectMany(b => b.ExampleLines).Order());
    }

    [Fact]
    public void Without_packing_each_row_is_one_example_padded_to_the_longest_row()
    {
        var data = Examples(10, 2);
        var batches = BatchPlanner.Plan(data, new BatchOptions { BatchSize = 3, MaxLength = 64, Seed = 1, PadTokenId = 99 }, 0);
        Assert.Equal([3, 3, 3, 1], batches.Select(b => b.Batch));
        foreach (var b in batches)
        {
            var rows = b.ExampleLines.Select(l => data[l - 1]).ToList();
            Assert.Equal(rows.Max(e => e.Length), b.Seq);
            Assert.Equal(rows.Sum(e => e.TargetCount), b.TargetCount);
            Assert.Equal(b.Targets.Count(t => t > 0), b.TargetCount);
            for (int r = 0; r < b.Batch; r++)
            {
                var ex = rows[r];
                for (int t = 0; t < b.Seq; t++)
                {
                    int i = r * b.Seq + t;
                    if (t < ex.Length)
                    {
                        Assert.Equal((ex.Ids[t], ex.Targets[t], t, 0), (b.Tokens[i], b.Targets[i], b.Positions![i], b.Segments![i]));
                    }
                    else
                    {
                        Assert.Equal((99, 0f, 0, -1), (b.Tokens[i], b.Targets[i], b.Positions![i], b.Segments![i]));
                    }
                }
            }
        }
    }

    [Fact]
    public void Packing_fills_rows_up_to_the_maximum_with_restarting_positions_and_segments()
    {
        var data = Examples(200, 3, 5, 100);
        const int max = 256;
        var batches = BatchPlanner.Plan(data, new BatchOptions { BatchSize = 2, MaxLength = max, Packing = true, Seed = 5, PadTokenId = 0 }, 0);
        var seen = new List<int>();
        int rowsTotal = 0;
        foreach (var b in batches)
        {
            int inBatch = 0;
            Assert.True(b.Seq <= max);
            for (int r = 0; r < b.Batch; r++, rowsTotal++)
            {
                int t = 0, segment = 0, used = 0;
                while (t < b.Seq && b.Segments![r * b.Seq + t] >= 0)
                {
                    Assert.Equal(segment, b.Segments![r * b.Seq + t]);
                    // The segment is one whole example: ids from one example (1000k + position), positions restarting at 0.
                    int k = b.Tokens[r * b.Seq + t] / 1000;
                    var ex = data[k];
                    for (int p = 0; p < ex.Length; p++, t++)
                    {
                        int i = r * b.Seq + t;
                        Assert.Equal((ex.Ids[p], ex.Targets[p], p, segment), (b.Tokens[i], b.Targets[i], b.Positions![i], b.Segments![i]));
                    }
                    Assert.Equal(k + 1, b.ExampleLines[inBatch++]);
                    seen.Add(k + 1);
                    used += ex.Length;
                    segment++;
                }
                Assert.True(used <= max);
                for (; t < b.Seq; t++) Assert.Equal(-1, b.Segments![r * b.Seq + t]);
            }
        }
        Assert.Equal(Enumerable.Range(1, 200), seen.Order());
        // First-fit packs densely: fewer rows than one per example, close to the lower bound.
        int tokens = data.Sum(e => e.Length);
        Assert.True(rowsTotal < 200 / 2);
        Assert.True(rowsTotal <= (int)Math.Ceiling(1.05 * tokens / max) + 1, $"{rowsTotal} rows for {tokens} tokens");
    }

    [Fact]
    public void Group_by_length_sorts_within_mega_batches_and_cuts_padding()
    {
        var data = Examples(100, 4, 2, 200); // 100 ≤ 50 × 4: a single mega-batch
        var o = new BatchOptions { BatchSize = 4, MaxLength = 256, GroupByLength = true, Seed = 11 };
        var grouped = BatchPlanner.Plan(data, o, 0);
        var lengths = grouped.Select(b => b.ExampleLines.Select(l => data[l - 1].Length).ToList()).ToList();
        foreach (var l in lengths) Assert.Equal(l.OrderDescending(), l); // rows of a batch sorted longest first
        // With one mega-batch, batches are slices of one sorted order: their length ranges never interleave.
        for (int i = 0; i < lengths.Count; i++)
            for (int j = 0; j < lengths.Count; j++)
                if (i != j) Assert.True(lengths[i].Min() >= lengths[j].Max() || lengths[i].Max() <= lengths[j].Min());
        // And the batch order itself is shuffled (not simply longest first).
        Assert.NotEqual(lengths.Select(l => l[0]).OrderDescending(), lengths.Select(l => l[0]));

        long Padding(IEnumerable<SequenceBatch> bs) => bs.Sum(b => b.Segments!.LongCount(s => s < 0));
        Assert.True(Padding(grouped) * 3 < Padding(BatchPlanner.Plan(data, o with { GroupByLength = false }, 0)));
    }

    [Fact]
    public void Examples_without_targets_are_skipped_and_over_length_examples_are_refused()
    {
        var data = Examples(5, 5, 4, 10);
        data[2] = data[2] with { Targets = new float[data[2].Length] };
        var batches = BatchPlanner.Plan(data, new BatchOptions { BatchSize = 8, MaxLength = 16 }, 0);
        Assert.Equal([1, 2, 4, 5], Assert.Single(batches).ExampleLines.Order());

        var ex = Assert.Throws<OpenBookException>(() => BatchPlanner.Plan(data, new BatchOptions { MaxLength = 5 }, 0));
        Assert.Contains("over the batch maximum length 5", ex.Message);
        Assert.Throws<OpenBookException>(() => BatchPlanner.Plan(data, new BatchOptions { BatchSize = 0 }, 0));
        Assert.Empty(BatchPlanner.Plan([], new BatchOptions { Packing = true }, 0));
    }

    /// <summary>The layout invariants, over many random shapes and option combinations.</summary>
    [Fact]
    public void Layout_invariants_hold_for_random_datasets_and_options()
    {
        var rng = new Random(2024);
        for (int trial = 0; trial < 40; trial++)
        {
            int max = rng.Next(8, 80);
            var data = Examples(rng.Next(0, 90), trial, 2, max);
            var o = new BatchOptions
            {
                BatchSize = rng.Next(1, 6), MaxLength = max, Packing = rng.Next(2) == 0, GroupByLength = rng.Next(2) == 0, Seed = trial, PadTokenId = -7,
            };
            var batches = BatchPlanner.Plan(data, o, rng.Next(0, 4));
            var lines = new List<int>();
            foreach (var b in batches)
            {
                Assert.InRange(b.Batch, 1, o.BatchSize);
                Assert.Equal(b.Batch * b.Seq, b.Tokens.Length);
                Assert.True(b.Seq <= max);
                Assert.Equal(b.Targets.Count(t => t > 0), b.TargetCount);
                int longest = 0, examplesInBatch = 0;
                for (int r = 0; r < b.Batch; r++)
                {
                    int t = 0, segment = -1;
                    for (; t < b.Seq && b.Segments![r * b.Seq + t] >= 0; t++)
                    {
                        int i = r * b.Seq + t;
                        if (b.Positions![i] == 0) { segment++; examplesInBatch++; lines.Add(b.Tokens[i] / 1000 + 1); }
                        Assert.Equal(segment, b.Segments![i]);
                        var ex = data[b.Tokens[i] / 1000];
                        Assert.Equal((ex.Ids[b.Positions![i]], ex.Targets[b.Positions![i]]), (b.Tokens[i], b.Targets[i]));
                    }
                    if (!o.Packing) Assert.Equal(0, segment);
                    longest = Math.Max(longest, t);
                    for (int p = t; p < b.Seq; p++)
                        Assert.Equal((-7, 0f, -1), (b.Tokens[r * b.Seq + p], b.Targets[r * b.Seq + p], b.Segments![r * b.Seq + p]));
                }
                Assert.Equal(longest, b.Seq); // no padding beyond the longest row
                Assert.Equal(examplesInBatch, b.ExampleLines.Count);
            }
            Assert.Equal(lines, batches.SelectMany(b => b.ExampleLines));
            Assert.Equal(data.Where(e => e.TargetCount > 0).Select(e => e.Line).Order(), lines.Order());
        }
    }
}
