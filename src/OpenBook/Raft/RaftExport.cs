using System.Text.Json;
using System.Text.Json.Serialization;

using OpenBook.Answering;

namespace OpenBook.Raft;

/// <summary>Output formats of a RAFT dataset.</summary>
[Flags]
public enum RaftFormats
{
    /// <summary>raft.py's Hugging Face style records (id, type, question, context {title, sentences}, oracle_context, cot_answer, instruction).</summary>
    Hf = 1,
    /// <summary>OpenAI chat JSONL (system, user = documents + question, assistant = chain-of-thought answer), ready for fine-tuning.</summary>
    Chat = 2,
    /// <summary>Completion JSONL (prompt, completion).</summary>
    Completion = 4,
    /// <summary>An evaluation question set (question, answer, source, quote, oracle chunk id) that <c>openbook eval</c> reads.</summary>
    Eval = 8,
    /// <summary>Every format.</summary>
    All = Hf | Chat | Completion | Eval,
}

/// <summary>Writes RAFT datasets to files.</summary>
public static class RaftExport
{
    /// <summary>The system message of chat-format examples (and of RAFT inference).</summary>
    public const string SystemPrompt = RaftPrompt.SystemPrompt;

    private static readonly JsonSerializerOptions Options = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes the selected formats (and summary.json) into <paramref name="directory"/>; returns the paths written.</summary>
    public static IReadOnlyList<string> Write(RaftDataset dataset, string directory, RaftFormats formats = RaftFormats.All)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        void Lines(string name, Func<RaftExample, object> map)
        {
            var path = Path.Combine(directory, name);
            var temp = path + ".tmp";
            using (var w = new StreamWriter(temp))
                foreach (var e in dataset.Examples) w.WriteLine(JsonSerializer.Serialize(map(e), Options));
            File.Move(temp, path, overwrite: true);
            written.Add(path);
        }
        if (formats.HasFlag(RaftFormats.Hf))
            Lines("raft.hf.jsonl", e => new Dictionary<string, object?>
            {
                ["id"] = e.Id, ["type"] = "general", ["question"] = e.Question,
                ["context"] = new RaftHfContext([.. e.Context.Select(d => d.Source)], [[.. e.Context.Select(d => d.Text)]]),
                ["oracle_context"] = e.Oracle.Text, ["cot_answer"] = e.CotAnswer, ["instruction"] = e.Instruction,
            });
        if (formats.HasFlag(RaftFormats.Chat))
            Lines("raft.chat.jsonl", e => new RaftChatLine([new("system", SystemPrompt), new("user", e.Instruction), new("assistant", e.CotAnswer)]));
        if (formats.HasFlag(RaftFormats.Completion))
            Lines("raft.completion.jsonl", e => new RaftCompletionLine(e.Instruction, e.CotAnswer));
        if (formats.HasFlag(RaftFormats.Eval))
            Lines("raft.eval.jsonl", e => new RaftEvalLine(e.Id, e.Question, e.Answer, e.Oracle.Source, RaftPrompt.Quotes(e.CotAnswer).FirstOrDefault(), e.Oracle.ChunkId, true));
        var summaryPath = Path.Combine(directory, "summary.json");
        File.WriteAllText(summaryPath, JsonSerializer.Serialize(dataset.Summary, new JsonSerializerOptions(Options) { WriteIndented = true }));
        written.Add(summaryPath);
        return written;
    }
}

/// <summary>The <c>context</c> of a <c>raft.hf.jsonl</c> line, as raft.py writes it: titles and one list of sentences.</summary>
internal sealed record RaftHfContext(
    [property: JsonPropertyName("title")] IReadOnlyList<string> Title,
    [property: JsonPropertyName("sentences")] IReadOnlyList<IReadOnlyList<string>> Sentences);

/// <summary>A line of <c>raft.chat.jsonl</c> (OpenAI chat fine-tuning format).</summary>
internal sealed record RaftChatLine([property: JsonPropertyName("messages")] IReadOnlyList<RaftChatMessage> Messages);

/// <summary>A message of <see cref="RaftChatLine"/>.</summary>
internal sealed record RaftChatMessage([property: JsonPropertyName("role")] string Role, [property: JsonPropertyName("content")] string Content);

/// <summary>A line of <c>raft.completion.jsonl</c>.</summary>
internal sealed record RaftCompletionLine([property: JsonPropertyName("prompt")] string Prompt, [property: JsonPropertyName("completion")] string Completion);

/// <summary>A line of <c>raft.eval.jsonl</c> (the question set <c>openbook eval</c> reads).</summary>
internal sealed record RaftEvalLine(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("question")] string Question,
    [property: JsonPropertyName("answer")] string Answer,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("quote")] string? Quote,
    [property: JsonPropertyName("oracle_chunk_id")] long OracleChunkId,
    [property: JsonPropertyName("answerable")] bool Answerable);
