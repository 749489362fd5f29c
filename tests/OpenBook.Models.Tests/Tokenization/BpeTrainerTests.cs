using System.Text.Json;
using OpenBook.Models.Formats.Tokenization;

namespace OpenBook.Models.Tests.Tokenization;

public class BpeTrainerTests
{
    [Fact]
    public void Merges_equal_hugging_face_bpe_trainer()
    {
        // Reference: HF BpeTrainer with default settings + ByteLevel pre-tokenizer, one sequence per line
        // (line endings kept), on the first 4000 characters of corpus.txt (tools/reference/tokenizers-reference.js).
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Tokenizer(""), "trainer-reference.json")));
        var chars = reference.RootElement.GetProperty("corpusChars").GetInt32();
        var corpus = File.ReadAllText(Path.Combine(Fixtures.Tokenizer(""), "corpus.txt"))[..chars];
        var lines = SplitKeepingLineEnds(corpus);
        var trained = BpeTrainer.Train(lines, new BpeTrainerOptions
        {
            Preset = TokenizerPreset.Gpt2, VocabSize = 30_000, MinFrequency = 0, FullByteAlphabet = false,
        });
        var expected = reference.RootElement.GetProperty("merges").EnumerateArray().Select(m => (m[0].GetString()!, m[1].GetString()!)).ToList();
        Assert.Equal(reference.RootElement.GetProperty("vocabSize").GetInt32(), trained.IdToToken.Count);
        for (var i = 0; i < expected.Count; i++)
            Assert.True(expected[i] == trained.Merges[i], $"merge #{i}: HF {expected[i]}, ours {trained.Merges[i]}");
        Assert.Equal(expected.Count, trained.Merges.Count);
    }

    [Fact]
    public void Committed_smollm2_fixture_is_reproduced_by_the_trainer()
    {
        var dir = Fixtures.Tokenizer("smollm2");
        var texts = new[] { "corpus.txt", "project-issues.txt" }
            .SelectMany(f => File.ReadAllText(Path.Combine(Fixtures.Tokenizer(""), f)).Split("\n\n", StringSplitOptions.RemoveEmptyEntries));
        var trained = BpeTrainer.Train(texts, new BpeTrainerOptions
        {
            Preset = TokenizerPreset.SmolLM2, VocabSize = 2048, SpecialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        });
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "tokenizer.json")), trained.ToTokenizerJson());
    }

    [Fact]
    public void Trained_tokenizer_round_trips_text_and_compresses_it()
    {
        var tok = HfTokenizer.FromDirectory(Fixtures.Tokenizer("smollm2"));
        Assert.Equal(2048, tok.VocabSize);
        var text = File.ReadAllText(Path.Combine(Fixtures.Tokenizer(""), "corpus.txt"));
        var ids = tok.Encode(text, addSpecialTokens: false);
        Assert.Equal(text, tok.Decode(ids));
        // Byte-level BPE with 2k merges trained on this text: well under one token per 3 bytes.
        Assert.True(ids.Length * 3 < System.Text.Encoding.UTF8.GetByteCount(text), $"{ids.Length} tokens");
        Assert.Equal(["the"], tok.Encode("the", false).Select(i => tok.IdToToken(i)));
        Assert.Equal(["2", "0", "2", "4"], tok.Encode("2024", false).Select(i => tok.IdToToken(i)));
    }

    [Fact]
    public void Sentencepiece_preset_has_byte_fallback_tokens_and_round_trips_unseen_characters()
    {
        var trained = BpeTrainer.Train(["hello world, hello there", "the world is wide"], new BpeTrainerOptions
        {
            Preset = TokenizerPreset.SentencePiece, VocabSize = 300, MinFrequency = 1, SpecialTokens = ["<unk>", "<s>", "</s>"],
        });
        Assert.Equal("<0x00>", trained.IdToToken[3]);
        Assert.Equal("<0xFF>", trained.IdToToken[258]);
        var tok = HfTokenizer.FromJson(trained.ToTokenizerJson(), trained.ToTokenizerConfigJson("<s>", "</s>"));
        var ids = tok.Encode("hello 日本 world", addSpecialTokens: true);
        Assert.Equal(1, ids[0]);
        Assert.Equal("hello 日本 world", tok.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Rejects_duplicate_special_tokens()
    {
        var ex = Assert.Throws<OpenBookException>(() => BpeTrainer.Train(["x"], new BpeTrainerOptions { SpecialTokens = ["<a>", "<a>"] }));
        Assert.Contains("<a>", ex.Message);
    }

    private static IEnumerable<string> SplitKeepingLineEnds(string s)
    {
        var start = 0;
        for (var i = 0; i < s.Length; i++)
            if (s[i] == '\n') { yield return s[start..(i + 1)]; start = i + 1; }
        if (start < s.Length) yield return s[start..];
    }
}

public class HfTokenizerConcurrencyTests
{
    [Fact]
    public void Parallel_encoding_gives_the_same_ids_as_sequential()
    {
        var tok = HfTokenizer.FromDirectory(Fixtures.Tokenizer("qwen2"));
        var lines = File.ReadAllLines(Path.Combine(Fixtures.Tokenizer(""), "project-issues.txt")).Where(l => l.Length > 0).ToArray();
        var fresh = HfTokenizer.FromDirectory(Fixtures.Tokenizer("qwen2"));
        var expected = lines.Select(l => fresh.Encode(l, false)).ToArray();
        var got = new int[lines.Length][];
        Parallel.For(0, lines.Length * 4, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => got[i % lines.Length] = tok.Encode(lines[i % lines.Length], false));
        for (var i = 0; i < lines.Length; i++) Assert.Equal(expected[i], got[i]);
    }
}
