using System.Net;
using System.Text.Json;

namespace OpenBook.Server.Tests;

[Collection("server")]
public sealed class OperationsTests(ServerFixture f)
{
    [Fact]
    public async Task Health_ready_openapi_and_pages_need_no_key()
    {
        using var http = f.Client(null);
        Assert.Equal("ok", JsonDocument.Parse(await http.GetStringAsync("/health")).RootElement.GetProperty("status").GetString());
        var ready = JsonDocument.Parse(await http.GetStringAsync("/ready")).RootElement;
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        Assert.True(ready.GetProperty("chunks").GetInt32() > 0);
        var openapi = JsonDocument.Parse(await http.GetStringAsync("/openapi/v1.json")).RootElement;
        var paths = openapi.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/v1/chat/completions", paths);
        Assert.Contains("/api/documents", paths);
        Assert.Contains("OpenBook", await http.GetStringAsync("/"));
        Assert.Contains("openapi/v1.json", await http.GetStringAsync("/reference"));
        Assert.Contains("readEvents", await http.GetStringAsync("/static/app.js"));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/static/..%2F..%2Fopenbook.db")).StatusCode);
    }

    [Fact]
    public void Binds_to_the_loopback_address_by_default()
    {
        Assert.Equal("http://127.0.0.1:5170", new ServerOptions().Urls);
        Assert.All(f.Server.Urls, u => Assert.StartsWith("http://127.0.0.1:", u));
    }

    [Fact]
    public void Configuration_file_then_environment_then_flags()
    {
        using var dir = new TempStore();
        Directory.CreateDirectory(dir.Path);
        var file = Path.Combine(dir.Path, "serve.json");
        File.WriteAllText(file, """{ "urls": "http://127.0.0.1:6000", "k": 7, "rateLimitPerMinute": 10 }""");
        var o = ServerOptions.Load(file, new Dictionary<string, string?> { ["OPENBOOK_SERVE_RATE_LIMIT"] = "20" });
        Assert.Equal("http://127.0.0.1:6000", o.Urls);
        Assert.Equal(7, o.K);
        Assert.Equal(20, o.RateLimitPerMinute);
        File.WriteAllText(file, """{ "urls": "http://127.0.0.1:6000", "kk": 7 }""");
        var bad = Assert.Throws<OpenBookException>(() => ServerOptions.Load(file, new Dictionary<string, string?>()));
        Assert.Contains("serve.json", bad.Message);
        Assert.Throws<OpenBookException>(() => (new ServerOptions { Urls = "ftp://x" }).Validate());
    }
}
