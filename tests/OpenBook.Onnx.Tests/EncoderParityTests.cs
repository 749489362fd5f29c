using System.Numerics.Tensors;
using System.Text.Json;

namespace OpenBook.Onnx.Tests;

/// <summary>
/// OpenBook's tokenizer and encoder against the reference: HF tokenizers (Rust) on a tokenizer.json equivalent to the
/// MiniLM vocab, ONNX Runtime on those ids, and sentence-transformers mean pooling — fixtures made by
/// tools/OpenBook.EncoderParity (300 texts: handbook passages and questions, accents, CJK, emoji, tabs, numbers,
/// inputs over 256 tokens).
/// </summary>
public sealed class EncoderParityTests(BuiltInModelsFixture models) : IClassFixture<BuiltInModelsFixture>
{
    private static readonly Lazy<JsonElement> Reference = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Encoder("parity"), "minilm-hf-reference.json"))).RootElement);

    private static IEnumerable<(string Text, int[] Ids, float[]? Vector)> Cases() =>
        Reference.Value.GetProperty("texts").EnumerateArray().Select(t => (
            t.GetProperty("text").GetString()!, Fixtures.Ints(t.GetProperty("ids")),
            t.TryGetProperty("vector", out var v) ? Fixtures.Floats(v) : null));

    [Fact]
    public void Token_ids_equal_hf_tokenizers_except_for_literal_special_tokens()
    {
        using var encoder = OnnxSentenceEncoder.Load(models.MiniLM.Directory);
        var cases = Cases().ToList();
        Assert.Equal(300, cases.Count);
        var differ = cases.Where(c => !encoder.Tokenize(c.Text).SequenceEqual(c.Ids)).Select(c => c.Text).ToList();
        // HF matches "[CLS]"/"[SEP]" typed in the text as special tokens; OpenBook treats text as data and word-pieces them.
        Assert.All(differ, t => Assert.True(t.Contains("[CLS]") || t.Contains("[SEP]") || t.Contains("[UNK]") || t.Contains("[PAD]") || t.Contains("[MASK]"), $"ids differ on '{t}'"));
        Assert.True(differ.Count <= 2, $"{differ.Count} texts differ: {string.Join(" | ", differ)}");
        Assert.True(cases.Count(c => c.Ids.Length == 256) >= 10, "the fixtures must include inputs truncated at max_seq_length");
    }

    [Fact]
    public async Task Vectors_equal_onnx_runtime_with_mean_pooling_where_ids_agree()
    {
        using var encoder = OnnxSentenceEncoder.Load(models.MiniLM.Directory);
        var cases = Cases().Where(c => c.Vector is not null && encoder.Tokenize(c.Text).SequenceEqual(c.Ids)).ToList();
        Assert.True(cases.Count >= 35, $"{cases.Count} reference vectors");
        // encoded together, so batches pad to different lengths than the reference's batches of one
        var vectors = await encoder.GenerateAsync(cases.Select(c => c.Text).ToList());
        double worst = 0;
        for (int i = 0; i < cases.Count; i++)
            worst = Math.Max(worst, 1 - TensorPrimitives.CosineSimilarity(cases[i].Vector!, vectors[i].Vector.Span));
        Assert.True(worst <= 1e-6, $"largest 1 - cos {worst:E2}");
    }
}
