using System.Text.Json;

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
                ["context"] = new { title = e.Context.Select(d => d.Source).ToArray(), sentences = new[] { e.Context.Select(d => d.Text).ToArray() } },
                ["oracle_context"] = e.Oracle.Text, ["cot_answer"] = e.CotAnswer, ["instruction"] = e.Instruction,
            });
        if (formats.HasFlag(RaftFormats.Chat))
            Lines("raft.chat.jsonl", e => new
            {
                messages = new[]
                {
                    new { role = "system", content = SystemPrompt },
                    new { role = "user", content = e.Instruction },
                    new { role = "assistant", content = e.CotAnswer },
                },
            });
        if (formats.HasFlag(RaftFormats.Completion))
            Lines("raft.completion.jsonl", e => new { prompt = e.Instruction, completion = e.CotAnswer });
        if (formats.HasFlag(RaftFormats.Eval))
            Lines("raft.eval.jsonl", e => new
            {
                id = e.Id, question = e.Question, answer = e.Answer, source = e.Oracle.Source, quote = RaftPrompt.Quotes(e.CotAnswer).FirstOrDefault(),
                oracle_chunk_id = e.Oracle.ChunkId, answerable = true,
            });
        var summaryPath = Path.Combine(directory, "summary.json");
        File.WriteAllText(summaryPath, JsonSerializer.Serialize(dataset.Summary, new JsonSerializerOptions(Options) { WriteIndented = true }));
        written.Add(summaryPath);
        return written;
    }
}
