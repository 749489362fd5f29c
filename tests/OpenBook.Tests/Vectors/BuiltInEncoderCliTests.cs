using System.Text.Json;
using OpenBook.Tests.Cli;

namespace OpenBook.Tests.Vectors;

/// <summary>The CLI with the built-in pretrained encoders (SentenceTransformers.* packages): no download, no flag.</summary>
public class BuiltInEncoderCliTests
{
    [Fact]
    public async Task Ingest_embeds_with_the_built_in_minilm_by_default_and_auto_search_is_hybrid()
    {
        using var dir = new TempDir();
        dir.File("docs/leave.md", "# Leave\n\nUnused vacation days carry over until the end of March.\n");
        dir.File("docs/vpn.md", "# VPN\n\nAlways connect through the company VPN on hotel wifi.\n");
        dir.File("other/travel.md", "# Travel\n\nBook flights through the travel portal.\n");
        var store = Path.Combine(dir.Path, "store");

        var ingest = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--json");
        Assert.True(ingest.Code == 0, ingest.Stderr);
        using (var json = JsonDocument.Parse(ingest.Stdout))
            Assert.Equal(2, json.RootElement.GetProperty("embedding").GetProperty("computed").GetInt32());
        var lexicalOnly = await CliProcess.RunAsync("ingest", "--no-embed", Path.Combine(dir.Path, "other"), "--store", store, "-c", "travel", "--json");
        using (var json = JsonDocument.Parse(lexicalOnly.Stdout))
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("embedding").ValueKind);

        var stats = await CliProcess.RunAsync("stats", "--store", store, "--json");
        Assert.Contains("\"minilm-int8\"", stats.Stdout);

        // A paraphrase with no word in common with the passage: only the vectors can find it.
        var search = await CliProcess.RunAsync("search", "holiday leftovers deadline", "-k", "1", "--mode", "vector", "-c", "default", "--store", store, "--json");
        Assert.True(search.Code == 0, search.Stderr);
        Assert.Contains("leave.md", search.Stdout);

        var eval = Path.Combine(dir.Path, "q.jsonl");
        File.WriteAllText(eval, "{\"question\": \"Until when do vacation days carry over?\", \"answer\": \"the end of March\", \"source\": \"leave.md\"}\n");
        foreach (var (mode, expected) in new[] { ("lexical", "BM25 top"), ("vector", "vector (minilm-int8) top"), ("auto", "hybrid (BM25 + minilm-int8 vectors, RRF) top") })
        {
            var run = await CliProcess.RunAsync("eval", "--questions", eval, "--store", store, "--mode", mode, "--out", Path.Combine(dir.Path, "eval-" + mode), "--json");
            Assert.True(run.Code == 0, run.Stderr);
            using var json = JsonDocument.Parse(run.Stdout);
            var description = json.RootElement.GetProperty("modes")[0].GetProperty("description").GetString()!;
            Assert.Contains(expected, description);
        }
    }

    [Fact]
    public async Task Embed_prints_vectors_as_json_with_query_prompts_for_asymmetric_models()
    {
        using var dir = new TempDir();
        var passage = await CliProcess.RunAsync("embed", "carry over vacation", "--embed", "arctic-xs");
        var query = await CliProcess.RunAsync("embed", "carry over vacation", "--embed", "arctic-xs", "--query");
        Assert.True(passage.Code == 0 && query.Code == 0, passage.Stderr + query.Stderr);
        using var p = JsonDocument.Parse(passage.Stdout);
        using var q = JsonDocument.Parse(query.Stdout);
        Assert.Equal(384, p.RootElement.GetProperty("dimension").GetInt32());
        Assert.Equal("query", q.RootElement.GetProperty("kind").GetString());
        var pe = p.RootElement.GetProperty("embeddings")[0];
        var qe = q.RootElement.GetProperty("embeddings")[0];
        Assert.True(qe.GetProperty("tokens").GetInt32() > pe.GetProperty("tokens").GetInt32() + 5); // the query prompt
        Assert.NotEqual(pe.GetProperty("vector")[0].GetSingle(), qe.GetProperty("vector")[0].GetSingle());

        var file = dir.File("texts.txt", "first line\n\nsecond line\n");
        var fromFile = await CliProcess.RunAsync("embed", "--file", file);
        Assert.True(fromFile.Code == 0, fromFile.Stderr);
        using (var json = JsonDocument.Parse(fromFile.Stdout))
        {
            Assert.Equal("minilm-int8", json.RootElement.GetProperty("model").GetString());
            Assert.Equal(2, json.RootElement.GetProperty("embeddings").GetArrayLength());
        }

        var nothing = await CliProcess.RunAsync("embed", "--json");
        Assert.NotEqual(0, nothing.Code);
        using (var json = JsonDocument.Parse(nothing.Stdout))
            Assert.Contains("Nothing to embed", json.RootElement.GetProperty("error").GetString());
        var unknown = await CliProcess.RunAsync("embed", "x", "--embed", "no-such-encoder");
        Assert.NotEqual(0, unknown.Code);
        Assert.Contains("built-in encoder", unknown.Stderr.ReplaceLineEndings(" "));
        Assert.DoesNotContain("   at ", unknown.Stderr);
    }
}
