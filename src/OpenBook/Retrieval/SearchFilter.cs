namespace OpenBook.Retrieval;

/// <summary>
/// Metadata filter applied by every retriever (BM25, vector, hybrid) <em>during</em> search:
/// a chunk that does not pass is never returned.
/// </summary>
public sealed record SearchFilter
{
    /// <summary>Only chunks of documents in one of these collections (null or empty: any collection).</summary>
    public IReadOnlyList<string>? Collections { get; init; }

    /// <summary>Only chunks of documents carrying every one of these tags (null or empty: no tag condition).</summary>
    public IReadOnlyList<string>? Tags { get; init; }

    /// <summary>
    /// The caller's groups. A document with an ACL is visible only to callers sharing at least one group with it;
    /// a document without an ACL is visible to everyone. Null or empty: the caller sees only unrestricted documents.
    /// </summary>
    public IReadOnlyList<string>? Groups { get; init; }

    /// <summary>Bypass ACL checks (administrative tools only, e.g. <c>openbook docs list --all-access</c>).</summary>
    public bool AllAccess { get; init; }

    /// <summary>A filter that lets every unrestricted chunk through.</summary>
    public static SearchFilter None { get; } = new();
}
