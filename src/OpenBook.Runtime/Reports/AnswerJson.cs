using OpenBook.Answering;

namespace OpenBook.Runtime.Reports;

/// <summary>A search result in JSON (<c>openbook search --json</c>, the server's search endpoint).</summary>
public sealed record SearchHitJson(int Rank, double Score, string Text, string Source, int? Page, IReadOnlyList<string> Headings, string ChunkId, string Collection)
{
    /// <summary>The JSON of <paramref name="h"/> (the chunk id as a string: JavaScript loses 64-bit integers).</summary>
    public static SearchHitJson Of(SearchHit h) => new(h.Rank, Math.Round(h.Score, 6), h.Text, h.Source, h.Page, h.Headings,
        h.ChunkId.ToString(System.Globalization.CultureInfo.InvariantCulture), h.Collection);
}

/// <summary><c>openbook search --json</c>.</summary>
public sealed record SearchResultsJson(IReadOnlyList<SearchHitJson> Results);

/// <summary>A citation in JSON.</summary>
public sealed record CitationJson(int N, string Source, int? Page, string Text, IReadOnlyList<string> Headings, string ChunkId)
{
    /// <summary>The JSON of <paramref name="c"/>.</summary>
    public static CitationJson Of(Citation c) => new(c.N, c.Source, c.Page, c.Text, c.Headings, c.ChunkId.ToString(System.Globalization.CultureInfo.InvariantCulture));
}

/// <summary>
/// An answer in JSON (<c>openbook ask --json</c>, each line of <c>chat --json</c>): text, "extractive" or "llm", the
/// citations, and for model answers the prompt ("grounded" or "raft") and the token counts the model reported.
/// </summary>
public sealed record AnswerJson(string Answer, string Mode, bool Found, IReadOnlyList<CitationJson> Citations, string? Prompt, long? InputTokens, long? OutputTokens)
{
    /// <summary>The JSON of <paramref name="a"/>.</summary>
    public static AnswerJson Of(Answer a) => new(a.Text, a.Mode == AnswerMode.Llm ? "llm" : "extractive", a.Found, a.Citations.Select(CitationJson.Of).ToList(),
        a.Mode == AnswerMode.Llm ? (a.Prompt == AnswerPrompt.Raft ? "raft" : "grounded") : null, a.InputTokens, a.OutputTokens);
}
