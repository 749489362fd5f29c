using System.Text;
using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Wordprocessing;

namespace OpenBook.Ingestion;

/// <summary>
/// Word documents (.docx) via DocumentFormat.OpenXml. Paragraphs in the "Title" style (level 0) and "Heading 1..9"
/// styles (by style id or name, or an outline level) start sections with a heading path; list paragraphs become
/// "- item" lines; tables become "a | b | c" rows. Title: the core property title, else the first Title/Heading 1.
/// </summary>
public sealed class DocxLoader : IBinaryDocumentLoader
{
    /// <inheritdoc />
    public IReadOnlyList<string> Extensions { get; } = [".docx"];

    /// <inheritdoc />
    public IEnumerable<LoadedDocument> Load(string path, Stream content, LoaderOptions options) =>
        LoadErrors.Guard(path, "DOCX", () =>
        {
            CheckArchive(path, content, options.Limits);
            return [LoadDocument(path, content)];
        });

    /// <summary>
    /// Zip-bomb guard: counts the entries and decompresses every one into nothing, stopping as soon as the total
    /// passes <see cref="InputLimits.MaxArchiveBytes"/> (the sizes in the zip headers are not trusted).
    /// </summary>
    private static void CheckArchive(string path, Stream content, InputLimits limits)
    {
        if (!content.CanSeek) return;
        var start = content.Position;
        try
        {
            using var zip = new System.IO.Compression.ZipArchive(content, System.IO.Compression.ZipArchiveMode.Read, leaveOpen: true);
            if (zip.Entries.Count > limits.MaxArchiveEntries)
                throw new DocumentLoadException(path, $"the .docx holds {zip.Entries.Count} parts, more than the limit of {limits.MaxArchiveEntries}");
            long total = 0;
            var buffer = new byte[1 << 16];
            foreach (var entry in zip.Entries)
            {
                using var s = entry.Open();
                int n;
                while ((n = s.Read(buffer, 0, buffer.Length)) > 0)
                {
                    total += n;
                    if (total > limits.MaxArchiveBytes)
                        throw new DocumentLoadException(path,
                            $"the .docx expands to more than {InputLimits.Size(limits.MaxArchiveBytes).Replace("-byte", " bytes")} (a zip bomb?); not read (limit: InputLimits.MaxArchiveBytes)");
                }
            }
        }
        catch (InvalidDataException)
        {
            // Not a zip (or a damaged one): the Open below reports it.
        }
        finally
        {
            content.Position = start;
        }
    }

    private static LoadedDocument LoadDocument(string path, Stream content)
    {
        WordprocessingDocument word;
        try { word = WordprocessingDocument.Open(content, false); }
        catch (Exception e)
        {
            throw new DocumentLoadException(path, IsOleCompound(content)
                ? "the .docx is encrypted (password protected) or a legacy binary Word file; save it as a plain .docx"
                : $"corrupt or not a .docx file ({e.Message})", e);
        }
        using (word)
        {
            var body = word.MainDocumentPart?.Document?.Body
                ?? throw new DocumentLoadException(path, "the .docx has no document body");
            var styles = StyleNames(word);
            var builder = new SectionBuilder();
            var list = new StringBuilder();
            void FlushList()
            {
                if (list.Length == 0) return;
                builder.Paragraph(list.ToString());
                list.Clear();
            }
            foreach (var element in body.ChildElements)
            {
                switch (element)
                {
                    case Paragraph paragraph:
                        var text = ParagraphText(paragraph);
                        var level = HeadingLevel(paragraph, styles);
                        if (level is not null) { FlushList(); builder.Heading(level.Value, text); }
                        else if (IsListItem(paragraph, styles))
                        {
                            if (text.Trim().Length == 0) break;
                            if (list.Length > 0) list.Append('\n');
                            list.Append("- ").Append(text.Trim());
                        }
                        else { FlushList(); builder.Paragraph(text); }
                        break;
                    case Table table:
                        FlushList();
                        builder.Paragraph(TableText(table));
                        break;
                }
            }
            FlushList();
            var title = word.PackageProperties.Title;
            return new LoadedDocument(path, string.IsNullOrWhiteSpace(title) ? builder.FirstTopHeading : title.Trim(), builder.Build());
        }
    }

    private static bool IsOleCompound(Stream content)
    {
        if (!content.CanSeek) return false;
        content.Position = 0;
        Span<byte> magic = stackalloc byte[8];
        return content.Read(magic) == 8 && magic.SequenceEqual(new byte[] { 0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1 });
    }

    private static Dictionary<string, string> StyleNames(WordprocessingDocument word)
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var styles = word.MainDocumentPart?.StyleDefinitionsPart?.Styles;
        if (styles is null) return map;
        foreach (var style in styles.Elements<Style>())
            if (style.StyleId?.Value is { } id && style.StyleName?.Val?.Value is { } name) map[id] = name;
        return map;
    }

    /// <summary>0 for Title, 1..9 for headings, null for body text.</summary>
    private static int? HeadingLevel(Paragraph paragraph, Dictionary<string, string> styles)
    {
        var props = paragraph.ParagraphProperties;
        var styleId = props?.ParagraphStyleId?.Val?.Value;
        if (styleId is not null)
        {
            var name = styles.TryGetValue(styleId, out var n) ? n : styleId;
            foreach (var candidate in new[] { name, styleId })
            {
                var compact = candidate.Replace(" ", "");
                if (compact.Equals("Title", StringComparison.OrdinalIgnoreCase)) return 0;
                if (compact.StartsWith("heading", StringComparison.OrdinalIgnoreCase)
                    && int.TryParse(compact.AsSpan(7), out var level) && level is >= 1 and <= 9)
                    return level;
            }
        }
        if (props?.OutlineLevel?.Val?.Value is { } outline && outline < 9) return outline + 1;
        return null;
    }

    private static bool IsListItem(Paragraph paragraph, Dictionary<string, string> styles)
    {
        var props = paragraph.ParagraphProperties;
        if (props?.NumberingProperties is not null) return true;
        var styleId = props?.ParagraphStyleId?.Val?.Value;
        if (styleId is null) return false;
        var name = styles.TryGetValue(styleId, out var n) ? n : styleId;
        return name.Replace(" ", "").StartsWith("List", StringComparison.OrdinalIgnoreCase);
    }

    private static string ParagraphText(OpenXmlElement paragraph)
    {
        var sb = new StringBuilder();
        foreach (var node in paragraph.Descendants())
        {
            switch (node)
            {
                case Text t: sb.Append(t.Text); break;
                case TabChar: sb.Append(' '); break;
                case Break or CarriageReturn: sb.Append('\n'); break;
                case NoBreakHyphen: sb.Append('-'); break;
            }
        }
        return sb.ToString();
    }

    private static string TableText(Table table) =>
        string.Join("\n", table.Elements<TableRow>()
            .Select(row => string.Join(" | ", row.Elements<TableCell>()
                .Select(cell => LoaderText.CollapseWhitespace(string.Join(" ", cell.Elements<Paragraph>().Select(ParagraphText))))))
            .Where(r => r.Replace("|", "").Trim().Length > 0));
}
