using System.Text.Json;

namespace OpenBook.Tests.Cli;

/// <summary>
/// Every command with <c>--json</c>, succeeding and failing: stdout holds exactly one JSON document (an object; on
/// failure <c>{"error": "…"}</c> and a non-zero exit), stderr has no stack trace.
/// </summary>
public sealed class JsonContractTests : IClassFixture<JsonContractTests.Store>
{
    /// <summary>A small store shared by the cases: two public documents and one restricted to "hr".</summary>
    public sealed class Store : IDisposable
    {
        public TempDir Dir { get; } = new();
        public string Path => System.IO.Path.Combine(Dir.Path, "store");
        public string Docs => System.IO.Path.Combine(Dir.Path, "docs");
        public string Questions { get; }
        public string Dataset { get; }

        public Store()
        {
            Dir.File("docs/leave.md", "# Leave\n\n## Carry-over\n\nUp to 5 unused vacation days carry over until 31 March.\n");
            Dir.File("docs/vpn.txt", "Always connect through the VPN on public networks. The VPN client is called OpenConnect.");
            Dir.File("secret/salaries.md", "# Salaries\n\nThe salary band of a senior engineer is 90,000 to 110,000 EUR.\n");
            Questions = Dir.File("q.jsonl", "{\"question\":\"Until when do vacation days carry over?\",\"answer\":\"31 March\",\"source\":\"leave.md\"}\n" +
                                            "{\"question\":\"Which VPN client is used?\",\"answer\":\"OpenConnect\",\"source\":\"vpn.txt\"}\n");
            Dataset = Dir.File("train.jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello\"}]}\n");
            Run("ingest", Docs, "--store", Path, "--quiet");
            Run("ingest", System.IO.Path.Combine(Dir.Path, "secret"), "--store", Path, "--acl", "hr", "--quiet");
        }

        private static void Run(params string[] args)
        {
            var r = CliProcess.RunAsync(args).GetAwaiter().GetResult();
            if (r.Code != 0) throw new InvalidOperationException($"setup failed: {string.Join(' ', args)}: {r.Stderr}");
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly Store _s;

    public JsonContractTests(Store store) => _s = store;

    /// <summary>(name, arguments with {store}/{docs}/{q}/{data}/{tmp}/{missing} placeholders, success expected).</summary>
    public static TheoryData<string, string, bool> Cases => new()
    {
        { "ingest", "ingest {docs} --store {store}", true },
        { "ingest missing path", "ingest {missing} --store {tmp}/s1", false },
        { "ingest bad glob", "ingest {docs} --store {tmp}/s2 --include [", false },
        { "reembed without model", "reembed -c default --store {store}", false },
        { "search", "search vacation --store {store}", true },
        { "search empty", "search \"\" --store {store}", false },
        { "search missing store", "search vacation --store {missing}", false },
        { "ask", "ask \"Until when do vacation days carry over?\" --store {store}", true },
        { "ask empty", "ask \"\" --store {store}", false },
        { "chat without model", "chat --store {store}", false },
        { "docs list", "docs list --store {store}", true },
        { "docs list missing store", "docs list --store {missing}", false },
        { "docs show", "docs show leave.md --store {store}", true },
        { "docs show restricted", "docs show salaries.md --store {store}", false },
        { "docs remove public without all-access", "docs remove leave.md --store {store}", false },
        { "stats", "stats --store {store}", true },
        { "stats missing store", "stats --store {missing}", false },
        { "eval", "eval --questions {q} --store {store} --out {tmp}/eval", true },
        { "eval missing questions", "eval --questions {missing} --store {store} --out {tmp}/eval2", false },
        { "eval unknown mode", "eval --questions {q} --modes nope --store {store}", false },
        { "advise", "advise --store {store}", true },
        { "advise missing eval", "advise --store {store} --eval {missing}", false },
        { "raft generate", "raft generate --from-questions {q} --store {store} --out {tmp}/raft", true },
        { "raft generate without generator", "raft generate --store {store} --out {tmp}/raft2", false },
        { "raft train without model", "raft train --from-questions {q} --store {store} --out {tmp}/raft3", false },
        { "finetune missing data", "finetune --model {missing}", false },
        { "finetune bad method", "finetune --model {missing} --data {data} --method nope", false },
        { "merge missing model", "merge --model {missing} --adapter {missing} --out {tmp}/merged", false },
        { "models init", "models init --out {tmp}/model --store {store} --vocab 300", true },
        { "models init bad shape", "models init --out {tmp}/model2 --shape huge", false },
        { "models list", "models list", true },
        { "models show missing", "models show {missing}", false },
        { "models pull offline", "models pull acme/nothing-here", false },
        { "embed", "embed \"carry over\" --query", true },
        { "embed nothing", "embed", false },
        { "embed unknown model", "embed hi --embed {missing}", false },
        { "data validate", "data validate {data}", true },
        { "data validate missing", "data validate {missing}", false },
        { "keys add", "keys add contract-key --groups hr --store {store}", true },
        { "keys add empty name", "keys add \"\" --store {store}", false },
        { "keys list", "keys list --store {store}", true },
        { "keys revoke unknown", "keys revoke no-such-key --store {store}", false },
        { "keys list missing store", "keys list --store {missing}", false },
        { "serve missing store", "serve --store {missing} --urls http://127.0.0.1:0", false },
        { "serve bad urls", "serve --store {store} --urls ftp://nowhere", false },
        { "lab world", "lab world --out {tmp}/world --public-people 8 --private-people 8", true },
        { "lab world too small", "lab world --out {tmp}/world2 --public-people 2", false },
        { "lab pretrain missing world", "lab pretrain --world {missing} --out {tmp}/labmodel", false },
        { "lab run missing world", "lab run --world {missing} --model {missing} --out {tmp}/labrun", false },
        { "unknown option", "search vacation --store {store} --bogus", false },
        { "unknown command", "frobnicate", false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Stdout_is_exactly_one_json_document(string name, string command, bool success)
    {
        using var tmp = new TempDir();
        var args = Split(command).Select(a => a
            .Replace("{store}", _s.Path).Replace("{docs}", _s.Docs).Replace("{q}", _s.Questions).Replace("{data}", _s.Dataset)
            .Replace("{tmp}", tmp.Path).Replace("{missing}", System.IO.Path.Combine(tmp.Path, "no-such-thing"))).Append("--json").ToArray();
        var env = new Dictionary<string, string> { ["HF_HUB_OFFLINE"] = "1", ["HF_HOME"] = System.IO.Path.Combine(tmp.Path, "hf") };
        var (code, stdout, stderr) = await CliProcess.RunAsync(env, args);
        AssertOneJsonDocument(name, stdout, out var root);
        Assert.DoesNotContain("   at ", stderr);
        if (success)
        {
            Assert.True(code == 0, $"{name}: exit {code}, stderr: {stderr}");
            Assert.False(root.TryGetProperty("error", out _), $"{name}: {stdout}");
        }
        else
        {
            Assert.True(code != 0, $"{name}: expected a failure, got exit 0: {stdout}");
            var error = root.GetProperty("error").GetString();
            Assert.False(string.IsNullOrWhiteSpace(error));
            Assert.DoesNotContain('\n', error!);
            // The same line on stderr, not wrapped.
            Assert.Contains("error: " + error, stderr.ReplaceLineEndings("\n").Split('\n'));
        }
        if (name == "docs show restricted") Assert.DoesNotContain("salary", stdout, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_index_folder_replaced_by_a_file_still_gives_one_json_document()
    {
        using var tmp = new TempDir();
        var store = System.IO.Path.Combine(tmp.Path, "store");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", _s.Docs, "--store", store, "--quiet")).Code);
        Directory.Delete(System.IO.Path.Combine(store, "indexes"), recursive: true);
        File.WriteAllText(System.IO.Path.Combine(store, "indexes"), "not a folder");
        var (_, stdout, stderr) = await CliProcess.RunAsync("search", "vacation", "--store", store, "--json");
        AssertOneJsonDocument("search over a broken index folder", stdout, out _);
        Assert.DoesNotContain("   at ", stderr);
    }

    private static void AssertOneJsonDocument(string name, string stdout, out JsonElement root)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(stdout);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { AllowMultipleValues = true });
        using var doc = JsonDocument.ParseValue(ref reader);
        root = doc.RootElement.Clone();
        Assert.True(root.ValueKind == JsonValueKind.Object, $"{name}: stdout is not a JSON object: {stdout}");
        Assert.False(reader.Read(), $"{name}: more than one JSON document on stdout: {stdout}");
    }

    /// <summary>Splits on spaces, keeping "quoted strings" (possibly empty) as one argument.</summary>
    internal static IEnumerable<string> Split(string command)
    {
        var parts = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false, any = false;
        foreach (var c in command)
        {
            if (c == '"') { quoted = !quoted; any = true; continue; }
            if (c == ' ' && !quoted)
            {
                if (any || current.Length > 0) parts.Add(current.ToString());
                current.Clear();
                any = false;
                continue;
            }
            current.Append(c);
        }
        if (any || current.Length > 0) parts.Add(current.ToString());
        return parts;
    }
}
