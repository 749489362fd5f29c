using System.Text.Json;

namespace OpenBook.Models.Pretraining;

/// <summary>
/// Pretraining documents from files: plain text (<c>.txt</c>, <c>.md</c>, anything not JSONL: one document per file)
/// and JSON Lines (<c>.jsonl</c>: one document per line, its <c>"text"</c> field, as Hugging Face datasets store
/// corpora). Files are untrusted input: each is bounded in size, and a bad line is reported with file and line.
/// </summary>
public static class PretrainCorpus
{
    /// <summary>Largest file read (bytes).</summary>
    public const long MaxFileBytes = 2L << 30;

    /// <summary>The documents of <paramref name="paths"/>, file by file, in order.</summary>
    public static IEnumerable<string> ReadFiles(IEnumerable<string> paths)
    {
        foreach (var path in paths)
        {
            if (!File.Exists(path)) throw new OpenBookException($"--data {path}: file not found.");
            if (new FileInfo(path).Length > MaxFileBytes) throw new OpenBookException($"--data {path}: larger than {MaxFileBytes >> 30} GiB; split it.");
            if (!path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
            {
                yield return File.ReadAllText(path);
                continue;
            }
            int line = 0;
            foreach (var text in File.ReadLines(path))
            {
                line++;
                if (string.IsNullOrWhiteSpace(text)) continue;
                string? doc;
                try
                {
                    using var json = JsonDocument.Parse(text);
                    doc = json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String
                        ? t.GetString() : null;
                }
                catch (JsonException e)
                {
                    throw new OpenBookException($"{path}:{line}: not valid JSON ({e.Message.Split('.')[0]}).");
                }
                yield return doc ?? throw new OpenBookException($"{path}:{line}: expected an object with a string field \"text\".");
            }
        }
    }
}
