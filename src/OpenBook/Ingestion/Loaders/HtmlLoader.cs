using System.Text;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;

namespace OpenBook.Ingestion;

/// <summary>
/// HTML (.html/.htm) via AngleSharp. Removes page furniture — script, style, noscript, template, forms and form
/// controls, iframes, svg, nav, aside, page-level header/footer (those inside an article/main are kept), hidden
/// elements, ARIA navigation/banner/contentinfo/complementary/search landmarks and elements whose class or id is a
/// navigation marker (nav, navbar, menu, breadcrumb, sidebar...). When the page has exactly one &lt;main&gt; (or else
/// one &lt;article&gt;), only that is read. Headings h1–h6 start sections; lists become "- item" lines, tables
/// "a | b | c" rows, &lt;pre&gt; keeps its line breaks. Title: &lt;title&gt;, else the first h1.
/// </summary>
public sealed class HtmlLoader : IDocumentLoader
{
    private static readonly string[] DroppedTags =
        ["script", "style", "noscript", "template", "form", "button", "select", "input", "textarea", "iframe",
         "svg", "canvas", "object", "embed", "nav", "aside", "dialog", "link", "meta"];

    private static readonly HashSet<string> FurnitureMarkers = new(StringComparer.OrdinalIgnoreCase)
        { "nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "sidebar", "skip-link", "site-header",
          "site-footer", "cookie-banner", "navbox", "mw-editsection", "mw-jump-link", "noprint" };

    private static readonly HashSet<string> FurnitureRoles = new(StringComparer.OrdinalIgnoreCase)
        { "navigation", "banner", "contentinfo", "complementary", "search" };

    private static readonly HashSet<string> BlockTags = new(StringComparer.OrdinalIgnoreCase)
        { "p", "div", "section", "article", "main", "blockquote", "dd", "dt", "dl", "figure", "figcaption", "address",
          "details", "summary", "hr", "li", "body", "center", "header", "footer", "caption", "tr", "td", "th" };

    /// <inheritdoc />
    public IReadOnlyList<string> Extensions { get; } = [".html", ".htm", ".xhtml"];

    /// <inheritdoc />
    public IEnumerable<LoadedDocument> Load(string path, Stream content, LoaderOptions options) =>
        LoadErrors.Guard(path, "HTML", () =>
        {
            var html = LoaderText.ReadAll(content);
            var limit = options.Limits.MaxNestingDepth;
            if (NestingScan.HtmlDepth(html, limit) > limit)
                throw new DocumentLoadException(path, $"elements nested deeper than {limit} levels; not read (limit: InputLimits.MaxNestingDepth)");
            var document = new HtmlParser().ParseDocument(html);
            var title = LoaderText.CollapseWhitespace(document.Title ?? "");
            RemoveFurniture(document);
            var root = Single(document, "main") ?? Single(document, "article") ?? document.Body ?? document.DocumentElement;
            var walker = new Walker();
            walker.Walk(root);
            walker.FlushInline();
            var sections = walker.Builder.Build();
            return [new LoadedDocument(path, title.Length > 0 ? title : walker.Builder.FirstTopHeading, sections)];
        });

    private static IElement? Single(IDocument document, string tag)
    {
        var all = document.GetElementsByTagName(tag);
        return all.Length == 1 ? all[0] : null;
    }

    private static void RemoveFurniture(IDocument document)
    {
        var doomed = new List<IElement>();
        foreach (var element in document.All)
        {
            var tag = element.LocalName;
            if (DroppedTags.Contains(tag)
                || ((tag is "header" or "footer") && element.Closest("article, main") is null)
                || element.HasAttribute("hidden")
                || string.Equals(element.GetAttribute("aria-hidden"), "true", StringComparison.OrdinalIgnoreCase)
                || (element.GetAttribute("role") is { } role && FurnitureRoles.Contains(role))
                || (element.Id is { } id && FurnitureMarkers.Contains(id))
                || element.ClassList.Any(FurnitureMarkers.Contains))
                doomed.Add(element);
        }
        foreach (var element in doomed) element.Remove();
    }

    private sealed class Walker
    {
        public SectionBuilder Builder { get; } = new();
        private readonly StringBuilder _inline = new();

        public void Walk(INode node)
        {
            foreach (var child in node.ChildNodes)
            {
                if (child is IText text) { AppendCollapsed(text.Data); continue; }
                if (child is not IElement element) continue;
                var tag = element.LocalName;
                switch (tag)
                {
                    case "h1" or "h2" or "h3" or "h4" or "h5" or "h6":
                        FlushInline();
                        Builder.Heading(tag[1] - '0', element.TextContent);
                        break;
                    case "br":
                        _inline.Append('\n');
                        break;
                    case "pre":
                        FlushInline();
                        Builder.Paragraph(element.TextContent);
                        break;
                    case "table":
                        FlushInline();
                        Builder.Paragraph(TableText(element));
                        break;
                    case "ul" or "ol":
                        FlushInline();
                        var sb = new StringBuilder();
                        AppendList(sb, element, 0);
                        Builder.Paragraph(sb.ToString());
                        break;
                    default:
                        bool block = BlockTags.Contains(tag);
                        if (block) FlushInline();
                        Walk(element);
                        if (block) FlushInline();
                        break;
                }
            }
        }

        private void AppendCollapsed(string data)
        {
            foreach (var c in data)
            {
                if (char.IsWhiteSpace(c))
                {
                    if (_inline.Length > 0 && _inline[^1] is not (' ' or '\n')) _inline.Append(' ');
                }
                else _inline.Append(c);
            }
        }

        public void FlushInline()
        {
            if (_inline.Length == 0) return;
            var lines = _inline.ToString().Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0);
            Builder.Paragraph(string.Join("\n", lines));
            _inline.Clear();
        }

        private static string TableText(IElement table)
        {
            var rows = table.QuerySelectorAll("tr")
                .Where(tr => tr.Closest("table") == table)
                .Select(tr => string.Join(" | ", tr.Children.Where(c => c.LocalName is "td" or "th")
                    .Select(c => LoaderText.CollapseWhitespace(c.TextContent))))
                .Where(r => r.Replace("|", "").Trim().Length > 0);
            var caption = table.QuerySelector("caption") is { } cap ? LoaderText.CollapseWhitespace(cap.TextContent) + "\n" : "";
            return caption + string.Join("\n", rows);
        }

        private static void AppendList(StringBuilder sb, IElement list, int depth)
        {
            int number = 1;
            foreach (var item in list.Children.Where(c => c.LocalName == "li"))
            {
                var bullet = list.LocalName == "ol" ? $"{number++}." : "-";
                var own = new StringBuilder();
                var nested = new List<IElement>();
                foreach (var child in item.ChildNodes)
                {
                    if (child is IElement { LocalName: "ul" or "ol" } sub) nested.Add(sub);
                    else own.Append(' ').Append(child.TextContent);
                }
                var text = LoaderText.CollapseWhitespace(own.ToString());
                if (text.Length > 0)
                {
                    if (sb.Length > 0) sb.Append('\n');
                    sb.Append(' ', depth * 2).Append(bullet).Append(' ').Append(text);
                }
                foreach (var sub in nested) AppendList(sb, sub, depth + 1);
            }
        }
    }
}
