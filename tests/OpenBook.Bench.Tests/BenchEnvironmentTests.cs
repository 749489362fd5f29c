namespace OpenBook.Bench.Tests;

public sealed class BenchEnvironmentTests
{
    [Theory]
    [InlineData("peers", "torch_sgemm.py")]
    [InlineData("train", "torch_lora_step.py")]
    [InlineData("vectors", "ann_peers.py")]
    public void Peer_scripts_are_found_beside_the_bench_assembly_not_the_working_directory(string area, string file)
    {
        string saved = Directory.GetCurrentDirectory();
        try
        {
            Directory.SetCurrentDirectory(Path.GetTempPath()); // nothing to find by walking up from here
            string? path = BenchEnvironment.PeerScript(area, file);
            Assert.NotNull(path);
            Assert.Equal(Path.Combine(AppContext.BaseDirectory, "bench", area, file), path);
            Assert.True(new FileInfo(path!).Length > 0);
        }
        finally { Directory.SetCurrentDirectory(saved); }
        Assert.Null(BenchEnvironment.PeerScript(area, "no_such_peer.py"));
    }

    [Fact]
    public void Load_average_is_three_numbers_or_na()
    {
        string load = BenchEnvironment.LoadAverage();
        if (load == "n/a") return;
        var parts = load.Split(' ');
        Assert.Equal(3, parts.Length);
        Assert.All(parts, p => Assert.True(double.TryParse(p, System.Globalization.CultureInfo.InvariantCulture, out _), p));
    }
}
