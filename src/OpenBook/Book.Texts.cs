namespace OpenBook;

public sealed partial class Book
{
    /// <summary>
    /// The text of every document <paramref name="scope"/> may read (in <paramref name="collection"/>, or all), one
    /// string per document: its chunks in order, joined by newlines — e.g. a pretraining corpus. Streams in store order
    /// (a document's chunks are stored together, in order): one document's chunks are held at a time.
    /// </summary>
    public IEnumerable<string> ReadDocumentTexts(AccessScope scope, string? collection = null)
    {
        long current = -1;
        var parts = new List<string>();
        foreach (var chunk in ReadChunks(scope, collection))
        {
            if (chunk.DocumentId != current && parts.Count > 0)
            {
                yield return string.Join("\n", parts);
                parts.Clear();
            }
            current = chunk.DocumentId;
            parts.Add(chunk.Text);
        }
        if (parts.Count > 0) yield return string.Join("\n", parts);
    }
}
