using Microsoft.Extensions.AI;

namespace OpenBook.Embeddings;

/// <summary>What a text is embedded as. Asymmetric models (e5, bge) put a different prefix before queries and passages.</summary>
public enum EmbeddingInputKind
{
    /// <summary>A document chunk (the default).</summary>
    Passage,

    /// <summary>A search query.</summary>
    Query,
}

/// <summary>
/// Carries the <see cref="EmbeddingInputKind"/> through <see cref="EmbeddingGenerationOptions.AdditionalProperties"/>,
/// so any <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> pipeline can tell queries from passages.
/// </summary>
public static class EmbeddingInput
{
    /// <summary>The <see cref="EmbeddingGenerationOptions.AdditionalProperties"/> key holding the input kind.</summary>
    public const string KindKey = "openbook.input_kind";

    /// <summary>Options (a copy of <paramref name="options"/> when given) that mark the inputs as <paramref name="kind"/>.</summary>
    public static EmbeddingGenerationOptions WithKind(EmbeddingInputKind kind, EmbeddingGenerationOptions? options = null)
    {
        var o = options?.Clone() ?? new EmbeddingGenerationOptions();
        o.AdditionalProperties ??= [];
        o.AdditionalProperties[KindKey] = kind.ToString();
        return o;
    }

    /// <summary>The input kind the options carry (<see cref="EmbeddingInputKind.Passage"/> when unset).</summary>
    public static EmbeddingInputKind KindOf(EmbeddingGenerationOptions? options)
    {
        if (options?.AdditionalProperties is { } props && props.TryGetValue(KindKey, out var value))
        {
            if (value is EmbeddingInputKind k) return k;
            if (value is string s && Enum.TryParse<EmbeddingInputKind>(s, ignoreCase: true, out var parsed)) return parsed;
            throw new ArgumentException($"EmbeddingGenerationOptions.AdditionalProperties['{KindKey}'] = '{value}' is not one of: passage, query.");
        }
        return EmbeddingInputKind.Passage;
    }

    /// <summary>Embeds one query (marked <see cref="EmbeddingInputKind.Query"/>).</summary>
    public static async Task<float[]> EmbedQueryAsync(
        this IEmbeddingGenerator<string, Embedding<float>> generator, string query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var result = await generator.GenerateAsync([query], WithKind(EmbeddingInputKind.Query), cancellationToken).ConfigureAwait(false);
        return result[0].Vector.ToArray();
    }
}

/// <summary>Text put before queries and passages for models trained with them (e5, bge, …).</summary>
/// <param name="Query">Prefix of queries ("" for none).</param>
/// <param name="Passage">Prefix of passages ("" for none).</param>
public sealed record EmbeddingPrefixes(string Query, string Passage)
{
    /// <summary>No prefixes (symmetric models such as all-MiniLM-L6-v2).</summary>
    public static EmbeddingPrefixes None { get; } = new("", "");

    /// <summary>intfloat/e5-*: <c>"query: "</c> / <c>"passage: "</c>.</summary>
    public static EmbeddingPrefixes E5 { get; } = new("query: ", "passage: ");

    /// <summary>BAAI/bge-*-en(-v1.5): an instruction before queries, nothing before passages.</summary>
    public static EmbeddingPrefixes Bge { get; } = new("Represent this sentence for searching relevant passages: ", "");

    /// <summary>The prefix for <paramref name="kind"/>.</summary>
    public string For(EmbeddingInputKind kind) => kind == EmbeddingInputKind.Query ? Query : Passage;

    /// <summary>Well-known prefixes guessed from a model id (e5 / bge families), else <see cref="None"/>.</summary>
    public static EmbeddingPrefixes ForModel(string modelId)
    {
        var name = modelId.Replace('\\', '/').Split('/')[^1].ToLowerInvariant();
        if (name.StartsWith("e5-", StringComparison.Ordinal) || name.StartsWith("multilingual-e5", StringComparison.Ordinal)) return E5;
        if (name.StartsWith("bge-", StringComparison.Ordinal) && !name.StartsWith("bge-m3", StringComparison.Ordinal)) return Bge;
        return None;
    }
}
