using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Wordprocessing;

namespace OpenBook.SampleCorpus;

/// <summary>
/// Renders a <see cref="SourceDocument"/> as a .docx: headings in the built-in "Heading1"/"Heading2" styles,
/// bullets as numbered-list paragraphs ("ListBullet"), tables in "TableGrid" with a bold header row. Core properties
/// are fixed and the zip is rewritten with fixed entry times, so output is byte-stable.
/// </summary>
internal static class DocxRenderer
{
    private const int BulletNumberingId = 1;

    public static byte[] Render(SourceDocument source, DateTime timestamp)
    {
        using var package = new MemoryStream();
        using (var word = WordprocessingDocument.Create(package, WordprocessingDocumentType.Document))
        {
            var main = word.AddMainDocumentPart();
            main.AddNewPart<StyleDefinitionsPart>("rIdStyles").Styles = Styles();
            main.AddNewPart<NumberingDefinitionsPart>("rIdNumbering").Numbering = BulletNumbering();
            var body = new Body();
            foreach (var block in source.Blocks)
            {
                switch (block.Kind)
                {
                    case BlockKind.Heading1: body.Append(StyledParagraph("Heading1", block.Text)); break;
                    case BlockKind.Heading2: body.Append(StyledParagraph("Heading2", block.Text)); break;
                    case BlockKind.Paragraph: body.Append(new Paragraph(new Run(new Text(block.Text) { Space = SpaceProcessingModeValues.Preserve }))); break;
                    case BlockKind.Bullet:
                        var item = StyledParagraph("ListBullet", block.Text);
                        item.ParagraphProperties!.Append(new NumberingProperties(new NumberingLevelReference { Val = 0 }, new NumberingId { Val = BulletNumberingId }));
                        body.Append(item);
                        break;
                    case BlockKind.Table: body.Append(Table(block.Rows)); break;
                    case BlockKind.PageBreak: body.Append(new Paragraph(new Run(new Break { Type = BreakValues.Page }))); break;
                }
            }
            body.Append(new SectionProperties(
                new PageSize { Width = 11906, Height = 16838 },
                new PageMargin { Top = 1134, Bottom = 1134, Left = 1134, Right = 1134, Header = 567, Footer = 567 }));
            main.Document = new Document(body);
            word.PackageProperties.Title = source.Title;
            word.PackageProperties.Creator = "Northwind Robotics";
            word.PackageProperties.LastModifiedBy = "OpenBook.SampleCorpus";
            word.PackageProperties.Subject = "Northwind Robotics employee handbook";
            word.PackageProperties.Created = timestamp;
            word.PackageProperties.Modified = timestamp;
        }
        return Deterministic.Rezip(package.ToArray(), timestamp);
    }

    private static Paragraph StyledParagraph(string styleId, string text) =>
        new(new ParagraphProperties(new ParagraphStyleId { Val = styleId }), new Run(new Text(text) { Space = SpaceProcessingModeValues.Preserve }));

    private static Table Table(IReadOnlyList<IReadOnlyList<string>> rows)
    {
        var table = new Table(new TableProperties(
            new TableStyle { Val = "TableGrid" },
            new TableWidth { Width = "5000", Type = TableWidthUnitValues.Pct }));
        var grid = new TableGrid();
        foreach (var _ in rows[0]) grid.Append(new GridColumn());
        table.Append(grid);
        for (int r = 0; r < rows.Count; r++)
        {
            var row = new TableRow();
            if (r == 0) row.Append(new TableRowProperties(new TableHeader()));
            foreach (var cell in rows[r])
            {
                var run = new Run(new Text(cell) { Space = SpaceProcessingModeValues.Preserve });
                if (r == 0) run.PrependChild(new RunProperties(new Bold()));
                row.Append(new TableCell(new Paragraph(run)));
            }
            table.Append(row);
        }
        return table;
    }

    private static Numbering BulletNumbering() => new(
        new AbstractNum(
            new Level(
                new NumberingFormat { Val = NumberFormatValues.Bullet },
                new LevelText { Val = "•" },
                new LevelJustification { Val = LevelJustificationValues.Left },
                new PreviousParagraphProperties(new Indentation { Left = "720", Hanging = "360" }))
            { LevelIndex = 0 })
        { AbstractNumberId = 1 },
        new NumberingInstance(new AbstractNumId { Val = 1 }) { NumberID = BulletNumberingId });

    private static Styles Styles()
    {
        static Style Paragraph(string id, string name, int halfPoints, bool bold, int spaceBefore, int? outline = null)
        {
            var pPr = new StyleParagraphProperties(new KeepNext(), new SpacingBetweenLines { Before = spaceBefore.ToString(), After = "120" });
            if (outline is { } level) pPr.Append(new OutlineLevel { Val = level });
            var rPr = new StyleRunProperties(new FontSize { Val = halfPoints.ToString() });
            if (bold) rPr.PrependChild(new Bold());
            return new Style(new StyleName { Val = name }, new BasedOn { Val = "Normal" }, new NextParagraphStyle { Val = "Normal" },
                new PrimaryStyle(), pPr, rPr) { Type = StyleValues.Paragraph, StyleId = id };
        }
        var normal = new Style(new StyleName { Val = "Normal" }, new PrimaryStyle(),
            new StyleParagraphProperties(new SpacingBetweenLines { After = "120" }),
            new StyleRunProperties(new RunFonts { Ascii = "Calibri", HighAnsi = "Calibri" }, new FontSize { Val = "22" }))
        { Type = StyleValues.Paragraph, StyleId = "Normal", Default = true };
        var listBullet = new Style(new StyleName { Val = "List Bullet" }, new BasedOn { Val = "Normal" })
        { Type = StyleValues.Paragraph, StyleId = "ListBullet" };
        var tableGrid = new Style(new StyleName { Val = "Table Grid" },
            new StyleTableProperties(new TableBorders(
                new TopBorder { Val = BorderValues.Single, Size = 4 }, new LeftBorder { Val = BorderValues.Single, Size = 4 },
                new BottomBorder { Val = BorderValues.Single, Size = 4 }, new RightBorder { Val = BorderValues.Single, Size = 4 },
                new InsideHorizontalBorder { Val = BorderValues.Single, Size = 4 }, new InsideVerticalBorder { Val = BorderValues.Single, Size = 4 })))
        { Type = StyleValues.Table, StyleId = "TableGrid" };
        return new Styles(normal,
            Paragraph("Heading1", "heading 1", 32, bold: true, spaceBefore: 360, outline: 0),
            Paragraph("Heading2", "heading 2", 26, bold: true, spaceBefore: 240, outline: 1),
            listBullet, tableGrid);
    }
}

/// <summary>
/// Byte-stable output. PDFsharp writes a random document /ID, random XMP uuids and random font-subset tags;
/// System.IO.Packaging writes random package relationship ids, a random core-properties part name and the current
/// time on zip entries. These are replaced by values derived from the content (same length for PDFs, so the xref
/// offsets stay valid).
/// </summary>
internal static partial class Deterministic
{
    public static byte[] Rezip(byte[] zip, DateTime timestamp)
    {
        using var input = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        string Stable(Match m) => m.Groups[1].Value + (ids.TryGetValue(m.Groups[2].Value, out var id) ? id : ids[m.Groups[2].Value] = $"rId{ids.Count + 1}") + "\"";
        using var output = new MemoryStream();
        using (var archive = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in input.Entries)
            {
                using var reader = new StreamReader(entry.Open(), Encoding.UTF8, detectEncodingFromByteOrderMarks: false);
                var text = reader.ReadToEnd(); // every part we write is XML text
                text = CorePropertiesName().Replace(text, "core.psmdcp");
                if (entry.FullName.EndsWith(".rels", StringComparison.Ordinal)) text = RandomRelationshipId().Replace(text, Stable);
                var copy = archive.CreateEntry(CorePropertiesName().Replace(entry.FullName, "core.psmdcp"), CompressionLevel.Optimal);
                copy.LastWriteTime = new DateTimeOffset(timestamp, TimeSpan.Zero);
                using var to = copy.Open();
                to.Write(Encoding.UTF8.GetBytes(text));
            }
        }
        return output.ToArray();
    }

    public static byte[] StabilizePdf(byte[] pdf, string seedText)
    {
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(seedText)));
        var text = Encoding.Latin1.GetString(pdf); // 1 char per byte: replacements of equal length keep every offset
        text = PdfDocumentId().Replace(text, $"/ID[<{hash[..32]}><{hash[..32]}>]");
        int uuid = 0;
        text = XmpUuid().Replace(text, _ =>
        {
            var h = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{seedText}#{uuid++}"))).ToLowerInvariant();
            return $"uuid:{h[..8]}-{h[8..12]}-{h[12..16]}-{h[16..20]}-{h[20..32]}";
        });
        var tags = FontSubsetTag().Matches(text).Select(m => m.Groups[1].Value).Distinct().ToList();
        for (int i = 0; i < tags.Count; i++)
            text = text.Replace(tags[i] + "+", $"NWR{(char)('A' + i / 26 / 26 % 26)}{(char)('A' + i / 26 % 26)}{(char)('A' + i % 26)}+", StringComparison.Ordinal);
        var bytes = Encoding.Latin1.GetBytes(text);
        if (bytes.Length != pdf.Length) throw new InvalidOperationException("PDF stabilisation changed the file length");
        return bytes;
    }

    [GeneratedRegex(@"(Id="")(R[0-9a-f]{16})""")]
    private static partial Regex RandomRelationshipId();

    [GeneratedRegex(@"[0-9a-f]{32}\.psmdcp")]
    private static partial Regex CorePropertiesName();

    [GeneratedRegex(@"/ID\[<[0-9A-F]{32}><[0-9A-F]{32}>\]")]
    private static partial Regex PdfDocumentId();

    [GeneratedRegex(@"uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex XmpUuid();

    [GeneratedRegex(@"/(?:BaseFont|FontName)/([A-Z]{6})\+")]
    private static partial Regex FontSubsetTag();
}
