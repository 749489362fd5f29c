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

        var tokens = chunks.Select(c => encoder.Tokenize(c).Length).ToArray();
        var shape = EncoderShape.FromConfig(Fixtures.Encoder("tiny-bert"));
        using var a = new OpenBookBenchEncoder("a", OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert")), 1);
        using var b = new OpenBookBenchEncoder("b", OnnxSentenceEncoder.Load(Fixtures.Encoder("tiny-bert")), 1);
        // A third encoder returning the first text's vector for every text: its cosine to the reference must drop.
        using var c = new ListBenchEncoder("c", "1", t => { var v = a.EncodeAsync(t, default).Result; return v.Select(_ => v[0]).ToArray(); }, new MemoryStream());
        var results = await EncoderBenchmark.CompareAsync([a, b, c], chunks, tokens, shape, repeats: 2);
        Assert.Equal(["a", "b", "c"], results.Select(r => r.Encoder));
        foreach (var r in results)
        {
            Assert.Equal(lengths.Sum(), r.Tokens);
            Assert.Equal(20, r.Chunks);
            Assert.Equal(2, r.AllSeconds.Count);
            Assert.Equal(r.AllSeconds.Min(), r.Seconds);
            Assert.Equal(tokens.Sum(n => shape.FlopsPerSequence(n)) / 1e9, r.Gflop, 9);
        }
        Assert.Equal(1.0, results[1].MinCosine, 5); // same model, same texts
        Assert.True(results[2].MinCosine < 0.99, $"min cosine {results[2].MinCosine}");
    }

    [Fact]
    public void Corpus_passages_are_ingest_chunks_spread_over_the_corpus()
    {
        var handbook = Path.GetFullPath(Path.Combine(Fixtures.Encoder(""), "..", "..", "..", "samples", "handbook"));
        var all = EncoderBenchmark.CorpusPassages(handbook, int.MaxValue);
        var some = EncoderBenchmark.CorpusPassages(handbook, 16);
        Assert.True(all.Count > 100, $"{all.Count} chunks");
        Assert.Equal(16, some.Count);
        Assert.Equal(some, EncoderBenchmark.CorpusPassages(handbook, 16)); // deterministic
        Assert.All(some, p => Assert.Contains(p, all));
        Assert.Equal(all[0], some[0]);
        Assert.Equal(all[15 * all.Count / 16], some[15]); // evenly spread, not the first 16
    }

    [Fact]
    public void Cpu_peak_uses_the_given_clock()
    {
        var (gflops, text) = EncoderBenchmark.CpuPeak(ghz: 2.0, flopsPerCycle: 32);
        Assert.Equal(Environment.ProcessorCount * 64.0, gflops);
        Assert.Contains("32 fp32 FLOP/cycle", text);
        Assert.Equal(1 * 64.0, EncoderBenchmark.CpuPeak(ghz: 2.0, flopsPerCycle: 32, threads: 1).Gflops);
    }
}
