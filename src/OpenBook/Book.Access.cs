using OpenBook.Storage;

namespace OpenBook;

/// <summary>
/// Reading documents: every method takes the caller's <see cref="AccessScope"/>, and a document the scope may not
/// read is treated as absent (never listed, shown, counted or removed).
/// </summary>
public sealed partial class Book
{
    /// <summary>The documents <paramref name="scope"/> may read, in <paramref name="collections"/> (null or empty: all).</summary>
    public IReadOnlyList<DocumentRecord> ListDocuments(AccessScope scope, IReadOnlyCollection<string>? collections = null)
    {
        ArgumentNullException.ThrowIfNull(scope);
        return Store.ListDocuments()
            .Where(d => scope.CanRead(d.Acl) && (collections is not { Count: > 0 } || collections.Contains(d.Collection)))
            .ToList();
    }

    /// <summary>A document by id, or null when it does not exist or <paramref name="scope"/> may not read it.</summary>
    public DocumentRecord? GetDocument(long documentId, AccessScope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        return Store.GetDocument(documentId) is { } d && scope.CanRead(d.Acl) ? d : null;
    }

    /// <summary>
    /// The readable documents that <paramref name="idOrPath"/> names: an id, the ingested path, a full path, the citation
    /// path, or a suffix of it after a '/'.
    /// </summary>
    public IReadOnlyList<DocumentRecord> FindDocuments(string idOrPath, AccessScope scope)
    {
        if (long.TryParse(idOrPath, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
            return GetDocument(id, scope) is { } byId ? [byId] : [];
        var full = Path.GetFullPath(idOrPath);
        return ListDocuments(scope)
            .Where(d => d.SourceKey == idOrPath || d.Path == full || d.DisplayPath == idOrPath || d.DisplayPath.EndsWith("/" + idOrPath, StringComparison.Ordinal))
            .ToList();
    }

    /// <summary>The chunks of a document, in order (empty when <paramref name="scope"/> may not read it).</summary>
    public IReadOnlyList<ChunkRecord> GetDocumentChunks(long documentId, AccessScope scope) =>
        GetDocument(documentId, scope) is null ? [] : Store.ChunksOfDocument(documentId);

    /// <summary>
    /// Counts and sizes of what <paramref name="scope"/> may read (with all access, the whole store). The database size
    /// and the change sequence are the store's own.
    /// </summary>
    public StoreStats Stats(AccessScope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var all = Store.Stats();
        if (scope.AllAccess) return all;
        var visible = ListDocuments(scope);
        var ids = visible.Select(d => d.Id).ToHashSet();
        long chars = 0, tokens = 0;
        foreach (var c in Store.AllChunks())
        {
            if (!ids.Contains(c.DocumentId)) continue;
            chars += c.Text.Length;
            tokens += c.TokenCount;
        }
        var per = all.PerCollection.Select(col =>
        {
            var docs = visible.Where(d => d.Collection == col.Name).ToList();
            return col with { Documents = docs.Count, Chunks = docs.Sum(d => d.ChunkCount), SourceBytes = docs.Sum(d => d.Size), LastIngest = docs.Count == 0 ? null : col.LastIngest };
        }).ToList();
        return new StoreStats(per.Count, per.Sum(p => p.Documents), per.Sum(p => p.Chunks), per.Sum(p => p.SourceBytes), chars, tokens, all.DatabaseBytes, all.Sequence, per);
    }

    /// <summary>
    /// Whether <paramref name="scope"/> may remove or replace the document: with all access, or when the document has an
    /// ACL the caller shares a group with. Documents without an ACL belong to no group, so only all access changes them.
    /// </summary>
    public static bool CanModify(DocumentRecord document, AccessScope scope) =>
        scope.AllAccess || (document.Acl.Count > 0 && scope.CanRead(document.Acl));

    /// <summary>
    /// Removes a document and its chunks if <paramref name="scope"/> may modify it (see <see cref="CanModify"/>);
    /// indexes follow. False when there is no such readable document.
    /// </summary>
    public async Task<bool> RemoveDocumentAsync(long documentId, AccessScope scope, CancellationToken cancellationToken = default)
    {
        if (GetDocument(documentId, scope) is not { } doc) return false;
        if (!CanModify(doc, scope))
            throw new OpenBookException($"{doc.DisplayPath}: removing a document needs one of its groups ({(doc.Acl.Count == 0 ? "it has none: all access" : string.Join(", ", doc.Acl))}).");
        return await RemoveDocumentAsync(documentId, cancellationToken).ConfigureAwait(false);
    }
}
