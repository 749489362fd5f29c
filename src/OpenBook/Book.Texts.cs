using OpenBook.Retrieval;

namespace OpenBook;

public sealed partial class Book
{
    /// <summary>
    /// The text of every document <paramref name="filter"/> lets through, one string per document (its chunks in
    /// order, joined by newlines) — e.g. a pretraining corpus. The filter's access scope applies as in search: without
    /// groups only documents without an ACL, with groups those sharing one, everything only with
    /// <see cref="SearchFilter.AllAccess"/>. Streams: one document's chunks are held at a time.
    /// </summary>
    public IEnumerable<string> DocumentTexts(SearchFilter? filter = null)
    {
        var (allow, _) = Catalog().Compile(filter ?? SearchFilter.None);
        long current = -1;
        var parts = new List<(int Index, string Text)>();
        foreach (var chunk in Store.AllChunks().Where(c => allow(c.DocumentId)).OrderBy(c => c.DocumentId).ThenBy(c => c.Index))
        {
            if (chunk.DocumentId != current && parts.Count > 0)
            {
                yield return string.Join("\n", parts.Select(p => p.Text));
                parts.Clear();
            }
            current = chunk.DocumentId;
            parts.Add((chunk.Index, chunk.Text));
        }
        if (parts.Count > 0) yield return string.Join("\n", parts.Select(p => p.Text));
    }
}
