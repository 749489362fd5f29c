namespace OpenBook.SampleCorpus;

/// <summary>Kinds of block in a generator source file.</summary>
internal enum BlockKind { Heading1, Heading2, Paragraph, Bullet, Table, PageBreak }

/// <summary>One block of a source document: a heading, a paragraph, a bullet item, a table (rows of cells) or a page break.</summary>
internal sealed record Block(BlockKind Kind, string Text, IReadOnlyList<IReadOnlyList<string>> Rows)
{
    public static Block Of(BlockKind kind, string text) => new(kind, text, []);
}

/// <summary>
/// A generator source (sources/&lt;area&gt;/&lt;name&gt;.pdf.txt or .docx.txt) in a tiny markup:
/// <c># Heading 1</c>, <c>## Heading 2</c>, <c>- bullet</c>, <c>| a | b |</c> table rows (first row is the header),
/// <c>@pagebreak</c>, <c>@subtitle text</c>; every other non-blank line is one paragraph. The first Heading 1 is the title.
/// </summary>
internal sealed class SourceDocument
{
    public required string SourcePath { get; init; }
    /// <summary>Output path relative to samples/handbook, '/'-separated ("hr/parental-leave.pdf").</summary>
    public required string OutputPath { get; init; }
    public required string Title { get; init; }
    public required IReadOnlyList<Block> Blocks { get; init; }

    public bool IsPdf => OutputPath.EndsWith(".pdf", StringComparison.Ordinal);

    public static SourceDocument Parse(string sourcePath, string sourcesRoot)
    {
        var relative = Path.GetRelativePath(sourcesRoot, sourcePath).Replace('\\', '/');
        if (!relative.EndsWith(".pdf.txt", StringComparison.Ordinal) && !relative.EndsWith(".docx.txt", StringComparison.Ordinal))
            throw new FormatException($"{sourcePath}: a source must be named <name>.pdf.txt or <name>.docx.txt");
        var blocks = new List<Block>();
        List<IReadOnlyList<string>>? table = null;
        int number = 0;
        foreach (var raw in File.ReadAllLines(sourcePath))
        {
            number++;
            var line = raw.Trim();
            if (line.StartsWith('|'))
            {
                var cells = line.Trim('|').Split('|').Select(c => c.Trim()).ToList();
                if (table is not null && cells.Count != table[0].Count)
                    throw new FormatException($"{sourcePath}:{number}: table row has {cells.Count} cells, the header has {table[0].Count}");
                (table ??= []).Add(cells);
                continue;
            }
            if (table is not null) { blocks.Add(new Block(BlockKind.Table, "", table)); table = null; }
            if (line.Length == 0) continue;
            if (line.StartsWith("## ", StringComparison.Ordinal)) blocks.Add(Block.Of(BlockKind.Heading2, line[3..].Trim()));
            else if (line.StartsWith("# ", StringComparison.Ordinal)) blocks.Add(Block.Of(BlockKind.Heading1, line[2..].Trim()));
            else if (line.StartsWith("- ", StringComparison.Ordinal)) blocks.Add(Block.Of(BlockKind.Bullet, line[2..].Trim()));
            else if (line == "@pagebreak") blocks.Add(Block.Of(BlockKind.PageBreak, ""));
            else if (line.StartsWith('@')) throw new FormatException($"{sourcePath}:{number}: unknown directive '{line}'");
            else blocks.Add(Block.Of(BlockKind.Paragraph, line));
        }
        if (table is not null) blocks.Add(new Block(BlockKind.Table, "", table));
        var title = blocks.FirstOrDefault(b => b.Kind == BlockKind.Heading1)?.Text
            ?? throw new FormatException($"{sourcePath}: no '# ' heading (the first one is the document title)");
        return new SourceDocument
        {
            SourcePath = sourcePath,
            OutputPath = relative[..^".txt".Length],
            Title = title,
            Blocks = blocks,
        };
    }

    /// <summary>The document's text as a reader (or a loader) sees it: blocks in order, one per line, table cells separated by " | ".</summary>
    public string PlainText() => string.Join("\n", Blocks.Select(b => b.Kind switch
    {
        BlockKind.Table => string.Join("\n", b.Rows.Select(r => string.Join(" | ", r))),
        BlockKind.PageBreak => "",
        _ => b.Text,
    }));
}
