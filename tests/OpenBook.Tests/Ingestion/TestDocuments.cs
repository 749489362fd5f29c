using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Wordprocessing;
using PdfSharp.Drawing;
using PdfSharp.Fonts;
using PdfSharp.Pdf;
using PdfSharp.WPFonts;
using OpenBook.Ingestion;

namespace OpenBook.Tests.Ingestion;

/// <summary>Builds real PDF/DOCX files in memory for loader tests (PDFsharp with its bundled Segoe WP fonts; OpenXml).</summary>
internal static class TestDocuments
{
    private static readonly Lazy<bool> Fonts = new(() =>
    {
        // PDFsharp 6.5 refuses to run without a license choice; the AGPL one is fine for test fixtures (never shipped).
        PdfSharp.PdfSharpLicense.SetAgplLicense();
        GlobalFontSettings.FontResolver ??= new BundledFontResolver();
        return true;
    });

    /// <summary>One text line placed at (x, y) points from the top-left of a page.</summary>
    public sealed record Line(double X, double Y, string Text, double Size = 10);

    /// <summary>A PDF whose pages hold the given lines; optional user password (encrypts the file).</summary>
    public static byte[] Pdf(IEnumerable<IEnumerable<Line>> pages, string? userPassword = null, string? title = null)
    {
        _ = Fonts.Value;
        using var document = new PdfDocument();
        if (title is not null) document.Info.Title = title;
        foreach (var lines in pages)
        {
            var page = document.AddPage();
            page.Width = XUnit.FromPoint(595);
            page.Height = XUnit.FromPoint(842);
            using var gfx = XGraphics.FromPdfPage(page);
            foreach (var line in lines)
                gfx.DrawString(line.Text, new XFont("Segoe WP", line.Size), XBrushes.Black, new XPoint(line.X, line.Y));
        }
        if (userPassword is not null) document.SecuritySettings.UserPassword = userPassword;
        using var stream = new MemoryStream();
        document.Save(stream, false);
        return stream.ToArray();
    }

    /// <summary>Lines of a single left-aligned column starting at y=60, 14 pt apart.</summary>
    public static IEnumerable<Line> Column(double x, params string[] lines) =>
        lines.Select((text, i) => new Line(x, 60 + i * 14, text));

    /// <summary>A DOCX: (style, text) paragraphs, where style is null for body text, "Title", "Heading1".."Heading3",
    /// "List" for a bulleted item, or "Table:a|b;c|d" for a table (rows by ';', cells by '|').</summary>
    public static byte[] Docx(params (string? Style, string Text)[] content)
    {
        using var stream = new MemoryStream();
        using (var word = WordprocessingDocument.Create(stream, WordprocessingDocumentType.Document))
        {
            var main = word.AddMainDocumentPart();
            var stylesPart = main.AddNewPart<StyleDefinitionsPart>();
            var styles = new Styles();
            foreach (var (id, name) in new[] { ("Title", "Title"), ("Heading1", "heading 1"), ("Heading2", "heading 2"), ("Heading3", "heading 3"), ("ListParagraph", "List Paragraph") })
                styles.Append(new Style(new StyleName { Val = name }) { Type = StyleValues.Paragraph, StyleId = id });
            stylesPart.Styles = styles;
            var body = new Body();
            foreach (var (style, text) in content)
            {
                if (style is not null && style.StartsWith("Table:", StringComparison.Ordinal))
                {
                    var table = new Table();
                    foreach (var row in style[6..].Split(';'))
                        table.Append(new TableRow(row.Split('|').Select(cell => new TableCell(new Paragraph(new Run(new Text(cell)))))));
                    body.Append(table);
                    continue;
                }
                var paragraph = new Paragraph();
                if (style == "List")
                    paragraph.Append(new ParagraphProperties(new ParagraphStyleId { Val = "ListParagraph" },
                        new NumberingProperties(new NumberingLevelReference { Val = 0 }, new NumberingId { Val = 1 })));
                else if (style is not null)
                    paragraph.Append(new ParagraphProperties(new ParagraphStyleId { Val = style }));
                paragraph.Append(new Run(new Text(text) { Space = SpaceProcessingModeValues.Preserve }));
                body.Append(paragraph);
            }
            main.Document = new Document(body);
            main.Document.Save();
        }
        return stream.ToArray();
    }

    /// <summary>Loads bytes with the default registry under the given file name.</summary>
    public static IReadOnlyList<LoadedDocument> Load(string fileName, byte[] bytes, LoaderOptions? options = null)
    {
        Assert.True(LoaderRegistry.CreateDefault().TryGet(fileName, out var loader));
        using var stream = new MemoryStream(bytes);
        return loader.Load(fileName, stream, options ?? LoaderOptions.Default).ToList();
    }

    /// <summary>Loads text content under the given file name.</summary>
    public static IReadOnlyList<LoadedDocument> Load(string fileName, string text, LoaderOptions? options = null) =>
        Load(fileName, System.Text.Encoding.UTF8.GetBytes(text), options);

    private sealed class BundledFontResolver : IFontResolver
    {
        public FontResolverInfo ResolveTypeface(string familyName, bool bold, bool italic) =>
            new(bold ? "SegoeWPBold" : "SegoeWP");

        public byte[] GetFont(string faceName) => faceName == "SegoeWPBold" ? FontDataHelper.SegoeWPBold : FontDataHelper.SegoeWP;
    }
}
