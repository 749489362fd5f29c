using OpenBook.Models.FineTuning.Backward;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>How <see cref="BatchPlanner"/> turns tokenized examples into batches.</summary>
public sealed record BatchOptions
{
    /// <summary>Rows (sequences) per batch.</summary>
    public int BatchSize { get; init; } = 1;
    /// <summary>Longest row, in tokens (with packing: the row capacity).</summary>
    public int MaxLength { get; init; } = 2048;
    /// <summary>Pack several examples into each row (greedy first-fit); attention must then respect <see cref="SequenceBatch.Segments"/>.</summary>
    public bool Packing { get; init; }
    /// <summary>Batch rows of similar length together, like HF's <c>group_by_length</c> (less padding).</summary>
    public bool GroupByLength { get; init; }
    /// <summary>Seed of the data order; with the epoch it fixes every batch.</summary>
    public int Seed { get; init; } = 42;
    /// <summary>Token written into padding positions (their target is always 0).</summary>
    public int PadTokenId { get; init; }

    /// <summary>Checks ranges, naming the bad option.</summary>
    public BatchOptions Validate()
    {
        if (BatchSize < 1) throw new OpenBookException($"batch size must be ≥ 1 (got {BatchSize})");
        if (MaxLength < 2) throw new OpenBookException($"max length must be ≥ 2 (got {MaxLength})");
        return this;
    }
}

/// <summary>
/// Orders and batches tokenized examples for one epoch, deterministically from (<see cref="BatchOptions.Seed"/>,
/// epoch) so a resumed run can skip to batch N. Examples without any target token are skipped.
/// <list type="bullet">
/// <item>Without packing: shuffle, one example per row, <see cref="BatchOptions.BatchSize"/> rows per batch.</item>
/// <item>Packing: shuffle, then greedy first-fit of each example into the first row with room (rows of at most
/// <see cref="BatchOptions.MaxLength"/> tokens), rows shuffled.</item>
/// <item>Group by length (HF <c>group_by_length</c>): rows shuffled, sorted by length (longest first) inside
/// mega-batches of 50 × batch size, cut into batches, batch order shuffled.</item>
/// </list>
/// </summary>
public static class BatchPlanner
{
    /// <summary>Mega-batch factor of HF's <c>get_length_grouped_indices</c>.</summary>
    public const int MegaBatchMultiplier = 50;

    /// <summary>The batches of epoch <paramref name="epoch"/> (0-based), in training order.</summary>
    public static IReadOnlyList<SequenceBatch> Plan(IReadOnlyList<TokenizedExample> examples, BatchOptions o, int epoch)
    {
        o.Validate();
        var rng = new SplitMix64(((ulong)(uint)o.Seed << 32) ^ (uint)epoch ^ 0x5EED_0B00_C0FFEEUL);
        var usable = new List<int>();
        for (int i = 0; i < examples.Count; i++)
        {
            if (examples[i].Length > o.MaxLength)
                throw new OpenBookException($"line {examples[i].Line}: {examples[i].Length} tokens, over the batch maximum length {o.MaxLength} (encode with the same max length)");
            if (examples[i].TargetCount > 0) usable.Add(i);
        }
        rng.Shuffle(usable);

        List<List<int>> rows = o.Packing ? FirstFit(usable, examples, o.MaxLength) : usable.Select(i => new List<int> { i }).ToList();
        if (o.Packing) rng.Shuffle(rows);
        int RowLength(List<int> row) => row.Sum(i => examples[i].Length);

        var batches = new List<List<List<int>>>();
        if (o.GroupByLength)
        {
            int mega = MegaBatchMultiplier * o.BatchSize;
            for (int start = 0; start < rows.Count; start += mega)
            {
                var group = rows.GetRange(start, Math.Min(mega, rows.Count - start));
                var sorted = group.Select((r, k) => (r, k, len: RowLength(r)))
                    .OrderByDescending(x => x.len).ThenBy(x => x.k).Select(x => x.r).ToList();
                batches.AddRange(sorted.Chunk(o.BatchSize).Select(c => c.ToList()));
            }
            rng.Shuffle(batches);
        }
        else batches.AddRange(rows.Chunk(o.BatchSize).Select(c => c.ToList()));

        return batches.Select((b, index) => Build(b, examples, o.PadTokenId, index)).ToList();
    }

    private static SequenceBatch Build(List<List<int>> rows, IReadOnlyList<TokenizedExample> examples, int pad, int index)
    {
        int seq = rows.Max(r => r.Sum(i => examples[i].Length));
        int n = rows.Count * seq;
        var tokens = new int[n];
        var targets = new float[n];
        var positions = new int[n];
        var segments = new int[n];
        Array.Fill(tokens, pad);
        Array.Fill(segments, -1);
        var lines = new List<int>();
        for (int r = 0; r < rows.Count; r++)
        {
            int offset = r * seq;
            for (int s = 0; s < rows[r].Count; s++)
            {
                var ex = examples[rows[r][s]];
                ex.Ids.CopyTo(tokens, offset);
                ex.Targets.CopyTo(targets, offset);
                for (int t = 0; t < ex.Length; t++)
                {
                    positions[offset + t] = t;
                    segments[offset + t] = s;
                }
                lines.Add(ex.Line);
                offset += ex.Length;
            }
        }
        return new SequenceBatch(rows.Count, seq, tokens, targets, positions, segments) { Index = index, ExampleLines = lines };
    }

    /// <summary>
    /// Greedy first-fit bin packing in O(n log n): a max segment tree over the free space of the rows finds the
    /// leftmost row with room for each example.
    /// </summary>
    private static List<List<int>> FirstFit(List<int> order, IReadOnlyList<TokenizedExample> examples, int capacity)
    {
        int leaves = 1;
        while (leaves < Math.Max(1, order.Count)) leaves <<= 1;
        var free = new int[2 * leaves];
        Array.Fill(free, capacity); // every (not yet opened) row starts empty
        var rows = new List<List<int>>();
        foreach (var i in order)
        {
            int need = examples[i].Length, node = 1;
            while (node < leaves) node = free[2 * node] >= need ? 2 * node : 2 * node + 1;
            int row = node - leaves;
            if (row == rows.Count) rows.Add([]);
            rows[row].Add(i);
            free[node] -= need;
            for (node >>= 1; node >= 1; node >>= 1) free[node] = Math.Max(free[2 * node], free[2 * node + 1]);
        }
        return rows;
    }
}
