using System.Text.Json;

namespace OpenBook.Tests.Cli;

public class PretrainCliTests
{
    [Fact]
    public async Task Pretrain_from_the_store_reads_only_what_the_scope_allows_and_keeps_its_json_contract()
    {
        using var dir = new TempDir();
        string Lines(string word) => string.Join("\n\n", Enumerable.Range(0, 30).Select(i => $"Paragraph {i}: the {word} policy applies to team {i % 7} every week."));
        dir.File("open/handbook.md", "# Handbook\n\n" + Lines("travel"));
        dir.File("board/minutes.md", "# Minutes\n\n" + Lines("merger"));
        var store = Path.Combine(dir.Path, "store");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "open"), "--store", store, "--quiet")).Code);
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "board"), "--store", store, "--acl", "board", "--quiet")).Code);

        async Task<JsonElement> Pretrain(string outDir, params string[] extra)
        {
            var (code, stdout, stderr) = await CliProcess.RunAsync(["pretrain", "--store", store, "--from-store", "--shape", "tiny", "--vocab", "300", "--seq-len", "32",
                "--batch-tokens", "64", "--micro-batch-tokens", "64", "--max-steps", "2", "--warmup", "1", "--peak-gflops", "1", "--out", Path.Combine(dir.Path, outDir), "--json", .. extra]);
            Assert.True(code == 0, stderr);
            using var json = JsonDocument.Parse(stdout); // exactly one document
            return json.RootElement.Clone();
        }
        var open = await Pretrain("public");
        Assert.Equal(2, open.GetProperty("steps").GetInt32());
        Assert.True(open.GetProperty("tokensPerSecond").GetDouble() > 0);
        Assert.True(File.Exists(Path.Combine(dir.Path, "public", "model.safetensors")));
        Assert.True(File.Exists(open.GetProperty("lossCurve").GetString()));
        var board = await Pretrain("board", "--as-groups", "board");
        var all = await Pretrain("all", "--all-access");
        long Tokens(JsonElement e) => e.GetProperty("corpusTokens").GetInt64();
        Assert.True(Tokens(board) > Tokens(open), $"{Tokens(board)} vs {Tokens(open)}");
        Assert.Equal(Tokens(board), Tokens(all));

        var (badCode, badOut, _) = await CliProcess.RunAsync("pretrain", "--store", store, "--from-store", "--seq-len", "32", "--batch-tokens", "50",
            "--out", Path.Combine(dir.Path, "bad"), "--json");
        Assert.NotEqual(0, badCode);
        using var error = JsonDocument.Parse(badOut);
        Assert.Contains("--batch-tokens", error.RootElement.GetProperty("error").GetString());
    }
}
