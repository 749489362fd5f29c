using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;

namespace OpenBook.Retrieval.Vectors.VectorData;

/// <summary>
/// <see cref="VectorStore"/> backed by OpenBook's own indexes, so code written against Microsoft.Extensions.VectorData
/// (Semantic Kernel, Microsoft.Extensions.AI samples) runs on OpenBook unchanged:
/// <code>
/// var store = new OpenBookVectorStore(directory: ".openbook/vectors", embeddingGenerator: generator);
/// var hotels = store.GetCollection&lt;int, Hotel&gt;("hotels");
/// await hotels.UpsertAsync(hotel);
/// await foreach (var hit in hotels.SearchAsync("quiet room near the station", top: 3)) …
/// </code>
/// Collections are created on first use; with a <c>directory</c> they persist through
/// <see cref="OpenBookVectorStoreCollection{TKey, TRecord}.SaveAsync"/> / <see cref="SaveAllAsync"/>.
/// </summary>
public sealed class OpenBookVectorStore : VectorStore
{
    private readonly ConcurrentDictionary<string, IOpenBookCollection> _collections = new(StringComparer.Ordinal);
    private readonly string? _directory;
    private readonly IEmbeddingGenerator<string, Embedding<float>>? _generator;
    private readonly HnswOptions _hnsw;
    private readonly JsonSerializerOptions _json;

    /// <summary>Creates a store; in memory only when <paramref name="directory"/> is null.</summary>
    /// <param name="directory">Where collections are saved and loaded from (optional).</param>
    /// <param name="embeddingGenerator">Turns text search values into vectors (optional).</param>
    /// <param name="hnswOptions">Graph parameters for HNSW collections.</param>
    /// <param name="jsonOptions">How records are serialised in the records file.</param>
    public OpenBookVectorStore(string? directory = null, IEmbeddingGenerator<string, Embedding<float>>? embeddingGenerator = null,
        HnswOptions? hnswOptions = null, JsonSerializerOptions? jsonOptions = null)
    {
        _directory = directory;
        _generator = embeddingGenerator;
        _hnsw = hnswOptions ?? new HnswOptions();
        _json = jsonOptions ?? JsonSerializerOptions.Default;
    }

    /// <inheritdoc/>
    public override VectorStoreCollection<TKey, TRecord> GetCollection<TKey, TRecord>(string name, VectorStoreCollectionDefinition? definition = null)
    {
        var c = _collections.GetOrAdd(name, n => new OpenBookVectorStoreCollection<TKey, TRecord>(
            n, RecordModel<TRecord>.ForType(definition, _json), _directory, Generator(definition), _hnsw, _json));
        return c as VectorStoreCollection<TKey, TRecord>
            ?? throw new InvalidOperationException($"Collection '{name}' is already open with another record type ({c.GetType().GenericTypeArguments[1].Name}).");
    }

    /// <inheritdoc/>
    public override VectorStoreCollection<object, Dictionary<string, object?>> GetDynamicCollection(string name, VectorStoreCollectionDefinition definition)
    {
        var c = _collections.GetOrAdd(name, n => new OpenBookVectorStoreCollection<object, Dictionary<string, object?>>(
            n, RecordModel<Dictionary<string, object?>>.ForDynamic(definition, _json), _directory, Generator(definition), _hnsw, _json));
        return c as VectorStoreCollection<object, Dictionary<string, object?>>
            ?? throw new InvalidOperationException($"Collection '{name}' is already open with a typed record.");
    }

    private IEmbeddingGenerator<string, Embedding<float>>? Generator(VectorStoreCollectionDefinition? definition) =>
        definition?.EmbeddingGenerator as IEmbeddingGenerator<string, Embedding<float>> ?? _generator;

    /// <inheritdoc/>
    public override async IAsyncEnumerable<string> ListCollectionNamesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (name, c) in _collections)
            if (await c.CollectionExistsAsync(cancellationToken).ConfigureAwait(false)) names.Add(name);
        if (_directory != null && Directory.Exists(_directory))
            foreach (var f in Directory.EnumerateFiles(_directory, "*.records.json"))
                names.Add(Path.GetFileName(f)[..^".records.json".Length]);
        foreach (var n in names) yield return n;
    }

    /// <inheritdoc/>
    public override async Task<bool> CollectionExistsAsync(string name, CancellationToken cancellationToken = default)
    {
        await foreach (var n in ListCollectionNamesAsync(cancellationToken).ConfigureAwait(false))
            if (n == name) return true;
        return false;
    }

    /// <inheritdoc/>
    public override async Task EnsureCollectionDeletedAsync(string name, CancellationToken cancellationToken = default)
    {
        if (_collections.TryRemove(name, out var c)) await c.EnsureCollectionDeletedAsync(cancellationToken).ConfigureAwait(false);
        if (_directory != null)
            foreach (var suffix in new[] { ".obvec", ".records.json" })
                File.Delete(Path.Combine(_directory, name + suffix));
    }

    /// <summary>Saves every open collection (needs a directory).</summary>
    public async Task SaveAllAsync(CancellationToken cancellationToken = default)
    {
        foreach (var c in _collections.Values) await c.SaveAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Disposes the collections this store handed out (their indexes hold unmanaged memory).</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            foreach (var c in _collections.Values) ((IDisposable)c).Dispose();
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(VectorStoreMetadata) ? new VectorStoreMetadata { VectorStoreSystemName = "openbook" }
        : serviceType.IsInstanceOfType(this) ? this
        : null;
}
