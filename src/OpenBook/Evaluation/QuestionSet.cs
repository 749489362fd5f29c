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
    /// <summary>Every accepted answer: <see cref="Answer"/> plus the optional <c>answers</c> list.</summary>
    public IReadOnlyList<string> Answers { get; init; } = Answer is null ? [] : [Answer];

    /// <summary>
    /// True when the documents are expected to answer the question: the <c>answerable</c> field when present, else
    /// whether an answer or a source is given.
    /// </summary>
    public bool Answerable { get; init; } = Answer is not null || Source is not null;
}

/// <summary>
/// Reads question files: JSON Lines with <c>question</c> (required) and optional <c>id</c>, <c>answer</c>,
/// <c>answers</c> (array of accepted answers), <c>source</c>, <c>quote</c>, <c>collection</c>, <c>type</c>,
/// <c>answerable</c> (bool).
/// </summary>
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
                var answer = Field("answer", false);
                var answers = new List<string>();
                if (answer is not null) answers.Add(answer);
                if (root.TryGetProperty("answers", out var list) && list.ValueKind != JsonValueKind.Null)
                {
                    if (list.ValueKind != JsonValueKind.Array || list.EnumerateArray().Any(a => a.ValueKind != JsonValueKind.String))
                        throw new OpenBookException($"{path}:{lineNo}: field \"answers\" must be an array of strings");
                    answers.AddRange(list.EnumerateArray().Select(a => a.GetString()!).Where(a => a.Length > 0 && !answers.Contains(a)));
                }
                var source = Field("source", false);
                bool? answerable = null;
                if (root.TryGetProperty("answerable", out var flag) && flag.ValueKind != JsonValueKind.Null)
                    answerable = flag.ValueKind switch
                    {
                        JsonValueKind.True => true,
                        JsonValueKind.False => false,
                        _ => throw new OpenBookException($"{path}:{lineNo}: field \"answerable\" must be true or false"),
                    };
                var question = Field("question", true)!;
                if (answerable == true && answers.Count == 0)
                    throw new OpenBookException($"{path}:{lineNo}: \"answerable\" is true but there is no \"answer\" (or \"answers\")");
                if (answerable == false && answers.Count > 0)
                    throw new OpenBookException($"{path}:{lineNo}: \"answerable\" is false but an \"answer\" is given");
                result.Add(new EvalQuestion(id, question, answers.FirstOrDefault(), source, Field("quote", false),
                    Field("collection", false), Field("type", false))
                {
                    Answers = answers,
                    Answerable = answerable ?? (answers.Count > 0 || source is not null),
                });
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
        var path = DocumentPath(hitSource);
        var want = DocumentKey(questionSource);
        return path.Equals(want, StringComparison.Ordinal) || path.EndsWith("/" + want, StringComparison.Ordinal);
    }

    /// <summary>
    /// The keys under which a hit's source matches a question's <see cref="DocumentKey"/> — its path and every suffix after
    /// a '/' — so that <see cref="SameDocument"/> can be answered by a dictionary lookup instead of a scan.
    /// </summary>
    public static IEnumerable<string> DocumentKeys(string hitSource)
    {
        var path = DocumentPath(hitSource);
        yield return path;
        for (int i = path.IndexOf('/'); i >= 0; i = path.IndexOf('/', i + 1)) yield return path[(i + 1)..];
    }

    /// <summary>A hit's source without its <c>#fragment</c>, with '/' separators.</summary>
    private static string DocumentPath(string hitSource)
    {
        var hash = hitSource.IndexOf('#', StringComparison.Ordinal);
        return (hash >= 0 ? hitSource[..hash] : hitSource).Replace('\\', '/');
    }

    /// <summary>A question's source as <see cref="DocumentKeys"/> keys it.</summary>
    public static string DocumentKey(string questionSource) => questionSource.Replace('\\', '/').TrimStart('/');
}
