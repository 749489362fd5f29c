using Microsoft.Extensions.AI;
using OpenBook.OpenAI;
using OpenBook.Storage;

namespace OpenBook.Onnx.Tests;

public sealed class EmbeddingModelsTests
{
    [Fact]
    public async Task A_directory_opens_the_onnx_encoder_with_a_fingerprinted_cache_id()
    {
        using var model = EmbeddingModels.Open(Fixtures.Encoder("tiny-bert"));
        Assert.IsType<OnnxSentenceEncoder>(model.Generator);
        Assert.Matches("^tiny-bert@[0-9a-f]{16}$", model.CacheModelId);
        Assert.Equal(32, model.Dimension);

        using var int8 = EmbeddingModels.Open(Fixtures.Encoder("tiny-bert"), new OnnxEncoderOptions { Quantized = true });
        Assert.StartsWith("tiny-bert+int8@", int8.CacheModelId);
        Assert.NotEqual(model.CacheModelId[^16..], int8.CacheModelId[^16..]);

        using var tmp = new TempDir();
        using var store = DocumentStore.Open(tmp.Path);
        var cached = model.WithCache(store);
        await cached.GenerateAsync(["hello"]);
        await cached.GenerateAsync(["hello"]);
        Assert.Equal((1, 1), (cached.Hits, cached.Misses));
        Assert.Equal(1, new EmbeddingCache(store).Count(model.CacheModelId));
    }

    [Fact]
    public void A_hub_id_is_looked_up_in_the_models_directory_or_named_in_the_error()
    {
        var ex = Assert.Throws<OpenBookException>(() => EmbeddingModels.Open("nobody/no-such-model-xyz"));
        Assert.Contains("openbook models pull nobody/no-such-model-xyz", ex.Message);
    }

    [Fact]
    public async Task An_url_spec_opens_an_openai_compatible_client()
    {
        using var server = new FakeEmbeddingServer();
        using var model = OpenBook.Runtime.Embedders.Open(server.Endpoint + "#nomic-embed-text", remote: new RemoteEmbeddingOptions { Model = "x", ApiKey = "k" });
        Assert.Equal($"{server.Endpoint.GetLeftPart(UriPartial.Authority)}#nomic-embed-text", model.CacheModelId);
        var v = await model.Generator.GenerateAsync(["abc"]);
        Assert.Equal(FakeEmbeddingServer.VectorOf("abc"), v[0].Vector.ToArray());
        Assert.Equal("nomic-embed-text", server.Bodies.Single()["model"]!.GetValue<string>());
        Assert.Throws<OpenBookException>(() => OpenBook.Runtime.Embedders.Open("http://localhost:1/v1"));
    }
}
