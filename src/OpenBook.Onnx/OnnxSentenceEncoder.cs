using Microsoft.Extensions.AI;
using OpenBook.Embeddings;

namespace OpenBook.Onnx;

/// <summary>Options of <see cref="OnnxSentenceEncoder"/>.</summary>
public sealed record OnnxEncoderOptions
{
    /// <summary>Model id reported in embeddings and used as cache key (default: the directory name, "+int8" for int8 graphs).</summary>
    public string? ModelId { get; init; }

    /// <summary>Use the int8 graph of the directory (e.g. <c>onnx/model_quantized.onnx</c>).</summary>
    public bool Quantized { get; init; }

    /// <summary>Explicit ONNX file, relative to the model directory (overrides <see cref="Quantized"/>'s search).</summary>
    public string? ModelFile { get; init; }

    /// <summary>Most inputs per ONNX run. Inputs are sorted by length first, so a batch pads to similar lengths.</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>Most tokens (batch × padded length) per ONNX run; bounds memory for long inputs.</summary>
    public int MaxBatchTokens { get; init; } = 16_384;

    /// <summary>Overrides the directory's <c>max_seq_length</c> (tokens, special tokens included).</summary>
    public int? MaxSequenceLength { get; init; }

    /// <summary>Query/passage prefixes (default: the directory's prompts, else guessed from the model id: e5, bge).</summary>
    public EmbeddingPrefixes? Prefixes { get; init; }

    /// <summary>ONNX Runtime threads.</summary>
    public OnnxThreading Threading { get; init; } = new();
}

/// <summary>
/// A local sentence encoder: a BERT-family model in sentence-transformers layout, run with ONNX Runtime, as a
/// Microsoft.Extensions.AI <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>. Inputs are tokenized with
/// WordPiece, sorted by length into batches padded to their longest member, pooled as the directory configures and
/// L2-normalised when it has a Normalize module. Mark queries with <see cref="EmbeddingInput.WithKind"/> (or call
/// <see cref="EmbeddingInput.EmbedQueryAsync"/>) so asymmetric models get their query prefix. Thread-safe.
/// </summary>
public sealed class OnnxSentenceEncoder : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>The default model id of OpenBook's dense retrieval.</summary>
    public const string DefaultModelId = "sentence-transformers/all-MiniLM-L6-v2";

    private readonly OnnxModelRunner _runner;
    private readonly OnnxEncoderOptions _options;
    private readonly EmbeddingGeneratorMetadata _metadata;

    private OnnxSentenceEncoder(SentenceEncoderLayout layout, BertTextTokenizer tokenizer, OnnxModelRunner runner, OnnxEncoderOptions options, string modelId)
    {
        Layout = layout;
        Tokenizer = tokenizer;
        _runner = runner;
        _options = options;
        ModelId = modelId;
        MaxSequenceLength = options.MaxSequenceLength ?? layout.MaxSequenceLength;
        Prefixes = options.Prefixes ?? (layout.Prompts != EmbeddingPrefixes.None ? layout.Prompts : EmbeddingPrefixes.ForModel(modelId));
        Dimension = layout.Dimension ?? 0;
        _metadata = new EmbeddingGeneratorMetadata("onnxruntime", new Uri(layout.ModelPath), modelId, layout.Dimension);
        _cacheModelId = new Lazy<string>(() =>
        {
            using var f = File.OpenRead(layout.ModelPath);
            return $"{modelId}@{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(f))[..16]}";
        });
    }

    /// <summary>Loads the model in <paramref name="modelDirectory"/>; errors name the missing file or bad field.</summary>
    public static OnnxSentenceEncoder Load(string modelDirectory, OnnxEncoderOptions? options = null)
    {
        options ??= new OnnxEncoderOptions();
        if (options.MaxBatchSize < 1) throw new OpenBookException($"Encoder option MaxBatchSize must be at least 1, found {options.MaxBatchSize}.");
        if (options.MaxSequenceLength is < 2) throw new OpenBookException($"Encoder option MaxSequenceLength must be at least 2, found {options.MaxSequenceLength}.");
        var layout = SentenceEncoderLayout.Load(modelDirectory, options.Quantized, options.ModelFile);
        var tokenizer = BertTextTokenizer.Load(modelDirectory);
        var runner = new OnnxModelRunner(layout.ModelPath, options.Threading, ["last_hidden_state", "token_embeddings", "sentence_embedding"]);
        var id = options.ModelId ?? Path.GetFileName(layout.Directory.TrimEnd(Path.DirectorySeparatorChar)) + (layout.Quantized ? "+int8" : "");
        return new OnnxSentenceEncoder(layout, tokenizer, runner, options, id);
    }

    /// <summary>What the model directory declares.</summary>
    public SentenceEncoderLayout Layout { get; }

    /// <summary>The WordPiece tokenizer.</summary>
    public BertTextTokenizer Tokenizer { get; }

    /// <summary>Model id (cache key; reported on every <see cref="Embedding{T}"/>).</summary>
    public string ModelId { get; }

    /// <summary>Tokens per input including <c>[CLS]</c>/<c>[SEP]</c>.</summary>
    public int MaxSequenceLength { get; }

    /// <summary>The query/passage prefixes in use.</summary>
    public EmbeddingPrefixes Prefixes { get; }

    /// <summary>
    /// Cache key for stored vectors: <see cref="ModelId"/> plus the first 16 hex digits of the ONNX file's SHA-256, so
    /// vectors of a replaced or re-quantized model are never served from the cache.
    /// </summary>
    public string CacheModelId => _cacheModelId.Value;

    private readonly Lazy<string> _cacheModelId;

    /// <summary>Embedding dimension (0 until known when the directory does not declare it).</summary>
    public int Dimension { get; private set; }

    /// <summary>Token ids the model sees for <paramref name="text"/> (prefix, <c>[CLS]</c>, <c>[SEP]</c>, truncation applied).</summary>
    public int[] Tokenize(string text, EmbeddingInputKind kind = EmbeddingInputKind.Passage) =>
        Tokenizer.Encode(Prefixes.For(kind) + text, MaxSequenceLength);

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options?.Dimensions is int d && Dimension != 0 && d != Dimension)
            throw new ArgumentException($"Model '{ModelId}' produces {Dimension}-dimensional embeddings; {d} were requested.", nameof(options));
        var kind = EmbeddingInput.KindOf(options);
        var texts = values as IReadOnlyList<string> ?? values.ToList();
        return await Task.Run(() => Encode(texts, kind, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    private GeneratedEmbeddings<Embedding<float>> Encode(IReadOnlyList<string> texts, EmbeddingInputKind kind, CancellationToken ct)
    {
        var ids = new int[texts.Count][];
        long tokens = 0;
        for (int i = 0; i < texts.Count; i++)
        {
            ids[i] = Tokenize(texts[i] ?? throw new ArgumentException($"Input {i} is null."), kind);
            tokens += ids[i].Length;
        }
        var vectors = new float[texts.Count][];
        foreach (var batch in LengthBuckets(ids, _options.MaxBatchSize, _options.MaxBatchTokens))
        {
            ct.ThrowIfCancellationRequested();
            var pooled = EncodeBatch(batch.Select(i => ids[i]).ToArray());
            for (int j = 0; j < batch.Length; j++) vectors[batch[j]] = pooled[j];
        }
        var now = DateTimeOffset.UtcNow;
        var result = new GeneratedEmbeddings<Embedding<float>>(vectors.Select(v => new Embedding<float>(v) { ModelId = ModelId, CreatedAt = now }))
        {
            Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens },
        };
        return result;
    }

    /// <summary>
    /// Groups input indices into batches of similar length: sorted by token count (longest first, stable), cut when
    /// a batch reaches <paramref name="maxBatch"/> inputs or its padded size would pass <paramref name="maxTokens"/>.
    /// </summary>
    internal static IEnumerable<int[]> LengthBuckets(IReadOnlyList<int[]> ids, int maxBatch, int maxTokens)
    {
        var order = Enumerable.Range(0, ids.Count).OrderByDescending(i => ids[i].Length).ToArray();
        var batch = new List<int>(maxBatch);
        int padded = 0; // length of the batch's first (longest) member
        foreach (var i in order)
        {
            if (batch.Count > 0 && (batch.Count == maxBatch || (long)(batch.Count + 1) * padded > maxTokens))
            {
                yield return batch.ToArray();
                batch.Clear();
            }
            if (batch.Count == 0) padded = ids[i].Length;
            batch.Add(i);
        }
        if (batch.Count > 0) yield return batch.ToArray();
    }

    private float[][] EncodeBatch(int[][] batch)
    {
        var (values, shape, seq) = _runner.Run(batch, null);
        var result = new float[batch.Length][];
        if (shape.Length == 2) // the graph pools itself (sentence_embedding output)
        {
            int dim = (int)shape[1];
            SetDimension(dim);
            for (int b = 0; b < batch.Length; b++)
            {
                result[b] = values.AsSpan(b * dim, dim).ToArray();
                if (Layout.Normalize) Pooling.Normalize(result[b]);
            }
            return result;
        }
        if (shape.Length != 3 || shape[0] != batch.Length || shape[1] != seq)
            throw new OpenBookException($"ONNX model '{Layout.ModelPath}': output '{_runner.OutputName}' has shape [{string.Join(", ", shape)}]; expected [batch, sequence, hidden].");
        int hidden = (int)shape[2];
        SetDimension(hidden);
        for (int b = 0; b < batch.Length; b++)
            result[b] = Pooling.Pool(values.AsSpan(b * seq * hidden, seq * hidden), batch[b].Length, hidden, Layout.Pooling, Layout.Normalize);
        return result;
    }

    private void SetDimension(int dim)
    {
        if (Layout.Dimension is int declared && declared != dim)
            throw new OpenBookException($"ONNX model '{Layout.ModelPath}' outputs {dim} values per token but the directory declares word_embedding_dimension/hidden_size {declared}.");
        Dimension = dim;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <inheritdoc />
    public void Dispose() => _runner.Dispose();
}
