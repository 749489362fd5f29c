using Microsoft.Extensions.AI;
using OpenBook.Models.Formats.Tokenization;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>What <see cref="DatasetValidator.Validate"/> checks against.</summary>
public sealed record ValidationOptions
{
    /// <summary>The model's tokenizer (with its chat template); without it only character counts are reported.</summary>
    public HfTokenizer? Tokenizer { get; init; }
    /// <summary>Training sequence length; longer examples are reported as truncated.</summary>
    public int MaxLength { get; init; } = 2048;
    /// <summary>Epochs, for the total-training-tokens figure.</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>File format (auto-detected by default).</summary>
    public DatasetFormat Format { get; init; } = DatasetFormat.Auto;
    /// <summary>CSV column mapping.</summary>
    public CsvColumns? Columns { get; init; }
}

/// <summary>Min / median / 95th percentile (nearest rank) / max of a length distribution.</summary>
public sealed record LengthStats(int Min, double Median, int P95, int Max)
{
    /// <summary>The statistics of <paramref name="values"/>, or null when there are none.</summary>
    public static LengthStats? From(IEnumerable<int> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) return null;
        double median = v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2.0;
        int p95 = v[Math.Max(0, (int)Math.Ceiling(0.95 * v.Length) - 1)];
        return new LengthStats(v[0], median, p95, v[^1]);
    }
}

/// <summary>Messages per role.</summary>
public sealed record RoleCounts(int System, int User, int Assistant);

/// <summary>Statistics of a dataset's well-formed examples. Token figures are null without a tokenizer.</summary>
public sealed record DatasetStats
{
    /// <summary>Format read (chat, prompt-completion, instruction, csv; auto when nothing could be detected).</summary>
    public required string Format { get; init; }
    /// <summary>Well-formed examples.</summary>
    public required int Examples { get; init; }
    /// <summary>Lines with errors.</summary>
    public required int InvalidLines { get; init; }
    /// <summary>Messages per role.</summary>
    public required RoleCounts Roles { get; init; }
    /// <summary>Assistant messages with weight 0 (not trained on).</summary>
    public required int UntrainedAssistantMessages { get; init; }
    /// <summary>Examples identical to an earlier one.</summary>
    public required int Duplicates { get; init; }
    /// <summary>Characters of message content per example.</summary>
    public LengthStats? CharactersPerExample { get; init; }
    /// <summary>Whether token figures were computed (a tokenizer was given).</summary>
    public required bool Tokenized { get; init; }
    /// <summary>Tokens per example after templating, before truncation.</summary>
    public LengthStats? TokensPerExample { get; init; }
    /// <summary>Tokens fed to the model per epoch (after truncation at <see cref="MaxLength"/>).</summary>
    public long? TotalTokens { get; init; }
    /// <summary>Of those, tokens the loss is computed on (assistant turns of weight 1).</summary>
    public long? TargetTokens { get; init; }
    /// <summary>Epochs assumed.</summary>
    public required int Epochs { get; init; }
    /// <summary><see cref="TotalTokens"/> × <see cref="Epochs"/>.</summary>
    public long? TrainingTokens { get; init; }
    /// <summary>Maximum sequence length assumed.</summary>
    public required int MaxLength { get; init; }
    /// <summary>Examples longer than <see cref="MaxLength"/> after templating.</summary>
    public int? Truncated { get; init; }
    /// <summary>Why token figures are missing, when they are.</summary>
    public string? Note { get; init; }
}

/// <summary>The outcome of validating a dataset: valid when no line has an error (warnings do not count).</summary>
public sealed record ValidationReport(bool Valid, IReadOnlyList<DatasetIssue> Errors, IReadOnlyList<DatasetIssue> Warnings, DatasetStats Stats)
{
    /// <summary>The loaded examples (for a split or for training without reading the file again).</summary>
    public required DatasetLoadResult Data { get; init; }
}

/// <summary>
/// Checks a fine-tuning dataset end to end: every line's shape (see <see cref="TrainingData"/>), the chat template
/// on each example (with a tokenizer), over-length examples, duplicates; and computes the statistics a user needs
/// before training (tokens per example, training tokens × epochs, truncation).
/// </summary>
public static class DatasetValidator
{
    /// <summary>Validates <paramref name="path"/>. Throws only when the file cannot be read.</summary>
    public static ValidationReport Validate(string path, ValidationOptions o)
    {
        if (o.MaxLength < 2) throw new OpenBookException($"--max-length must be ≥ 2 (got {o.MaxLength})");
        if (o.Epochs < 1) throw new OpenBookException($"--epochs must be ≥ 1 (got {o.Epochs})");
        var data = TrainingData.Load(path, o.Format, o.Columns);
        var errors = new List<DatasetIssue>(data.Errors);
        var warnings = new List<DatasetIssue>(data.Warnings);

        int duplicates = 0;
        var firstLine = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var ex in data.Examples)
        {
            if (firstLine.TryAdd(ex.ConversationKey(), ex.Line)) continue;
            duplicates++;
            warnings.Add(new DatasetIssue(ex.Line, $"duplicate of line {firstLine[ex.ConversationKey()]} (identical conversation)"));
        }

        var messages = data.Examples.SelectMany(e => e.Messages).ToList();
        var stats = new DatasetStats
        {
            Format = data.Format.Name(),
            Examples = data.Examples.Count,
            InvalidLines = 0,
            Roles = new RoleCounts(
                messages.Count(m => m.Role == ChatRole.System), messages.Count(m => m.Role == ChatRole.User), messages.Count(m => m.Role == ChatRole.Assistant)),
            UntrainedAssistantMessages = messages.Count(m => m.Role == ChatRole.Assistant && m.Weight == 0),
            Duplicates = duplicates,
            CharactersPerExample = LengthStats.From(data.Examples.Select(e => e.Messages.Sum(m => m.Content.Length))),
            Tokenized = false,
            Epochs = o.Epochs,
            MaxLength = o.MaxLength,
            Note = "token counts need --model (a model directory or Hub id with tokenizer.json and a chat template)",
        };

        if (o.Tokenizer is { } tokenizer)
        {
            var encoded = ExampleEncoder.EncodeAll(data.Examples, tokenizer, o.MaxLength, TruncationPolicy.Right);
            errors.AddRange(encoded.Errors);
            warnings.AddRange(encoded.Warnings);
            long total = encoded.Examples.Sum(e => (long)e.Length);
            stats = stats with
            {
                Tokenized = true,
                Note = null,
                TokensPerExample = LengthStats.From(encoded.Examples.Select(e => e.FullLength)),
                TotalTokens = total,
                TargetTokens = encoded.Examples.Sum(e => (long)e.TargetCount),
                TrainingTokens = total * o.Epochs,
                Truncated = encoded.Examples.Count(e => e.Truncated),
            };
        }
        stats = stats with { InvalidLines = errors.Select(e => e.Line).Distinct().Count() };
        // OrderBy is stable: the issues of one line keep their order.
        return new ValidationReport(errors.Count == 0, errors.OrderBy(e => e.Line).ToList(), warnings.OrderBy(w => w.Line).ToList(), stats) { Data = data };
    }
}
