using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenBook.Embeddings;

namespace OpenBook.Onnx.Tests;

public sealed class SentenceEncoderTests
{
    private static IEnumerable<JsonElement> Sentences(string fixture) => Fixtures.Reference(fixture).GetProperty("sentences").EnumerateArray();

    [Fact]
    public void Layout_reads_pooling_normalize_and_max_length()
    {
        var mean = SentenceEncoderLayout.Load(Fixtures.Encoder("tiny-bert"));
        Assert.Equal(PoolingMode.Mean, mean.Pooling);
        Assert.True(mean.Normalize);
        Assert.Equal(32, mean.MaxSequenceLength);
        Assert.Equal(32, mean.Dimension);
        Assert.EndsWith(Path.Combine("onnx", "model.onnx"), mean.ModelPath);

        var cls = SentenceEncoderLayout.Load(Fixtures.Encoder("tiny-bert-cls"));
        Assert.Equal(PoolingMode.Cls, cls.Pooling);
        Assert.False(cls.Normalize);
        Assert.Equal(Path.Combine(Fixtures.Encoder("tiny-bert-cls"), "model.onnx"), cls.ModelPath);

        var q = SentenceEncoderLayout.Load(Fixtures.Encoder("tiny-bert"), quantized: true);
        Assert.True(q.Quantized);
        Assert.EndsWith("model_quantized.onnx", q.ModelPath);
    }

    [Theory]
    [InlineData("tokenizer.json")]
    [InlineData("vocab.txt")]
    public void Token_ids_match_the_reference(string tokenizerSource)
    {
        using var dir = Fixtures.CopyOf("tiny-bert");
        File.Delete(Path.Combine(dir.Path, tokenizerSource == "tokenizer.json" ? "vocab.txt" : "tokenizer.json"));
        using var encoder = OnnxSentenceEncoder.Load(dir.Path);
        Assert.EndsWith(tokenizerSource, encoder.Tokenizer.Source);
        foreach (var s in Sentences("tiny-bert"))
            Assert.Equal(Fixtures.Ints(s.GetProperty("ids")), encoder.Tokenize(s.GetProperty("text").GetString()!));
    }

    [Fact]
    public async Task Mean_pooled_normalised_vectors_match_the_reference()
    {
        using var encoder = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert"));
        var refs = Sentences("tiny-bert").ToList();
        var result = await encoder.GenerateAsync(refs.Select(s => s.GetProperty("text").GetString()!));
        Assert.Equal(refs.Count, result.Count);
        for (int i = 0; i < refs.Count; i++)
        {
            Fixtures.AssertClose(Fixtures.Floats(refs[i].GetProperty("mean_normalized")), result[i].Vector.Span, 1e-5, $"sentence {i}");
            Assert.Equal(1.0, System.Numerics.Tensors.TensorPrimitives.Norm(result[i].Vector.Span), 5);
            Assert.Equal(encoder.ModelId, result[i].ModelId);
        }
        Assert.Equal(refs.Sum(s => s.GetProperty("ids").GetArrayLength()), result.Usage!.InputTokenCount);
    }

    [Theory]
    [InlineData("cls", "pooling_mode_cls_token")]
    [InlineData("max", "pooling_mode_max_tokens")]
    [InlineData("mean", "pooling_mode_mean_tokens")]
    public async Task Every_pooling_mode_matches_the_reference_without_normalize(string key, string field)
    {
        using var dir = Fixtures.CopyOf("tiny-bert");
        File.WriteAllText(Path.Combine(dir.Path, "1_Pooling", "config.json"), $$"""{"word_embedding_dimension": 32, "{{field}}": true}""");
        File.WriteAllText(Path.Combine(dir.Path, "modules.json"), """
            [{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
             {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]
            """);
        using var encoder = OnnxSentenceEncoder.Load(dir.Path);
        var refs = Sentences("tiny-bert").ToList();
        var result = await encoder.GenerateAsync(refs.Select(s => s.GetProperty("text").GetString()!));
        for (int i = 0; i < refs.Count; i++)
            Fixtures.AssertClose(Fixtures.Floats(refs[i].GetProperty(key)), result[i].Vector.Span, 1e-4, $"{key} sentence {i}");
    }

    [Fact]
    public async Task Cls_pooling_with_query_and_passage_prefixes_matches_the_reference()
    {
        var reference = Fixtures.Reference("tiny-bert-cls");
        var prefixes = new EmbeddingPrefixes(reference.GetProperty("query_prefix").GetString()!, reference.GetProperty("passage_prefix").GetString()!);
        using var plain = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert-cls"));
        using var e5 = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert-cls"), new OnnxEncoderOptions { Prefixes = prefixes });
        var refs = reference.GetProperty("sentences").EnumerateArray().ToList();
        var texts = refs.Select(s => s.GetProperty("text").GetString()!).ToList();

        var none = await plain.GenerateAsync(texts);
        var passages = await e5.GenerateAsync(texts);
        var queries = await e5.GenerateAsync(texts, EmbeddingInput.WithKind(EmbeddingInputKind.Query));
        for (int i = 0; i < refs.Count; i++)
        {
            Assert.Equal(Fixtures.Ints(refs[i].GetProperty("plain_ids")), plain.Tokenize(texts[i]));
            Assert.Equal(Fixtures.Ints(refs[i].GetProperty("query_ids")), e5.Tokenize(texts[i], EmbeddingInputKind.Query));
            Assert.Equal(Fixtures.Ints(refs[i].GetProperty("passage_ids")), e5.Tokenize(texts[i]));
            Fixtures.AssertClose(Fixtures.Floats(refs[i].GetProperty("plain_cls")), none[i].Vector.Span, 1e-5, $"plain {i}");
            Fixtures.AssertClose(Fixtures.Floats(refs[i].GetProperty("query_cls")), queries[i].Vector.Span, 1e-5, $"query {i}");
            Fixtures.AssertClose(Fixtures.Floats(refs[i].GetProperty("passage_cls")), passages[i].Vector.Span, 1e-5, $"passage {i}");
        }
        Assert.Equal(refs[0].GetProperty("query_cls").EnumerateArray().First().GetDouble(), (await e5.EmbedQueryAsync(texts[0]))[0], 5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(64)]
    public async Task Batched_vectors_equal_one_by_one(int maxBatch)
    {
        using var batched = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert"), new OnnxEncoderOptions { MaxBatchSize = maxBatch });
        var texts = Sentences("tiny-bert").Select(s => s.GetProperty("text").GetString()!).ToList();
        var all = await batched.GenerateAsync(texts);
        for (int i = 0; i < texts.Count; i++)
        {
            var single = await batched.GenerateAsync([texts[i]]);
            Fixtures.AssertClose(single[0].Vector.Span, all[i].Vector.Span, 1e-5, $"text {i} batch {maxBatch}");
        }
    }

    [Fact]
    public void Length_buckets_sort_by_length_and_respect_both_limits()
    {
        int[][] ids = [new int[5], new int[2], new int[9], new int[3], new int[9], new int[1]];
        var byCount = OnnxSentenceEncoder.LengthBuckets(ids, maxBatch: 2, maxTokens: 1000).ToList();
        Assert.Equal([[2, 4], [0, 3], [1, 5]], byCount);
        // 9-token batches: 2 × 9 = 18 > 10 → one per batch; then 5 + 3 (2 × 5 = 10 fits), then 2 + 1.
        var byTokens = OnnxSentenceEncoder.LengthBuckets(ids, maxBatch: 8, maxTokens: 10).ToList();
        Assert.Equal([[2], [4], [0, 3], [1, 5]], byTokens);
    }

    [Fact]
    public async Task Int8_graph_runs_and_stays_close_to_fp32()
    {
        using var fp32 = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert"));
        using var int8 = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert"), new OnnxEncoderOptions { Quantized = true });
        Assert.EndsWith("+int8", int8.ModelId);
        var texts = Sentences("tiny-bert").Select(s => s.GetProperty("text").GetString()!).ToList();
        var a = await fp32.GenerateAsync(texts);
        var b = await int8.GenerateAsync(texts);
        for (int i = 0; i < texts.Count; i++)
        {
            var cos = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(a[i].Vector.Span, b[i].Vector.Span);
            Assert.True(cos > 0.95, $"text {i}: int8 vs fp32 cosine {cos}");
            Assert.False(a[i].Vector.Span.SequenceEqual(b[i].Vector.Span), "int8 graph gave bit-identical output: not quantized?");
        }
    }

    [Fact]
    public void Metadata_is_exposed_through_GetService()
    {
        using var encoder = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert"), new OnnxEncoderOptions { ModelId = "tiny" });
        var meta = encoder.GetService<EmbeddingGeneratorMetadata>();
        Assert.NotNull(meta);
        Assert.Equal("tiny", meta.DefaultModelId);
        Assert.Equal(32, meta.DefaultModelDimensions);
        Assert.Same(encoder, encoder.GetService<OnnxSentenceEncoder>());
    }
}

public sealed class SentenceEncoderEdgeTests
{
    [Fact]
    public async Task A_relative_directory_loads_and_concurrent_calls_agree()
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, Fixtures.Encoder("tiny-bert"));
        Assert.False(Path.IsPathRooted(relative));
        using var encoder = OnnxSentenceEncoder.Load(relative);
        Assert.True(Path.IsPathRooted(encoder.Layout.ModelPath));
        var texts = Enumerable.Range(0, 12).Select(i => $"chunk {i} " + string.Join(' ', Enumerable.Repeat("retrieval", i))).ToList();
        var expected = await encoder.GenerateAsync(texts);
        var parallel = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => encoder.GenerateAsync(texts)));
        foreach (var result in parallel)
            for (int i = 0; i < texts.Count; i++) Assert.Equal(expected[i].Vector.ToArray(), result[i].Vector.ToArray());
    }

    [Fact]
    public async Task Empty_input_gives_no_embeddings_and_cancellation_is_honoured()
    {
        using var encoder = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert"));
        Assert.Empty(await encoder.GenerateAsync([]));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => encoder.GenerateAsync(["a", "b"], cancellationToken: cts.Token));
    }

    [Fact]
    public async Task Long_input_is_truncated_to_max_sequence_length()
    {
        using var encoder = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert"), new OnnxEncoderOptions { MaxSequenceLength = 8 });
        var ids = encoder.Tokenize(string.Join(' ', Enumerable.Repeat("retrieval", 50)));
        Assert.Equal(8, ids.Length);
        Assert.Equal(encoder.Tokenizer.SepId, ids[^1]);
        var v = await encoder.GenerateAsync([string.Join(' ', Enumerable.Repeat("retrieval", 50)), string.Join(' ', Enumerable.Repeat("retrieval", 6))]);
        Fixtures.AssertClose(v[0].Vector.Span, v[1].Vector.Span, 1e-6, "same 8 tokens after truncation");
    }

    [Theory]
    [InlineData("intfloat/e5-small-v2", "query: ", "passage: ")]
    [InlineData("BAAI/bge-small-en-v1.5", "Represent this sentence for searching relevant passages: ", "")]
    [InlineData("sentence-transformers/all-MiniLM-L6-v2", "", "")]
    public void Prefixes_are_guessed_from_the_model_id(string id, string query, string passage) =>
        Assert.Equal(new OpenBook.Embeddings.EmbeddingPrefixes(query, passage), OpenBook.Embeddings.EmbeddingPrefixes.ForModel(id));

    [Fact]
    public void Prompts_of_config_sentence_transformers_json_are_used()
    {
        using var dir = Fixtures.CopyOf("tiny-bert-cls");
        File.WriteAllText(Path.Combine(dir.Path, "config_sentence_transformers.json"), """{"prompts": {"query": "query: ", "document": "passage: "}}""");
        using var encoder = OnnxSentenceEncoder.Load(dir.Path);
        Assert.Equal(OpenBook.Embeddings.EmbeddingPrefixes.E5, encoder.Prefixes);
        var reference = Fixtures.Reference("tiny-bert-cls").GetProperty("sentences")[0];
        Assert.Equal(Fixtures.Ints(reference.GetProperty("query_ids")), encoder.Tokenize(reference.GetProperty("text").GetString()!, OpenBook.Embeddings.EmbeddingInputKind.Query));
    }
}
