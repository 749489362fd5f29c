using OpenBook.Onnx;
using OpenBook.Onnx.Tests;

namespace OpenBook.Bench.Tests;

public sealed class EncoderBenchmarkTests
{
    [Fact]
    public void Flops_per_sequence_is_hand_computed()
    {
        // one layer, h = 2, i = 3, s = 4: 8·4·4 + 4·4·2·3 + 4·16·2 = 128 + 96 + 128 = 352
        Assert.Equal(352, new EncoderShape(1, 2, 3).FlopsPerSequence(4));
        // MiniLM-L6 at 128 tokens: 6 · (8·128·384² + 4·128·384·1536 + 4·128²·384) = 2,868,903,936
        Assert.Equal(2_868_903_936, EncoderShape.MiniLmL6.FlopsPerSequence(128));
        Assert.Equal(new EncoderShape(2, 32, 64), EncoderShape.FromConfig(Fixtures.Encoder("tiny-bert")));
    }

    [Fact]
    public async Task Bench_chunks_fit_the_target_and_the_run_counts_padding()
    {
        using var encoder = OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert"));
        var chunks = EncoderBenchmark.MakeChunks(encoder, 20, targetTokens: 24);
        Assert.Equal(chunks, EncoderBenchmark.MakeChunks(encoder, 20, targetTokens: 24)); // deterministic
        var lengths = chunks.Select(c => encoder.Tokenize(c).Length).ToList();
        Assert.All(lengths, n => Assert.InRange(n, (int)(22 * 0.6) - 1 + 2, 24));
        Assert.True(lengths.Distinct().Count() > 3, "lengths should spread");

        var r = await EncoderBenchmark.RunAsync(encoder, chunks, 8, EncoderShape.FromConfig(Fixtures.Encoder("tiny-bert")), "fp32");
        Assert.Equal(lengths.Sum(), r.Tokens);
        Assert.True(r.PaddedTokens >= r.Tokens);
        Assert.Equal(20, r.Chunks);
        Assert.True(r.Seconds > 0);
    }

    [Fact]
    public void Cpu_peak_uses_the_given_clock()
    {
        var (gflops, text) = EncoderBenchmark.CpuPeak(ghz: 2.0, flopsPerCycle: 32);
        Assert.Equal(Environment.ProcessorCount * 64.0, gflops);
        Assert.Contains("32 fp32 FLOP/cycle", text);
    }
}
