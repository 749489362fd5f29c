using System.Text.Json;

namespace OpenBook.Evaluation;

/// <summary>One evaluation question with its gold answer and the document that holds it.</summary>
/// <param name="Id">Unique id ("q001").</param>
/// <param name="Question">The question as a user would ask it.</param>
/// <param name="Answer">Short gold answer; null when the documents do not contain the answer.</param>
/// <param name="Source">Path of the oracle document relative to the corpus root ("hr/leave.md"); null when unanswerable.</param>
/// <param name="Quote">Exact text of the oracle document that supports the answer, when given.</param>
/// <param name="Collection">Collection hint, when given.</param>
/// <param name="Type">factual, numeric, multi-hop, unanswerable… (free text).</param>
public sealed record EvalQuestion(string Id, string Question, string? Answer, string? Source, string? Quote, string? Collection, string? Type)
{
    /// <summary>True when the documents are expected to answer the question.</summary>
    public bool Answerable => Source is not null;
}

/// <summary>Reads question files: JSON Lines with <c>id</c>, <c>question</c>, <c>answer</c>, <c>source</c>, <c>quote</c>, <c>collection</c>, <c>type</c>.</summary>
public static class QuestionSet
{
    /// <summary>Loads a JSONL question file; a bad line throws <see cref="OpenBookException"/> naming the file, line and field.</summary>
    public static IReadOnlyList<EvalQuestion> Load(string path)
    {
        if (!File.Exists(path)) throw new OpenBookException($"{path}: question file not found");
        var result = new List<EvalQuestion>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException e) { throw new OpenBookException($"{path}:{lineNo}: not valid JSON ({e.Message})"); }
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new OpenBookException($"{path}:{lineNo}: expected a JSON object");
                string? Field(string name, bool required)
                {
                    if (root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s) return s;
                    if (root.TryGetProperty(name, out v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.String))
                        throw new OpenBookException($"{path}:{lineNo}: field \"{name}\" must be a string");
                    if (required) throw new OpenBookException($"{path}:{lineNo}: field \"{name}\" is missing or empty");
                    return null;
                }
                var id = Field("id", false) ?? $"line{lineNo}";
                if (!ids.Add(id)) throw new OpenBookException($"{path}:{lineNo}: duplicate id \"{id}\"");
                result.Add(new EvalQuestion(id, Field("question", true)!, Field("answer", false), Field("source", false), Field("quote", false),
                    Field("collection", false), Field("type", false)));
            }
        }
        return result;
    }

    /// <summary>
    /// True when a retrieved passage's citation path names the question's source document: equal, or ending in
    /// "/" + source (the ingested folder's name comes first), ignoring a "#record" suffix of multi-record files.
    /// </summary>
    public static bool SameDocument(string hitSource, string questionSource)
    {
        var hash = hitSource.IndexOf('#', StringComparison.Ordinal);
        var path = (hash >= 0 ? hitSource[..hash] : hitSource).Replace('\\', '/');
        var want = questionSource.Replace('\\', '/').TrimStart('/');
        return path.Equals(want, StringComparison.Ordinal) || path.EndsWith("/" + want, StringComparison.Ordinal);
    }
}
