namespace OpenBook.Ingestion;

/// <summary>Plain text (.txt): one section; blank lines separate paragraphs.</summary>
public sealed class TextLoader : IDocumentLoader
{
    /// <inheritdoc />
    public IReadOnlyList<string> Extensions { get; } = [".txt", ".text"];

    /// <inheritdoc />
    public IEnumerable<LoadedDocument> Load(string path, Stream content, LoaderOptions options) =>
        LoadErrors.Guard(path, "text", () =>
        {
            var builder = new SectionBuilder();
            builder.Paragraph(LoaderText.ReadAll(content));
            return [new LoadedDocument(path, null, builder.Build())];
        });
}
