using System.Text.Json;
using System.Text.RegularExpressions;
using AngleSharp.Html.Parser;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Validation;
using UglyToad.PdfPig;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.DocumentLayoutAnalysis.PageSegmenter;
using UglyToad.PdfPig.DocumentLayoutAnalysis.ReadingOrderDetector;
using UglyToad.PdfPig.DocumentLayoutAnalysis.WordExtractor;
using W = DocumentFormat.OpenXml.Wordprocessing;

namespace OpenBook.SampleCorpus;

/// <summary>
/// The "validate" verb. Checks that (1) every generated .pdf/.docx in samples/handbook has a source, matches it byte
/// for byte, and (.docx) passes the Open XML schema validator; (2) samples/questions.jsonl is well-formed: unique ids,
/// known types; answerable questions name an existing source whose top-level folder is the collection and whose text
/// contains the quote (whitespace-normalised, case-sensitive); unanswerable ones have null answer/source/quote. For
/// .pdf/.docx the quote must be in the generator source text and also in the text extracted from the generated file
/// (PdfPig with layout analysis, one page; OpenXml). Prints corpus statistics; exits 1 naming each bad file or line.
/// </summary>
internal static partial class Validator
{
    private static readonly string[] Types = ["factual", "numeric", "multi-hop", "unanswerable"];

    public static int Run(CorpusPaths paths)
    {
        var errors = new List<string>();
        var sources = paths.LoadSources().ToDictionary(s => s.OutputPath, StringComparer.Ordinal);
        CheckGenerated(paths, sources, errors);
        var corpus = Directory.EnumerateFiles(paths.Handbook, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(paths.Handbook, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToDictionary(f => f, f => DocumentText.Load(Path.Combine(paths.Handbook, f), sources.GetValueOrDefault(f)), StringComparer.Ordinal);
        var questions = CheckQuestions(paths, corpus, errors);
        PrintStatistics(corpus, questions);
        foreach (var error in errors) Console.Error.WriteLine(error);
        Console.WriteLine(errors.Count == 0 ? "validate: OK" : $"validate: {errors.Count} error(s)");
        return errors.Count == 0 ? 0 : 1;
    }

    private static void CheckGenerated(CorpusPaths paths, Dictionary<string, SourceDocument> sources, List<string> errors)
    {
        foreach (var source in sources.Values)
        {
            var target = Path.Combine(paths.Handbook, source.OutputPath);
            if (!File.Exists(target)) errors.Add($"{source.OutputPath}: not generated yet (run the generate verb)");
            else if (!File.ReadAllBytes(target).AsSpan().SequenceEqual(Generator.Render(source)))
                errors.Add($"{source.OutputPath}: differs from its source {Path.GetFileName(source.SourcePath)} (run the generate verb and commit)");
            else if (!source.IsPdf)
            {
                using var word = WordprocessingDocument.Open(target, false);
                foreach (var problem in new OpenXmlValidator().Validate(word).Take(5))
                    errors.Add($"{source.OutputPath}: invalid Open XML at {problem.Path?.XPath}: {problem.Description}");
            }
        }
        foreach (var file in Directory.EnumerateFiles(paths.Handbook, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(paths.Handbook, file).Replace('\\', '/');
            if (Path.GetExtension(file) is ".pdf" or ".docx" && !sources.ContainsKey(relative))
                errors.Add($"{relative}: no generator source sources/{relative}.txt");
        }
    }

    private static List<(string Type, string Collection)> CheckQuestions(CorpusPaths paths, Dictionary<string, DocumentText> corpus, List<string> errors)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var questions = new List<(string, string)>();
        var name = Path.GetFileName(paths.Questions);
        if (!File.Exists(paths.Questions)) { errors.Add($"{paths.Questions}: not found"); return questions; }
        int number = 0;
        foreach (var line in File.ReadLines(paths.Questions))
        {
            number++;
            var where = $"{name}:{number}";
            if (string.IsNullOrWhiteSpace(line)) { errors.Add($"{where}: blank line"); continue; }
            JsonElement q;
            try { using var doc = JsonDocument.Parse(line); q = doc.RootElement.Clone(); }
            catch (JsonException e) { errors.Add($"{where}: invalid JSON ({e.Message})"); continue; }
            if (q.ValueKind != JsonValueKind.Object) { errors.Add($"{where}: expected a JSON object"); continue; }
            string? Str(string field, bool nullable)
            {
                if (!q.TryGetProperty(field, out var v)) { errors.Add($"{where}: field '{field}' is missing"); return null; }
                if (v.ValueKind == JsonValueKind.String && v.GetString()!.Trim().Length > 0) return v.GetString();
                if (!(nullable && v.ValueKind == JsonValueKind.Null)) errors.Add($"{where}: field '{field}' must be a non-empty string{(nullable ? " or null" : "")}");
                return null;
            }
            var id = Str("id", false);
            Str("question", false);
            var collection = Str("collection", false);
            var type = Str("type", false);
            string? answer = Str("answer", true), source = Str("source", true), quote = Str("quote", true);
            if (id is not null && !seen.Add(id)) errors.Add($"{where}: duplicate id '{id}'");
            if (type is not null && !Types.Contains(type)) errors.Add($"{where}: type '{type}' is not one of {string.Join(", ", Types)}");
            if (q.TryGetProperty("answerable", out var answerable) && answerable.ValueKind is JsonValueKind.True or JsonValueKind.False
                && answerable.GetBoolean() == (type == "unanswerable"))
                errors.Add($"{where}: 'answerable' contradicts type '{type}'");
            if (type == "unanswerable")
            {
                if (answer is not null || source is not null || quote is not null)
                    errors.Add($"{where}: an unanswerable question must have null answer, source and quote");
            }
            else if (type is not null)
            {
                if (answer is null || source is null || quote is null)
                    errors.Add($"{where}: an answerable question needs answer, source and quote");
                else if (!corpus.TryGetValue(source, out var text))
                    errors.Add($"{where}: source '{source}' does not exist under samples/handbook");
                else if (text.Find(quote) is { } problem)
                    errors.Add($"{where}: quote not found in {source} ({problem}): \"{quote}\"");
                if (source is not null && collection is not null && source.Split('/')[0] != collection)
                    errors.Add($"{where}: collection '{collection}' is not the top-level folder of source '{source}'");
            }
            questions.Add((type ?? "?", collection ?? "?"));
        }
        return questions;
    }

    private static void PrintStatistics(Dictionary<string, DocumentText> corpus, List<(string Type, string Collection)> questions)
    {
        Console.WriteLine($"documents: {corpus.Count}, words: {corpus.Values.Sum(d => d.Words)}");
        foreach (var group in corpus.GroupBy(c => Path.GetExtension(c.Key)).OrderBy(g => g.Key, StringComparer.Ordinal))
            Console.WriteLine($"  {group.Key,-6} {group.Count(),3} files {group.Sum(g => g.Value.Words),7} words");
        Console.WriteLine($"questions: {questions.Count}");
        foreach (var group in questions.GroupBy(q => q.Type).OrderBy(g => g.Key, StringComparer.Ordinal))
            Console.WriteLine($"  {group.Key,-13} {group.Count(),3}");
        Console.WriteLine("  by collection: " + string.Join(", ", questions.GroupBy(q => q.Collection)
            .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}")));
    }

    [GeneratedRegex(@"\s+")]
    internal static partial Regex Whitespace();
}

/// <summary>
/// A corpus file's text for quote checks: the reference text (raw file; HTML without script/style/nav/header/footer;
/// JSONL's "text" fields; the generator source for .pdf/.docx) and, for generated files, the text extracted back
/// out of them (one segment per PDF page; the whole DOCX). All whitespace-normalised.
/// </summary>
internal sealed class DocumentText
{
    private readonly string _reference;
    private readonly IReadOnlyList<string>? _extracted;

    private DocumentText(string reference, IReadOnlyList<string>? extracted)
    {
        _reference = Normalize(reference);
        _extracted = extracted?.Select(Normalize).ToList();
        Words = _reference.Split(' ', StringSplitOptions.RemoveEmptyEntries).Count(w => w.Any(char.IsLetterOrDigit));
    }

    public int Words { get; }

    /// <summary>Null when the quote is found everywhere it must be, else what failed.</summary>
    public string? Find(string quote)
    {
        var q = Normalize(quote);
        if (!_reference.Contains(q, StringComparison.Ordinal)) return "not in the document text";
        if (_extracted is not null && !_extracted.Any(s => s.Contains(q, StringComparison.Ordinal)))
            return "in the source text but not in the text extracted from the generated file";
        return null;
    }

    public static DocumentText Load(string path, SourceDocument? source)
    {
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".pdf":
                using (var pdf = PdfDocument.Open(path))
                    return new(source?.PlainText() ?? "", pdf.GetPages().Select(PdfPageText).ToList());
            case ".docx":
                using (var word = WordprocessingDocument.Open(path, false))
                {
                    var paragraphs = word.MainDocumentPart!.Document!.Body!.Descendants<W.Paragraph>()
                        .Select(p => string.Concat(p.Descendants<W.Text>().Select(t => t.Text)));
                    return new(source?.PlainText() ?? "", [string.Join("\n", paragraphs)]);
                }
            case ".html" or ".htm":
                var html = new HtmlParser().ParseDocument(File.ReadAllText(path));
                foreach (var element in html.QuerySelectorAll("script, style, nav, header, footer, noscript").ToList()) element.Remove();
                return new(html.Body?.TextContent ?? "", null);
            case ".jsonl":
                var texts = File.ReadLines(path).Where(l => l.Trim().Length > 0).Select((line, i) =>
                {
                    using var record = JsonDocument.Parse(line);
                    return record.RootElement.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String
                        ? t.GetString()!
                        : throw new FormatException($"{path}:{i + 1}: record without a string 'text' field");
                });
                return new(string.Join("\n", texts), null);
            default:
                return new(File.ReadAllText(path), null);
        }
    }

    /// <summary>
    /// A page's text the way a layout-aware reader gets it: nearest-neighbour words, grouped into blocks (Docstrum),
    /// blocks in reading order, so a wrapped table cell reads as one run of text.
    /// </summary>
    private static string PdfPageText(Page page)
    {
        var words = page.GetWords(NearestNeighbourWordExtractor.Instance).ToList();
        var blocks = DocstrumBoundingBoxes.Instance.GetBlocks(words);
        return string.Join("\n", UnsupervisedReadingOrderDetector.Instance.Get(blocks).OrderBy(b => b.ReadingOrder)
            .Select(b => string.Join(" ", b.TextLines.Select(l => string.Join(" ", l.Words.Select(w => w.Text))))));
    }

    private static string Normalize(string text) => Validator.Whitespace().Replace(text, " ").Trim();
}
