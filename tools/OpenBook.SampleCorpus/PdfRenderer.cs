using PdfSharp;
using PdfSharp.Drawing;
using PdfSharp.Pdf;

namespace OpenBook.SampleCorpus;

/// <summary>
/// Renders a <see cref="SourceDocument"/> as an A4 PDF with real (selectable, extractable) text: wrapped paragraphs,
/// bullets, ruled tables, a running header and "Page n of m" footer. Blocks are never split across pages, so a
/// sentence can always be found on a single page. Metadata and document ids are fixed so output is byte-stable.
/// </summary>
internal sealed class PdfRenderer
{
    private const double Margin = 56, HeaderY = 28, FooterGap = 30, CellPad = 4;
    private static readonly XFont Body = new(DejaVuFontResolver.Family, 10, XFontStyleEx.Regular);
    private static readonly XFont BodyBold = new(DejaVuFontResolver.Family, 10, XFontStyleEx.Bold);
    private static readonly XFont Small = new(DejaVuFontResolver.Family, 8, XFontStyleEx.Regular);
    private static readonly XFont H1 = new(DejaVuFontResolver.Family, 16, XFontStyleEx.Bold);
    private static readonly XFont H2 = new(DejaVuFontResolver.Family, 12, XFontStyleEx.Bold);

    private readonly PdfDocument _pdf = new();
    private readonly List<PdfPage> _pages = [];
    private XGraphics? _gfx;
    private double _y;
    private double Width => _pages[^1].Width.Point - 2 * Margin;
    private double Bottom => _pages[^1].Height.Point - Margin - FooterGap / 2;

    public static byte[] Render(SourceDocument source, DateTime timestamp)
    {
        var renderer = new PdfRenderer();
        renderer.Layout(source);
        return renderer.Finish(source, timestamp);
    }

    private void Layout(SourceDocument source)
    {
        NewPage();
        foreach (var block in source.Blocks)
        {
            switch (block.Kind)
            {
                case BlockKind.PageBreak: NewPage(); break;
                case BlockKind.Heading1: Text(block.Text, H1, indent: 0, before: _y > Margin ? 14 : 0, after: 6); break;
                case BlockKind.Heading2: Text(block.Text, H2, indent: 0, before: 10, after: 4, keepWithNext: 40); break;
                case BlockKind.Paragraph: Text(block.Text, Body, indent: 0, before: 0, after: 6); break;
                case BlockKind.Bullet: Text(block.Text, Body, indent: 14, before: 0, after: 3, bullet: true); break;
                case BlockKind.Table: Table(block.Rows); break;
            }
        }
    }

    private void NewPage()
    {
        _gfx?.Dispose();
        var page = _pdf.AddPage();
        page.Size = PageSize.A4;
        _pages.Add(page);
        _gfx = XGraphics.FromPdfPage(page);
        _y = Margin;
    }

    private void Text(string text, XFont font, double indent, double before, double after, bool bullet = false, double keepWithNext = 0)
    {
        var lines = Wrap(text, font, Width - indent);
        double lineHeight = font.Size * 1.35;
        double height = before + lines.Count * lineHeight + after;
        if (_y + height + keepWithNext > Bottom && _y > Margin) NewPage();
        else _y += before;
        if (bullet) _gfx!.DrawString("•", font, XBrushes.Black, Margin + 3, _y, XStringFormats.TopLeft);
        foreach (var line in lines)
        {
            _gfx!.DrawString(line, font, XBrushes.Black, Margin + indent, _y, XStringFormats.TopLeft);
            _y += lineHeight;
        }
        _y += after;
    }

    private void Table(IReadOnlyList<IReadOnlyList<string>> rows)
    {
        int columns = rows[0].Count;
        // Column widths proportional to the longest cell text (clamped), so narrow columns do not waste space.
        var weights = Enumerable.Range(0, columns)
            .Select(c => Math.Clamp(rows.Max(r => _gfx!.MeasureString(r[c], Body).Width), 50, 260)).ToArray();
        var widths = weights.Select(w => w / weights.Sum() * Width).ToArray();
        double lineHeight = Body.Size * 1.3;
        _y += 2;
        for (int r = 0; r < rows.Count; r++)
        {
            var font = r == 0 ? BodyBold : Body;
            var cells = rows[r].Select((text, c) => Wrap(text, font, widths[c] - 2 * CellPad)).ToList();
            double height = cells.Max(c => c.Count) * lineHeight + 2 * CellPad;
            if (_y + height > Bottom) NewPage();
            double x = Margin;
            for (int c = 0; c < columns; c++)
            {
                if (r == 0) _gfx!.DrawRectangle(XBrushes.Gainsboro, x, _y, widths[c], height);
                _gfx!.DrawRectangle(XPens.Gray, x, _y, widths[c], height);
                double ty = _y + CellPad;
                foreach (var line in cells[c])
                {
                    _gfx.DrawString(line, font, XBrushes.Black, x + CellPad, ty, XStringFormats.TopLeft);
                    ty += lineHeight;
                }
                x += widths[c];
            }
            _y += height;
        }
        _y += 8;
    }

    /// <summary>Greedy word wrap on spaces (words are never hyphenated).</summary>
    private List<string> Wrap(string text, XFont font, double width)
    {
        var lines = new List<string>();
        var current = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = current.Length == 0 ? word : current + " " + word;
            if (current.Length > 0 && _gfx!.MeasureString(candidate, font).Width > width)
            {
                lines.Add(current);
                current = word;
            }
            else current = candidate;
        }
        if (current.Length > 0 || lines.Count == 0) lines.Add(current);
        return lines;
    }

    private byte[] Finish(SourceDocument source, DateTime timestamp)
    {
        _gfx?.Dispose();
        for (int i = 0; i < _pages.Count; i++)
        {
            using var gfx = XGraphics.FromPdfPage(_pages[i], XGraphicsPdfPageOptions.Append);
            double w = _pages[i].Width.Point, h = _pages[i].Height.Point;
            gfx.DrawString($"Northwind Robotics · {source.Title}", Small, XBrushes.Gray, Margin, HeaderY, XStringFormats.TopLeft);
            gfx.DrawLine(XPens.LightGray, Margin, h - Margin + 4, w - Margin, h - Margin + 4);
            gfx.DrawString($"Page {i + 1} of {_pages.Count}", Small, XBrushes.Gray, w - Margin, h - Margin + 8, XStringFormats.TopRight);
        }
        _pdf.Info.Title = source.Title;
        _pdf.Info.Author = "Northwind Robotics";
        _pdf.Info.Subject = "Northwind Robotics employee handbook";
        _pdf.Info.Creator = "OpenBook.SampleCorpus";
        _pdf.Info.CreationDate = timestamp;
        _pdf.Info.ModificationDate = timestamp;
        using var stream = new MemoryStream();
        _pdf.Save(stream);
        return Deterministic.StabilizePdf(stream.ToArray(), source.PlainText());
    }
}
