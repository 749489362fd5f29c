using OpenBook.Onnx;
using OpenBook.Storage;

namespace OpenBook.Runtime;

/// <summary>Which embedding model an ingest uses when the caller does not say.</summary>
public static class IngestEmbedding
{
    /// <summary>
    /// The spec an ingest into <paramref name="collection"/> embeds with: <paramref name="embed"/> when given; none with
    /// <paramref name="noEmbed"/>; else the model already recorded on the collection; else
    /// <see cref="EmbeddingModels.DefaultIngestModel"/> (the built-in int8 MiniLM), so a new collection gets hybrid search.
    /// </summary>
    public static string? Spec(string store, string collection, string? embed, bool noEmbed)
    {
        if (embed is not null) return embed;
        if (noEmbed) return null;
        if (File.Exists(Path.Combine(store, DocumentStore.DatabaseFileName)))
        {
            using var s = DocumentStore.Open(store);
            if (s.CollectionEmbeddingModel(collection) is { } recorded) return recorded;
        }
        return EmbeddingModels.DefaultIngestModel;
    }
}
