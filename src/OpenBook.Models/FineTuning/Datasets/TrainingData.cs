using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenBook.Shared;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>
/// Reads fine-tuning datasets: OpenAI chat JSONL, prompt/completion JSONL, Alpaca instruction JSONL and CSV/TSV with a
/// column mapping (JSON records may also come as one JSON array), all into <see cref="ChatExample"/> conversations. Every bad line is reported with its 1-based line
/// number and a precise message (invalid JSON, missing or unknown role, empty content, no assistant turn, wrong
/// types, unknown format) and skipped; only an unreadable file throws.
/// </summary>
public static class TrainingData
{
    /// <summary>Loads <paramref name="path"/>; bad lines end up in <see cref="DatasetLoadResult.Errors"/>, never thrown.</summary>
    /// <exception cref="OpenBookException">The file is missing or cannot be read.</exception>
    public static DatasetLoadResult Load(string path, DatasetFormat format = DatasetFormat.Auto, CsvColumns? columns = null)
    {
        if (!File.Exists(path)) throw new OpenBookException($"{path}: dataset file not found");
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (format == DatasetFormat.Auto && ext is ".csv" or ".tsv") format = DatasetFormat.Csv;
        var sink = new Sink();
        try
        {
            using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            if (format == DatasetFormat.Csv) LoadCsv(path, reader, ext == ".tsv" ? '\t' : ',', columns, sink);
            else if (StartsWithArray(reader)) format = LoadJsonArray(path, format, sink);
            else format = LoadJsonl(reader, format, sink);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OpenBookException($"{path}: cannot read the dataset ({ex.Message})", ex);
        }
        return new DatasetLoadResult(sink.Examples, sink.Errors, sink.Warnings) { Format = format };
    }

    /// <summary>True when the first non-blank character is '[' (a JSON array rather than JSON Lines).</summary>
    private static bool StartsWithArray(StreamReader reader)
    {
        while (reader.Peek() is var c and >= 0 && char.IsWhiteSpace((char)c)) reader.Read();
        return reader.Peek() == '[';
    }

    /// <summary>The CLI name of a format (auto, chat, prompt-completion, instruction, csv).</summary>
    public static string Name(this DatasetFormat format) => format switch
    {
        DatasetFormat.PromptCompletion => "prompt-completion",
        _ => format.ToString().ToLowerInvariant(),
    };

    /// <summary>Parses a CLI format name (see <see cref="Name"/>).</summary>
    public static DatasetFormat ParseFormat(string name) => name.ToLowerInvariant() switch
    {
        "auto" => DatasetFormat.Auto,
        "chat" or "messages" => DatasetFormat.Chat,
        "prompt-completion" or "completion" => DatasetFormat.PromptCompletion,
        "instruction" or "alpaca" => DatasetFormat.Instruction,
        "csv" or "tsv" => DatasetFormat.Csv,
        _ => throw new OpenBookException($"--format: unknown format '{name}' (expected auto, chat, prompt-completion, instruction or csv)"),
    };

    private sealed class Sink
    {
        public readonly List<ChatExample> Examples = [];
        public readonly List<DatasetIssue> Errors = [];
        public readonly List<DatasetIssue> Warnings = [];
    }

    // ---- JSONL ------------------------------------------------------------------------------------------------

    private static DatasetFormat LoadJsonl(TextReader reader, DatasetFormat format, Sink sink)
    {
        var detection = new Detection(format);
        int lineNo = 0;
        for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException ex)
            {
                sink.Errors.Add(new DatasetIssue(lineNo, $"invalid JSON{At(ex)}: {JsonReason(ex)}"));
                continue;
            }
            using (doc) AddRecord(doc.RootElement, lineNo, line, detection, sink);
        }
        return detection.Format;
    }

    /// <summary>
    /// A file holding one JSON array of records (how Alpaca and many HF datasets ship as .json): each element is read
    /// like a JSONL line and reported by the line it starts on; it is kept as compact JSON for splits.
    /// </summary>
    private static DatasetFormat LoadJsonArray(string path, DatasetFormat format, Sink sink)
    {
        var detection = new Detection(format);
        ReadOnlySpan<byte> bytes = File.ReadAllBytes(path);
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) bytes = bytes[3..];
        var newlines = new List<int>();
        for (int i = 0; i < bytes.Length; i++) if (bytes[i] == '\n') newlines.Add(i);
        int LineOf(long offset) { int k = newlines.BinarySearch((int)offset); return (k < 0 ? ~k : k) + 1; } // newlines before it, + 1
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        try
        {
            reader.Read(); // [
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                int line = LineOf(reader.TokenStartIndex);
                using var doc = JsonDocument.ParseValue(ref reader);
                AddRecord(doc.RootElement, line, JsonSerializer.Serialize(doc.RootElement, CompactJson), detection, sink);
            }
            if (reader.Read()) sink.Errors.Add(new DatasetIssue(LineOf(reader.TokenStartIndex), "unexpected content after the closing ] of the JSON array"));
        }
        catch (JsonException ex)
        {
            sink.Errors.Add(new DatasetIssue((int)(ex.LineNumber ?? 0) + 1, $"invalid JSON{At(ex)}: {JsonReason(ex)} (the rest of the file was not read)"));
        }
        return detection.Format;
    }

    /// <summary>Compact JSON with readable (unescaped) non-ASCII text, for records written back as JSONL.</summary>
    internal static readonly JsonSerializerOptions CompactJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The file's format: given by the caller, or detected from the first record with a known shape.</summary>
    private sealed class Detection(DatasetFormat format)
    {
        public DatasetFormat Format { get; set; } = format;
        public int Line { get; set; } // 0 = given by the caller
    }

    /// <summary>Reads one JSON record (a JSONL line or an array element) into an example, or reports why it cannot be.</summary>
    private static void AddRecord(JsonElement root, int lineNo, string raw, Detection detection, Sink sink)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            sink.Errors.Add(new DatasetIssue(lineNo, $"expected a JSON object, got {Kind(root)}"));
            return;
        }
        var shape = Shape(root);
        if (detection.Format == DatasetFormat.Auto)
        {
            if (shape is null)
            {
                sink.Errors.Add(new DatasetIssue(lineNo, UnknownFormat(root)));
                return;
            }
            detection.Format = shape.Value;
            detection.Line = lineNo;
        }
        else if (shape is { } s && s != detection.Format)
        {
            var why = detection.Line > 0 ? $"detected from line {detection.Line}" : "as requested";
            sink.Errors.Add(new DatasetIssue(lineNo, $"this line is {s.Name()} format but the file is {detection.Format.Name()} ({why})"));
            return;
        }
        var cx = new LineContext(lineNo, sink);
        var messages = detection.Format switch
        {
            DatasetFormat.Chat => ReadChat(root, cx),
            DatasetFormat.PromptCompletion => ReadPair(root, cx, "prompt", "completion", null),
            _ => ReadPair(root, cx, "instruction", "output", "input"),
        };
        if (messages is not null && !cx.Failed)
            sink.Examples.Add(new ChatExample(messages, lineNo) { Raw = raw });
    }

    /// <summary>The format a JSON object's keys suggest, or null.</summary>
    private static DatasetFormat? Shape(JsonElement root)
    {
        if (root.TryGetProperty("messages", out _)) return DatasetFormat.Chat;
        if (root.TryGetProperty("prompt", out _) || root.TryGetProperty("completion", out _)) return DatasetFormat.PromptCompletion;
        if (root.TryGetProperty("instruction", out _) || root.TryGetProperty("output", out _)) return DatasetFormat.Instruction;
        return null;
    }

    private static string UnknownFormat(JsonElement root)
    {
        var keys = root.EnumerateObject().Select(p => p.Name).ToList();
        return "unknown format: expected \"messages\" (chat), \"prompt\"/\"completion\" or \"instruction\"/\"output\" keys; " +
               (keys.Count == 0 ? "the object is empty" : "found " + string.Join(", ", keys.Select(k => $"\"{k}\"")));
    }

    /// <summary>Collects the errors and warnings of one line.</summary>
    private sealed class LineContext(int line, Sink sink)
    {
        public int Line { get; } = line;
        public bool Failed { get; private set; }
        public void Error(string message) { Failed = true; sink.Errors.Add(new DatasetIssue(Line, message)); }
        public void Warning(string message) => sink.Warnings.Add(new DatasetIssue(Line, message));
    }

    private static readonly HashSet<string> MessageFields = ["role", "content", "weight", "name"];

    private static List<TrainingMessage>? ReadChat(JsonElement root, LineContext cx)
    {
        if (!root.TryGetProperty("messages", out var array)) { cx.Error("missing \"messages\""); return null; }
        if (array.ValueKind != JsonValueKind.Array) { cx.Error($"\"messages\" must be an array (got {Kind(array)})"); return null; }
        if (array.GetArrayLength() == 0) { cx.Error("\"messages\" is empty"); return null; }
        var messages = new List<TrainingMessage>();
        int i = -1;
        foreach (var m in array.EnumerateArray())
        {
            i++;
            var at = $"messages[{i}]";
            if (m.ValueKind != JsonValueKind.Object) { cx.Error($"{at} must be an object (got {Kind(m)})"); continue; }
            ChatRole? role = null;
            if (!m.TryGetProperty("role", out var r)) cx.Error($"{at}: missing \"role\"");
            else if (r.ValueKind != JsonValueKind.String) cx.Error($"{at}.role must be a string (got {Kind(r)})");
            else role = r.GetString() switch
            {
                "system" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                var other => Fail(cx, $"{at}: unknown role \"{other}\" (expected system, user or assistant)"),
            };
            var roleName = role?.Value ?? "?";
            string? content = null;
            if (!m.TryGetProperty("content", out var c)) cx.Error($"{at} ({roleName}): missing \"content\"");
            else content = ReadContent(c, $"{at}.content", cx);
            if (content is not null && string.IsNullOrWhiteSpace(content)) { cx.Error($"{at} ({roleName}): empty content"); content = null; }
            float weight = 1;
            if (m.TryGetProperty("weight", out var w))
            {
                if (role is { } known && known != ChatRole.Assistant) cx.Error($"{at}: \"weight\" is only allowed on assistant messages (this one is {known.Value})");
                else if (w.ValueKind != JsonValueKind.Number) cx.Error($"{at}.weight must be 0 or 1 (got {Kind(w)})");
                else if (w.GetDouble() is var d && d != 0 && d != 1) cx.Error($"{at}.weight must be 0 or 1 (got {w.GetRawText()})");
                else weight = (float)w.GetDouble();
            }
            foreach (var p in m.EnumerateObject())
                if (!MessageFields.Contains(p.Name)) cx.Warning($"{at}: ignoring unknown field \"{p.Name}\"");
            if (role is { } ok && content is not null) messages.Add(new TrainingMessage(ok, content, weight));
        }
        if (cx.Failed) return null;
        var assistants = messages.Where(m => m.Role == ChatRole.Assistant).ToList();
        if (assistants.Count == 0) { cx.Error("no assistant message (nothing to train on)"); return null; }
        if (assistants.All(m => m.Weight == 0)) cx.Warning("every assistant message has weight 0 (nothing to train on)");
        for (int k = 1; k < messages.Count; k++)
            if (messages[k].Role == ChatRole.System) cx.Warning($"messages[{k}]: system message after the first turn");
        if (messages[^1].Role != ChatRole.Assistant)
            cx.Warning($"the conversation ends with a {messages[^1].Role.Value} message, which is not trained on");
        return messages;
    }

    private static ChatRole? Fail(LineContext cx, string message) { cx.Error(message); return null; }

    /// <summary>A string, or an OpenAI content-part array whose parts are all text (joined).</summary>
    private static string? ReadContent(JsonElement c, string at, LineContext cx)
    {
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) { cx.Error($"{at} must be a string (got {Kind(c)})"); return null; }
        var sb = new StringBuilder();
        int j = -1;
        foreach (var part in c.EnumerateArray())
        {
            j++;
            if (part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var t) && t.ValueEquals("text")
                && part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                sb.Append(text.GetString());
            else { cx.Error($"{at}[{j}] must be a text part {{\"type\":\"text\",\"text\":\"…\"}} (only text content can be trained on)"); return null; }
        }
        return sb.ToString();
    }

    /// <summary>prompt/completion or instruction[/input]/output → user + assistant.</summary>
    private static List<TrainingMessage>? ReadPair(JsonElement root, LineContext cx, string userField, string assistantField, string? inputField)
    {
        string? Field(string name, bool required)
        {
            if (!root.TryGetProperty(name, out var v) || (!required && v.ValueKind == JsonValueKind.Null))
            {
                if (required) cx.Error($"missing \"{name}\"");
                return null;
            }
            if (v.ValueKind != JsonValueKind.String) { cx.Error($"\"{name}\" must be a string (got {Kind(v)})"); return null; }
            var s = v.GetString()!;
            if (required && string.IsNullOrWhiteSpace(s)) { cx.Error($"empty \"{name}\""); return null; }
            return s;
        }
        var user = Field(userField, true);
        var input = inputField is null ? null : Field(inputField, false);
        var assistant = Field(assistantField, true);
        if (cx.Failed) return null;
        if (!string.IsNullOrWhiteSpace(input)) user += "\n\n" + input;
        return [new TrainingMessage(ChatRole.User, user!), new TrainingMessage(ChatRole.Assistant, assistant!)];
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.True or JsonValueKind.False => "boolean",
        var k => k.ToString().ToLowerInvariant(),
    };

    private static string At(JsonException ex) => ex.BytePositionInLine is { } b ? $" at character {b + 1}" : "";

    /// <summary>System.Text.Json's message without its "LineNumber: 0 | BytePositionInLine: 7." suffix.</summary>
    private static string JsonReason(JsonException ex)
    {
        var m = ex.Message;
        var cut = m.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut >= 0 ? m[..cut] : m).TrimEnd('.', ' ');
    }

    // ---- CSV / TSV ---------------------------------------------------------------------------------------------

    private static void LoadCsv(string path, TextReader reader, char delimiter, CsvColumns? columns, Sink sink)
    {
        var csv = new CsvRecordReader(reader, delimiter);
        try
        {
            if (!csv.TryRead(out var header, out _) || header is [""])
            {
                sink.Errors.Add(new DatasetIssue(1, "the file is empty; a header row is required"));
                return;
            }
            header = header.Select(h => h.Trim()).ToList();
            var headerText = string.Join(", ", header);
            if (columns is null)
            {
                if (!header.Contains(CsvColumns.Default.User) || !header.Contains(CsvColumns.Default.Assistant))
                {
                    sink.Errors.Add(new DatasetIssue(1, $"CSV needs a column mapping (--columns user=COLUMN,assistant=COLUMN[,system=COLUMN]); the header has: {headerText}"));
                    return;
                }
                columns = CsvColumns.Default with { System = header.Contains("system") ? "system" : null };
            }
            int Index(string role, string column)
            {
                var i = header.IndexOf(column);
                if (i < 0) sink.Errors.Add(new DatasetIssue(1, $"{role} column \"{column}\" not found in the header ({headerText})"));
                return i;
            }
            int user = Index("user", columns.User), assistant = Index("assistant", columns.Assistant);
            int system = columns.System is { } s ? Index("system", s) : -1;
            if (user < 0 || assistant < 0 || (columns.System is not null && system < 0)) return;

            while (csv.TryRead(out var fields, out var line))
            {
                if (fields is [""]) continue; // blank line
                if (fields.Count != header.Count)
                {
                    sink.Errors.Add(new DatasetIssue(line, $"{fields.Count} fields but the header has {header.Count}"));
                    continue;
                }
                var cx = new LineContext(line, sink);
                if (string.IsNullOrWhiteSpace(fields[user])) cx.Error($"empty user column \"{columns.User}\"");
                if (string.IsNullOrWhiteSpace(fields[assistant])) cx.Error($"empty assistant column \"{columns.Assistant}\"");
                if (cx.Failed) continue;
                var messages = new List<TrainingMessage>();
                if (system >= 0 && !string.IsNullOrWhiteSpace(fields[system])) messages.Add(new TrainingMessage(ChatRole.System, fields[system]));
                messages.Add(new TrainingMessage(ChatRole.User, fields[user]));
                messages.Add(new TrainingMessage(ChatRole.Assistant, fields[assistant]));
                sink.Examples.Add(new ChatExample(messages, line));
            }
        }
        catch (CsvFormatException ex)
        {
            // Malformed quoting: the rest of the file cannot be split into records reliably.
            sink.Errors.Add(new DatasetIssue(ex.Line, ex.Problem + " (the rest of the file was not read)"));
        }
    }
}
