using System.Text;
using Microsoft.Extensions.AI;
using OpenBook.Models.Formats.Tokenization;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>Options of <see cref="DatasetValidator.Validate"/>.</summary>
public sealed record ValidationOptions
{
    /// <summary>Tokenizer (with chat template) for token statistics; null = character statistics only.</summary>
    public HfTokenizer? Tokenizer { get; init; }
    /// <summary>Longest sequence the run will use.</summary>
    public int MaxLength { get; init; } = 2048;
    /// <summary>Epochs (for total training tokens).</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>File format.</summary>
    public DatasetFormat Format { get; init; } = DatasetFormat.Auto;
    /// <summary>CSV columns.</summary>
    public CsvColumns? Columns { get; init; }
}

/// <summary>min / median / p95 / max of a distribution.</summary>
public sealed record Distribution(int Min, int Median, int P95, int Max)
{
    /// <summary>From a list of values (all zero when empty).</summary>
    public static Distribution Of(IReadOnlyList<int> values)
    {
        if (values.Count == 0) return new(0, 0, 0, 0);
        var s = values.Order().ToList();
        return new(s[0], s[(s.Count - 1) / 2], s[(int)Math.Ceiling(0.95 * s.Count) - 1], s[^1]);
    }
}

/// <summary>Statistics of a valid data file.</summary>
public sealed record DatasetStats
{
    /// <summary>Detected or given format.</summary>
    public required string Format { get; init; }
    /// <summary>Valid examples.</summary>
    public int Examples { get; init; }
    /// <summary>Messages per role.</summary>
    public required IReadOnlyDictionary<string, int> Messages { get; init; }
    /// <summary>Characters per example.</summary>
    public required Distribution CharactersPerExample { get; init; }
    /// <summary>Tokens per example after templating (null without a tokenizer).</summary>
    public Distribution? TokensPerExample { get; init; }
    /// <summary>Target (assistant, weight 1) tokens over all examples.</summary>
    public long? TargetTokens { get; init; }
    /// <summary>Tokens per epoch (after truncation).</summary>
    public long? TokensPerEpoch { get; init; }
    /// <summary>Tokens × epochs.</summary>
    public long? TrainingTokens { get; init; }
    /// <summary>Examples longer than the maximum length.</summary>
    public int? Truncated { get; init; }
    /// <summary>Duplicate examples (identical conversations; the later ones).</summary>
    public int Duplicates { get; init; }
    /// <summary>The maximum length and epochs the figures assume.</summary>
    public int MaxLength { get; init; }
    /// <summary>Epochs the training tokens assume.</summary>
    public int Epochs { get; init; }
}

/// <summary>The validation of a data file: errors (invalid lines), warnings, statistics.</summary>
public sealed record ValidationReport(bool Valid, IReadOnlyList<DatasetIssue> Errors, IReadOnlyList<DatasetIssue> Warnings, DatasetStats Stats, IReadOnlyList<ChatExample> Examples);

/// <summary>Checks a fine-tuning data file line by line and computes its statistics.</summary>
public static class DatasetValidator
{
    /// <summary>Validates <paramref name="path"/>.</summary>
    public static ValidationReport Validate(string path, ValidationOptions o)
    {
        var loaded = TrainingData.Load(path, o.Format, o.Columns);
        var errors = loaded.Errors.ToList();
        var warnings = loaded.Warnings.ToList();
        var firstSeen = new Dictionary<string, int>(StringComparer.Ordinal);
        int duplicates = 0;
        foreach (var e in loaded.Examples)
        {
            var key = Key(e);
            if (firstSeen.TryGetValue(key, out var first))
            {
                duplicates++;
                warnings.Add(new(e.Line, $"duplicate of line {first}"));
            }
            else firstSeen[key] = e.Line;
        }
        var tokens = new List<int>();
        long targets = 0, perEpoch = 0;
        int truncated = 0;
        if (o.Tokenizer is { } tok)
        {
            foreach (var e in loaded.Examples)
            {
                TokenizedExample enc;
                try { enc = ExampleEncoder.Encode(e, tok, int.MaxValue, TruncationPolicy.Right)!; }
                catch (OpenBookException ex) { errors.Add(new(e.Line, ex.Message)); continue; }
                tokens.Add(enc.Ids.Length);
                int kept = Math.Min(enc.Ids.Length, o.MaxLength);
                perEpoch += kept;
                targets += enc.Targets.Take(kept).Count(t => t > 0);
                if (enc.Ids.Length > o.MaxLength)
                {
                    truncated++;
                    bool lost = !enc.Targets.Take(o.MaxLength).Any(t => t > 0);
                    warnings.Add(new(e.Line, $"{enc.Ids.Length} tokens after templating, over --max-length {o.MaxLength}" +
                                             (lost ? ": no assistant token would remain with right truncation" : " (will be truncated)")));
                }
            }
        }
        var stats = new DatasetStats
        {
            Format = loaded.Format switch
            {
                DatasetFormat.PromptCompletion => "prompt-completion",
                var f => f.ToString().ToLowerInvariant(),
            },
            Examples = loaded.Examples.Count,
            Messages = loaded.Examples.SelectMany(e => e.Messages).GroupBy(m => m.Role.Value).ToDictionary(g => g.Key, g => g.Count()),
            CharactersPerExample = Distribution.Of(loaded.Examples.Select(e => e.Messages.Sum(m => m.Content.Length)).ToList()),
            TokensPerExample = o.Tokenizer is null ? null : Distribution.Of(tokens),
            TargetTokens = o.Tokenizer is null ? null : targets,
            TokensPerEpoch = o.Tokenizer is null ? null : perEpoch,
            TrainingTokens = o.Tokenizer is null ? null : perEpoch * o.Epochs,
            Truncated = o.Tokenizer is null ? null : truncated,
            Duplicates = duplicates, MaxLength = o.MaxLength, Epochs = o.Epochs,
        };
        errors.Sort((a, b) => a.Line.CompareTo(b.Line));
        warnings.Sort((a, b) => a.Line.CompareTo(b.Line));
        return new ValidationReport(errors.Count == 0 && loaded.Examples.Count > 0, errors, warnings, stats, loaded.Examples);
    }

    /// <summary>Identity of a conversation for duplicate detection (roles and whitespace-normalised contents).</summary>
    internal static string Key(ChatExample e)
    {
        var sb = new StringBuilder();
        foreach (var m in e.Messages) sb.Append(m.Role.Value).Append('\u0001').Append(string.Join(' ', m.Content.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))).Append('\u0002');
        return sb.ToString();
    }
}

/// <summary>Splits a data file into training and validation files (chat JSONL), deterministically.</summary>
public static class DatasetSplitter
{
    /// <summary>
    /// Writes a seeded <paramref name="fraction"/> of the distinct valid examples to <paramref name="validationPath"/>
    /// and the rest to <paramref name="trainPath"/>; duplicates stay together on the same side. Returns the counts.
    /// </summary>
    public static (int Train, int Validation) Split(IReadOnlyList<ChatExample> examples, double fraction, int seed, string trainPath, string validationPath)
    {
        if (fraction is <= 0 or >= 1) throw new OpenBookException($"--split must be in (0, 1) (got {fraction}).");
        var groups = examples.GroupBy(DatasetValidator.Key).Select(g => g.ToList()).ToList();
        var rng = new Random(Seeds.Mix(seed, 0x5711));
        var order = groups.OrderBy(_ => rng.Next()).ToList();
        int valGroups = Math.Max(1, (int)Math.Round(groups.Count * fraction));
        var val = order.Take(valGroups).SelectMany(g => g).OrderBy(e => e.Line).ToList();
        var train = order.Skip(valGroups).SelectMany(g => g).OrderBy(e => e.Line).ToList();
        Write(trainPath, train);
        Write(validationPath, val);
        return (train.Count, val.Count);
    }

    private static void Write(string path, IEnumerable<ChatExample> examples)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        var tmp = path + ".tmp";
        using (var w = new StreamWriter(tmp))
            foreach (var e in examples)
                w.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                {
                    messages = e.Messages.Select(m => m.Weight == 1 || m.Role != ChatRole.Assistant
                        ? (object)new { role = m.Role.Value, content = m.Content }
                        : new { role = m.Role.Value, content = m.Content, weight = (int)m.Weight }),
                }, new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        File.Move(tmp, path, overwrite: true);
    }
}
