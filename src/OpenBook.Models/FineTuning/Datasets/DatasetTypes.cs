using Microsoft.Extensions.AI;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>Layout of a training-data file.</summary>
public enum DatasetFormat
{
    /// <summary>.csv/.tsv by extension; otherwise JSONL, its shape detected from the first well-formed line.</summary>
    Auto,
    /// <summary>OpenAI chat JSONL: <c>{"messages":[{"role":"system|user|assistant","content":"…","weight":0|1}]}</c>.</summary>
    Chat,
    /// <summary><c>{"prompt":"…","completion":"…"}</c> per line → a user and an assistant turn.</summary>
    PromptCompletion,
    /// <summary>Alpaca <c>{"instruction":"…","input":"…","output":"…"}</c> per line (input optional).</summary>
    Instruction,
    /// <summary>CSV/TSV with a header row and a <see cref="CsvColumns"/> mapping.</summary>
    Csv,
}

/// <summary>Which CSV columns hold the user turn, the assistant turn and (optionally) a system prompt.</summary>
public sealed record CsvColumns(string User, string Assistant, string? System = null)
{
    /// <summary>The mapping used when none is given: columns named user, assistant and (if present) system.</summary>
    public static CsvColumns Default { get; } = new("user", "assistant", "system");

    /// <summary>Parses <c>user=question,assistant=answer[,system=sys]</c> (the CLI's <c>--columns</c>).</summary>
    public static CsvColumns Parse(string spec)
    {
        string? user = null, assistant = null, system = null;
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0 || eq == part.Length - 1)
                throw new OpenBookException($"--columns: '{part}' is not role=column (expected e.g. user=question,assistant=answer,system=sys)");
            var column = part[(eq + 1)..].Trim();
            switch (part[..eq].Trim().ToLowerInvariant())
            {
                case "user": user = column; break;
                case "assistant": assistant = column; break;
                case "system": system = column; break;
                default: throw new OpenBookException($"--columns: unknown role '{part[..eq]}' (expected user, assistant or system)");
            }
        }
        return new CsvColumns(
            user ?? throw new OpenBookException("--columns needs user=COLUMN"),
            assistant ?? throw new OpenBookException("--columns needs assistant=COLUMN"),
            system);
    }
}

/// <summary>A problem found in a dataset: its 1-based line in the file (0 for the file as a whole) and what is wrong.</summary>
public sealed record DatasetIssue(int Line, string Message)
{
    /// <inheritdoc />
    public override string ToString() => Line > 0 ? $"line {Line}: {Message}" : Message;
}

/// <summary>One turn of a training conversation. <paramref name="Weight"/> 0 means "not trained on" (OpenAI/PEFT semantics; assistant turns only).</summary>
public sealed record TrainingMessage(ChatRole Role, string Content, float Weight = 1);

/// <summary>One conversation of a dataset and the line it came from.</summary>
public sealed record ChatExample(IReadOnlyList<TrainingMessage> Messages, int Line)
{
    /// <summary>The source line as written (JSONL formats), used when writing splits; null for CSV rows.</summary>
    public string? Raw { get; init; }

    /// <summary>The turns as Microsoft.Extensions.AI messages (for chat templates and chat clients).</summary>
    public IReadOnlyList<ChatMessage> ToChatMessages() => Messages.Select(m => new ChatMessage(m.Role, m.Content)).ToList();

    /// <summary>A key equal for identical conversations (same roles, contents and weights), used for duplicate detection.</summary>
    public string ConversationKey() =>
        string.Join("\u001e", Messages.Select(m => $"{m.Role.Value}\u001f{m.Weight}\u001f{m.Content}"));
}

/// <summary>What <see cref="TrainingData.Load"/> found: the well-formed examples and every problem, by line.</summary>
public sealed record DatasetLoadResult(IReadOnlyList<ChatExample> Examples, IReadOnlyList<DatasetIssue> Errors, IReadOnlyList<DatasetIssue> Warnings)
{
    /// <summary>The format that was read (the detected one when <see cref="DatasetFormat.Auto"/> was asked for).</summary>
    public DatasetFormat Format { get; init; }
}
