using OpenBook.Storage;
namespace OpenBook.Retrieval.Vectors;

/// <summary>How two vectors are compared. Every index reports a <em>distance</em>: lower is closer.</summary>
public enum VectorMetric
{
    /// <summary>Cosine: vectors are normalised once on insert; distance = 1 − cos(a, b), in [0, 2].</summary>
    Cosine = 0,
    /// <summary>Inner product: distance = −a·b (vectors are stored as given).</summary>
    DotProduct = 1,
    /// <summary>Euclidean: distance = ‖a − b‖² (squared, the ordering is the same as Euclidean).</summary>
    L2 = 2,
}

/// <summary>One search result: the caller's id and its distance to the query (lower is closer, see <see cref="VectorMetric"/>).</summary>
public readonly record struct VectorHit(long Id, float Distance)
{
    /// <summary>
    /// Similarity in the metric's natural direction (higher is closer): cosine similarity for
    /// <see cref="VectorMetric.Cosine"/>, the inner product for <see cref="VectorMetric.DotProduct"/>,
    /// the negated squared distance for <see cref="VectorMetric.L2"/>.
    /// </summary>
    public float Similarity(VectorMetric metric) => metric switch
    {
        VectorMetric.Cosine => 1f - Distance,
        VectorMetric.DotProduct => -Distance,
        _ => -Distance,
    };
}

/// <summary>
/// A per-id predicate applied <em>during</em> search: an id for which <see cref="Allows"/> is false is never returned.
/// The store compiles a <see cref="SearchFilter"/> (collections, tags, ACL groups) into one of these.
/// </summary>
/// <param name="Allows">True when the id may be returned. Called from several threads; must be thread-safe and cheap.</param>
/// <param name="Selectivity">
/// Optional hint: the fraction (0..1] of indexed ids that pass. When null the index estimates it by sampling.
/// <see cref="HnswIndex"/> uses it to choose between walking the graph and scanning the passing ids exactly
/// (<see cref="HnswIndex.PrefersExactScan"/>).
/// </param>
public sealed record VectorFilter(Func<long, bool> Allows, double? Selectivity = null)
{
    /// <summary>A filter passing only the given ids (selectivity is computed against <paramref name="totalCount"/> when given).</summary>
    public static VectorFilter FromIds(IReadOnlySet<long> ids, int? totalCount = null) =>
        new(ids.Contains, totalCount is > 0 ? Math.Min(1.0, ids.Count / (double)totalCount.Value) : null);

    /// <summary>Lets a plain predicate (or null: no filter) be passed wherever a filter is expected (selectivity estimated by sampling).</summary>
    public static implicit operator VectorFilter?(Func<long, bool>? allows) => allows is null ? null : new(allows);
}


/// <summary>Common surface of the exact (<see cref="FlatIndex"/>) and approximate (<see cref="HnswIndex"/>) indexes.</summary>
public interface IVectorIndex : IDisposable
{
    /// <summary>Vector length.</summary>
    int Dimensions { get; }
    /// <summary>Comparison metric.</summary>
    VectorMetric Metric { get; }
    /// <summary>Number of live (not deleted) vectors.</summary>
    int Count { get; }
    /// <summary>Adds a vector, or replaces the vector of an id already present.</summary>
    void Add(long id, ReadOnlySpan<float> vector);
    /// <summary>Removes an id; false when it was not present.</summary>
    bool Remove(long id);
    /// <summary>True when the id is present.</summary>
    bool Contains(long id);
    /// <summary>The <paramref name="k"/> nearest live ids passing <paramref name="filter"/>, closest first.</summary>
    IReadOnlyList<VectorHit> Search(ReadOnlySpan<float> query, int k, VectorFilter? filter = null);
    /// <summary>Writes the index to one checksummed file (temp file + fsync + atomic rename).</summary>
    void Save(string path, ulong stamp = 0);
}

/// <summary>Opening saved indexes without knowing their kind.</summary>
public static class VectorIndex
{
    /// <summary>
    /// Opens a file written by <see cref="IVectorIndex.Save"/> as the kind of index it holds (<see cref="FlatIndex"/> or
    /// <see cref="HnswIndex"/>). Throws <see cref="IndexFileException"/> when the file is missing, truncated,
    /// corrupt or does not match the expected dimensions/metric.
    /// </summary>
    public static IVectorIndex Open(string path, int? expectedDimensions = null, VectorMetric? expectedMetric = null)
    {
        IndexFileKind kind;
        using (var file = new IndexFileReader(path, verifyChecksum: false)) kind = file.Header.Kind;
        return kind switch
        {
            IndexFileKind.Flat => FlatIndex.Open(path, expectedDimensions, expectedMetric),
            IndexFileKind.Hnsw => HnswIndex.Open(path, expectedDimensions, expectedMetric),
            _ => throw new IndexFileException(path, $"unknown index kind {(uint)kind}"),
        };
    }
}
