using OpenBook.Retrieval.Hybrid;

namespace OpenBook.Onnx;

/// <summary>Options of <see cref="OnnxCrossEncoder"/>.</summary>
public sealed record OnnxCrossEncoderOptions
{
    /// <summary>Use the int8 graph of the directory (e.g. <c>onnx/model_quantized.onnx</c>).</summary>
    public bool Quantized { get; init; }

    /// <summary>Explicit ONNX file, relative to the model directory.</summary>
    public string? ModelFile { get; init; }

    /// <summary>Tokens per (query, passage) pair (default: tokenizer_config.json <c>model_max_length</c>, else 512).</summary>
    public int? MaxLength { get; init; }

    /// <summary>Most pairs per ONNX run.</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>ONNX Runtime threads.</summary>
    public OnnxThreading Threading { get; init; } = new();
}

/// <summary>
/// A BERT cross-encoder (Hugging Face <c>BertForSequenceClassification</c> with one label, the layout of
/// cross-encoder/ms-marco-MiniLM-L-6-v2) run with ONNX Runtime: each (query, passage) pair is encoded as
/// <c>[CLS] query [SEP] passage [SEP]</c> and the logit is its relevance score.
/// </summary>
public sealed class OnnxCrossEncoder : IReranker, IDisposable
{
    /// <summary>The usual cross-encoder for MS MARCO passage reranking.</summary>
    public const string DefaultModelId = "cross-encoder/ms-marco-MiniLM-L-6-v2";

    private readonly OnnxModelRunner _runner;
    private readonly OnnxCrossEncoderOptions _options;

    private OnnxCrossEncoder(OnnxModelRunner runner, BertTextTokenizer tokenizer, int maxLength, OnnxCrossEncoderOptions options)
    {
        _runner = runner;
        Tokenizer = tokenizer;
        MaxLength = maxLength;
        _options = options;
    }

    /// <summary>The WordPiece tokenizer.</summary>
    public BertTextTokenizer Tokenizer { get; }

    /// <summary>Tokens per pair.</summary>
    public int MaxLength { get; }

    /// <summary>Loads the cross-encoder in <paramref name="modelDirectory"/>; errors name the missing file or bad field.</summary>
    public static OnnxCrossEncoder Load(string modelDirectory, OnnxCrossEncoderOptions? options = null)
    {
        options ??= new OnnxCrossEncoderOptions();
        if (!Directory.Exists(modelDirectory)) throw new OpenBookException($"Model directory '{modelDirectory}' does not exist.");
        if (options.MaxBatchSize < 1) throw new OpenBookException($"Cross-encoder option MaxBatchSize must be at least 1, found {options.MaxBatchSize}.");
        var modelPath = SentenceEncoderLayout.FindModelFile(modelDirectory, options.Quantized, options.ModelFile);
        var tokenizer = BertTextTokenizer.Load(modelDirectory);

        var configPath = Path.Combine(modelDirectory, "config.json");
        var config = ModelJson.TryRead(configPath);
        var labels = ModelJson.Field(config, "id2label");
        if (labels is { ValueKind: System.Text.Json.JsonValueKind.Object } l && l.EnumerateObject().Count() != 1)
            throw new OpenBookException($"'{configPath}': field 'id2label' has {l.EnumerateObject().Count()} labels; a reranking cross-encoder has one.");
        var tcPath = Path.Combine(modelDirectory, "tokenizer_config.json");
        int? tokenizerMax = ModelJson.Int(ModelJson.TryRead(tcPath), "model_max_length", tcPath);
        if (tokenizerMax >= 100_000) tokenizerMax = null;
        int maxLength = options.MaxLength ?? tokenizerMax ?? 512;
        if (ModelJson.Int(config, "max_position_embeddings", configPath) is int mp) maxLength = Math.Min(maxLength, mp);
        if (maxLength < 3) throw new OpenBookException($"Cross-encoder max length must be at least 3, found {maxLength}.");

        var runner = new OnnxModelRunner(modelPath, options.Threading, ["logits"]);
        return new OnnxCrossEncoder(runner, tokenizer, maxLength, options);
    }

    /// <summary>Relevance logits of <paramref name="query"/> against each passage (higher is more relevant).</summary>
    public float[] Score(string query, IReadOnlyList<string> passages)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(passages);
        var pairs = passages.Select(p => Tokenizer.EncodePair(query, p, MaxLength)).ToArray();
        var ids = pairs.Select(p => p.Ids).ToArray();
        var scores = new float[passages.Count];
        foreach (var batch in OnnxSentenceEncoder.LengthBuckets(ids, _options.MaxBatchSize, int.MaxValue))
        {
            var (values, shape, _) = _runner.Run(batch.Select(i => ids[i]).ToArray(), batch.Select(i => pairs[i].TypeIds).ToArray());
            if (shape.Length != 2 || shape[0] != batch.Length || shape[1] != 1)
                throw new OpenBookException($"Cross-encoder '{_runner.ModelPath}': output '{_runner.OutputName}' has shape [{string.Join(", ", shape)}]; expected [batch, 1].");
            for (int j = 0; j < batch.Length; j++) scores[batch[j]] = values[j];
        }
        return scores;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<RankedChunk>> RerankAsync(
        string query, IReadOnlyList<RerankCandidate> candidates, int? top = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        return Task.Run<IReadOnlyList<RankedChunk>>(() =>
        {
            var scores = Score(query, candidates.Select(c => c.Text).ToArray());
            var ranked = candidates
                .Select((c, i) => (Chunk: new RankedChunk(c.ChunkId, scores[i]), Index: i))
                .OrderByDescending(x => x.Chunk.Score).ThenBy(x => x.Index)
                .Select(x => x.Chunk);
            return (top is int t ? ranked.Take(t) : ranked).ToList();
        }, cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _runner.Dispose();
}
