using System.Text.Json;
using OpenBook.Models.Formats.Tokenization;

namespace OpenBook.Models.Tests.Tokenization;

/// <summary>
/// Every fixture tokenizer (trained by the project, one per family pipeline) against encodings produced by
/// Hugging Face's own tokenizers library (tools/reference/tokenizers-reference.js, committed as expected.json).
/// </summary>
public class HfTokenizerReferenceTests
{
    public static TheoryData<string> Families => new() { "gpt2", "smollm2", "qwen2", "llama3", "sentencepiece", "added-tokens", "llama3-512", "qwen2-512", "sentencepiece-512" };

    private sealed record Case(string text, int[] ids, int[] idsWithSpecial, string decoded, string decodedSkipSpecial);

    private static (HfTokenizer Tok, Case[] Cases) Load(string family)
    {
        var dir = Fixtures.Tokenizer(family);
        var cases = JsonSerializer.Deserialize<Case[]>(File.ReadAllText(Path.Combine(dir, "expected.json")))!;
        return (HfTokenizer.FromDirectory(dir), cases);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Encode_matches_hugging_face(string family)
    {
        var (tok, cases) = Load(family);
        Assert.True(cases.Length >= 20);
        foreach (var c in cases)
        {
            Assert.True(c.ids.SequenceEqual(tok.Encode(c.text, addSpecialTokens: false)),
                $"{family}: {JsonSerializer.Serialize(c.text)} → [{string.Join(",", tok.Encode(c.text, false))}], HF [{string.Join(",", c.ids)}]");
            Assert.True(c.idsWithSpecial.SequenceEqual(tok.Encode(c.text, addSpecialTokens: true)), $"{family} (special): {JsonSerializer.Serialize(c.text)}");
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Decode_matches_hugging_face(string family)
    {
        var (tok, cases) = Load(family);
        foreach (var c in cases)
        {
            Assert.Equal(c.decoded, tok.Decode(c.idsWithSpecial, skipSpecialTokens: false));
            Assert.Equal(c.decodedSkipSpecial, tok.Decode(c.idsWithSpecial, skipSpecialTokens: true));
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Streaming_decoder_deltas_concatenate_to_the_full_decode(string family)
    {
        var (tok, cases) = Load(family);
        foreach (var c in cases)
        {
            var stream = tok.CreateStreamingDecoder(skipSpecialTokens: true);
            var text = string.Concat(c.ids.Select(stream.Append)) + stream.Flush();
            Assert.Equal(tok.Decode(c.ids, skipSpecialTokens: true), text);
        }
    }

    [Fact]
    public void Special_token_ids_come_from_tokenizer_config()
    {
        var smol = HfTokenizer.FromDirectory(Fixtures.Tokenizer("smollm2"));
        Assert.Equal(("<|im_start|>", 1), (smol.BosToken, smol.BosTokenId));
        Assert.Equal(("<|im_end|>", 2), (smol.EosToken, smol.EosTokenId));
        Assert.Equal(2, smol.PadTokenId);
        Assert.False(smol.AddsBos);
        Assert.True(smol.IsSpecial(0));
        Assert.False(smol.IsSpecial(100));

        var sp = HfTokenizer.FromFile(Path.Combine(Fixtures.Tokenizer("sentencepiece"), "tokenizer.json"));
        Assert.Equal((1, 2), (sp.BosTokenId!.Value, sp.EosTokenId!.Value));
        Assert.True(sp.AddsBos);
        Assert.Equal(1, sp.Encode("hi")[0]);
        Assert.Equal("<unk>", sp.UnkToken);
    }
}
