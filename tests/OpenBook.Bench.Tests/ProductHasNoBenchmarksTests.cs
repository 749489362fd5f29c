using System.Reflection;

namespace OpenBook.Bench.Tests;

/// <summary>The shipped assemblies carry no benchmark code: it all lives in openbook-bench.</summary>
public sealed class ProductHasNoBenchmarksTests
{
    [Theory]
    [InlineData("OpenBook")]
    [InlineData("OpenBook.Models")]
    [InlineData("OpenBook.Onnx")]
    [InlineData("OpenBook.Cli")]
    public void No_benchmark_types_in_the_product(string assembly)
    {
        var names = Assembly.Load(assembly).GetTypes().Select(t => t.FullName!).ToArray();
        Assert.NotEmpty(names);
        Assert.DoesNotContain(names, n => n.Contains("Bench", StringComparison.Ordinal) || n.Contains("SyntheticVectors", StringComparison.Ordinal)
                                          || n.Contains("SyntheticCorpus", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_openbook_cli_has_no_bench_command()
    {
        var (helpCode, help, _) = await Cli("--help");
        Assert.Equal(0, helpCode);
        Assert.Contains("  ingest", help);
        Assert.DoesNotContain("  bench", help);
        var (code, _, stderr) = await Cli("bench", "vectors", "--quick");
        Assert.NotEqual(0, code);
        Assert.Contains("bench", stderr);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> Cli(params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "OpenBook.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout, await stderr);
    }
}
