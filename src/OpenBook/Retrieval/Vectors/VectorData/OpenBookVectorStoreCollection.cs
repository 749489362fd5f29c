using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;
using OpenBook.Storage;

namespace OpenBook.Retrieval.Vectors.VectorData;

/// <summary>What the store needs from its collections whatever their record type.</summary>
internal interface IOpenBookCollection : IDisposable
{
    Task<bool> CollectionExistsAsync(CancellationToken cancellationToken);
    Task EnsureCollectionDeletedAsync(CancellationToken cancellationToken);
    Task SaveAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A <see cref="VectorStoreCollection{TKey, TRecord}"/> over an OpenBook <see cref="HnswIndex"/> (or <see cref="FlatIndex"/>
/// when the vector property asks for <c>IndexKind.Flat</c>). Records live in memory; when the store has a directory,
/// <see cref="SaveAsync"/> writes the index file and a checksummed records file, and the collection reloads them on
/// first use (rebuilding the index from the records when its file is missing or damaged). Search filters are applied
/// during the graph walk.
/// </summary>
public sealed class OpenBookVectorStoreCollection<TKey, TRecord> : VectorStoreCollection<TKey, TRecord>, IOpenBookCollection
    where TKey : notnull
    where TRecord : class
{
    private readonly object _gate = new();
    private readonly RecordModel<TRecord> _model;
    private readonly string? _directory;
    private readonly IEmbeddingGenerator<string, Embedding<float>>? _generator;
    private readonly HnswOptions _hnsw;
    private readonly JsonSerializerOptions _json;
    private readonly Dictionary<TKey, long> _idOf = [];
    private readonly Dictionary<long, (TKey Key, TRecord Record)> _records = [];
    private IVectorIndex? _index;
    private long _nextId;
    private bool _loaded;

    internal OpenBookVectorStoreCollection(string name, RecordModel<TRecord> model, string? directory,
        IEmbeddingGenerator<string, Embedding<float>>? generator, HnswOptions hnsw, JsonSerializerOptions json)
    {
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.StartsWith('.'))
            throw new ArgumentException($"Collection name '{name}' must be a plain file name (no path separators, not starting with '.').", nameof(name));
        Name = name;
        _model = model;
        _directory = directory;
        _generator = generator;
        _hnsw = hnsw;
        _json = json;
    }

    /// <inheritdoc/>
    public override string Name { get; }

    /// <summary>Number of records.</summary>
    public int Count { get { lock (_gate) { Load(); return _records.Count; } } }

    private string? IndexPath => _directory is null ? null : Path.Combine(_directory, Name + ".obvec");
    private string? RecordsPath => _directory is null ? null : Path.Combine(_directory, Name + ".records.json");

    /// <inheritdoc/>
    public override Task<bool> CollectionExistsAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate) return Task.FromResult(_index != null || (RecordsPath is { } p && File.Exists(p)));
    }

    /// <inheritdoc/>
    public override Task EnsureCollectionExistsAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate) { Load(); _index ??= NewIndex(); }
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override Task EnsureCollectionDeletedAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _index?.Dispose();
            _index = null;
            _records.Clear();
            _idOf.Clear();
            _loaded = true;
            foreach (var p in new[] { IndexPath, RecordsPath })
                if (p != null && File.Exists(p)) File.Delete(p);
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override Task<TRecord?> GetAsync(TKey key, RecordRetrievalOptions? options = null, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            Load();
            return Task.FromResult(_idOf.TryGetValue(key, out long id) ? _records[id].Record : null);
        }
    }

    /// <inheritdoc/>
    public override async IAsyncEnumerable<TRecord> GetAsync(Expression<Func<TRecord, bool>> filter, int top,
        FilteredRecordRetrievalOptions<TRecord>? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        var predicate = filter.Compile();
        IEnumerable<TRecord> matches;
        lock (_gate)
        {
            Load();
            matches = _records.OrderBy(r => r.Key).Select(r => r.Value.Record).Where(predicate).ToList();
        }
        if (options?.OrderBy is { } orderBy)
        {
            IOrderedEnumerable<TRecord>? ordered = null;
            foreach (var sort in orderBy(new FilteredRecordRetrievalOptions<TRecord>.OrderByDefinition()).Values)
            {
                var by = sort.PropertySelector.Compile();
                ordered = ordered is null
                    ? (sort.Ascending ? matches.OrderBy(by) : matches.OrderByDescending(by))
                    : (sort.Ascending ? ordered.ThenBy(by) : ordered.ThenByDescending(by));
            }
            matches = ordered ?? matches;
        }
        foreach (var r in matches.Skip(options?.Skip ?? 0).Take(top))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return r;
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public override Task DeleteAsync(TKey key, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            Load();
            if (_idOf.Remove(key, out long id))
            {
                _records.Remove(id);
                _index?.Remove(id);
            }
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override Task UpsertAsync(TRecord record, CancellationToken cancellationToken = default) =>
        UpsertAsync([record], cancellationToken);

    /// <inheritdoc/>
    public override Task UpsertAsync(IEnumerable<TRecord> records, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            Load();
            _index ??= NewIndex();
            foreach (var record in records)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var key = _model.GetKey(record) is TKey k ? k
                    : throw new ArgumentException($"Record key '{_model.KeyName}' is missing or not a {typeof(TKey).Name}.", nameof(records));
                var vector = _model.GetVector(record)
                    ?? throw new ArgumentException($"Record '{key}' has no vector in '{_model.VectorName}'.", nameof(records));
                if (vector.Length != _model.Dimensions)
                    throw new ArgumentException($"Record '{key}': '{_model.VectorName}' has {vector.Length} dimensions, the collection has {_model.Dimensions}.", nameof(records));
                if (!_idOf.TryGetValue(key, out long id)) _idOf[key] = id = _nextId++;
                _index.Add(id, vector.Span);
                _records[id] = (key, record);
            }
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override async IAsyncEnumerable<VectorSearchResult<TRecord>> SearchAsync<TInput>(TInput searchValue, int top,
        VectorSearchOptions<TRecord>? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        ReadOnlyMemory<float> query = searchValue switch
        {
            string text when _generator != null => (await _generator.GenerateAsync(text, cancellationToken: cancellationToken).ConfigureAwait(false)).Vector,
            string => throw new NotSupportedException("Searching by text needs an embedding generator: pass one to OpenBookVectorStore."),
            _ => RecordModel<TRecord>.AsVector(searchValue) ?? throw new ArgumentNullException(nameof(searchValue)),
        };
        int skip = options?.Skip ?? 0;
        Func<TRecord, bool>? predicate = options?.Filter?.Compile();
        List<VectorSearchResult<TRecord>> results;
        lock (_gate)
        {
            Load();
            if (_index is null) yield break;
            VectorFilter? filter = predicate is null ? null : new VectorFilter(id => _records.TryGetValue(id, out var r) && predicate(r.Record));
            results = _index.Search(query.Span, top + skip, filter)
                .Select(h => new VectorSearchResult<TRecord>(_records[h.Id].Record, _model.Score(h.Distance)))
                .Skip(skip)
                .Where(r => options?.ScoreThreshold is not { } t || (_model.HigherIsBetter ? r.Score >= t : r.Score <= t))
                .ToList();
        }
        foreach (var r in results) yield return r;
    }

    /// <inheritdoc/>
    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(VectorStoreCollectionMetadata) ? new VectorStoreCollectionMetadata { VectorStoreSystemName = "openbook", CollectionName = Name }
        : serviceType.IsInstanceOfType(_index) ? _index
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    /// <summary>
    /// Writes the index (<c>NAME.obvec</c>) and the records (<c>NAME.records.json</c>, SHA-256 checked) to the store's
    /// directory, each through a temp file and an atomic rename.
    /// </summary>
    public Task SaveAsync(CancellationToken cancellationToken = default)
    {
        if (_directory is null) throw new InvalidOperationException("This vector store has no directory; create it with one to save collections.");
        lock (_gate)
        {
            Load();
            Directory.CreateDirectory(_directory);
            IndexFile.WriteAtomic(RecordsPath!, IndexFileKind.VectorRecords, w =>
            {
                w.Write(JsonSerializer.SerializeToUtf8Bytes(new VectorRecordsFile<TRecord>(_model.Dimensions, _model.DistanceFunction,
                    [.. _records.OrderBy(r => r.Key).Select(r => new VectorRecordsFileItem<TRecord>(r.Key, r.Value.Record))]), _json));
            });
            _index?.Save(IndexPath!);
        }
        return Task.CompletedTask;
    }

    private IVectorIndex NewIndex() => _model.IndexKind == Microsoft.Extensions.VectorData.IndexKind.Flat
        ? new FlatIndex(_model.Dimensions, _model.Metric)
        : new HnswIndex(_model.Dimensions, _model.Metric, _hnsw);

    /// <summary>Loads saved records once; the index file is used when it matches, otherwise rebuilt from the records.</summary>
    private void Load()
    {
        if (_loaded) return;
        _loaded = true;
        if (RecordsPath is not { } path || !File.Exists(path)) return;
        byte[] content;
        try { content = IndexFile.ReadVerified(path, IndexFileKind.VectorRecords); }
        catch (IndexFileException ex) { throw new OpenBookException($"Vector collection '{Name}': {ex.Message}", ex); }
        using var doc = JsonDocument.Parse(content);
        foreach (var item in doc.RootElement.GetProperty("records").EnumerateArray())
        {
            long id = item.GetProperty("id").GetInt64();
            var record = _model.FromJson(item.GetProperty("record"));
            var key = (TKey)_model.GetKey(record)!;
            _records[id] = (key, record);
            _idOf[key] = id;
            _nextId = Math.Max(_nextId, id + 1);
        }
        try
        {
            _index = VectorIndex.Open(IndexPath!, _model.Dimensions, _model.Metric);
            if (_index.Count != _records.Count || _records.Keys.Any(id => !_index.Contains(id)))
                throw new IndexFileException(IndexPath!, "does not match the records file");
        }
        catch (IndexFileException)
        {
            _index?.Dispose();
            _index = NewIndex();
            foreach (var (id, (_, record)) in _records) _index.Add(id, _model.GetVector(record)!.Value.Span);
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) lock (_gate) { _index?.Dispose(); _index = null; }
        base.Dispose(disposing);
    }
}

/// <summary>The records file of a collection (<c>NAME.records.json</c>); the names are fixed, whatever the caller's naming policy.</summary>
internal sealed record VectorRecordsFile<TRecord>(
    [property: System.Text.Json.Serialization.JsonPropertyName("dimensions")] int Dimensions,
    [property: System.Text.Json.Serialization.JsonPropertyName("distanceFunction")] string DistanceFunction,
    [property: System.Text.Json.Serialization.JsonPropertyName("records")] IReadOnlyList<VectorRecordsFileItem<TRecord>> Records);

/// <summary>One record of <see cref="VectorRecordsFile{TRecord}"/>: the internal id and the caller's record.</summary>
internal sealed record VectorRecordsFileItem<TRecord>(
    [property: System.Text.Json.Serialization.JsonPropertyName("id")] long Id,
    [property: System.Text.Json.Serialization.JsonPropertyName("record")] TRecord Record);
