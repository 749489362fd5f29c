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
}
