using OpenBook.Models.Formats.Tokenization;

namespace OpenBook.Models.Tests.Tokenization;

public class HfTokenizerErrorTests
{
    [Fact]
    public void Missing_tokenizer_json_names_the_file()
    {
        var dir = Path.Combine(Path.GetTempPath(), "ob-tok-missing-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var ex = Assert.Throws<OpenBookException>(() => HfTokenizer.FromDirectory(dir));
            Assert.Contains("tokenizer.json", ex.Message);
            Assert.Contains("not found", ex.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Invalid_json_reports_the_line()
    {
        var ex = Assert.Throws<OpenBookException>(() => HfTokenizer.FromJson("{\n\"model\": {\n\"type\": \"BPE\",,\n}}", source: "x/tokenizer.json"));
        Assert.StartsWith("x/tokenizer.json: invalid JSON at line 3", ex.Message);
    }

    [Fact]
    public void Unsupported_components_are_named()
    {
        var ex = Assert.Throws<OpenBookException>(() => HfTokenizer.FromJson("""{"model":{"type":"Unigram","vocab":[]}}"""));
        Assert.Contains("Unigram", ex.Message);
        ex = Assert.Throws<OpenBookException>(() => HfTokenizer.FromJson(
            """{"pre_tokenizer":{"type":"Bert"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}"""));
        Assert.Contains("pre_tokenizer", ex.Message);
        Assert.Contains("Bert", ex.Message);
    }

    [Fact]
    public void Word_piece_style_affixes_are_rejected()
    {
        var ex = Assert.Throws<OpenBookException>(() => HfTokenizer.FromJson(
            """{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"continuing_subword_prefix":"##"}}"""));
        Assert.Contains("continuing_subword_prefix", ex.Message);
        // Empty affixes (as in Qwen3's tokenizer.json) are fine.
        HfTokenizer.FromJson("""{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"continuing_subword_prefix":"","end_of_word_suffix":""}}""");
    }

    [Fact]
    public void Merge_with_unknown_token_is_rejected_with_its_index()
    {
        var ex = Assert.Throws<OpenBookException>(() => HfTokenizer.FromJson(
            """{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]}}"""));
        Assert.Contains("merge #0", ex.Message);
    }

    [Fact]
    public void Decoding_an_id_outside_the_vocabulary_fails_clearly()
    {
        var tok = HfTokenizer.FromDirectory(Fixtures.Tokenizer("gpt2"));
        var ex = Assert.Throws<OpenBookException>(() => tok.Decode([5, 999_999]));
        Assert.Contains("999999", ex.Message);
    }
}
