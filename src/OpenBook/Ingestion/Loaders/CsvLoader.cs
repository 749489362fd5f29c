using System.Text;
using OpenBook.Shared;

namespace OpenBook.Ingestion;

/// <summary>
/// CSV (.csv) and TSV (.tsv) per RFC 4180: a header row is required; quoted fields may hold delimiters, doubled
/// quotes and line breaks. <see cref="CsvMode.PerRow"/> (default) makes one document per data row with
/// "column: value" lines from the text columns, <see cref="LoadedDocument.RecordKey"/> from the id column (else
/// "row:N", N counting data rows from 1) and the other columns as metadata. <see cref="CsvMode.PerFile"/> makes one
/// document whose text is the header and the rows as "a | b | c" lines. Errors name the line.
/// </summary>
public sealed class CsvLoader : IDocumentLoader
{
    /// <inheritdoc />
    public IReadOnlyList<string> Extensions { get; } = [".csv", ".tsv"];

    /// <inheritdoc />
    public IEnumerable<LoadedDocument> Load(string path, Stream content, LoaderOptions options)
    {
        var csv = options.Csv;
        char delimiter = csv.Delimiter ?? (Path.GetExtension(path).Equals(".tsv", StringComparison.OrdinalIgnoreCase) ? '\t' : ',');
        return LoadErrors.Guard(path, "CSV", () => LoadRecords(path, content, csv, delimiter));
    }

    /// <summary>The next record; malformed quoting becomes a <see cref="DocumentLoadException"/> naming the file and line.</summary>
    private static bool TryRead(CsvRecordReader parser, string path, out List<string> fields, out int line)
    {
        try { return parser.TryRead(out fields, out line); }
        catch (CsvFormatException ex) { throw new DocumentLoadException(path, ex.Line, ex.Problem); }
    }

    private static IEnumerable<LoadedDocument> LoadRecords(string path, Stream content, CsvLoaderOptions options, char delimiter)
    {
        using var reader = new StreamReader(content, Encoding.UTF8, true, 1 << 16, leaveOpen: true);
        var parser = new CsvRecordReader(reader, delimiter);
        if (!TryRead(parser, path, out var header, out _))
            throw new DocumentLoadException(path, "the file is empty; a header row is required");
        header = header.Select(h => h.Trim()).ToList();
        int ColumnIndex(string column) => header.IndexOf(column) is var i and >= 0 ? i
            : throw new DocumentLoadException(path, $"column '{column}' not found in the header ({string.Join(", ", header)})");
        int? idColumn = options.IdColumn is { } idName ? ColumnIndex(idName) : null;
        var textColumns = options.TextColumns is { } names
            ? names.Select(ColumnIndex).ToArray()
            : Enumerable.Range(0, header.Count).Where(i => i != idColumn).ToArray();

        var perFile = options.Mode == CsvMode.PerFile ? new StringBuilder(string.Join(" | ", header)) : null;
        int row = 0;
        while (TryRead(parser, path, out var fields, out var line))
        {
            if (fields.Count == 1 && fields[0].Length == 0) continue; // blank line
            if (fields.Count != header.Count)
                throw new DocumentLoadException(path, line, $"{fields.Count} fields but the header has {header.Count}");
            row++;
            if (perFile is not null)
            {
                perFile.Append('\n').Append(string.Join(" | ", fields.Select(LoaderText.CollapseWhitespace)));
                continue;
            }
            var text = string.Join("\n", textColumns
                .Where(i => fields[i].Trim().Length > 0)
                .Select(i => $"{header[i]}: {LoaderText.CollapseWhitespace(fields[i])}"));
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < header.Count; i++)
                if (i != idColumn && !textColumns.Contains(i)) metadata[header[i]] = fields[i];
            var builder = new SectionBuilder();
            builder.Paragraph(text);
            yield return new LoadedDocument(path, null, builder.Build())
            {
                RecordKey = idColumn is { } id ? fields[id] : $"row:{row}",
                Metadata = metadata,
            };
        }
        if (perFile is not null)
        {
            var builder = new SectionBuilder();
            builder.Paragraph(perFile.ToString());
            yield return new LoadedDocument(path, null, builder.Build());
        }
    }
}
