using OpenBook.Retrieval.Hybrid;

namespace OpenBook.Onnx.Tests;

public sealed class CrossEncoderTests
{
    [Fact]
    public void Pair_ids_types_and_logits_match_the_reference()
    {
        var reference = Fixtures.Reference("tiny-cross-encoder");
        using var ce = OnnxCrossEncoder.Load(Fixtures.Encoder("tiny-cross-encoder"));
        Assert.Equal(reference.GetProperty("max_length").GetInt32(), ce.MaxLength);
        var pairs = reference.GetProperty("pairs").EnumerateArray().ToList();
        foreach (var p in pairs)
        {
            var (ids, types) = ce.Tokenizer.EncodePair(p.GetProperty("query").GetString()!, p.GetProperty("passage").GetString()!, ce.MaxLength);
            Assert.Equal(Fixtures.Ints(p.GetProperty("ids")), ids);
            Assert.Equal(Fixtures.Ints(p.GetProperty("token_type_ids")), types);
        }
        // Scored per query in one batch each: padding and batching must not change the logits.
        foreach (var group in pairs.GroupBy(p => p.GetProperty("query").GetString()!))
        {
            var scores = ce.Score(group.Key, group.Select(p => p.GetProperty("passage").GetString()!).ToList());
            Fixtures.AssertClose(group.Select(p => (float)p.GetProperty("logit").GetDouble()).ToArray(), scores, 1e-4, group.Key);
        }
    }

    [Fact]
    public async Task Rerank_orders_by_logit_and_keeps_top()
    {
        var reference = Fixtures.Reference("tiny-cross-encoder");
        using var ce = OnnxCrossEncoder.Load(Fixtures.Encoder("tiny-cross-encoder"));
        const string query = "How do I reset my password?";
        var passages = reference.GetProperty("pairs").EnumerateArray().Select(p => p.GetProperty("passage").GetString()!).ToList();
        var candidates = passages.Select((p, i) => new RerankCandidate(100 + i, p)).ToList();

        var all = await ce.RerankAsync(query, candidates);
        var expected = ce.Score(query, passages).Select((s, i) => (s, id: 100L + i)).OrderByDescending(x => x.s).Select(x => x.id).ToList();
        Assert.Equal(expected, all.Select(r => r.ChunkId).ToList());
        Assert.True(all.Zip(all.Skip(1)).All(p => p.First.Score >= p.Second.Score));

        var top2 = await ce.RerankAsync(query, candidates, top: 2);
        Assert.Equal(expected.Take(2), top2.Select(r => r.ChunkId));
    }

    [Fact]
    public void Longest_first_truncation_trims_the_longer_side()
    {
        using var ce = OnnxCrossEncoder.Load(Fixtures.Encoder("tiny-cross-encoder"));
        var longText = string.Join(' ', Enumerable.Repeat("retrieval", 40));
        Assert.Single(ce.Tokenizer.EncodeWords("retrieval"));
        var (ids, types) = ce.Tokenizer.EncodePair("retrieval", longText, 16);
        Assert.Equal(16, ids.Length);
        Assert.Equal([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], types); // [CLS] retrieval [SEP] + 12 + [SEP]
        var (both, _) = ce.Tokenizer.EncodePair(longText, longText, 16);
        Assert.Equal(new[] { ce.Tokenizer.SepId }, both.Where((id, i) => i == 8 || i == 15).Distinct()); // 7 + 6 tokens: ties trim the passage (HF)
        Assert.Equal(ce.Tokenizer.SepId, ids[^1]);
    }

    [Fact]
    public void Sentence_encoder_directory_is_not_a_cross_encoder()
    {
        var ex = Assert.Throws<OpenBookException>(() => OnnxCrossEncoder.Load(Fixtures.Encoder("tiny-bert")).Score("q", ["p"]));
        Assert.Contains("expected [batch, 1]", ex.Message);
    }
}
