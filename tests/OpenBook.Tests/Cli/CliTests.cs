using System.Diagnostics;
using System.Text.Json;
using OpenBook.Storage;

namespace OpenBook.Tests.Cli;

public class CliTests
{
    [Fact]
    public async Task Ingest_search_and_ask_keep_their_json_contracts()
    {
        using var dir = new TempDir();
        dir.File("docs/leave.md", "# Leave\n\n## Carry-over\n\nUp to 5 unused vacation days carry over until 31 March.\n");
        dir.File("docs/vpn.txt", "Always connect through the VPN on public networks.");
        dir.File("docs/broken.pdf", "garbage");
        var store = Path.Combine(dir.Path, "store");

        var ingest = await CliProcess.RunAsync("ingest", "--no-embed", Path.Combine(dir.Path, "docs"), "--store", store, "--json");
        Assert.Equal(0, ingest.Code);
        using (var report = JsonDocument.Parse(ingest.Stdout))
        {
            Assert.Equal(2, report.RootElement.GetProperty("added").GetInt32());
            Assert.Equal("docs/broken.pdf", report.RootElement.GetProperty("failed")[0].GetProperty("path").GetString());
        }

        var search = await CliProcess.RunAsync("search", "carry over vacation", "-k", "3", "--store", store, "--json");
        Assert.Equal(0, search.Code);
        using (var json = JsonDocument.Parse(search.Stdout))
        {
            var first = json.RootElement.GetProperty("results")[0];
            Assert.Equal(1, first.GetProperty("rank").GetInt32());
            Assert.True(first.GetProperty("score").GetDouble() > 0);
            Assert.Equal("docs/leave.md", first.GetProperty("source").GetString());
            Assert.Equal(JsonValueKind.Null, first.GetProperty("page").ValueKind);
            Assert.Equal(["Leave", "Carry-over"], first.GetProperty("headings").EnumerateArray().Select(h => h.GetString()));
            Assert.Contains("31 March", first.GetProperty("text").GetString());
            Assert.Equal(JsonValueKind.String, first.GetProperty("chunkId").ValueKind);
        }

        var ask = await CliProcess.RunAsync("ask", "Until when can vacation days carry over?", "--store", store, "--json");
        Assert.Equal(0, ask.Code);
        using (var json = JsonDocument.Parse(ask.Stdout))
        {
            Assert.Equal("extractive", json.RootElement.GetProperty("mode").GetString());
            Assert.Contains("31 March", json.RootElement.GetProperty("answer").GetString());
            var citation = json.RootElement.GetProperty("citations")[0];
            Assert.Equal(1, citation.GetProperty("n").GetInt32());
            Assert.Equal("docs/leave.md", citation.GetProperty("source").GetString());
        }
    }

    [Fact]
    public async Task Ingest_fails_only_when_nothing_could_be_ingested_and_errors_name_the_problem()
    {
        using var dir = new TempDir();
        dir.File("bad/broken.pdf", "garbage");
        var store = Path.Combine(dir.Path, "store");
        var nothing = await CliProcess.RunAsync("ingest", "--no-embed", Path.Combine(dir.Path, "bad"), "--store", store);
        Assert.NotEqual(0, nothing.Code);
        Assert.Contains("broken.pdf", nothing.Stdout + nothing.Stderr);

        var missing = await CliProcess.RunAsync("ingest", "--no-embed", Path.Combine(dir.Path, "nope"), "--store", store, "--json");
        Assert.NotEqual(0, missing.Code);
        using var error = JsonDocument.Parse(missing.Stdout);
        Assert.Contains("nope", error.RootElement.GetProperty("error").GetString());

        var badSize = await CliProcess.RunAsync("ingest", "--no-embed", Path.Combine(dir.Path, "bad"), "--store", store, "--chunk-tokens", "2");
        Assert.NotEqual(0, badSize.Code);
        Assert.Contains("chunk size", badSize.Stderr);

        var badStorage = await CliProcess.RunAsync("ingest", "--no-embed", Path.Combine(dir.Path, "bad"), "--store", store, "--vector-storage", "int4");
        Assert.NotEqual(0, badStorage.Code);
        Assert.Contains("f32, bf16 or int8", badStorage.Stderr);
        Assert.DoesNotContain("   at ", badStorage.Stderr); // one line, no stack trace
    }

    /// <summary>
    /// Kill-safety with a real process: the CLI is killed (SIGKILL) while it ingests; the store must be consistent
    /// and a re-run must finish the job with every document exactly once.
    /// </summary>
    [Fact]
    public async Task Killing_the_process_mid_ingest_leaves_a_consistent_store_that_a_rerun_completes()
    {
        using var dir = new TempDir();
        var words = string.Join(' ', Enumerable.Range(0, 3000).Select(i => $"word{i % 97} rule{i % 13}."));
        for (var f = 0; f < 150; f++) dir.File($"docs/d{f:000}.md", $"# Document {f}\n\n{words} unique{f}\n");
        var store = Path.Combine(dir.Path, "store");
        var docs = Path.Combine(dir.Path, "docs");

        using (var p = Process.Start(CliProcess.StartInfo("ingest", "--no-embed", docs, "--store", store, "--quiet"))!)
        {
            var db = Path.Combine(store, DocumentStore.DatabaseFileName);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            // Wait until some documents are committed, then kill without warning.
            while (!p.HasExited && DateTime.UtcNow < deadline && CountDocuments(db) < 5) await Task.Delay(20);
            Assert.False(p.HasExited, "the ingest finished before it could be killed; make the corpus larger");
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
        }

        using (var check = DocumentStore.Open(store))
        {
            Assert.Empty(check.CheckConsistency());
            Assert.InRange(check.ListDocuments().Count, 5, 149);
        }
        var rerun = await CliProcess.RunAsync("ingest", "--no-embed", docs, "--store", store, "--json");
        Assert.Equal(0, rerun.Code);
        using var after = DocumentStore.Open(store);
        Assert.Empty(after.CheckConsistency());
        Assert.Equal(150, after.ListDocuments().Count);
        var search = await CliProcess.RunAsync("search", "unique149", "--store", store, "--json");
        using var json = JsonDocument.Parse(search.Stdout);
        Assert.Equal("docs/d149.md", json.RootElement.GetProperty("results")[0].GetProperty("source").GetString());
    }

    private static int CountDocuments(string db)
    {
        if (!File.Exists(db)) return 0;
        try
        {
            using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM documents";
            return Convert.ToInt32(cmd.ExecuteScalar());
        }
        catch (Microsoft.Data.Sqlite.SqliteException) { return 0; }
    }
}
