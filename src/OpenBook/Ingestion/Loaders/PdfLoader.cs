using System.Text;
using UglyToad.PdfPig;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.DocumentLayoutAnalysis;
using UglyToad.PdfPig.DocumentLayoutAnalysis.PageSegmenter;
using UglyToad.PdfPig.DocumentLayoutAnalysis.ReadingOrderDetector;
using UglyToad.PdfPig.DocumentLayoutAnalysis.WordExtractor;
using UglyToad.PdfPig.Exceptions;

namespace OpenBook.Ingestion;

/// <summary>
/// PDF via PdfPig: one section per page (with its page number). Words come from the nearest-neighbour word
/// extractor, are grouped into text blocks by the Docstrum page segmenter and ordered by the unsupervised reading
/// order detector, so multi-column pages read column by column. Each block is a paragraph; lines are joined with
/// de-hyphenation ("compen-" + "sation" → "compensation"). Encrypted, corrupt or text-less (scanned) files raise a
/// <see cref="DocumentLoadException"/> saying so. Title: the PDF's document information title.
/// </summary>
public sealed class PdfLoader : IBinaryDocumentLoader
{
    /// <inheritdoc />
    public IReadOnlyList<string> Extensions { get; } = [".pdf"];

    /// <inheritdoc />
    public IEnumerable<LoadedDocument> Load(string path, Stream content, LoaderOptions options) =>
        LoadErrors.Guard(path, "PDF", () => [LoadDocument(path, content)]);

    private static LoadedDocument LoadDocument(string path, Stream content)
    {
        PdfDocument pdf;
        try
        {
            pdf = PdfDocument.Open(content, new ParsingOptions { UseLenientParsing = true, SkipMissingFonts = true });
        }
        catch (PdfDocumentEncryptedException e)
        {
            throw new DocumentLoadException(path, "the PDF is encrypted (password protected); remove the password and ingest again", e);
        }
        catch (Exception e)
        {
            throw new DocumentLoadException(path, $"corrupt or not a PDF ({e.Message})", e);
        }

        using (pdf)
        {
            if (pdf.IsEncrypted && pdf.NumberOfPages == 0)
                throw new DocumentLoadException(path, "the PDF is encrypted (password protected); remove the password and ingest again");
            var sections = new List<DocumentSection>();
            for (int number = 1; number <= pdf.NumberOfPages; number++)
            {
                Page page;
                try { page = pdf.GetPage(number); }
                catch (PdfDocumentEncryptedException e)
                {
                    throw new DocumentLoadException(path, "the PDF is encrypted (password protected); remove the password and ingest again", e);
                }
                catch (Exception e)
                {
                    throw new DocumentLoadException(path, $"corrupt PDF: page {number} cannot be read ({e.Message})", e);
                }
                var text = PageText(page);
                if (text.Length > 0) sections.Add(new DocumentSection(text, [], number));
            }
            if (sections.Count == 0)
                throw new DocumentLoadException(path, pdf.NumberOfPages == 0
                    ? "the PDF has no pages"
                    : "the PDF has no extractable text (scanned images? run OCR first)");
            string? title = null;
            try { title = pdf.Information?.Title; } catch (Exception) { /* a broken info dictionary only loses the title */ }
            return new LoadedDocument(path, string.IsNullOrWhiteSpace(title) ? null : title.Trim(), sections);
        }
    }

    /// <summary>The page's text in reading order: blocks separated by blank lines.</summary>
    internal static string PageText(Page page)
    {
        var words = page.GetWords(NearestNeighbourWordExtractor.Instance).Where(w => !string.IsNullOrWhiteSpace(w.Text)).ToList();
        if (words.Count == 0) return "";
        var blocks = DocstrumBoundingBoxes.Instance.GetBlocks(words);
        var ordered = UnsupervisedReadingOrderDetector.Instance.Get(blocks).OrderBy(b => b.ReadingOrder);
        var paragraphs = ordered.Select(BlockText).Where(t => t.Length > 0);
        return LoaderText.NormalizeBlock(string.Join("\n\n", paragraphs));
    }

    private static string BlockText(TextBlock block)
    {
        var sb = new StringBuilder();
        foreach (var line in block.TextLines)
        {
            var text = LoaderText.CollapseWhitespace(string.Join(" ", line.Words.Select(w => w.Text)));
            if (text.Length == 0) continue;
            if (sb.Length > 0)
            {
                // Line ends with a hyphen: "compen-" + "sation" → "compensation"; "COVID-" + "19" → "COVID-19".
                if (sb.Length >= 2 && sb[^1] == '-' && char.IsLetterOrDigit(sb[^2]))
                {
                    if (char.IsLetter(sb[^2]) && char.IsLower(text[0])) sb.Length--;
                }
                else sb.Append(' ');
            }
            sb.Append(text);
        }
        return sb.ToString();
    }
}
