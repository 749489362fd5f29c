using System.Text;
using OpenBook.Models.Architectures;
using OpenBook.Models.Generation;

namespace OpenBook.Models.Tests;

public class GenerationTests
{
    private static readonly Lazy<LlamaForCausalLM> Llama = new(() => ModelLoader.Load(ModelFixtureTests.FixtureDir("llama-tied")));
    private static readonly int[] Prompt = [1, 72, 101, 108, 108, 111];

    /// <summary>A stand-in for a tokenizer: token t decodes to "&lt;t&gt;".</summary>
    private static string AngleDecoder(IReadOnlyList<int> tokens) => string.Concat(tokens.Select(t => $"<{t}>"));

    [Theory]
    [InlineData("llama-tied")]
    [InlineData("qwen2-bf16")]
    [InlineData("mistral")]
    public void Kv_cache_decode_equals_full_recompute(string family)
    {
        var model = ModelLoader.Load(ModelFixtureTests.FixtureDir(family));
        int vocab = model.Config.VocabSize;
        var ids = new List<int>(Prompt);
        var cache = model.CreateCache(1, 32);
        var logits = model.Forward(ids.ToArray(), cache);
        for (int step = 0; step < 12; step++)
        {
            var full = model.Forward(ids.ToArray(), model.CreateCache(1, 32), LogitsMode.AllPositions);
            var last = full.AsSpan((ids.Count - 1) * vocab, vocab).ToArray();
            KernelTests.AssertClose(last, logits, 1e-4f, $"{family} step {step}");
            int next = Kernels.Ops.Argmax(logits);
            ids.Add(next);
            logits = model.Forward([next], cache);
        }
        Assert.Equal(Prompt.Length + 12, cache.Length());
    }

    [Fact]
    public void Greedy_generation_is_deterministic_and_matches_the_reference()
    {
        var reference = ModelFixtureTests.LoadReference("llama-tied");
        var gen = new TextGenerator(Llama.Value);
        var a = gen.Generate(reference.GreedyPrompt, GenerationOptions.Greedy(reference.GreedyTokens.Length));
        var b = gen.Generate(reference.GreedyPrompt, GenerationOptions.Greedy(reference.GreedyTokens.Length));
        Assert.Equal(reference.GreedyTokens, a.Tokens);
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(FinishReason.Length, a.FinishReason);
        Assert.Equal(reference.GreedyPrompt.Length, a.PromptTokens);
    }

    [Fact]
    public void Seeded_sampling_is_reproducible_and_seed_dependent()
    {
        var gen = new TextGenerator(Llama.Value);
        GenerationOptions Opts(int seed) => new() { DoSample = true, Temperature = 1.5f, MaxNewTokens = 16, Seed = seed };
        var a = gen.Generate(Prompt, Opts(7)).Tokens;
        var b = gen.Generate(Prompt, Opts(7)).Tokens;
        var c = gen.Generate(Prompt, Opts(8)).Tokens;
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        // top_k = 1 is greedy whatever the seed.
        var greedy = gen.Generate(Prompt, GenerationOptions.Greedy(8)).Tokens;
        Assert.Equal(greedy, gen.Generate(Prompt, Opts(3) with { TopK = 1, MaxNewTokens = 8 }).Tokens);
    }

    [Fact]
    public void Stop_token_ends_generation_without_emitting_it()
    {
        var gen = new TextGenerator(Llama.Value, AngleDecoder);
        var greedy = gen.Generate(Prompt, GenerationOptions.Greedy(10)).Tokens;
        var stopped = gen.Generate(Prompt, GenerationOptions.Greedy(10) with { StopTokenIds = [greedy[3]] });
        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        Assert.Equal(greedy.Take(3), stopped.Tokens);
        Assert.Equal(AngleDecoder(greedy.Take(3).ToArray()), stopped.Text);
    }

    [Fact]
    public async Task Stop_string_cuts_text_and_streamed_pieces_add_up_to_the_result()
    {
        var gen = new TextGenerator(Llama.Value, AngleDecoder);
        var greedy = gen.Generate(Prompt, GenerationOptions.Greedy(10)).Tokens;
        // A stop string spanning the end of token 4 and the start of token 5.
        string full = AngleDecoder(greedy.ToArray());
        string before = AngleDecoder(greedy.Take(4).ToArray());
        string stop = before[^2..] + "<" + greedy[4].ToString()[0];
        var options = GenerationOptions.Greedy(10) with { StopStrings = [stop] };
        var result = gen.Generate(Prompt, options);
        Assert.Equal(FinishReason.Stop, result.FinishReason);
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], result.Text);
        Assert.Equal(greedy.Take(5), result.Tokens);

        var pieces = new List<GenerationUpdate>();
        await foreach (var u in gen.StreamAsync(Prompt, options)) pieces.Add(u);
        Assert.Equal(result.Text, string.Concat(pieces.Select(p => p.Text)));
        Assert.Equal(FinishReason.Stop, pieces[^1].FinishReason);
        Assert.All(pieces.SkipLast(1), p => Assert.Null(p.FinishReason));
        Assert.Equal(result.Tokens, pieces.Select(p => p.TokenId));
    }

    [Fact]
    public async Task Streaming_yields_the_same_tokens_as_generate_and_honours_cancellation()
    {
        var gen = new TextGenerator(Llama.Value, AngleDecoder);
        var expected = gen.Generate(Prompt, GenerationOptions.Greedy(8));
        var streamed = new List<int>();
        var text = new StringBuilder();
        await foreach (var u in gen.StreamAsync(Prompt, GenerationOptions.Greedy(8)))
        {
            streamed.Add(u.TokenId);
            text.Append(u.Text);
        }
        Assert.Equal(expected.Tokens, streamed);
        Assert.Equal(expected.Text, text.ToString());

        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var u in gen.StreamAsync(Prompt, GenerationOptions.Greedy(50), cts.Token))
                if (++seen == 2) cts.Cancel();
        });
        Assert.Equal(2, seen);
        cts.Dispose();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => gen.Generate(Prompt, GenerationOptions.Greedy(5), cancelled.Token));
    }

    [Fact]
    public void Batched_generation_equals_one_by_one()
    {
        var gen = new TextGenerator(Llama.Value);
        IReadOnlyList<int>[] prompts = [Prompt, [1, 5, 6, 7, 8, 9], [1, 300, 2]];
        var options = GenerationOptions.Greedy(7);
        var batch = gen.GenerateBatch(prompts, options);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(gen.Generate(prompts[i], options).Tokens, batch[i].Tokens);
        // Equal-length prompts go through one batched prefill.
        var pair = gen.GenerateBatch(prompts[..2], options);
        Assert.Equal(batch[0].Tokens, pair[0].Tokens);
        Assert.Equal(batch[1].Tokens, pair[1].Tokens);
        // A stop token finishing one sequence early leaves the others untouched.
        var stopFirst = gen.GenerateBatch(prompts, options with { StopTokenIds = [batch[0].Tokens[1]] });
        Assert.Equal(FinishReason.Stop, stopFirst[0].FinishReason);
        Assert.Single(stopFirst[0].Tokens);
    }

    [Fact]
    public void Max_new_tokens_zero_and_bad_options_are_handled()
    {
        var gen = new TextGenerator(Llama.Value);
        var r = gen.Generate(Prompt, GenerationOptions.Greedy(0));
        Assert.Empty(r.Tokens);
        Assert.Equal(FinishReason.Length, r.FinishReason);
        Assert.Throws<ArgumentOutOfRangeException>(() => gen.Generate(Prompt, new GenerationOptions { DoSample = true, Temperature = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => gen.Generate(Prompt, new GenerationOptions { TopP = 0 }));
        Assert.Throws<ArgumentException>(() => gen.Generate([], GenerationOptions.Greedy(3)));
        Assert.Throws<ArgumentException>(() => gen.Generate(Prompt, GenerationOptions.Greedy(3) with { StopStrings = ["x"] })); // no decoder
    }
}

public class SamplerTests
{
    [Fact]
    public void Options_from_generation_config_follow_hf_defaults()
    {
        string dir = ModelFixtureTests.FixtureDir("qwen2-bf16");
        var o = GenerationOptions.FromModel(Formats.ModelConfig.Load(dir), Formats.GenerationConfig.Load(dir));
        Assert.Equal([2, 3], o.StopTokenIds);
        Assert.True(o.DoSample);
        Assert.Equal(0.7f, o.Temperature);
        Assert.Equal(20, o.TopK);
        Assert.Equal(0.9f, o.TopP);
        Assert.Equal(1.05f, o.RepetitionPenalty);
        Assert.Equal(64, o.MaxNewTokens);
        var bare = GenerationOptions.FromModel(Formats.ModelConfig.Load(ModelFixtureTests.FixtureDir("mistral")), null);
        Assert.False(bare.DoSample);
        Assert.Equal([2], bare.StopTokenIds); // config.json eos_token_id
    }

    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_logits_once_per_token()
    {
        float[] logits = [2f, -2f, 1f, 4f];
        Sampler.ApplyRepetitionPenalty(logits, [0, 1, 1, 1], 2f);
        Assert.Equal([1f, -4f, 1f, 4f], logits);
    }

    [Fact]
    public void Top_k_keeps_the_k_largest()
    {
        float[] logits = [0.1f, 3f, -1f, 2f, 0.5f];
        Sampler.KeepTopK(logits, 2);
        Assert.Equal([float.NegativeInfinity, 3f, float.NegativeInfinity, 2f, float.NegativeInfinity], logits);
    }

    [Fact]
    public void Top_p_keeps_the_smallest_nucleus_like_hf()
    {
        // probabilities 0.5, 0.25, 0.125, 0.125 (log-space logits).
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.25f), MathF.Log(0.125f), MathF.Log(0.125f)];
        var p70 = (float[])logits.Clone();
        Sampler.KeepTopP(p70, 0.7f); // needs 0.5 + 0.25
        Assert.Equal(2, p70.Count(float.IsFinite));
        Assert.True(float.IsFinite(p70[0]) && float.IsFinite(p70[1]));
        var p40 = (float[])logits.Clone();
        Sampler.KeepTopP(p40, 0.4f); // the top token alone reaches 0.4
        Assert.Equal(1, p40.Count(float.IsFinite));
        var p100 = (float[])logits.Clone();
        Sampler.KeepTopP(p100, 1f);
        Assert.Equal(4, p100.Count(float.IsFinite));
    }

    [Fact]
    public void Draw_inverts_the_cumulative_distribution()
    {
        float[] Logits() => [MathF.Log(0.5f), float.NegativeInfinity, MathF.Log(0.25f), MathF.Log(0.25f)];
        Assert.Equal(0, Sampler.Draw(Logits(), 0.0));
        Assert.Equal(0, Sampler.Draw(Logits(), 0.49));
        Assert.Equal(2, Sampler.Draw(Logits(), 0.51));
        Assert.Equal(3, Sampler.Draw(Logits(), 0.99));
        Assert.Equal(3, Sampler.Draw(Logits(), 0.9999999999));
    }

    [Fact]
    public void Temperature_sharpens_the_distribution()
    {
        float[] logits = [1f, 0f];
        int Count(float temperature)
        {
            var s = new Sampler(new GenerationOptions { DoSample = true, Temperature = temperature, Seed = 1 });
            int zeros = 0;
            for (int i = 0; i < 2000; i++) if (s.Next((float[])logits.Clone(), Array.Empty<int>()) == 0) zeros++;
            return zeros;
        }
        // P(0) = sigmoid(1/T): T=0.25 → 0.982, T=1 → 0.731, T=4 → 0.562.
        Assert.InRange(Count(0.25f), 1900, 2000);
        Assert.InRange(Count(1f), 1350, 1570);
        Assert.InRange(Count(4f), 1000, 1250);
    }
}

public class TextStreamTests
{
    private static string Utf8Bytes(IReadOnlyList<int> tokens) => Encoding.UTF8.GetString(tokens.Select(t => (byte)t).ToArray());

    [Fact]
    public void Incomplete_utf8_is_held_back_until_the_character_is_complete()
    {
        var stream = new TextStream(Utf8Bytes, []);
        var pieces = Encoding.UTF8.GetBytes("hé€😀!").Select(b => stream.Push(b)).ToList();
        pieces.Add(stream.Flush());
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Equal("hé€😀!", string.Concat(pieces));
        Assert.Equal("", pieces[1]); // first byte of é
        Assert.Equal("é", pieces[2]);
    }

    [Fact]
    public void Possible_stop_prefix_is_held_back_then_released_or_cut()
    {
        var stream = new TextStream(Utf8Bytes, ["</s>"]);
        var released = new StringBuilder();
        foreach (var c in "ab</x") released.Append(stream.Push(c));
        Assert.Equal("ab</x", released.ToString()); // "</" held, then released once "x" ruled the stop out
        foreach (var c in " y</") released.Append(stream.Push(c));
        Assert.Equal("ab</x y", released.ToString());
        released.Append(stream.Push('s'));
        Assert.False(stream.Stopped);
        released.Append(stream.Push('>'));
        Assert.True(stream.Stopped);
        Assert.Equal("ab</x y", released.ToString());
        Assert.Equal("ab</x y", stream.Text);
    }
}
