using System.Text;
using Markdig;
using Markdig.Extensions.Tables;
using Markdig.Extensions.Yaml;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace OpenBook.Ingestion;

/// <summary>
/// Markdown (.md) via Markdig: every heading starts a section whose heading path is the chain of enclosing headings;
/// paragraphs, lists ("- item" lines), tables ("a | b | c" rows), quotes and code blocks become plain text.
/// YAML front matter is skipped. Title: the first top-level heading.
/// </summary>
public sealed class MarkdownLoader : IDocumentLoader
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UsePipeTables().UseGridTables().UseYamlFrontMatter().UseAutoLinks().Build();

    /// <inheritdoc />
    public IReadOnlyList<string> Extensions { get; } = [".md", ".markdown"];

    /// <inheritdoc />
    public IEnumerable<LoadedDocument> Load(string path, Stream content, LoaderOptions options) =>
        LoadErrors.Guard(path, "Markdown", () =>
        {
            var text = LoaderText.ReadAll(content);
            var limit = options.Limits.MaxNestingDepth;
            if (NestingScan.MarkdownDepth(text, limit) > limit)
                throw new DocumentLoadException(path, $"lists or quotes nested deeper than {limit} levels; not read (limit: InputLimits.MaxNestingDepth)");
            var delimiters = NestingScan.MarkdownInlineDelimiters(text, 2 * limit);
            if (delimiters > 2 * limit)
            {
                // Too many link/emphasis openers in one paragraph for the Markdown parser to stay fast: keep the text.
                options.Noted?.Invoke($"more than {2 * limit} link or emphasis markers in one paragraph; read as plain text");
                var plain = new SectionBuilder();
                plain.Paragraph(text);
                return [new LoadedDocument(path, null, plain.Build())];
            }
            var document = Markdown.Parse(text, Pipeline);
            var builder = new SectionBuilder();
            foreach (var block in document) AddBlock(builder, block);
            return [new LoadedDocument(path, builder.FirstTopHeading, builder.Build())];
        });

    private static void AddBlock(SectionBuilder builder, Block block)
    {
        switch (block)
        {
            case HeadingBlock heading:
                builder.Heading(heading.Level, InlineText(heading.Inline));
                break;
            case YamlFrontMatterBlock:
            case ThematicBreakBlock:
            case LinkReferenceDefinitionGroup:
                break;
            case Table table:
                builder.Paragraph(TableText(table));
                break;
            case ListBlock list:
                var sb = new StringBuilder();
                AppendList(sb, list, 0);
                builder.Paragraph(sb.ToString());
                break;
            case ContainerBlock container: // quotes and other containers: their blocks in order
                foreach (var child in container) AddBlock(builder, child);
                break;
            case LeafBlock leaf:
                builder.Paragraph(LeafText(leaf));
                break;
        }
    }

    private static void AppendList(StringBuilder sb, ListBlock list, int depth)
    {
        int number = int.TryParse(list.OrderedStart, out var start) ? start : 1;
        foreach (var item in list.OfType<ListItemBlock>())
        {
            var bullet = list.IsOrdered ? $"{number++}." : "-";
            bool first = true;
            foreach (var child in item)
            {
                if (child is ListBlock nested) { AppendList(sb, nested, depth + 1); continue; }
                var text = child is LeafBlock leaf ? LeafText(leaf) : BlockText(child);
                if (text.Length == 0) continue;
                if (sb.Length > 0) sb.Append('\n');
                sb.Append(' ', depth * 2).Append(first ? bullet + " " : "  ").Append(text.Replace("\n", " "));
                first = false;
            }
        }
    }

    private static string TableText(Table table)
    {
        var rows = new List<string>();
        foreach (var row in table.OfType<TableRow>())
            rows.Add(string.Join(" | ", row.OfType<TableCell>().Select(c => BlockText(c).Replace("\n", " "))));
        return string.Join("\n", rows);
    }

    private static string BlockText(Block block) => block switch
    {
        LeafBlock leaf => LeafText(leaf),
        ContainerBlock container => string.Join("\n", container.Select(BlockText).Where(t => t.Length > 0)),
        _ => "",
    };

    private static string LeafText(LeafBlock leaf) =>
        leaf.Inline is not null ? InlineText(leaf.Inline).Trim() : leaf.Lines.ToString().Trim();

    private static string InlineText(ContainerInline? container)
    {
        if (container is null) return "";
        var sb = new StringBuilder();
        AppendInline(sb, container);
        return sb.ToString();
    }

    private static void AppendInline(StringBuilder sb, Inline inline)
    {
        switch (inline)
        {
            case LiteralInline literal: sb.Append(literal.Content.AsSpan()); break;
            case CodeInline code: sb.Append(code.Content); break;
            case AutolinkInline auto: sb.Append(auto.Url); break;
            case HtmlEntityInline entity: sb.Append(entity.Transcoded.AsSpan()); break;
            case LineBreakInline br: sb.Append(br.IsHard ? '\n' : ' '); break;
            case HtmlInline: break;
            case ContainerInline container:
                foreach (var child in container) AppendInline(sb, child);
                break;
        }
    }
}
