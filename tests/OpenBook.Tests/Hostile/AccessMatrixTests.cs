using System.Text.Json;
using OpenBook.Models.Tests.Chat;
using OpenBook.Tests.Cli;

namespace OpenBook.Tests.Hostile;

/// <summary>
/// The access-control matrix: every command that reads documents or chunks, run against a store holding one document
/// restricted to "hr", as a caller without groups, a caller in another group, a caller in "hr" and with --all-access.
/// The restricted document carries a marker word; without the group it must not appear anywhere — stdout, stderr, any
/// file the command writes, or any request it sends to a language model (an echoing OpenAI-compatible endpoint on
/// 127.0.0.1). With the group it must appear, which shows each case can see a leak. Destructive commands (docs remove,
/// ingest --prune) and the ACL rules of re-ingest have their own cases below.
/// </summary>
/// <remarks>
/// Commands outside the matrix read no documents of the store: <c>models pull|list|show</c>, <c>finetune</c> and
/// <c>data validate</c> (a dataset file), <c>merge</c>, <c>export gguf</c>, <c>embed</c> (its arguments), <c>keys</c>,
/// <c>demo</c> (its own temporary store), <c>reembed</c> (vectors stay in the store). <c>serve</c> has its own
/// per-endpoint access tests in OpenBook.Server.Tests.
/// </remarks>
public sealed class AccessMatrixTests : IClassFixture<AccessMatrixTests.World>
{
    private const string Marker = "ZEPHYRQUARTZ";

    /// <summary>A store with two public documents and one restricted to "hr", a question set, a tiny local model and an echoing model endpoint.</summary>
    public sealed class World : IDisposable
    {
        public TempDir Dir { get; } = new();
        internal FakeOpenAiServer Llm { get; } = new();
        public string Store => Path.Combine(Dir.Path, "store");
        public string Questions { get; }
        public string Model => Path.Combine(Dir.Path, "tiny-model");
        public string LlmSpec => $"openai:{Llm.BaseUrl}#echo";

        public World()
        {
            Dir.File("docs/leave.md", "# Leave\n\n## Carry-over\n\nUp to 5 unused vacation days carry over until 31 March.\n");
            Dir.File("docs/vpn.txt", "Always connect through the VPN on public networks. The VPN client is called OpenConnect.");
            // The marker in the title, in the answer's sentence and often enough for a tokenizer to make it a token.
            Dir.File("secret/salaries.md", $"# Salaries {Marker}\n\nThe salary band of a senior engineer is A7 (code {Marker}).\n\n" +
                                           string.Join(" ", Enumerable.Repeat(Marker, 80)) + "\n");
            Questions = Dir.File("q.jsonl",
                "{\"question\":\"What is the salary band of a senior engineer?\",\"answer\":\"A7\",\"source\":\"salaries.md\",\"quote\":\"The salary band of a senior engineer is A7\"}\n" +
                "{\"question\":\"Until when do vacation days carry over?\",\"answer\":\"31 March\",\"source\":\"leave.md\",\"quote\":\"carry over until 31 March\"}\n" +
                "{\"question\":\"Which VPN client is used?\",\"answer\":\"OpenConnect\",\"source\":\"vpn.txt\",\"quote\":\"The VPN client is called OpenConnect\"}\n");
            Run("ingest", Path.Combine(Dir.Path, "docs"), "--store", Store, "--quiet");
            Run("ingest", Path.Combine(Dir.Path, "secret"), "--store", Store, "--acl", "hr", "--quiet");
            // A random-weight model whose tokenizer is trained on the public documents only (the default scope).
            Run("models", "init", "--out", Model, "--shape", "tiny", "--vocab", "300", "--store", Store, "--quiet");
        }

        private static void Run(params string[] args)
        {
            var r = CliProcess.RunAsync(args).GetAwaiter().GetResult();
            if (r.Code != 0) throw new InvalidOperationException($"setup failed: {string.Join(' ', args)}: {r.Stderr}");
        }

        public void Dispose()
        {
            Llm.Dispose();
            Dir.Dispose();
        }
    }

    private readonly World _w;

    public AccessMatrixTests(World world) => _w = world;

    /// <summary>The callers of the matrix and whether each may read the "hr" document.</summary>
    public static readonly (string Name, string[] Flags, bool MayRead)[] Callers =
    [
        ("no groups", [], false),
        ("group it", ["--as-groups", "it"], false),
        ("group hr", ["--as-groups", "hr"], true),
        ("all access", ["--all-access"], true),
    ];

    /// <summary>(case, arguments with {store} {q} {out} {llm} {model} placeholders, text on stdin or empty).</summary>
    public static TheoryData<string, string, string> Reads => new()
    {
        { "search lexical", "search \"salary band senior engineer\" --mode lexical --store {store} --json", "" },
        { "search auto", "search \"salary band senior engineer\" --store {store}", "" },
        { "ask extractive", "ask \"What is the salary band of a senior engineer?\" --store {store} --json", "" },
        { "ask with a model", "ask \"What is the salary band of a senior engineer?\" --model {llm} --store {store} --json", "" },
        { "chat with a model", "chat --model {llm} --store {store}", "What is the salary band of a senior engineer?\n" },
        { "docs list", "docs list --store {store} --json", "" },
        { "docs show", "docs show salaries.md --store {store} --json", "" },
        { "eval extractive", "eval --questions {q} --modes extractive --out {out} --store {store} --json", "" },
        { "eval rag", "eval --questions {q} --modes rag --model {llm} --max-tokens 8 --out {out} --store {store} --json", "" },
        { "eval distractor sweep", "eval --questions {q} --modes extractive --distractor-sweep 0,2 --out {out} --store {store} --json", "" },
        { "raft generate from questions", "raft generate --from-questions {q} --distractors 2 --out {out} --store {store} --json", "" },
        { "raft generate with a generator", "raft generate --model {llm} --questions 1 --distractors 1 --out {out} --store {store} --json", "" },
        { "raft train", "raft train --from-questions {q} --distractors 1 --model {model} --max-steps 1 --max-length 256 --out {out} --store {store} --json", "" },
        { "models init (tokenizer from the store)", "models init --out {out} --shape tiny --vocab 300 --store {store} --json", "" },
        { "pretrain --from-store", "pretrain --from-store --shape tiny --vocab 300 --seq-len 32 --batch-tokens 64 --micro-batch-tokens 64 --max-steps 1 --warmup 1 --peak-gflops 1 --out {out} --store {store} --json", "" },
    };

    [Theory]
    [MemberData(nameof(Reads))]
    public async Task A_restricted_document_reaches_only_callers_with_its_group(string name, string args, string input)
    {
        foreach (var caller in Callers)
        {
            using var outDir = new TempDir();
            var output = Path.Combine(outDir.Path, "out");
            var argv = JsonContractTests.Split(args.Replace("{store}", _w.Store).Replace("{q}", _w.Questions).Replace("{out}", output)
                .Replace("{llm}", _w.LlmSpec).Replace("{model}", _w.Model)).Concat(caller.Flags).ToArray();
            while (_w.Llm.Requests.TryDequeue(out _)) { }
            var (code, stdout, stderr) = await CliProcess.RunWithInputAsync(null, input.Length == 0 ? null : input, argv);
            Assert.DoesNotContain("   at ", stderr);
            var seen = new List<string> { stdout, stderr };
            seen.AddRange(_w.Llm.Requests.Select(r => r.GetRawText()));
            if (Directory.Exists(output))
                seen.AddRange(Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories)
                    .Where(f => new FileInfo(f).Length < 20_000_000 && !f.EndsWith(".safetensors", StringComparison.Ordinal)).Select(File.ReadAllText));
            var leaked = seen.Any(s => s.Contains(Marker, StringComparison.OrdinalIgnoreCase));
            if (caller.MayRead)
                Assert.True(leaked, $"{name} as {caller.Name}: the restricted document never showed (exit {code}) — the case cannot see a leak. stderr: {stderr}");
            else
                Assert.False(leaked, $"{name} as {caller.Name}: the restricted document's text reached the output (exit {code}).");
        }
    }

    [Theory]
    [InlineData("stats")]
    [InlineData("advise")]
    public async Task Counts_include_a_restricted_document_only_for_its_group(string command)
    {
        async Task<int> Documents(params string[] flags)
        {
            var (code, stdout, stderr) = await CliProcess.RunAsync(["--store", _w.Store, "--json", .. command.Split(' '), .. flags]);
            Assert.True(code == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            return command == "stats"
                ? json.RootElement.GetProperty("documents").GetInt32()
                : json.RootElement.GetProperty("inputs").GetProperty("corpus").GetProperty("documents").GetInt32();
        }
        Assert.Equal(2, await Documents());
        Assert.Equal(2, await Documents("--as-groups", "it"));
        Assert.Equal(3, await Documents("--as-groups", "hr"));
        Assert.Equal(3, await Documents("--all-access"));
    }

    /// <summary>A fresh copy of the world's store for the destructive cases.</summary>
    private async Task<(TempDir Dir, string Store)> CopyStore()
    {
        var dir = new TempDir();
        var store = Path.Combine(dir.Path, "store");
        Directory.CreateDirectory(store);
        foreach (var f in Directory.EnumerateFiles(_w.Store, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(store, Path.GetRelativePath(_w.Store, f));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(f, to);
        }
        await Task.CompletedTask;
        return (dir, store);
    }

    private static async Task<List<string>> Sources(string store)
    {
        var (code, stdout, stderr) = await CliProcess.RunAsync("docs", "list", "--store", store, "--all-access", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        return json.RootElement.GetProperty("documents").EnumerateArray().Select(d => d.GetProperty("source").GetString()!).Select(Path.GetFileName).ToList()!;
    }

    [Fact]
    public async Task Docs_remove_needs_the_documents_group_or_all_access()
    {
        var (dir, store) = await CopyStore();
        using var _ = dir;
        foreach (var flags in new[] { Array.Empty<string>(), ["--as-groups", "it"] })
        {
            var (code, stdout, stderr) = await CliProcess.RunAsync(["docs", "remove", "salaries.md", "--store", store, .. flags]);
            Assert.NotEqual(0, code);
            Assert.DoesNotContain(Marker, stdout + stderr);
            Assert.Single(stderr.Trim().Split('\n'));
        }
        // A public document belongs to no group: only --all-access removes it.
        Assert.NotEqual(0, (await CliProcess.RunAsync("docs", "remove", "leave.md", "--store", store, "--as-groups", "hr")).Code);
        Assert.Contains("salaries.md", await Sources(store));
        Assert.Contains("leave.md", await Sources(store));
        Assert.Equal(0, (await CliProcess.RunAsync("docs", "remove", "salaries.md", "--store", store, "--as-groups", "hr")).Code);
        Assert.Equal(0, (await CliProcess.RunAsync("docs", "remove", "leave.md", "--store", store, "--all-access")).Code);
        Assert.Equal(["vpn.txt"], await Sources(store));
    }

    [Fact]
    public async Task Prune_removes_only_documents_the_caller_may_modify()
    {
        using var dir = new TempDir();
        var store = Path.Combine(dir.Path, "store");
        dir.File("docs/a.md", "# A\n\nPublic text about the canteen.\n");
        var gonePublic = dir.File("docs/b.md", "# B\n\nPublic text about parking.\n");
        var goneSecret = dir.File("secret/s.md", "# S\n\nSecret text about bonuses.\n");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--quiet")).Code);
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "secret"), "--store", store, "--acl", "hr", "--quiet")).Code);
        File.Delete(gonePublic);
        File.Delete(goneSecret);

        async Task<JsonElement> Prune(params string[] flags)
        {
            var (code, stdout, stderr) = await CliProcess.RunAsync(["ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--prune", "--json", .. flags]);
            Assert.True(code == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            return json.RootElement.Clone();
        }
        var none = await Prune();
        Assert.Equal(0, none.GetProperty("removed").GetInt32());
        Assert.Equal(2, none.GetProperty("pruneDenied").GetInt32());
        var hr = await Prune("--as-groups", "hr");
        Assert.Equal(1, hr.GetProperty("removed").GetInt32()); // the hr document; the public one needs --all-access
        Assert.Equal(1, hr.GetProperty("pruneDenied").GetInt32());
        Assert.Equal(["a.md", "b.md"], (await Sources(store)).Order());
        var all = await Prune("--all-access");
        Assert.Equal(1, all.GetProperty("removed").GetInt32());
        Assert.Equal(["a.md"], await Sources(store));
    }

    [Fact]
    public async Task Re_ingest_keeps_the_acl_unless_told_and_an_empty_acl_is_an_error()
    {
        var (dir, store) = await CopyStore();
        using var _ = dir;
        var secret = Path.Combine(_w.Dir.Path, "secret");
        async Task<bool> PublicSees()
        {
            var (code, stdout, stderr) = await CliProcess.RunAsync("search", "salary band", "--mode", "lexical", "--store", store, "--json");
            Assert.True(code == 0, stderr);
            return stdout.Contains(Marker, StringComparison.Ordinal);
        }
        async Task<JsonElement> Ingest(params string[] flags)
        {
            var (code, stdout, stderr) = await CliProcess.RunAsync(["ingest", secret, "--store", store, "--json", .. flags]);
            Assert.True(code == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            return json.RootElement.Clone();
        }

        var again = await Ingest(); // no --acl: the document keeps "hr"
        Assert.Equal(1, again.GetProperty("unchanged").GetInt32());
        Assert.Equal(0, again.GetProperty("aclChanged").GetInt32());
        Assert.False(await PublicSees());

        foreach (var empty in new[] { "", ",", " , " })
        {
            var (code, stdout, stderr) = await CliProcess.RunAsync("ingest", secret, "--store", store, "--acl", empty, "--json");
            Assert.NotEqual(0, code);
            using var json = JsonDocument.Parse(stdout);
            Assert.Contains("--acl-clear", json.RootElement.GetProperty("error").GetString());
            Assert.DoesNotContain("   at ", stderr);
        }
        Assert.False(await PublicSees());
        Assert.NotEqual(0, (await CliProcess.RunAsync("ingest", secret, "--store", store, "--acl", "hr", "--acl-clear")).Code);

        var widened = await Ingest("--acl", "hr,board");
        Assert.Equal(1, widened.GetProperty("aclChanged").GetInt32());
        var (textCode, text, _) = await CliProcess.RunAsync("ingest", secret, "--store", store, "--acl", "hr");
        Assert.Equal(0, textCode);
        Assert.Contains("acl changed: 1 document", text);
        Assert.False(await PublicSees());

        // A new file in a collection of restricted documents, ingested without --acl, is public: the summary says so.
        File.WriteAllText(Path.Combine(secret, "new.md"), "# New\n\nA new salary note.\n");
        try
        {
            var (newCode, newText, _) = await CliProcess.RunAsync("ingest", secret, "--store", store);
            Assert.Equal(0, newCode);
            Assert.Contains("new file is visible to everyone", newText.ReplaceLineEndings(" ").Replace("  ", " "));
        }
        finally { File.Delete(Path.Combine(secret, "new.md")); }

        var cleared = await Ingest("--acl-clear");
        Assert.Equal(1, cleared.GetProperty("aclChanged").GetInt32());
        Assert.True(await PublicSees());
    }
}
