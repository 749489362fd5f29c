using System.Text.Json;
using OpenBook.Bench.Commands;

namespace OpenBook.Bench.Tests;

public sealed class Bm25PeerBenchTests
{
    [Fact]
    public void Overlap_is_the_shared_fraction_of_the_shorter_list()
    {
        long[][] a = [[1, 2, 3, 4], [5, 6], []];
        long[][] b = [[4, 3, 9, 8], [6], []];
        // query 0: 2 of 4 shared; query 1: 1 of min(2,1) = 1; query 2: both empty → 1
        Assert.Equal((0.5 + 1 + 1) / 3, Bm25PeerBenchCommands.Overlap(a, b), 10);
    }

    [Fact]
    public async Task Bm25_without_peers_reports_openbook_figures_as_json()
    {
        var (code, stdout, stderr) = await BenchProcess.RunAsync("bm25", "--chunks", "300", "--queries", "20", "--no-peers", "--json");
        Assert.True(code == 0, stderr);
        var root = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(300, root.GetProperty("chunks").GetInt32());
        var engines = root.GetProperty("engines").EnumerateArray().ToArray();
        var ours = Assert.Single(engines);
        Assert.Equal("openbook", ours.GetProperty("engine").GetString());
        foreach (var f in new[] { "buildSeconds", "p50Ms", "p95Ms", "cpuMsPerQuery", "indexBytes", "terms", "loadAverage" })
            Assert.True(ours.TryGetProperty(f, out _), f);
        Assert.True(ours.GetProperty("p95Ms").GetDouble() >= ours.GetProperty("p50Ms").GetDouble());
    }
}
