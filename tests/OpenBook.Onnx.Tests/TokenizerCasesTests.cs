namespace OpenBook.Onnx.Tests;

/// <summary>Awkward strings tokenized by the Python reference (tools/onnx/make_tokenizer_cases.py).</summary>
public sealed class TokenizerCasesTests
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        var root = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Encoder(""), "tokenizer-cases.json"))).RootElement;
        foreach (var model in root.EnumerateObject())
            for (int i = 0; i < model.Value.GetArrayLength(); i++) data.Add(model.Name, i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Ids_match_the_reference_tokenizer(string model, int index)
    {
        var root = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Encoder(""), "tokenizer-cases.json"))).RootElement;
        var c = root.GetProperty(model)[index];
        var tokenizer = BertTextTokenizer.Load(Fixtures.Encoder(model));
        Assert.Equal(Fixtures.Ints(c.GetProperty("ids")), tokenizer.Encode(c.GetProperty("text").GetString()!, 512));
    }
}
