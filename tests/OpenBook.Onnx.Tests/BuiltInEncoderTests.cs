using System.Numerics.Tensors;
using OpenBook.Embeddings;

namespace OpenBook.Onnx.Tests;

/// <summary>One materialised copy of both built-in encoders (and MiniLM's int8 variant) shared by the tests below.</summary>
public sealed class BuiltInModelsFixture : IDisposable
{
    private readonly TempDir _dir = new();

    public BuiltInModelsFixture()
    {
        MiniLM = BuiltInEncoders.Materialize(BuiltInEncoders.MiniLM, int8: true, ModelsDirectory);
        Arctic = BuiltInEncoders.Materialize(BuiltInEncoders.ArcticXs, int8: false, ModelsDirectory);
    }

    public string ModelsDirectory => _dir.Path;

    public MaterializedEncoder MiniLM { get; }

    public MaterializedEncoder Arctic { get; }

    public void Dispose() => _dir.Dispose();
}

public sealed class BuiltInEncoderTests(BuiltInModelsFixture models) : IClassFixture<BuiltInModelsFixture>
{
    [Theory]
    [InlineData("minilm", "minilm", false)]
    [InlineData("MiniLM-int8", "minilm", true)]
    [InlineData("arctic-xs", "arctic-xs", false)]
    [InlineData("sentence-transformers/all-MiniLM-L6-v2", "minilm", false)]
    [InlineData("Snowflake/snowflake-arctic-embed-xs-int8", "arctic-xs", true)]
    public void Names_and_hub_ids_resolve_to_the_built_in_encoders(string spec, string name, bool int8)
    {
        Assert.True(BuiltInEncoders.TryFind(spec, out var e, out var q));
        Assert.Equal((name, int8), (e.Name, q));
        Assert.True(BuiltInEncoders.IsAvailable(e));
        Assert.False(BuiltInEncoders.TryFind("minilm2", out _, out _));
    }

    [Fact]
    public void Materialising_writes_a_sentence_transformers_directory_with_recorded_hashes()
    {
        var dir = models.MiniLM.Directory;
        Assert.Equal(BuiltInEncoders.MiniLM.ModelSha256, BuiltInEncoders.Sha256(Path.Combine(dir, "onnx", "model.onnx")));
        var manifest = File.ReadAllText(Path.Combine(dir, BuiltInEncoders.ManifestFile));
        foreach (var f in new[] { "onnx/model.onnx", "onnx/model_quantized.onnx", "vocab.txt", "modules.json", "1_Pooling/config.json" })
            Assert.Contains($"\"{f}\": \"{BuiltInEncoders.Sha256(Path.Combine(dir, f))}\"", manifest);

        var mini = SentenceEncoderLayout.Load(dir);
        Assert.Equal((PoolingMode.Mean, true, 256, 384, EmbeddingPrefixes.None), (mini.Pooling, mini.Normalize, mini.MaxSequenceLength, mini.Dimension, mini.Prompts));
        var arctic = SentenceEncoderLayout.Load(models.Arctic.Directory);
        Assert.Equal((PoolingMode.Cls, true, 512), (arctic.Pooling, arctic.Normalize, arctic.MaxSequenceLength));
        Assert.Equal("Represent this sentence for searching relevant passages: ", arctic.Prompts.Query);

        // a second call finds everything intact and writes nothing
        var again = BuiltInEncoders.Materialize(BuiltInEncoders.MiniLM, int8: true, models.ModelsDirectory);
        Assert.Empty(again.Written);
        Assert.Empty(again.Repaired);
    }

    [Fact]
    public void A_corrupted_cache_file_is_rewritten_from_the_package()
    {
        using var tmp = new TempDir();
        var first = BuiltInEncoders.Materialize(BuiltInEncoders.MiniLM, int8: false, tmp.Path);
        var onnx = Path.Combine(first.Directory, "onnx", "model.onnx");
        using (var f = File.OpenWrite(onnx)) { f.Position = 1_000_000; f.WriteByte(0x5a); f.WriteByte(0xa5); } // flip bytes mid-weights
        File.WriteAllText(Path.Combine(first.Directory, "1_Pooling", "config.json"), "{\"pooling_mode_cls_token\": true}");
        File.Delete(Path.Combine(first.Directory, "vocab.txt"));

        var repaired = BuiltInEncoders.Materialize(BuiltInEncoders.MiniLM, int8: false, tmp.Path);
        Assert.Equal(["1_Pooling/config.json", "onnx/model.onnx"], repaired.Repaired.Order(StringComparer.Ordinal));
        Assert.Contains("vocab.txt", repaired.Written);
        Assert.Equal(BuiltInEncoders.MiniLM.ModelSha256, BuiltInEncoders.Sha256(onnx));
        Assert.Equal(PoolingMode.Mean, SentenceEncoderLayout.Load(first.Directory).Pooling);
        Assert.Empty(Directory.EnumerateFiles(first.Directory, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void A_corrupted_int8_graph_is_quantised_again()
    {
        using var tmp = new TempDir();
        var first = BuiltInEncoders.Materialize(BuiltInEncoders.MiniLM, int8: true, tmp.Path);
        var q = Path.Combine(first.Directory, "onnx", "model_quantized.onnx");
        var sha = BuiltInEncoders.Sha256(q);
        File.WriteAllBytes(q, [1, 2, 3]);
        var again = BuiltInEncoders.Materialize(BuiltInEncoders.MiniLM, int8: true, tmp.Path);
        Assert.Equal(["onnx/model_quantized.onnx"], again.Repaired);
        Assert.Equal(sha, BuiltInEncoders.Sha256(q)); // the quantiser is deterministic
    }

    [Fact]
    public void A_package_the_application_does_not_reference_is_a_clear_error()
    {
        using var tmp = new TempDir();
        var missing = BuiltInEncoders.MiniLM with { Name = "ghost", PackageId = "No.Such.EncoderPackage" };
        Assert.False(BuiltInEncoders.IsAvailable(missing));
        var ex = Assert.Throws<OpenBookException>(() => BuiltInEncoders.Materialize(missing, false, tmp.Path));
        Assert.Contains("needs the NuGet package No.Such.EncoderPackage 24.9.52193", ex.Message);
    }

    [Fact]
    public async Task The_pretrained_encoders_rank_the_relevant_passage_first()
    {
        string[] passages =
        [
            "Employees receive 30 working days of paid vacation per calendar year.",
            "The Berlin office is on the third floor; visitors sign in at reception.",
            "Expense reports must be filed within 60 days with the original receipts.",
        ];
        foreach (var (dir, int8) in new[] { (models.MiniLM.Directory, false), (models.MiniLM.Directory, true), (models.Arctic.Directory, false) })
        {
            using var encoder = OnnxSentenceEncoder.Load(dir, new OnnxEncoderOptions { Quantized = int8 });
            var p = await encoder.GenerateAsync(passages);
            var query = await encoder.EmbedQueryAsync("how many days of holiday do I get?");
            var scores = p.Select(e => TensorPrimitives.CosineSimilarity(query, e.Vector.Span)).ToArray();
            Assert.True(scores[0] > scores[1] + 0.1 && scores[0] > scores[2] + 0.1, $"{dir} int8={int8}: {string.Join(", ", scores)}");
            Assert.Equal(1.0, TensorPrimitives.Norm(p[0].Vector.Span), 4);
        }
    }

    [Fact]
    public async Task The_int8_graph_stays_close_to_fp32()
    {
        var report = OnnxInt8Quantizer.Quantize(Path.Combine(models.MiniLM.Directory, "onnx", "model.onnx"), Path.Combine(models.ModelsDirectory, "q.onnx"));
        Assert.Equal(36, report.MatMuls); // 6 layers × (q, k, v, attention out, FFN up, FFN down); the 47 MB word embeddings stay fp32
        Assert.True(report.OutputBytes < report.InputBytes * 0.7, $"{report.OutputBytes} vs {report.InputBytes}");

        string[] texts = ["Vacation days carry over until March 31.", "Wie beantrage ich Elternzeit?", "GPU quota: 4 × A100 per team, 12 h max.", "ok"];
        using var fp32 = OnnxSentenceEncoder.Load(models.MiniLM.Directory);
        using var int8 = OnnxSentenceEncoder.Load(models.MiniLM.Directory, new OnnxEncoderOptions { Quantized = true });
        Assert.True(int8.Layout.Quantized);
        var a = await fp32.GenerateAsync(texts);
        var b = await int8.GenerateAsync(texts);
        for (int i = 0; i < texts.Length; i++)
        {
            var cos = TensorPrimitives.CosineSimilarity(a[i].Vector.Span, b[i].Vector.Span);
            // Measured: 0.958 for the one-word "ok" (few tokens, so per-token quantisation error is not averaged out), > 0.97 for sentences.
            Assert.True(cos > (texts[i].Length < 5 ? 0.95 : 0.97), $"'{texts[i]}': cosine int8 vs fp32 {cos}");
            Assert.True(cos < 0.99999, $"'{texts[i]}': the int8 graph gave the fp32 vector ({cos}), so nothing was quantised");
        }
    }

    [Fact]
    public async Task The_spec_opens_the_built_in_encoder_with_its_hub_id_as_model_id()
    {
        using var model = EmbeddingModels.OpenBuiltIn(BuiltInEncoders.ArcticXs, false, null, models.ModelsDirectory);
        Assert.StartsWith("Snowflake/snowflake-arctic-embed-xs@", model.CacheModelId);
        var v = await model.Generator.GenerateAsync(["hello"]);
        Assert.Equal(384, v[0].Vector.Length);
        using var q = EmbeddingModels.OpenBuiltIn(BuiltInEncoders.MiniLM, true, null, models.ModelsDirectory);
        Assert.StartsWith("sentence-transformers/all-MiniLM-L6-v2+int8@", q.CacheModelId);
    }
}
