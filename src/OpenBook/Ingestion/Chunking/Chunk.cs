namespace OpenBook.Ingestion;

/// <summary>A piece of a document sized for retrieval.</summary>
/// <param name="Index">0-based position in the document's chunk list.</param>
/// <param name="Text">The chunk text: exactly <c>document.FullText[CharStart..CharEnd]</c>.</param>
/// <param name="Page">1-based page of the chunk's first character (PDF), else null.</param>
/// <param name="Headings">Heading path (common path when tiny sections were merged).</param>
/// <param name="CharStart">Start offset in <see cref="LoadedDocument.FullText"/> (inclusive).</param>
/// <param name="CharEnd">End offset in <see cref="LoadedDocument.FullText"/> (exclusive).</param>
/// <param name="TokenCount">Tokens of <paramref name="Text"/> by the chunker's counter.</param>
public sealed record Chunk(int Index, string Text, int? Page, IReadOnlyList<string> Headings, int CharStart, int CharEnd, int TokenCount);

/// <summary>Formats human-readable citations such as "handbook/leave.pdf p.3 › Vacation › Carry-over".</summary>
public static class CitationFormat
{
    /// <summary>Separator between the source, page and heading path parts.</summary>
    public const string Separator = " › ";

    /// <summary>"source p.N › H1 › H2" (page and headings only when present; '\' in the source becomes '/').</summary>
    public static string Format(string source, int? page, IReadOnlyList<string>? headings)
    {
        var text = source.Replace('\\', '/');
        if (page is { } p) text += $" p.{p}";
        if (headings is { Count: > 0 }) text += Separator + string.Join(Separator, headings);
        return text;
    }

    /// <summary>The citation of a chunk of a document from <paramref name="source"/>.</summary>
    public static string Format(string source, Chunk chunk) => Format(source, chunk.Page, chunk.Headings);
}
