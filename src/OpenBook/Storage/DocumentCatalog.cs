using OpenBook.Retrieval;

namespace OpenBook.Storage;

/// <summary>
/// In-memory document attributes (collection, tags, ACL) used to evaluate a <see cref="SearchFilter"/> quickly
/// inside retrievers. Built from the store; rebuilt when the store changes.
/// </summary>
public sealed class DocumentCatalog
{
    /// <summary>One document's filterable attributes.</summary>
    public sealed record Entry(long DocumentId, string Collection, IReadOnlyList<string> Tags, IReadOnlyList<string> Acl);

    private readonly Dictionary<long, Entry> _entries;

    /// <summary>Creates a catalog.</summary>
    public DocumentCatalog(IEnumerable<Entry> entries) => _entries = entries.ToDictionary(e => e.DocumentId);

    /// <summary>Number of documents.</summary>
    public int Count => _entries.Count;

    /// <summary>Attributes of a document, if known.</summary>
    public Entry? Get(long documentId) => _entries.GetValueOrDefault(documentId);

    /// <summary>Whether <paramref name="scope"/> may read the document (unknown documents: no).</summary>
    public bool CanRead(long documentId, AccessScope scope) => _entries.TryGetValue(documentId, out var e) && scope.CanRead(e.Acl);

    /// <summary>
    /// Compiles a filter into a document predicate plus the fraction of documents it lets through (a selectivity hint
    /// for vector search). Unknown documents (e.g. removed since) never pass.
    /// </summary>
    public (Func<long, bool> Allow, double Selectivity) Compile(SearchFilter? filter)
    {
        filter ??= SearchFilter.None;
        var collections = filter.Collections is { Count: > 0 } cs ? new HashSet<string>(cs, StringComparer.Ordinal) : null;
        var tags = filter.Tags is { Count: > 0 } ts ? ts.ToArray() : null;
        var scope = AccessScope.Of(filter);

        bool Passes(Entry e)
        {
            if (collections is not null && !collections.Contains(e.Collection)) return false;
            if (tags is not null && !tags.All(t => e.Tags.Contains(t, StringComparer.OrdinalIgnoreCase))) return false;
            return scope.CanRead(e.Acl);
        }

        var allowed = new HashSet<long>();
        foreach (var e in _entries.Values)
            if (Passes(e)) allowed.Add(e.DocumentId);
        var selectivity = _entries.Count == 0 ? 0 : (double)allowed.Count / _entries.Count;
        return (allowed.Contains, selectivity);
    }
}
