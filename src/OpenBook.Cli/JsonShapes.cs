using OpenBook.Storage;

namespace OpenBook.Cli;

/// <summary>A document in <c>docs list --json</c> and <c>docs show --json</c>.</summary>
internal sealed record DocumentJson(long Id, string Collection, string Source, string Path, string? Title, int Chunks, long Bytes, IReadOnlyList<string> Tags,
    IReadOnlyList<string> Acl, string Hash, DateTimeOffset Updated)
{
    public static DocumentJson Of(DocumentRecord d) => new(d.Id, d.Collection, d.DisplayPath, d.SourceKey, d.Title, d.ChunkCount, d.Size, d.Tags, d.Acl, d.ContentHash, d.UpdatedAt);
}

/// <summary><c>docs list --json</c>; <c>Scope</c> says whose documents were listed.</summary>
internal sealed record DocumentListJson(IReadOnlyList<DocumentJson> Documents, string Scope);

/// <summary>A chunk in <c>docs show --json</c> (the id as a string: JavaScript loses 64-bit integers).</summary>
internal sealed record ChunkJson(string Id, int Index, int? Page, IReadOnlyList<string> Headings, int Tokens, string Text)
{
    public static ChunkJson Of(ChunkRecord c) => new(c.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), c.Index, c.Page, c.Headings, c.TokenCount, c.Text);
}

/// <summary><c>docs show --json</c>.</summary>
internal sealed record DocumentShowJson(DocumentJson Document, IReadOnlyList<ChunkJson> Chunks);

/// <summary><c>docs remove --json</c>.</summary>
internal sealed record RemovedJson(long Removed, string Source);

/// <summary>The BM25 index in <c>stats --json</c>.</summary>
internal sealed record LexicalIndexJson(int Chunks, int Terms, string? Status);

/// <summary><c>stats --json</c>: counts of what the caller may read (<c>Scope</c>), the store's size and index state.</summary>
internal sealed record StatsJson(string Store, int SchemaVersion, int CollectionCount, int Documents, int Chunks, long SourceBytes, long TextChars, long Tokens,
    long DatabaseBytes, long Sequence, LexicalIndexJson LexicalIndex, IReadOnlyList<CollectionStats> Collections, string Scope);

/// <summary>Every failure with <c>--json</c>: the only document on stdout.</summary>
internal sealed record ErrorJson(string Error);
