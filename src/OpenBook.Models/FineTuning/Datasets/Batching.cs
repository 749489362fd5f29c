using Microsoft.Extensions.AI;
using OpenBook.Models.Formats.ChatTemplates;
using OpenBook.Models.Formats.Tokenization;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>What to do with an example longer than the maximum length.</summary>
public enum TruncationPolicy
{
    /// <summary>Keep the first tokens.</summary>
    Right,
    /// <summary>Keep the last tokens (the final answer survives a long context).</summary>
    Left,
    /// <summary>Skip the example.</summary>
    Drop,
}

/// <summary>
/// A templated, tokenized example. <see cref="Targets"/>[t] &gt; 0 makes token t a training target (predicted from
/// position t−1): the tokens of assistant turns with weight 1 and their end-of-turn marker; 0 elsewhere.
/// </summary>
public sealed record TokenizedExample(int[] Ids, float[] Targets, int Line, bool Truncated, int FullLength)
{
    /// <summary>Number of target tokens.</summary>
    public int TargetCount => Targets.Count(t => t > 0);
}

/// <summary>Renders examples with the tokenizer's chat template and marks the assistant tokens (loss masking).</summary>
public static class ExampleEncoder
{
    /// <summary>
    /// Encodes <paramref name="example"/>; returns null when it is over <paramref name="maxLength"/> under
    /// <see cref="TruncationPolicy.Drop"/>. Spans are found as TRL does: the ids of the conversation up to an assistant
    /// turn (with the generation prompt) must be a prefix of the ids through that turn.
    /// </summary>
    public static TokenizedExample? Encode(ChatExample example, HfTokenizer tokenizer, int maxLength, TruncationPolicy policy)
    {
        var template = ChatTemplate.FromTokenizer(tokenizer);
        var messages = example.Messages.Select(m => new ChatMessage(m.Role, m.Content)).ToList();
        int[] Render(int count, bool genPrompt) =>
            tokenizer.Encode(template.Render(messages.Take(count), genPrompt, tokenizer.BosToken, tokenizer.EosToken), addSpecialTokens: false);
        var ids = Render(messages.Count, false);
        var targets = new float[ids.Length];
        for (int i = 0; i < messages.Count; i++)
        {
            if (example.Messages[i].Role != ChatRole.Assistant) continue;
            var before = Render(i, true);
            var through = Render(i + 1, false);
            if (!IsPrefix(before, through) || !IsPrefix(through, ids))
                throw new OpenBookException($"line {example.Line}: the chat template renders the tokens before assistant message {i + 1} differently from the whole conversation; it cannot be used to mask training targets.");
            for (int t = before.Length; t < through.Length; t++) targets[t] = example.Messages[i].Weight;
        }
        int full = ids.Length;
        if (full <= maxLength) return new TokenizedExample(ids, targets, example.Line, false, full);
        return policy switch
        {
            TruncationPolicy.Drop => null,
            TruncationPolicy.Left => new TokenizedExample(ids[^maxLength..], targets[^maxLength..], example.Line, true, full),
            _ => new TokenizedExample(ids[..maxLength], targets[..maxLength], example.Line, true, full),
        };
    }

    private static bool IsPrefix(int[] a, int[] b) => a.Length <= b.Length && a.AsSpan().SequenceEqual(b.AsSpan(0, a.Length));
}

/// <summary>How examples become micro-batches.</summary>
public sealed record BatchOptions
{
    /// <summary>Rows (sequences) per micro-batch.</summary>
    public int BatchSize { get; init; } = 1;
    /// <summary>Longest row in tokens.</summary>
    public int MaxLength { get; init; } = 1024;
    /// <summary>Pack several examples per row (attention stays within each example; positions restart).</summary>
    public bool Packing { get; init; }
    /// <summary>Batch similar lengths together (HF group_by_length).</summary>
    public bool GroupByLength { get; init; }
    /// <summary>Seed of the shuffle (mixed with the epoch).</summary>
    public int Seed { get; init; } = 42;
    /// <summary>Token id used for padding.</summary>
    public int PadTokenId { get; init; }
}

/// <summary>
/// One micro-batch: rows of <see cref="Seq"/> tokens (the longest row; shorter rows padded), target weights, RoPE
/// positions and the example index of each token within its row (−1 = padding).
/// </summary>
public sealed record TrainingBatch(int Batch, int Seq, int[] Tokens, float[] Targets, int[] Positions, int[] Segments, int TargetCount, IReadOnlyList<int> ExampleLines);

/// <summary>Deterministic batching: the same (seed, epoch) always gives the same batches, which makes resume exact.</summary>
public static class BatchPlanner
{
    /// <summary>Plans the micro-batches of <paramref name="epoch"/>; examples without any target token are skipped.</summary>
    public static IReadOnlyList<TrainingBatch> Plan(IReadOnlyList<TokenizedExample> examples, BatchOptions o, int epoch)
    {
        var usable = examples.Where(e => e.Ids.Length > 0 && e.Ids.Length <= o.MaxLength && e.Targets.Any(t => t > 0)).ToList();
        var rng = new Random(Seeds.Mix(o.Seed, epoch));
        var order = Enumerable.Range(0, usable.Count).ToList();
        Shuffle(order, rng);
        List<List<int>> rows;
        if (o.Packing)
        {
            // First-fit over the shuffled examples: each goes into the first row with room.
            rows = [];
            var room = new List<int>();
            foreach (var i in order)
            {
                int len = usable[i].Ids.Length, slot = room.FindIndex(r => r >= len);
                if (slot < 0)
                {
                    rows.Add([i]);
                    room.Add(o.MaxLength - len);
                }
                else
                {
                    rows[slot].Add(i);
                    room[slot] -= len;
                }
            }
        }
        else rows = order.Select(i => new List<int> { i }).ToList();

        int Length(List<int> row) => row.Sum(i => usable[i].Ids.Length);
        if (o.GroupByLength)
        {
            // HF's LengthGroupedSampler: mega-batches of 50 × batch size, sorted by length inside, longest first.
            int mega = 50 * o.BatchSize;
            rows = rows.Chunk(mega).SelectMany(c => c.OrderByDescending(Length)).ToList();
        }
        var batches = rows.Chunk(o.BatchSize).Select(chunk => Build(chunk, usable, o.PadTokenId)).ToList();
        if (o.GroupByLength) Shuffle(batches, rng);
        return batches;
    }

    private static TrainingBatch Build(IReadOnlyList<List<int>> rows, IReadOnlyList<TokenizedExample> examples, int pad)
    {
        int seq = rows.Max(r => r.Sum(i => examples[i].Ids.Length)), n = rows.Count * seq;
        var tokens = new int[n];
        var targets = new float[n];
        var positions = new int[n];
        var segments = new int[n];
        Array.Fill(tokens, pad);
        Array.Fill(segments, -1);
        var lines = new List<int>();
        for (int b = 0; b < rows.Count; b++)
        {
            int t = b * seq, segment = 0;
            foreach (var i in rows[b])
            {
                var e = examples[i];
                lines.Add(e.Line);
                for (int k = 0; k < e.Ids.Length; k++, t++)
                {
                    tokens[t] = e.Ids[k];
                    targets[t] = k == 0 ? 0 : e.Targets[k];
                    positions[t] = k;
                    segments[t] = segment;
                }
                segment++;
            }
            // Padding continues the positions of the last real token (it is masked from real tokens anyway).
            for (int p = t, last = t > b * seq ? positions[t - 1] : -1; p < (b + 1) * seq; p++) positions[p] = ++last;
        }
        return new TrainingBatch(rows.Count, seq, tokens, targets, positions, segments, targets.Count(x => x > 0), lines);
    }

    private static void Shuffle<T>(IList<T> list, Random rng)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }
}
