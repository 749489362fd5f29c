using System.Text.Json;

namespace OpenBook.Bench.Tests;

/// <summary>
/// <c>serve-load</c> in a very short configuration: both modes run against a real <c>openbook serve</c> child with an
/// upload job at the same time; the report has its shape, no errors, and the work it claims (not timing).
/// </summary>
public sealed class ServeLoadBenchTests
{
    [Fact]
    public async Task Serve_load_reports_both_modes_with_ingestion_and_no_errors()
    {
        var (code, stdout, stderr) = await BenchProcess.RunAsync(TimeSpan.FromMinutes(8),
            "serve-load", "--conversations", "2", "--seconds", "2", "--max-tokens", "4", "--upload-files", "1", "--embed", "none", "--json");
        Assert.True(code == 0, stderr + stdout);
        var root = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(2, root.GetProperty("conversations").GetInt32());
        Assert.Equal("none", root.GetProperty("embed").GetString());
        var modes = root.GetProperty("modes").EnumerateArray().ToArray();
        Assert.Equal(["extractive", "tiny"], modes.Select(m => m.GetProperty("mode").GetString()!));
        Assert.Equal(["openbook-extractive", "openbook-rag"], modes.Select(m => m.GetProperty("model").GetString()!));
        foreach (var m in modes)
        {
            var what = m.GetProperty("mode").GetString();
            Assert.True(m.GetProperty("errors").GetInt32() == 0, $"{what}: {m.GetProperty("errorSamples")}");
            var requests = m.GetProperty("requests").GetInt32();
            Assert.True(requests >= 1, what);
            // Conversation 0 streams, conversation 1 does not: both kinds were measured.
            var streamed = m.GetProperty("streaming").GetProperty("requests").GetInt32();
            var plain = m.GetProperty("nonStreaming").GetProperty("requests").GetInt32();
            Assert.True(streamed >= 1 && plain >= 1, $"{what}: {streamed} streamed, {plain} plain");
            Assert.Equal(requests, streamed + plain);
            var latency = m.GetProperty("latencyMs");
            Assert.Equal(requests, latency.GetProperty("count").GetInt32());
            Assert.True(latency.GetProperty("p95").GetDouble() >= latency.GetProperty("p50").GetDouble());
            var ttft = m.GetProperty("streaming").GetProperty("firstTokenMs");
            Assert.Equal(streamed, ttft.GetProperty("count").GetInt32());
            Assert.True(ttft.GetProperty("p50").GetDouble() <= m.GetProperty("streaming").GetProperty("latencyMs").GetProperty("max").GetDouble());
            Assert.True(m.GetProperty("requestsPerSecond").GetDouble() > 0, what);
            // The upload started during the load was ingested (the bench waits for the job it started).
            var ingest = m.GetProperty("ingest");
            Assert.True(ingest.GetProperty("jobsDone").GetInt32() >= 1, $"{what}: {ingest}");
            Assert.Equal(0, ingest.GetProperty("jobsFailed").GetInt32());
            Assert.Equal(ingest.GetProperty("jobsDone").GetInt32(), ingest.GetProperty("documentsAdded").GetInt32());
            var server = m.GetProperty("server");
            Assert.True(server.GetProperty("peakRssMB").GetDouble() > 10, what);
            Assert.True(server.GetProperty("cpuSeconds").GetDouble() > 0, what);
            Assert.Equal(0, server.GetProperty("exitCode").GetInt32());
            Assert.Contains("→", m.GetProperty("loadAverage").GetString());
        }
        // Extractive answers cite the handbook; the first follow-up of each script is rewritten by the rule.
        var extractive = modes[0];
        Assert.True(extractive.GetProperty("answersWithCitations").GetInt32() >= 1);
        Assert.Equal(extractive.GetProperty("followUps").GetInt32(), extractive.GetProperty("followUpsRewritten").GetInt32());
    }

    [Fact]
    public async Task Serve_load_rejects_an_unknown_mode_in_one_line()
    {
        var (code, _, stderr) = await BenchProcess.RunAsync("serve-load", "--mode", "gpt", "--seconds", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("--mode: 'gpt' is not extractive, tiny or both.", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}
