using System.Text;
using OpenBook.Models.Hub;

namespace OpenBook.Models.Tests.Hub;

public sealed class HubClientTests : IDisposable
{
    private const string Id = "acme/tiny-llama";
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private readonly string _cache = Path.Combine(Path.GetTempPath(), "ob-hub-" + Guid.NewGuid().ToString("N"));
    private readonly FakeHub _hub = new();
    private readonly byte[] _weights;

    public HubClientTests()
    {
        _weights = new byte[300_000];
        new Random(42).NextBytes(_weights);
        _hub.Repos[Id] = new FakeHub.Repo(Commit, new Dictionary<string, byte[]>
        {
            ["config.json"] = Encoding.UTF8.GetBytes("{\"model_type\":\"llama\",\"hidden_size\":64}"),
            ["tokenizer.json"] = Encoding.UTF8.GetBytes("{\"model\":{}}"),
            ["model.safetensors"] = _weights,
            ["pytorch_model.bin"] = [1, 2, 3],
            ["README.md"] = Encoding.UTF8.GetBytes("# tiny"),
        }, ["model.safetensors", "pytorch_model.bin"]);
    }

    public void Dispose()
    {
        _hub.Dispose();
        if (Directory.Exists(_cache)) Directory.Delete(_cache, recursive: true);
    }

    private HubClient Client(bool offline = false, string? token = null, string? endpoint = null) =>
        new(new HubOptions { Endpoint = endpoint ?? _hub.Endpoint, CacheDir = _cache, Offline = offline, Token = token, MaxAttempts = 3 });

    [Fact]
    public async Task Pull_writes_the_hf_cache_layout_with_blobs_refs_and_snapshot_links()
    {
        using var client = Client();
        var r = await client.PullAsync(Id);
        var repo = Path.Combine(_cache, "models--acme--tiny-llama");
        Assert.Equal(Path.Combine(repo, "snapshots", Commit), r.SnapshotDir);
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(repo, "refs", "main")));
        Assert.Equal(["config.json", "tokenizer.json", "model.safetensors"], r.Downloaded); // default include: no .bin, no README
        Assert.Equal(_weights, File.ReadAllBytes(Path.Combine(r.SnapshotDir, "model.safetensors")));
        var link = new FileInfo(Path.Combine(r.SnapshotDir, "model.safetensors"));
        Assert.Equal(Path.Combine("..", "..", "blobs", FakeHub.Sha256(_weights)), link.LinkTarget);
        Assert.True(File.Exists(Path.Combine(repo, "blobs", FakeHub.GitBlobId(Encoding.UTF8.GetBytes("{\"model\":{}}")))));
        Assert.False(File.Exists(Path.Combine(r.SnapshotDir, "README.md")));

        var listed = Assert.Single(HubCache.List(_cache));
        Assert.Equal(Id, listed.Id);
        Assert.Equal(Commit, listed.Refs["main"]);
        Assert.True(listed.SizeBytes > _weights.Length);
    }

    [Fact]
    public async Task Second_pull_reuses_cached_files_without_downloading()
    {
        using var client = Client();
        await client.PullAsync(Id);
        var downloadsBefore = _hub.Log.Count(l => l.Contains("/resolve/", StringComparison.Ordinal));
        var r = await client.PullAsync(Id);
        Assert.Empty(r.Downloaded);
        Assert.Equal(3, r.Reused.Count);
        Assert.Equal(0, r.BytesDownloaded);
        Assert.Equal(downloadsBefore, _hub.Log.Count(l => l.Contains("/resolve/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Interrupted_download_resumes_with_a_range_request()
    {
        _hub.CutOnce["model.safetensors"] = 100_000;
        using var client = Client();
        var r = await client.PullAsync(Id, include: ["model.safetensors"]);
        Assert.Equal(_weights, File.ReadAllBytes(Path.Combine(r.SnapshotDir, "model.safetensors")));
        Assert.Contains(_hub.Log, l => l.EndsWith("model.safetensors bytes=100000-", StringComparison.Ordinal));
        Assert.Equal(_weights.Length, r.BytesDownloaded);
    }

    [Fact]
    public async Task Partial_file_from_an_earlier_run_is_resumed()
    {
        var blobs = Path.Combine(_cache, "models--acme--tiny-llama", "blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, FakeHub.Sha256(_weights) + ".incomplete"), _weights[..250_000]);
        using var client = Client();
        var r = await client.PullAsync(Id, include: ["model.safetensors"]);
        Assert.Equal(50_000, r.BytesDownloaded);
        Assert.Equal(_weights, File.ReadAllBytes(Path.Combine(r.SnapshotDir, "model.safetensors")));
    }

    [Fact]
    public async Task Corrupted_download_fails_the_sha256_check_and_is_deleted()
    {
        _hub.Corrupt.Add("model.safetensors");
        using var client = Client();
        var ex = await Assert.ThrowsAsync<OpenBookException>(() => client.PullAsync(Id, include: ["model.safetensors"]));
        Assert.Contains("sha256", ex.Message);
        Assert.Contains("LFS metadata", ex.Message);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_cache, "models--acme--tiny-llama", "blobs")));
    }

    [Fact]
    public async Task Corrupted_small_file_fails_the_git_blob_check()
    {
        _hub.Corrupt.Add("config.json");
        using var client = Client();
        var ex = await Assert.ThrowsAsync<OpenBookException>(() => client.PullAsync(Id, include: ["config.json"]));
        Assert.Contains("git blob id", ex.Message);
    }

    [Fact]
    public async Task Token_is_sent_as_bearer_and_missing_token_gives_a_clear_message()
    {
        _hub.RequiredToken = "hf_secret";
        using (var anonymous = Client())
        {
            var ex = await Assert.ThrowsAsync<OpenBookException>(() => anonymous.PullAsync(Id));
            Assert.Contains("HF_TOKEN", ex.Message);
            Assert.Contains("401", ex.Message);
        }
        using var authed = Client(token: "hf_secret");
        var r = await authed.PullAsync(Id, include: ["config.json"]);
        Assert.Equal(["config.json"], r.Downloaded);
    }

    [Fact]
    public async Task Unknown_model_is_a_404_message()
    {
        using var client = Client();
        var ex = await Assert.ThrowsAsync<OpenBookException>(() => client.PullAsync("acme/nope"));
        Assert.Contains("acme/nope@main", ex.Message);
        Assert.Contains("404", ex.Message);
    }

    [Fact]
    public async Task Offline_uses_the_cache_and_explains_what_is_missing_otherwise()
    {
        using (var online = Client()) await online.PullAsync(Id);
        using var offline = Client(offline: true);
        var r = await offline.PullAsync(Id);
        Assert.True(r.FromCacheOnly);
        Assert.Contains("model.safetensors", r.Reused);

        var ex = await Assert.ThrowsAsync<HubOfflineException>(() => offline.PullAsync("acme/other-model"));
        Assert.Contains("acme/other-model@main is not in the local cache", ex.Message);
        Assert.Contains("HF_HUB_OFFLINE", ex.Message);
        Assert.Contains("local model directory", ex.Message);
    }

    [Fact]
    public async Task Unreachable_endpoint_falls_back_to_the_cache_or_fails_clearly()
    {
        using (var online = Client()) await online.PullAsync(Id);
        using var dead = Client(endpoint: "http://127.0.0.1:9"); // discard port: connection refused
        var r = await dead.PullAsync(Id);
        Assert.True(r.FromCacheOnly);
        var ex = await Assert.ThrowsAsync<HubOfflineException>(() => dead.PullAsync("acme/other-model"));
        Assert.Contains("cannot be downloaded", ex.Message);
    }

    [Fact]
    public void Options_come_from_the_hf_environment_variables()
    {
        var env = new Dictionary<string, string>
        {
            ["HF_HOME"] = "/data/hf", ["HF_ENDPOINT"] = "https://mirror.example/", ["HF_TOKEN"] = "hf_x", ["HF_HUB_OFFLINE"] = "1",
        };
        var o = HubOptions.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal(("https://mirror.example", "hf_x", Path.Combine("/data/hf", "hub"), true), (o.Endpoint, o.Token, o.CacheDir, o.Offline));
        env["HF_HUB_CACHE"] = "/fast/cache";
        env.Remove("HF_HUB_OFFLINE");
        o = HubOptions.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal(("/fast/cache", false), (o.CacheDir, o.Offline));
    }

    [Theory]
    [InlineData("noslash")]
    [InlineData("a/b/c")]
    [InlineData("../etc")]
    [InlineData("org/na me")]
    public void Bad_model_ids_are_rejected(string id)
    {
        var ex = Assert.Throws<OpenBookException>(() => HubCache.ValidateRepoId(id));
        Assert.Contains("org/name", ex.Message);
    }
}
