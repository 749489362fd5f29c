namespace OpenBook.Ingestion;

/// <summary>
/// One logical section of a loaded document: the body under a heading, one PDF page, one table, one CSV row.
/// Sections are the unit the chunker never merges across (unless a section is tiny).
/// </summary>
/// <param name="Text">Plain text of the section (no markup).</param>
/// <param name="Headings">Heading path from the document root, e.g. ["Vacation", "Carry-over"]. Empty when none.</param>
/// <param name="Page">1-based page number for paginated formats (PDF), otherwise null.</param>
public sealed record DocumentSection(string Text, IReadOnlyList<string> Headings, int? Page = null);

/// <summary>A document produced by a loader, before chunking.</summary>
/// <param name="SourcePath">Path of the file it came from, as given to the loader.</param>
/// <param name="Title">Title if the format has one (HTML &lt;title&gt;, first H1, PDF info), else null.</param>
/// <param name="Sections">Sections in reading order.</param>
public sealed record LoadedDocument(string SourcePath, string? Title, IReadOnlyList<DocumentSection> Sections)
{
    /// <summary>Separator placed between sections in <see cref="FullText"/>; chunk offsets refer to that text.</summary>
    public const string SectionSeparator = "\n\n";

    /// <summary>
    /// For files that hold many documents (JSON lines, CSV rows): a stable key of this record within the file
    /// (e.g. "line:12", "row:4" or the value of a configured id field). Null for one-document files.
    /// </summary>
    public string? RecordKey { get; init; }

    /// <summary>Free-form metadata from the source (author, created date, JSON fields...).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>All section texts joined by <see cref="SectionSeparator"/>; chunk character offsets index into this string.</summary>
    public string FullText => string.Join(SectionSeparator, Sections.Select(s => s.Text));
}

/// <summary>Raised by a loader for a file it cannot read (corrupt, encrypted, wrong format). Ingestion reports it and goes on.</summary>
public sealed class DocumentLoadException(string path, string reason, Exception? inner = null)
    : Exception($"{path}: {reason}", inner)
{
    /// <summary>The file that failed.</summary>
    public string Path { get; } = path;
    /// <summary>Why it failed, in words a user can act on.</summary>
    public string Reason { get; } = reason;

    /// <summary>A failure at a line of a text file: <see cref="Reason"/> reads "line N: problem".</summary>
    public DocumentLoadException(string path, int line, string problem) : this(path, $"line {line}: {problem}")
    {
        Line = line;
        Problem = problem;
    }

    /// <summary>The 1-based line the failure is at, when it is at one.</summary>
    public int? Line { get; }

    /// <summary>The reason without its line, when <see cref="Line"/> is set; otherwise <see cref="Reason"/>.</summary>
    public string Problem { get; } = reason;
}
