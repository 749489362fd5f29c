using System.Text.Json;
using OpenBook.Tests.Cli;

namespace OpenBook.Tests.Vectors;

/// <summary>The CLI with a real ONNX sentence encoder: the tiny random-init BERT fixture (tests/fixtures/encoders/tiny-bert).</summary>
public class EmbedCliTests
{
    private static string TinyBert()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fixtures", "encoders", "tiny-bert");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/fixtures/encoders/tiny-bert not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public async Task Ingest_with_embed_then_search_in_every_mode_with_acl()
    {
        using var dir = new TempDir();
        dir.File("docs/leave.md", "# Leave\n\nUnused vacation days carry over until the end of March.\n");
        dir.File("docs/vpn.md", "# VPN\n\nAlways connect through the company VPN on hotel wifi.\n");
        dir.File("secret/salaries.md", "# Salaries\n\nSalary bands and vacation bonuses are reviewed every April.\n");
        var store = Path.Combine(dir.Path, "store");
        var model = TinyBert();

        var first = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--embed", model, "--json");
        Assert.True(first.Code == 0, first.Stderr);
        using (var json = JsonDocument.Parse(first.Stdout))
            Assert.Equal(2, json.RootElement.GetProperty("embedding").GetProperty("computed").GetInt32());
        var secret = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "secret"), "--store", store, "--embed", model, "--acl", "payroll", "--json");
        Assert.True(secret.Code == 0, secret.Stderr);

        var again = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--embed", model, "--json");
        using (var json = JsonDocument.Parse(again.Stdout))
            Assert.Equal(0, json.RootElement.GetProperty("embedding").GetProperty("computed").GetInt32());

        foreach (var mode in new[] { "lexical", "vector", "hybrid", "auto" })
        {
            // The model recorded on the collection is opened automatically (no --embed needed).
            var search = await CliProcess.RunAsync("search", "vacation bonuses", "-k", "5", "--mode", mode, "--store", store, "--json", "--as-groups", "staff");
            Assert.True(search.Code == 0, mode + ": " + search.Stderr);
            using var json = JsonDocument.Parse(search.Stdout);
            var sources = json.RootElement.GetProperty("results").EnumerateArray().Select(h => h.GetProperty("source").GetString()).ToList();
            Assert.NotEmpty(sources);
            Assert.DoesNotContain("secret/salaries.md", sources);
        }

        var other = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--embed", Path.Combine(model, "..", "tiny-bert-cls"));
        Assert.NotEqual(0, other.Code);
        Assert.Contains("reembed", other.Stderr);
    }

    [Fact]
    public async Task Vector_mode_on_a_store_without_embeddings_is_a_clear_error()
    {
        using var dir = new TempDir();
        dir.File("docs/leave.md", "# Leave\n\nUnused vacation days carry over until the end of March.\n");
        var store = Path.Combine(dir.Path, "store");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", "--no-embed", Path.Combine(dir.Path, "docs"), "--store", store, "--quiet")).Code);
        var search = await CliProcess.RunAsync("search", "vacation", "--mode", "vector", "--store", store);
        Assert.NotEqual(0, search.Code);
        Assert.Contains("--embed", search.Stderr);
        var missing = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--embed", "org/not-downloaded");
        Assert.NotEqual(0, missing.Code);
        Assert.Contains("models pull", missing.Stderr);
    }

    [Fact]
    public async Task A_hub_id_resolves_to_the_hugging_face_cache_snapshot()
    {
        using var dir = new TempDir();
        dir.File("docs/leave.md", "# Leave\n\nUnused vacation days carry over until the end of March.\n");
        var hfHome = Path.Combine(dir.Path, "hf");
        var repo = Path.Combine(hfHome, "hub", "models--acme--tiny-encoder");
        const string commit = "0123456789abcdef0123456789abcdef01234567";
        CopyDirectory(TinyBert(), Path.Combine(repo, "snapshots", commit));
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), commit);
        var env = new Dictionary<string, string> { ["HF_HOME"] = hfHome, ["OPENBOOK_MODELS"] = Path.Combine(dir.Path, "none") };
        var store = Path.Combine(dir.Path, "store");
        var ingest = await CliProcess.RunAsync(env, "ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--embed", "acme/tiny-encoder", "--json");
        Assert.True(ingest.Code == 0, ingest.Stderr);
        var search = await CliProcess.RunAsync(env, "search", "vacation", "--mode", "vector", "--store", store, "--json");
        Assert.True(search.Code == 0, search.Stderr);
        Assert.Contains("docs/leave.md", search.Stdout);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
