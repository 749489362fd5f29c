namespace OpenBook.Ingestion;

/// <summary>
/// Linear pre-scans that estimate how deeply a document nests before a parser sees it: HTML element nesting and
/// Markdown list / quote nesting. Parsers and tree walks cost time (and stack) in proportion to depth per element,
/// so a file of 100,000 nested &lt;div&gt;s or list levels is refused instead of taking minutes or overflowing the stack.
/// </summary>
internal static class NestingScan
{
    private static readonly HashSet<string> VoidOrImpliedEnd = new(StringComparer.OrdinalIgnoreCase)
    {
        // Void elements: never have content.
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param", "keygen",
        // Elements whose end tag may be omitted: a new one closes the previous, so they do not nest by themselves.
        "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option", "optgroup", "rb", "rt", "rp", "colgroup",
    };

    private static readonly string[] RawText = ["script", "style", "textarea", "title", "xmp", "plaintext"];

    /// <summary>The deepest element nesting found, stopping as soon as it passes <paramref name="limit"/>.</summary>
    public static int HtmlDepth(string html, int limit)
    {
        int depth = 0, max = 0, i = 0;
        while ((i = html.IndexOf('<', i)) >= 0 && i + 1 < html.Length)
        {
            char next = html[i + 1];
            if (next == '!')
            {
                var end = html.AsSpan(i).StartsWith("<!--", StringComparison.Ordinal) ? html.IndexOf("-->", i + 4, StringComparison.Ordinal) : html.IndexOf('>', i);
                if (end < 0) break;
                i = end + 1;
                continue;
            }
            bool closing = next == '/';
            int nameStart = closing ? i + 2 : i + 1;
            int n = nameStart;
            while (n < html.Length && (char.IsAsciiLetterOrDigit(html[n]) || html[n] is '-' or ':' or '_')) n++;
            if (n == nameStart || !char.IsAsciiLetter(html[nameStart])) { i++; continue; }
            var name = html[nameStart..n];
            int close = html.IndexOf('>', n);
            if (close < 0) break;
            bool selfClosing = html[close - 1] == '/';
            i = close + 1;
            if (VoidOrImpliedEnd.Contains(name) || selfClosing) continue;
            if (closing) { if (depth > 0) depth--; continue; }
            if (RawText.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                var endTag = html.IndexOf("</" + name, i, StringComparison.OrdinalIgnoreCase);
                i = endTag < 0 ? html.Length : endTag;
                continue;
            }
            if (++depth > max && (max = depth) > limit) return max;
        }
        return max;
    }

    /// <summary>
    /// The deepest list / block-quote nesting of a Markdown text, estimated per line (indentation in steps of two
    /// columns before a list marker, plus every '&gt;' and list marker that opens the line), outside fenced code.
    /// Stops as soon as it passes <paramref name="limit"/>.
    /// </summary>
    public static int MarkdownDepth(string text, int limit)
    {
        int max = 0;
        bool inFence = false;
        char fence = '\0';
        int lineStart = 0;
        while (lineStart <= text.Length)
        {
            int lineEnd = text.IndexOf('\n', lineStart);
            if (lineEnd < 0) lineEnd = text.Length;
            var line = text.AsSpan(lineStart, lineEnd - lineStart);
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith("```") || trimmed.StartsWith("~~~"))
            {
                if (!inFence) { inFence = true; fence = trimmed[0]; }
                else if (trimmed[0] == fence) inFence = false;
            }
            else if (!inFence)
            {
                int depth = LineDepth(line);
                if (depth > max && (max = depth) > limit) return max;
            }
            lineStart = lineEnd + 1;
        }
        return max;
    }

    private static int LineDepth(ReadOnlySpan<char> line)
    {
        int i = 0, column = 0, depth = 0, firstIndent = -1;
        while (i < line.Length)
        {
            while (i < line.Length && line[i] is ' ' or '\t') { column += line[i] == '\t' ? 4 : 1; i++; }
            if (i >= line.Length) break;
            char c = line[i];
            int marker = 0;
            if (c == '>') marker = 1;
            else if (c is '-' or '*' or '+' && (i + 1 == line.Length || line[i + 1] is ' ' or '\t')) marker = 1;
            else if (char.IsAsciiDigit(c))
            {
                int d = i;
                while (d < line.Length && d - i < 9 && char.IsAsciiDigit(line[d])) d++;
                if (d < line.Length && line[d] is '.' or ')' && (d + 1 == line.Length || line[d + 1] is ' ' or '\t')) marker = d - i + 1;
            }
            if (marker == 0) break;
            if (firstIndent < 0) firstIndent = column;
            depth++;
            i += marker;
            column += marker;
        }
        return depth == 0 ? 0 : depth + firstIndent / 2;
    }

    /// <summary>
    /// The most link / emphasis openers ('[' and runs of '*' or '_') in one paragraph (lines between blank lines,
    /// outside fenced code), stopping as soon as it passes <paramref name="limit"/>. Markdown inline parsing is
    /// superlinear in them within one paragraph (50,000 "[a](" took 35 s).
    /// </summary>
    public static int MarkdownInlineDelimiters(string text, int limit)
    {
        int max = 0, count = 0;
        bool inFence = false;
        char fence = '\0';
        int lineStart = 0;
        while (lineStart <= text.Length)
        {
            int lineEnd = text.IndexOf('\n', lineStart);
            if (lineEnd < 0) lineEnd = text.Length;
            var line = text.AsSpan(lineStart, lineEnd - lineStart);
            var trimmed = line.Trim();
            if (trimmed.StartsWith("```") || trimmed.StartsWith("~~~"))
            {
                if (!inFence) { inFence = true; fence = trimmed[0]; }
                else if (trimmed[0] == fence) inFence = false;
                count = 0;
            }
            else if (trimmed.Length == 0) count = 0;
            else if (!inFence)
            {
                for (int i = 0; i < line.Length; i++)
                {
                    var c = line[i];
                    if (c == '[') count++;
                    else if (c is '*' or '_' && (i == 0 || line[i - 1] != c)) count++;
                }
                if (count > max && (max = count) > limit) return max;
            }
            lineStart = lineEnd + 1;
        }
        return max;
    }
}
