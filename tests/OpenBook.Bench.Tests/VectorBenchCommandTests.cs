using System.Text.Json;

namespace OpenBook.Bench.Tests;

/// <summary>Runs the built bench as a child process (no console redirection inside the test host).</summary>
public class VectorBenchCommandTests
{
    private static (int Code, string Stdout) RunCli(params string[] args)
    {
        var (code, stdout, _) = BenchProcess.RunAsync(args).GetAwaiter().GetResult();
        return (code, stdout);
    }

    [Fact]
    public void Bench_vectors_json_has_the_documented_shape()
    {
        var (code, stdout) = RunCli("vectors", "--quick", "--n", "400", "--queries", "20", "--ef", "10,40", "--no-peers", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("synthetic-clustered-384-cosine", root.GetProperty("dataset").GetString());
        Assert.Equal(400, root.GetProperty("n").GetInt32());
        Assert.Equal(384, root.GetProperty("dim").GetInt32());
        var all = root.GetProperty("rows").EnumerateArray().ToArray();
        // one sweep per storage: f32 as built, bf16 and int8 reopened from their files
        Assert.Equal(new[] { "openbook", "openbook-bf16", "openbook-int8" }, all.Select(r => r.GetProperty("engine").GetString()).Distinct());
        foreach (var engine in new[] { "openbook-bf16", "openbook-int8" })
        {
            var q = all.Where(r => r.GetProperty("engine").GetString() == engine).ToArray();
            Assert.Equal(new[] { 10, 40 }, q.Select(r => r.GetProperty("efSearch").GetInt32()));
            Assert.True(q[1].GetProperty("recall10").GetDouble() >= 0.9, $"{engine} recall at ef 40");
            Assert.True(q[1].GetProperty("mappedMB").GetDouble() >= 0);
        }
        Assert.Equal(3, root.GetProperty("storage").GetArrayLength());
        Assert.True(root.GetProperty("iso").GetArrayLength() >= 1); // no native peer here: ratios are 0, rows still listed
        var rows = all.Where(r => r.GetProperty("engine").GetString() == "openbook").ToArray();
        Assert.Equal(new[] { 10, 40 }, rows.Select(r => r.GetProperty("efSearch").GetInt32()));
        foreach (var r in rows)
        {
            Assert.Equal("openbook", r.GetProperty("engine").GetString());
            Assert.Equal(16, r.GetProperty("M").GetInt32());
            Assert.Equal(200, r.GetProperty("efConstruction").GetInt32());
            Assert.InRange(r.GetProperty("recall10").GetDouble(), 0.5, 1.0);
            foreach (var f in new[] { "qps1", "qpsAll", "buildSeconds", "memoryMB", "qps1Cpu", "buildCpuSeconds" })
                Assert.True(r.TryGetProperty(f, out _), f);
        }
        Assert.Equal(40, rows[1].GetProperty("efSearch").GetInt32());
        // 400 points, ef 40: near exact (the multi-threaded build varies the graph, so not exactly 1).
        Assert.True(rows[1].GetProperty("recall10").GetDouble() >= 0.95, $"recall at ef 40: {rows[1].GetProperty("recall10").GetDouble()}");
        Assert.Equal(18, root.GetProperty("filtered").GetArrayLength());
        Assert.True(root.GetProperty("persistence").GetProperty("fileMB").GetDouble() > 0);
    }

    [Fact]
    public void Bad_options_fail_with_a_json_error()
    {
        var (code, stdout) = RunCli("vectors", "--quick", "--ef", "10,x", "--no-peers", "--json");
        Assert.NotEqual(0, code);
        Assert.Contains("--ef", JsonDocument.Parse(stdout).RootElement.GetProperty("error").GetString());
    }
}
