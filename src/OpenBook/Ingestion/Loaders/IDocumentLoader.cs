using System.Diagnostics.CodeAnalysis;

namespace OpenBook.Ingestion;

/// <summary>Turns the bytes of one file into one or more <see cref="LoadedDocument"/>s.</summary>
/// <remarks>
/// Implementations throw only <see cref="DocumentLoadException"/> (never a raw library exception). Loaders of
/// multi-record files (JSON lines, CSV rows) yield lazily, so enumeration may throw after some documents were
/// produced; materialise with <c>ToList()</c> when all-or-nothing is needed.
/// </remarks>
public interface IDocumentLoader
{
    /// <summary>Lower-case file extensions this loader reads, with the dot (".md").</summary>
    IReadOnlyList<string> Extensions { get; }

    /// <summary>Loads the documents in <paramref name="content"/>.</summary>
    /// <param name="path">Source path used in <see cref="LoadedDocument.SourcePath"/> and in error messages.</param>
    /// <param name="content">The file content; read, not disposed.</param>
    /// <param name="options">Format options (JSON fields, CSV mode...).</param>
    IEnumerable<LoadedDocument> Load(string path, Stream content, LoaderOptions options);
}

/// <summary>Options for the loaders. Formats ignore the parts that do not concern them.</summary>
public sealed record LoaderOptions
{
    /// <summary>Default options: JSON text field "text", CSV one document per row.</summary>
    public static LoaderOptions Default { get; } = new();

    /// <summary>Options of the .json/.jsonl/.ndjson loader.</summary>
    public JsonLoaderOptions Json { get; init; } = new();

    /// <summary>Options of the .csv/.tsv loader.</summary>
    public CsvLoaderOptions Csv { get; init; } = new();

    /// <summary>Size, archive and nesting limits (untrusted input).</summary>
    public InputLimits Limits { get; init; } = InputLimits.Default;

    /// <summary>
    /// For multi-record files (JSON lines, JSON arrays, CSV): called with each bad record, whose line it names,
    /// and the rest of the file is read. Null (the default): the first bad record fails the whole file.
    /// </summary>
    public Action<DocumentLoadException>? RecordSkipped { get; init; }

    /// <summary>Called with a note about a file that was read with a problem (e.g. read as plain text); null: no notes.</summary>
    public Action<string>? Noted { get; init; }
}

/// <summary>How JSON records become documents (like raft.py's <c>json</c> doctype: one document per record).</summary>
public sealed record JsonLoaderOptions
{
    /// <summary>Field holding the text; dotted paths reach nested objects ("body.text"). A string or an array of strings.</summary>
    public string TextField { get; init; } = "text";

    /// <summary>Optional field whose value becomes <see cref="LoadedDocument.RecordKey"/> (default: "line:N" / "index:N").</summary>
    public string? IdField { get; init; }

    /// <summary>Optional field whose value becomes the title.</summary>
    public string? TitleField { get; init; }

    /// <summary>Fields copied to metadata. Null: every other top-level scalar field. Empty: none.</summary>
    public IReadOnlyList<string>? MetadataFields { get; init; }
}

/// <summary>Whether a CSV file is one document or one document per row.</summary>
public enum CsvMode
{
    /// <summary>Each data row is a document (the default).</summary>
    PerRow,
    /// <summary>The whole file is one document; each row is a line "a | b | c".</summary>
    PerFile,
}

/// <summary>How CSV files (RFC 4180, header row required) become documents.</summary>
public sealed record CsvLoaderOptions
{
    /// <summary>Per row (default) or per file.</summary>
    public CsvMode Mode { get; init; } = CsvMode.PerRow;

    /// <summary>Columns whose values form the text, as "column: value" lines. Null: every column except the id column.</summary>
    public IReadOnlyList<string>? TextColumns { get; init; }

    /// <summary>Optional column whose value becomes <see cref="LoadedDocument.RecordKey"/> (default "row:N").</summary>
    public string? IdColumn { get; init; }

    /// <summary>Field delimiter; null: ',' for .csv and tab for .tsv.</summary>
    public char? Delimiter { get; init; }
}

/// <summary>Maps file extensions to loaders. <see cref="CreateDefault"/> knows every built-in format.</summary>
public sealed class LoaderRegistry
{
    private readonly Dictionary<string, IDocumentLoader> _byExtension = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>A registry with the built-in loaders: .txt, .md, .html/.htm, .pdf, .docx, .json/.jsonl/.ndjson, .csv/.tsv.</summary>
    public static LoaderRegistry CreateDefault()
    {
        var registry = new LoaderRegistry();
        registry.Register(new TextLoader());
        registry.Register(new MarkdownLoader());
        registry.Register(new HtmlLoader());
        registry.Register(new PdfLoader());
        registry.Register(new DocxLoader());
        registry.Register(new JsonLoader());
        registry.Register(new CsvLoader());
        return registry;
    }

    /// <summary>Adds a loader; it replaces any loader registered before for the same extensions.</summary>
    public LoaderRegistry Register(IDocumentLoader loader)
    {
        ArgumentNullException.ThrowIfNull(loader);
        foreach (var ext in loader.Extensions) _byExtension[ext] = loader;
        return this;
    }

    /// <summary>Known extensions, sorted.</summary>
    public IReadOnlyList<string> Extensions => _byExtension.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>Finds the loader for a path by its extension.</summary>
    public bool TryGet(string path, [NotNullWhen(true)] out IDocumentLoader? loader)
    {
        var ext = Path.GetExtension(path);
        if (string.IsNullOrEmpty(ext)) { loader = null; return false; }
        return _byExtension.TryGetValue(ext, out loader);
    }

    /// <summary>
    /// Opens and fully loads a file. Every failure (unknown type, unreadable file, corrupt content) is a
    /// <see cref="DocumentLoadException"/>.
    /// </summary>
    /// <param name="filePath">File to open.</param>
    /// <param name="sourcePath">Path recorded in the documents and errors (default: <paramref name="filePath"/>).</param>
    /// <param name="options">Loader options (default <see cref="LoaderOptions.Default"/>).</param>
    public IReadOnlyList<LoadedDocument> LoadFile(string filePath, string? sourcePath = null, LoaderOptions? options = null)
    {
        sourcePath ??= filePath;
        if (!TryGet(filePath, out var loader))
            throw new DocumentLoadException(sourcePath, $"unsupported file type '{Path.GetExtension(filePath)}'");
        options ??= LoaderOptions.Default;
        var bytes = UntrustedFile.ReadAllBytes(filePath, sourcePath, options.Limits);
        using var stream = new MemoryStream(bytes, writable: false);
        return loader.Load(sourcePath, stream, options).ToList();
    }
}
