using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;

namespace OpenBook.Retrieval.Vectors.VectorData;

/// <summary>
/// How a record type maps onto an OpenBook index: which member is the key, which the vector (with its dimensions,
/// distance function and index kind), read either from the <c>[VectorStoreKey]</c>/<c>[VectorStoreVector]</c>/
/// <c>[VectorStoreData]</c> attributes, from a <see cref="VectorStoreCollectionDefinition"/>, or (dynamic collections)
/// from dictionary entries named by the definition.
/// </summary>
internal sealed class RecordModel<TRecord>
{
    public required string KeyName { get; init; }
    public required Func<TRecord, object?> GetKey { get; init; }
    public required string VectorName { get; init; }
    public required Func<TRecord, ReadOnlyMemory<float>?> GetVector { get; init; }
    public required int Dimensions { get; init; }
    public required string DistanceFunction { get; init; }
    public required string IndexKind { get; init; }
    /// <summary>Turns a record read back as JSON into a record (typed: deserialise; dynamic: convert by declared types).</summary>
    public required Func<JsonElement, TRecord> FromJson { get; init; }

    public VectorMetric Metric => DistanceFunction switch
    {
        Microsoft.Extensions.VectorData.DistanceFunction.CosineSimilarity or Microsoft.Extensions.VectorData.DistanceFunction.CosineDistance => VectorMetric.Cosine,
        Microsoft.Extensions.VectorData.DistanceFunction.DotProductSimilarity or Microsoft.Extensions.VectorData.DistanceFunction.NegativeDotProductSimilarity => VectorMetric.DotProduct,
        Microsoft.Extensions.VectorData.DistanceFunction.EuclideanDistance or Microsoft.Extensions.VectorData.DistanceFunction.EuclideanSquaredDistance => VectorMetric.L2,
        _ => throw new NotSupportedException($"Distance function '{DistanceFunction}' of vector property '{VectorName}' is not supported by OpenBook " +
            "(use CosineSimilarity, CosineDistance, DotProductSimilarity, NegativeDotProductSimilarity, EuclideanDistance or EuclideanSquaredDistance)."),
    };

    /// <summary>Whether higher scores are better for the configured distance function.</summary>
    public bool HigherIsBetter => DistanceFunction is Microsoft.Extensions.VectorData.DistanceFunction.CosineSimilarity
        or Microsoft.Extensions.VectorData.DistanceFunction.DotProductSimilarity;

    /// <summary>The score reported through the abstraction, from the index's distance (see <see cref="VectorHit"/>).</summary>
    public double Score(float distance) => DistanceFunction switch
    {
        Microsoft.Extensions.VectorData.DistanceFunction.CosineSimilarity => 1 - distance,
        Microsoft.Extensions.VectorData.DistanceFunction.DotProductSimilarity => -distance,
        Microsoft.Extensions.VectorData.DistanceFunction.EuclideanDistance => Math.Sqrt(Math.Max(0, distance)),
        _ => distance, // CosineDistance, NegativeDotProductSimilarity, EuclideanSquaredDistance
    };

    public static ReadOnlyMemory<float>? AsVector(object? value) => value switch
    {
        null => null,
        ReadOnlyMemory<float> m => m,
        Memory<float> m => m,
        float[] a => a,
        Embedding<float> e => e.Vector,
        _ => throw new NotSupportedException($"Vector values of type {value.GetType().Name} are not supported (use ReadOnlyMemory<float>, float[] or Embedding<float>)."),
    };

    /// <summary>Model of a typed record: from the definition when given, else from the attributes.</summary>
    public static RecordModel<TRecord> ForType(VectorStoreCollectionDefinition? definition, JsonSerializerOptions json)
    {
        var props = typeof(TRecord).GetProperties(BindingFlags.Public | BindingFlags.Instance);
        PropertyInfo Find(string name) => props.FirstOrDefault(p => p.Name == name)
            ?? throw new ArgumentException($"{typeof(TRecord).Name} has no public property '{name}' named by the collection definition.");
        PropertyInfo key, vector;
        int dims;
        string? distance, kind;
        if (definition != null)
        {
            var k = definition.Properties.OfType<VectorStoreKeyProperty>().Single();
            var v = SingleVector(definition);
            (key, vector, dims, distance, kind) = (Find(k.Name), Find(v.Name), v.Dimensions, v.DistanceFunction, v.IndexKind);
        }
        else
        {
            key = props.SingleOrDefault(p => p.GetCustomAttribute<VectorStoreKeyAttribute>() != null)
                ?? throw new ArgumentException($"{typeof(TRecord).Name} needs exactly one property marked [VectorStoreKey].");
            var vectors = props.Where(p => p.GetCustomAttribute<VectorStoreVectorAttribute>() != null).ToArray();
            if (vectors.Length != 1) throw new NotSupportedException($"{typeof(TRecord).Name} has {vectors.Length} [VectorStoreVector] properties; OpenBook collections hold exactly one.");
            vector = vectors[0];
            var a = vector.GetCustomAttribute<VectorStoreVectorAttribute>()!;
            (dims, distance, kind) = (a.Dimensions, a.DistanceFunction, a.IndexKind);
        }
        return new RecordModel<TRecord>
        {
            KeyName = key.Name,
            GetKey = r => key.GetValue(r),
            VectorName = vector.Name,
            GetVector = r => AsVector(vector.GetValue(r)),
            Dimensions = dims,
            DistanceFunction = distance ?? Microsoft.Extensions.VectorData.DistanceFunction.CosineSimilarity,
            IndexKind = kind ?? Microsoft.Extensions.VectorData.IndexKind.Hnsw,
            FromJson = e => e.Deserialize<TRecord>(json)!,
        };
    }

    /// <summary>Model of a dynamic record (a <c>Dictionary&lt;string, object?&gt;</c>) described by <paramref name="definition"/>.</summary>
    public static RecordModel<Dictionary<string, object?>> ForDynamic(VectorStoreCollectionDefinition definition, JsonSerializerOptions json)
    {
        var k = definition.Properties.OfType<VectorStoreKeyProperty>().Single();
        var v = SingleVector(definition);
        var types = definition.Properties.ToDictionary(p => p.Name, p => p.Type ?? typeof(object));
        return new RecordModel<Dictionary<string, object?>>
        {
            KeyName = k.Name,
            GetKey = r => r.TryGetValue(k.Name, out var key) ? key : null,
            VectorName = v.Name,
            GetVector = r => r.TryGetValue(v.Name, out var vec) ? AsVector(vec) : null,
            Dimensions = v.Dimensions,
            DistanceFunction = v.DistanceFunction ?? Microsoft.Extensions.VectorData.DistanceFunction.CosineSimilarity,
            IndexKind = v.IndexKind ?? Microsoft.Extensions.VectorData.IndexKind.Hnsw,
            FromJson = e => e.EnumerateObject().ToDictionary(p => p.Name,
                p => types.TryGetValue(p.Name, out var t) && p.Value.ValueKind != JsonValueKind.Null ? p.Value.Deserialize(t, json) : null),
        };
    }

    private static VectorStoreVectorProperty SingleVector(VectorStoreCollectionDefinition definition)
    {
        var vectors = definition.Properties.OfType<VectorStoreVectorProperty>().ToArray();
        return vectors.Length == 1 ? vectors[0]
            : throw new NotSupportedException($"The collection definition has {vectors.Length} vector properties; OpenBook collections hold exactly one.");
    }
}
