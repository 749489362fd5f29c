namespace OpenBook.Onnx.Tests;

public sealed class BadModelDirectoryTests
{
    private static string LoadError(string fixture, Action<string> breakIt)
    {
        using var dir = Fixtures.CopyOf(fixture);
        breakIt(dir.Path);
        var ex = Assert.Throws<OpenBookException>(() => OnnxSentenceEncoder.Load(dir.Path).Dispose());
        return ex.Message;
    }

    [Fact]
    public void Missing_directory_is_named() =>
        Assert.Contains("/no/such/model", Assert.Throws<OpenBookException>(() => OnnxSentenceEncoder.Load("/no/such/model")).Message);

    [Fact]
    public void Missing_onnx_file_lists_the_places_looked()
    {
        var msg = LoadError("tiny-bert", d => Directory.Delete(Path.Combine(d, "onnx"), recursive: true));
        Assert.Contains("onnx/model.onnx", msg);
        Assert.Contains("model.onnx", msg);
    }

    [Fact]
    public void Missing_tokenizer_names_both_files()
    {
        var msg = LoadError("tiny-bert", d => { File.Delete(Path.Combine(d, "tokenizer.json")); File.Delete(Path.Combine(d, "vocab.txt")); });
        Assert.Contains("tokenizer.json", msg);
        Assert.Contains("vocab.txt", msg);
    }

    [Fact]
    public void Missing_pooling_config_named_by_modules_json()
    {
        var msg = LoadError("tiny-bert", d => File.Delete(Path.Combine(d, "1_Pooling", "config.json")));
        Assert.Contains(Path.Combine("1_Pooling", "config.json"), msg);
    }

    [Fact]
    public void Pooling_config_without_a_mode_names_the_fields()
    {
        var msg = LoadError("tiny-bert", d => File.WriteAllText(Path.Combine(d, "1_Pooling", "config.json"), """{"word_embedding_dimension": 32}"""));
        Assert.Contains("pooling_mode_mean_tokens", msg);
    }

    [Fact]
    public void Wrong_field_type_names_file_and_field()
    {
        var msg = LoadError("tiny-bert", d => File.WriteAllText(Path.Combine(d, "sentence_bert_config.json"), """{"max_seq_length": "long"}"""));
        Assert.Contains("sentence_bert_config.json", msg);
        Assert.Contains("max_seq_length", msg);
    }

    [Fact]
    public void Invalid_json_names_file_and_line()
    {
        var msg = LoadError("tiny-bert", d => File.WriteAllText(Path.Combine(d, "modules.json"), "[\n{\"type\": }\n]"));
        Assert.Contains("modules.json", msg);
        Assert.Contains("line 2", msg);
    }

    [Fact]
    public void Non_wordpiece_tokenizer_names_the_field()
    {
        var msg = LoadError("tiny-bert", d =>
        {
            var p = Path.Combine(d, "tokenizer.json");
            File.WriteAllText(p, File.ReadAllText(p).Replace("\"type\": \"WordPiece\",\n  \"unk_token\"", "\"type\": \"BPE\",\n  \"unk_token\""));
        });
        Assert.Contains("model.type", msg);
    }

    [Fact]
    public async Task Dimension_mismatch_between_config_and_graph_is_reported()
    {
        using var dir = Fixtures.CopyOf("tiny-bert");
        File.WriteAllText(Path.Combine(dir.Path, "1_Pooling", "config.json"), """{"word_embedding_dimension": 48, "pooling_mode_mean_tokens": true}""");
        using var encoder = OnnxSentenceEncoder.Load(dir.Path);
        var ex = await Assert.ThrowsAsync<OpenBookException>(() => encoder.GenerateAsync(["hello"]));
        Assert.Contains("48", ex.Message);
    }

    [Fact]
    public void Corrupt_onnx_file_names_the_file()
    {
        var msg = LoadError("tiny-bert", d => File.WriteAllText(Path.Combine(d, "onnx", "model.onnx"), "not a model"));
        Assert.Contains(Path.Combine("onnx", "model.onnx"), msg);
    }
}
