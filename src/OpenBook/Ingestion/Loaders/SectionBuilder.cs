using System.Text;

namespace OpenBook.Ingestion;

/// <summary>
/// Collects paragraphs under a heading path and cuts a new <see cref="DocumentSection"/> at every heading.
/// Shared by the structured loaders (Markdown, HTML, DOCX, text).
/// </summary>
internal sealed class SectionBuilder
{
    private readonly List<DocumentSection> _sections = [];
    private readonly List<(int Level, string Text)> _headings = [];
    private readonly List<string> _paragraphs = [];

    /// <summary>First heading seen at the smallest level (a fallback title).</summary>
    public string? FirstTopHeading { get; private set; }
    private int _firstTopLevel = int.MaxValue;

    /// <summary>Starts a new section under a heading of the given level (1 = top; 0 = a document title).</summary>
    public void Heading(int level, string text)
    {
        text = LoaderText.CollapseWhitespace(text);
        if (text.Length == 0) return;
        Flush();
        while (_headings.Count > 0 && _headings[^1].Level >= level) _headings.RemoveAt(_headings.Count - 1);
        _headings.Add((level, text));
        if (level < _firstTopLevel) { _firstTopLevel = level; FirstTopHeading = text; }
    }

    /// <summary>Adds a paragraph (trimmed; blank ones are ignored).</summary>
    public void Paragraph(string text)
    {
        text = LoaderText.NormalizeBlock(text);
        if (text.Length > 0) _paragraphs.Add(text);
    }

    /// <summary>Ends the current section.</summary>
    public void Flush()
    {
        if (_paragraphs.Count == 0) return;
        _sections.Add(new DocumentSection(string.Join("\n\n", _paragraphs), _headings.Select(h => h.Text).ToArray()));
        _paragraphs.Clear();
    }

    /// <summary>The sections so far (flushes).</summary>
    public IReadOnlyList<DocumentSection> Build()
    {
        Flush();
        return _sections;
    }
}

/// <summary>Small text helpers shared by loaders.</summary>
internal static class LoaderText
{
    /// <summary>Collapses every whitespace run to one space and trims.</summary>
    public static string CollapseWhitespace(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool space = false;
        foreach (var c in s)
        {
            if (char.IsWhiteSpace(c)) { space = sb.Length > 0; continue; }
            if (space) { sb.Append(' '); space = false; }
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>
    /// Normalises a block of text: CRLF → LF, trailing spaces removed, runs of 3+ newlines cut to a blank line,
    /// leading/trailing blank space trimmed. Single line breaks are kept (lists, table rows, code).
    /// </summary>
    public static string NormalizeBlock(string s)
    {
        if (s.Length == 0) return s;
        s = s.Replace("\r\n", "\n").Replace('\r', '\n').Replace('\u00A0', ' ').Replace("\f", "\n");
        var lines = s.Split('\n');
        var sb = new StringBuilder(s.Length);
        int blank = 0;
        foreach (var raw in lines)
        {
            var line = raw.TrimEnd();
            if (line.Trim().Length == 0) { blank++; continue; }
            if (sb.Length > 0) sb.Append(blank > 0 ? "\n\n" : "\n");
            blank = 0;
            sb.Append(line);
        }
        return sb.ToString();
    }

    /// <summary>Reads a text stream, honouring a BOM (UTF-8 by default).</summary>
    public static string ReadAll(Stream content)
    {
        using var reader = new StreamReader(content, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, leaveOpen: true);
        return reader.ReadToEnd();
    }
}

/// <summary>Turns library exceptions into <see cref="DocumentLoadException"/>s, also for lazily enumerated loaders.</summary>
internal static class LoadErrors
{
    public static IEnumerable<LoadedDocument> Guard(string path, string format, Func<IEnumerable<LoadedDocument>> load)
    {
        IEnumerator<LoadedDocument> e;
        try { e = load().GetEnumerator(); }
        catch (Exception ex) when (ex is not DocumentLoadException) { throw Wrap(path, format, ex); }
        using (e)
        {
            while (true)
            {
                try { if (!e.MoveNext()) yield break; }
                catch (Exception ex) when (ex is not DocumentLoadException) { throw Wrap(path, format, ex); }
                yield return e.Current;
            }
        }
    }

    public static DocumentLoadException Wrap(string path, string format, Exception ex) =>
        new(path, $"not a readable {format} file ({ex.GetType().Name}: {ex.Message})", ex);
}
