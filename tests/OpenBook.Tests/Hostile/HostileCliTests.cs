using OpenBook.Tests.Cli;

namespace OpenBook.Tests.Hostile;

/// <summary>Hostile input through the real CLI: one clear line, no stack trace.</summary>
public sealed class HostileCliTests
{
    [Fact]
    public async Task Ingest_with_an_invalid_include_glob_is_one_clear_error()
    {
        using var dir = new TempDir();
        dir.File("docs/a.md", "# A\n\nSome text.");
        var r = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", Path.Combine(dir.Path, "store"), "--include", "[");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("glob '['", r.Stderr + r.Stdout);
        Assert.DoesNotContain("   at ", r.Stderr + r.Stdout);
        Assert.DoesNotContain("Exception", r.Stderr + r.Stdout);
    }

    [Fact]
    public async Task Ingest_follow_symlinks_flag_reads_a_link_outside_the_folder()
    {
        using var dir = new TempDir();
        dir.File("docs/a.md", "# A\n\nParking is free for bicycles.");
        var secret = dir.File("elsewhere/b.txt", "The canteen opens at eight.");
        File.CreateSymbolicLink(Path.Combine(dir.Path, "docs", "b.txt"), secret);
        var store = Path.Combine(dir.Path, "store");
        var plain = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store);
        Assert.Equal(0, plain.Code);
        Assert.Contains("--follow-symlinks", plain.Stdout);
        var followed = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--follow-symlinks", "--json");
        Assert.Equal(0, followed.Code);
        Assert.Contains("\"added\": 1", followed.Stdout.Replace("\"added\":1", "\"added\": 1"));
    }

    [Theory]
    [InlineData("search vacation")]
    [InlineData("ask \"how many vacation days\"")]
    [InlineData("docs list")]
    [InlineData("docs show leave.md")]
    [InlineData("stats")]
    [InlineData("advise")]
    [InlineData("keys list")]
    [InlineData("raft generate --from-questions q.jsonl --out raft")]
    [InlineData("eval --questions q.jsonl --out eval")]
    public async Task Read_only_commands_on_a_missing_store_say_so_and_create_nothing(string command)
    {
        using var dir = new TempDir();
        dir.File("q.jsonl", "{\"question\":\"How many vacation days?\",\"answer\":\"30\"}\n");
        var store = Path.Combine(dir.Path, "stoer"); // a typo of "store"
        var args = OpenBook.Tests.Cli.JsonContractTests.Split(command).Concat(["--store", store]).ToArray();
        var r = await CliProcess.RunInAsync(dir.Path, args);
        Assert.NotEqual(0, r.Code);
        Assert.Contains($"no OpenBook store at {store}", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists(store), $"{command} created {store}");
    }

    [Fact]
    public async Task Escape_sequences_in_a_document_never_reach_the_terminal()
    {
        using var dir = new TempDir();
        const string esc = "\u001b";
        dir.File("docs/evil.md", $"# Vacation {esc}]0;owned{esc}\\\n\nVacation days: 30 {esc}[2J{esc}[31mred{esc}[0m and a bell \u0007 and a hyperlink " +
                                 $"{esc}]8;;https://evil.example\u0007click{esc}]8;;\u0007 done.\n");
        var store = Path.Combine(dir.Path, "store");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--quiet")).Code);
        foreach (var args in new[] { new[] { "search", "vacation days" }, ["ask", "How many vacation days?"], ["docs", "show", "evil.md"], ["docs", "list"] })
        {
            var r = await CliProcess.RunAsync([.. args, "--store", store]);
            Assert.True(r.Code == 0, r.Stderr);
            Assert.DoesNotContain('\u001b', r.Stdout + r.Stderr);
            Assert.DoesNotContain('\u0007', r.Stdout + r.Stderr);
        }
    }

    [Fact]
    public async Task Input_limits_are_flags_and_a_bad_value_is_one_line_before_anything_is_created()
    {
        using var dir = new TempDir();
        dir.File("docs/a.md", "# A\n\nParking is free for bicycles.");
        dir.File("docs/big.txt", string.Join("\n", Enumerable.Repeat("A line of ordinary text about the canteen menu.", 30_000))); // ~1.4 MB
        var store = Path.Combine(dir.Path, "store");
        var small = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--max-file-mb", "1", "--no-embed");
        Assert.Equal(0, small.Code);
        Assert.Contains("big.txt", small.Stdout);
        Assert.Contains("1 added", small.Stdout);
        var (_, _, _) = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--max-file-mb", "2", "--no-embed", "--quiet");
        var stats = await CliProcess.RunAsync("stats", "--store", store, "--json");
        Assert.Contains("\"documents\":2", stats.Stdout);

        foreach (var (flag, value) in new[] { ("--max-file-mb", "0"), ("--max-archive-mb", "-1"), ("--max-archive-entries", "0"), ("--max-nesting", "0") })
        {
            var other = Path.Combine(dir.Path, "s" + flag);
            var r = await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", other, flag, value, "--no-embed");
            Assert.NotEqual(0, r.Code);
            Assert.Contains(flag, r.Stderr);
            Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.False(Directory.Exists(other));
        }
    }
}
