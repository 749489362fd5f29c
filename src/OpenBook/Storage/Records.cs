namespace OpenBook.Storage;

/// <summary>A document as stored (one file, or one record of a JSONL/CSV file).</summary>
public sealed record DocumentRecord
{
    /// <summary>Store id.</summary>
    public required long Id { get; init; }
    /// <summary>Collection name.</summary>
    public required string Collection { get; init; }
    /// <summary>Unique key within the collection: the absolute file path, plus "#record" for multi-record files.</summary>
    public required string SourceKey { get; init; }
    /// <summary>Absolute path of the source file.</summary>
    public required string Path { get; init; }
    /// <summary>Path shown in citations (relative to the ingested folder, e.g. "handbook/hr/leave.pdf").</summary>
    public required string DisplayPath { get; init; }
    /// <summary>Title, when the format has one.</summary>
    public string? Title { get; init; }
    /// <summary>SHA-256 of the source file's bytes (hex).</summary>
    public required string ContentHash { get; init; }
    /// <summary>Source file size in bytes.</summary>
    public long Size { get; init; }
    /// <summary>Source file last-write time (UTC).</summary>
    public DateTimeOffset Modified { get; init; }
    /// <summary>Tags.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];
    /// <summary>ACL groups; empty means visible to everyone.</summary>
    public IReadOnlyList<string> Acl { get; init; } = [];
    /// <summary>When first ingested.</summary>
    public DateTimeOffset IngestedAt { get; init; }
    /// <summary>When last replaced.</summary>
    public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>Number of chunks.</summary>
    public int ChunkCount { get; init; }
}

/// <summary>A chunk as stored, with what a citation needs.</summary>
public sealed record ChunkRecord
{
    /// <summary>Store id (stable until the document is replaced).</summary>
    public required long Id { get; init; }
    /// <summary>Owning document id.</summary>
    public required long DocumentId { get; init; }
    /// <summary>Position in the document (0-based).</summary>
    public required int Index { get; init; }
    /// <summary>Chunk text.</summary>
    public required string Text { get; init; }
    /// <summary>1-based page (PDF), or null.</summary>
    public int? Page { get; init; }
    /// <summary>Heading path.</summary>
    public IReadOnlyList<string> Headings { get; init; } = [];
    /// <summary>Start offset in the document's full text.</summary>
    public int CharStart { get; init; }
    /// <summary>End offset (exclusive) in the document's full text.</summary>
    public int CharEnd { get; init; }
    /// <summary>Token count as measured by the chunker.</summary>
    public int TokenCount { get; init; }
    /// <summary>SHA-256 of the text (hex); the key of the embedding cache.</summary>
    public required string TextHash { get; init; }
    /// <summary>Citation path of the document.</summary>
    public required string Source { get; init; }
    /// <summary>Collection of the document.</summary>
    public required string Collection { get; init; }
}

/// <summary>What to write for a document.</summary>
public sealed record DocumentWrite(
    string Collection, string SourceKey, string Path, string DisplayPath, string? Title, string ContentHash, long Size,
    DateTimeOffset Modified, IReadOnlyList<string> Tags, IReadOnlyList<string> Acl);

/// <summary>What to write for a chunk.</summary>
public sealed record ChunkWrite(int Index, string Text, int? Page, IReadOnlyList<string> Headings, int CharStart, int CharEnd, int TokenCount);

/// <summary>One change to the chunk set, in commit order (for keeping derived indexes up to date).</summary>
/// <param name="Sequence">Monotonic change number.</param>
/// <param name="ChunkId">The chunk.</param>
/// <param name="DocumentId">Its document.</param>
/// <param name="Added">True for add, false for delete.</param>
public readonly record struct ChunkChange(long Sequence, long ChunkId, long DocumentId, bool Added);

/// <summary>Store-wide counts.</summary>
public sealed record StoreStats(int Collections, int Documents, int Chunks, long SourceBytes, long TextChars, long Tokens, long DatabaseBytes, long Sequence,
    IReadOnlyList<CollectionStats> PerCollection);

/// <summary>Counts for one collection.</summary>
public sealed record CollectionStats(string Name, int Documents, int Chunks, long SourceBytes, DateTimeOffset? LastIngest, string? EmbeddingModel);

/// <summary>One entry of the ingest history (used by <c>openbook advise</c> to see how often documents change).</summary>
public sealed record IngestEvent(DateTimeOffset At, string Collection, string SourceKey, string Operation, string? ContentHash);
