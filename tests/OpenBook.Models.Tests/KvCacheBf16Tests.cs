using OpenBook.Models.Architectures;
using OpenBook.Models.Kernels;

namespace OpenBook.Models.Tests;

/// <summary>The bf16 KV cache: the same attention over keys/values rounded to bf16.</summary>
public class KvCacheBf16Tests
{
    [Theory]
    [InlineData(64, 0)]  // SIMD path
    [InlineData(12, 0)]  // scalar path
    [InlineData(64, 5)]  // sliding window
    public void Bf16_attention_equals_f32_attention_over_bf16_rounded_keys_and_values(int headDim, int window)
    {
        int heads = 4, kvHeads = 2, capacity = 20, tokens = 3, start = 9;
        var rng = new Random(3);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var q = R(tokens * heads * headDim);
        var k = R(kvHeads * capacity * headDim);
        var v = R(kvHeads * capacity * headDim);
        var k16 = k.Select(Bf16.FromFloat).ToArray();
        var v16 = v.Select(Bf16.FromFloat).ToArray();
        var kRounded = k16.Select(Bf16.ToFloat).ToArray();
        var vRounded = v16.Select(Bf16.ToFloat).ToArray();
        var expected = new float[tokens * heads * headDim];
        var actual = new float[expected.Length];
        Attention.Causal(q, tokens, start, heads, kvHeads, headDim, kRounded, vRounded, capacity, window, expected);
        Attention.CausalBf16(q, tokens, start, heads, kvHeads, headDim, k16, v16, capacity, window, actual);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-5f, $"{i}: {expected[i]} vs {actual[i]}");
        var unrounded = new float[expected.Length];
        Attention.Causal(q, tokens, start, heads, kvHeads, headDim, k, v, capacity, window, unrounded);
        Assert.True(unrounded.Zip(actual).Any(p => Math.Abs(p.First - p.Second) > 1e-6f), "bf16 rounding should be visible");
    }

    [Theory]
    [MemberData(nameof(ModelFixtureTests.Families), MemberType = typeof(ModelFixtureTests))]
    public void A_bf16_cache_decodes_like_the_f32_cache(string family)
    {
        var model = ModelLoader.Load(ModelFixtureTests.FixtureDir(family));
        var prompt = ModelFixtureTests.LoadReference(family).GreedyPrompt;
        var f32 = model.CreateCache(1, 32);
        var bf16 = model.CreateCache(1, 32, KvCacheFormat.Bf16);
        Assert.Equal(KvCacheFormat.Bf16, bf16.Format);
        Assert.Equal(f32.ByteSize / 2, bf16.ByteSize);
        var a = model.Forward(prompt, f32, LogitsMode.AllPositions);
        var b = model.Forward(prompt, bf16, LogitsMode.AllPositions);
        float max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        for (int step = 0; step < 6; step++)
        {
            int next = Array.IndexOf(a[^model.Config.VocabSize..], a[^model.Config.VocabSize..].Max());
            a = model.Forward([next], f32);
            b = model.Forward([next], bf16);
            for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }
        Assert.True(max < 0.02f, $"{family}: bf16 cache moved a logit by {max}");
        Assert.True(max > 0, "identical logits: the cache was not rounded");
        Assert.Equal(prompt.Length + 6, bf16.Length());
    }

    [Fact]
    public void The_model_default_format_is_used_by_generation_caches()
    {
        var model = ModelLoader.Load(ModelFixtureTests.FixtureDir("llama-tied"));
        Assert.Equal(KvCacheFormat.F32, model.CreateCache(1, 8).Format);
        model.KvCacheFormat = KvCacheFormat.Bf16;
        Assert.Equal(KvCacheFormat.Bf16, model.CreateCache(1, 8).Format);
    }
}
