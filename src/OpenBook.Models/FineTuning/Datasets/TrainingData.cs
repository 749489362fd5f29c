using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenBook.Ingestion;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>Training-data file formats.</summary>
public enum DatasetFormat
{
    /// <summary>Detected: .csv/.tsv → CSV; JSONL by the keys of the first valid line.</summary>
    Auto,
    /// <summary>OpenAI chat JSONL: <c>{"messages":[{"role":…,"content":…,"weight":0|1}]}</c>.</summary>
    Chat,
    /// <summary><c>{"prompt":…,"completion":…}</c>.</summary>
    PromptCompletion,
    /// <summary>Alpaca: <c>{"instruction":…,"input":…,"output":…}</c>.</summary>
    Instruction,
    /// <summary>CSV/TSV with a header row and a column mapping.</summary>
    Csv,
}

/// <summary>Which CSV columns hold the user turn, the assistant turn and (optionally) the system prompt.</summary>
public sealed record CsvColumns(string User, string Assistant, string? System = null)
{
    /// <summary>Parses <c>user=question,assistant=answer[,system=sys]</c>.</summary>
    public static CsvColumns Parse(string text)
    {
        string? user = null, assistant = null, system = null;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2, StringSplitOptions.TrimEntries);
            if (kv.Length != 2 || kv[1].Length == 0) throw new OpenBookException($"--columns: '{part}' is not role=column.");
            switch (kv[0].ToLowerInvariant())
            {
                case "user": user = kv[1]; break;
                case "assistant": assistant = kv[1]; break;
                case "system": system = kv[1]; break;
                default: throw new OpenBookException($"--columns: unknown role '{kv[0]}' (user, assistant, system).");
            }
        }
        return new CsvColumns(user ?? throw new OpenBookException("--columns needs user=COLUMN."), assistant ?? throw new OpenBookException("--columns needs assistant=COLUMN."), system);
    }
}

/// <summary>One message of a training conversation; assistant turns with weight 0 are context, not targets.</summary>
public sealed record TrainingMessage(ChatRole Role, string Content, float Weight = 1);

/// <summary>A training conversation and the 1-based line (or CSV record start line) it came from.</summary>
public sealed record ChatExample(IReadOnlyList<TrainingMessage> Messages, int Line);

/// <summary>A problem in a data file, at a 1-based line.</summary>
public sealed record DatasetIssue(int Line, string Message);

/// <summary>Valid examples and every problem found.</summary>
public sealed record DatasetLoadResult(IReadOnlyList<ChatExample> Examples, IReadOnlyList<DatasetIssue> Errors, IReadOnlyList<DatasetIssue> Warnings, DatasetFormat Format);

/// <summary>
/// Reads fine-tuning data. Bad lines never stop the read: each is reported with its line number and a precise reason
/// (invalid JSON, missing or unknown role, empty content, no assistant turn, wrong types…), and the valid lines are kept.
/// </summary>
public static class TrainingData
{
    /// <summary>Loads <paramref name="path"/>; throws only when the file cannot be read or the format cannot be determined.</summary>
    public static DatasetLoadResult Load(string path, DatasetFormat format = DatasetFormat.Auto, CsvColumns? columns = null)
    {
        if (!File.Exists(path)) throw new OpenBookException($"{path}: file not found.");
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (format == DatasetFormat.Csv || format == DatasetFormat.Auto && ext is ".csv" or ".tsv")
            return LoadCsv(path, columns ?? throw new OpenBookException($"{path}: CSV data needs a column mapping (--columns user=COLUMN,assistant=COLUMN[,system=COLUMN])."), ext == ".tsv" ? '\t' : ',');
        var examples = new List<ChatExample>();
        var errors = new List<DatasetIssue>();
        var warnings = new List<DatasetIssue>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement root;
            try
            {
                using var doc = JsonDocument.Parse(line);
                root = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                errors.Add(new(lineNo, $"invalid JSON ({e.Message.Split(" LineNumber")[0].TrimEnd('.', ' ')})"));
                continue;
            }
            if (root.ValueKind != JsonValueKind.Object) { errors.Add(new(lineNo, $"expected a JSON object, found {root.ValueKind.ToString().ToLowerInvariant()}")); continue; }
            var lineFormat = format == DatasetFormat.Auto ? Detect(root) : format;
            if (lineFormat == DatasetFormat.Auto)
            {
                errors.Add(new(lineNo, "unknown format: expected \"messages\", \"prompt\"/\"completion\" or \"instruction\"/\"output\""));
                continue;
            }
            if (format == DatasetFormat.Auto) format = lineFormat;
            try
            {
                var messages = lineFormat switch
                {
                    DatasetFormat.Chat => ParseChat(root),
                    DatasetFormat.PromptCompletion => [new(ChatRole.User, Text(root, "prompt")), new(ChatRole.Assistant, Text(root, "completion"))],
                    _ => ParseInstruction(root),
                };
                examples.Add(new ChatExample(messages, lineNo));
            }
            catch (LineException e)
            {
                errors.Add(new(lineNo, e.Message));
            }
        }
        if (lineNo == 0 || examples.Count == 0 && errors.Count == 0) warnings.Add(new(0, "the file has no examples"));
        return new DatasetLoadResult(examples, errors, warnings, format);
    }

    private sealed class LineException(string message) : Exception(message);

    private static DatasetFormat Detect(JsonElement o) =>
        o.TryGetProperty("messages", out _) ? DatasetFormat.Chat
        : o.TryGetProperty("prompt", out _) || o.TryGetProperty("completion", out _) ? DatasetFormat.PromptCompletion
        : o.TryGetProperty("instruction", out _) || o.TryGetProperty("output", out _) ? DatasetFormat.Instruction
        : DatasetFormat.Auto;

    private static string Text(JsonElement o, string key, bool optional = false)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
            return optional ? "" : throw new LineException($"missing \"{key}\"");
        if (v.ValueKind != JsonValueKind.String) throw new LineException($"\"{key}\" must be a string, found {v.ValueKind.ToString().ToLowerInvariant()}");
        var s = v.GetString()!;
        if (!optional && string.IsNullOrWhiteSpace(s)) throw new LineException($"\"{key}\" is empty");
        return s;
    }

    private static List<TrainingMessage> ParseChat(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var arr) || arr.ValueKind != JsonValueKind.Array)
            throw new LineException("\"messages\" must be an array");
        if (arr.GetArrayLength() == 0) throw new LineException("\"messages\" is empty");
        var list = new List<TrainingMessage>();
        int i = 0;
        foreach (var m in arr.EnumerateArray())
        {
            i++;
            if (m.ValueKind != JsonValueKind.Object) throw new LineException($"messages[{i}] must be an object");
            if (!m.TryGetProperty("role", out var r) || r.ValueKind != JsonValueKind.String) throw new LineException($"messages[{i}]: missing \"role\"");
            var role = r.GetString() switch
            {
                "system" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                var other => throw new LineException($"messages[{i}]: unknown role \"{other}\" (system, user, assistant)"),
            };
            if (!m.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null) throw new LineException($"messages[{i}]: missing \"content\"");
            if (c.ValueKind != JsonValueKind.String) throw new LineException($"messages[{i}]: \"content\" must be a string, found {c.ValueKind.ToString().ToLowerInvariant()}");
            var content = c.GetString()!;
            if (string.IsNullOrWhiteSpace(content)) throw new LineException($"messages[{i}] ({r.GetString()}): empty content");
            float weight = 1;
            if (m.TryGetProperty("weight", out var w))
            {
                if (w.ValueKind != JsonValueKind.Number || !w.TryGetInt32(out var wi) || wi is not (0 or 1))
                    throw new LineException($"messages[{i}]: \"weight\" must be 0 or 1");
                if (role != ChatRole.Assistant) throw new LineException($"messages[{i}]: \"weight\" is only allowed on assistant messages");
                weight = wi;
            }
            list.Add(new TrainingMessage(role, content, weight));
        }
        if (!list.Any(x => x.Role == ChatRole.Assistant)) throw new LineException("no assistant message");
        if (!list.Any(x => x.Role == ChatRole.Assistant && x.Weight > 0)) throw new LineException("every assistant message has weight 0: nothing to learn");
        if (list[^1].Role != ChatRole.Assistant) throw new LineException("the last message must be the assistant's");
        return list;
    }

    private static List<TrainingMessage> ParseInstruction(JsonElement root)
    {
        var instruction = Text(root, "instruction");
        var input = Text(root, "input", optional: true);
        var output = Text(root, "output");
        return [new(ChatRole.User, input.Length > 0 ? instruction + "\n\n" + input : instruction), new(ChatRole.Assistant, output)];
    }

    private static DatasetLoadResult LoadCsv(string path, CsvColumns columns, char delimiter)
    {
        var examples = new List<ChatExample>();
        var errors = new List<DatasetIssue>();
        using var reader = new StreamReader(path);
        var csv = new CsvRecordReader(path, reader, delimiter);
        try
        {
            if (!csv.TryRead(out var header, out _)) return new([], [], [new(0, "the file is empty")], DatasetFormat.Csv);
            int Col(string? name)
            {
                if (name is null) return -1;
                int i = header.FindIndex(h => h.Trim().Equals(name, StringComparison.OrdinalIgnoreCase));
                return i >= 0 ? i : throw new OpenBookException($"{path}:1: no column '{name}' in the header ({string.Join(", ", header)}).");
            }
            int user = Col(columns.User), assistant = Col(columns.Assistant), system = Col(columns.System);
            while (csv.TryRead(out var fields, out int line))
            {
                if (fields.Count == 1 && fields[0].Length == 0) continue;
                if (fields.Count != header.Count) { errors.Add(new(line, $"{fields.Count} fields, the header has {header.Count}")); continue; }
                var messages = new List<TrainingMessage>();
                if (system >= 0 && fields[system].Trim().Length > 0) messages.Add(new(ChatRole.System, fields[system]));
                if (fields[user].Trim().Length == 0) { errors.Add(new(line, $"empty '{columns.User}' (user)")); continue; }
                if (fields[assistant].Trim().Length == 0) { errors.Add(new(line, $"empty '{columns.Assistant}' (assistant)")); continue; }
                messages.Add(new(ChatRole.User, fields[user]));
                messages.Add(new(ChatRole.Assistant, fields[assistant]));
                examples.Add(new ChatExample(messages, line));
            }
        }
        catch (DocumentLoadException e)
        {
            errors.Add(new(0, e.Message));
        }
        return new DatasetLoadResult(examples, errors, [], DatasetFormat.Csv);
    }
}
