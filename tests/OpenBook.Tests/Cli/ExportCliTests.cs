using System.Text.Json;

namespace OpenBook.Tests.Cli;

/// <summary><c>openbook export gguf</c> through the real CLI (the GGUF contents are checked against llama.cpp in OpenBook.Models.Tests).</summary>
public sealed class ExportCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "openbook-export-cli", Guid.NewGuid().ToString("N"));

    public ExportCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string ModelsFixture(params string[] parts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine([dir.FullName, "tests", "OpenBook.Models.Tests", "Fixtures", .. parts]);
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/OpenBook.Models.Tests/Fixtures not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public async Task Export_gguf_json_names_what_was_written()
    {
        string output = Path.Combine(_dir, "qwen2.gguf");
        var (code, stdout, stderr) = await CliProcess.RunAsync("export", "gguf", "--model", ModelsFixture("qwen2-bf16"),
            "--tokenizer", ModelsFixture("tokenizer", "qwen2-512"), "--type", "q8_0", "--out", output, "--json");
        Assert.True(code == 0, stderr);
        var root = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(output, root.GetProperty("path").GetString());
        Assert.Equal("qwen2", root.GetProperty("architecture").GetString());
        Assert.Equal("q8_0", root.GetProperty("type").GetString());
        Assert.Equal("gpt2", root.GetProperty("tokenizerModel").GetString());
        Assert.Equal(new FileInfo(output).Length, root.GetProperty("bytes").GetInt64());
        Assert.Equal(0, root.GetProperty("warnings").GetArrayLength());
    }

    [Fact]
    public async Task A_model_without_a_tokenizer_is_one_json_error()
    {
        string output = Path.Combine(_dir, "m.gguf");
        var (code, stdout, _) = await CliProcess.RunAsync("export", "gguf", "--model", ModelsFixture("mistral"), "--out", output, "--json");
        Assert.Equal(1, code);
        string error = JsonDocument.Parse(stdout).RootElement.GetProperty("error").GetString()!;
        Assert.Contains("tokenizer.json", error);
        Assert.DoesNotContain("\n", error);
        Assert.False(File.Exists(output));
    }
}
