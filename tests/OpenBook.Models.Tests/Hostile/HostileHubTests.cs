using System.Text;
using System.Text.Json;
using OpenBook.Models.Hub;
using OpenBook.Models.Tests.Hub;

namespace OpenBook.Models.Tests.Hostile;

/// <summary>
/// A fake Hub on 127.0.0.1 serving malicious listings: nothing may be created, replaced or deleted outside the
/// cache, and every refusal is one <see cref="OpenBookException"/> naming what is wrong.
/// </summary>
public sealed class HostileHubTests : IDisposable
{
    private const string Id = "acme/evil";
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ob-hostile-hub-" + Guid.NewGuid().ToString("N"));
    private readonly string _cache;
    private readonly string _sentinel;
    private readonly FakeHub _hub = new();
    private static readonly byte[] Content = Encoding.UTF8.GetBytes("{\"model_type\":\"llama\"}");

    public HostileHubTests()
    {
        _cache = Path.Combine(_root, "cache");
        Directory.CreateDirectory(_root);
        _sentinel = Path.Combine(_root, "x");
        File.WriteAllText(_sentinel, "precious");
    }

    public void Dispose()
    {
        _hub.Dispose();
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private HubClient Client() => new(new HubOptions { Endpoint = _hub.Endpoint, CacheDir = _cache, MaxAttempts = 1 });

    private static object Sibling(string name, byte[] content, string? blobId = null, object? size = null) =>
        new { rfilename = name, size = size ?? content.Length, blobId = blobId ?? FakeHub.GitBlobId(content) };

    private void Serve(string commit, params object[] siblings)
    {
        _hub.RawListings[Id] = JsonSerializer.Serialize(new { id = Id, sha = commit, siblings });
        foreach (var s in siblings)
        {
            var name = (string)s.GetType().GetProperty("rfilename")!.GetValue(s)!;
            _hub.RawFiles[name.TrimStart('/')] = Content;
        }
    }

    /// <summary>Pulls, expects a refusal, and checks that nothing outside the cache changed.</summary>
    private async Task<string> Refused(string expected)
    {
        using var client = Client();
        var ex = await Assert.ThrowsAnyAsync<OpenBookException>(() => client.PullAsync(Id, include: ["*"]));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Equal("precious", File.ReadAllText(_sentinel));
        Assert.Null(new FileInfo(_sentinel).LinkTarget);
        var outside = Directory.EnumerateFileSystemEntries(_root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.True(outside.All(n => n is "x" or "cache"), "created outside the cache: " + string.Join(", ", outside));
        return ex.Message;
    }

    [Theory]
    [InlineData("../../../../x", "\"..\" segment")]
    [InlineData("../../x", "\"..\" segment")]
    [InlineData("a/../../../../../x", "\"..\" segment")]
    [InlineData("a\\..\\..\\x", "backslash")]
    [InlineData("a//b.json", "empty path segment")]
    [InlineData("./config.json", "\".\" segment")]
    [InlineData("", "empty")]
    [InlineData("config.json\n", "control character")]
    public async Task Hostile_file_names_are_refused(string name, string expected)
    {
        Serve(Commit, Sibling(name, Content));
        await Refused(expected);
        Assert.False(Directory.Exists(Path.Combine(_cache, "models--acme--evil", "snapshots")));
    }

    [Fact]
    public async Task Absolute_file_name_is_refused()
    {
        Serve(Commit, Sibling(Path.Combine(_root, "abs.json"), Content));
        await Refused("absolute path");
        Assert.False(File.Exists(Path.Combine(_root, "abs.json")));
    }

    [Theory]
    [InlineData("../../../x")]
    [InlineData("../../../made-by-hub")]
    [InlineData("0123456789ABCDEF0123456789ABCDEF01234567")] // uppercase
    [InlineData("0123456789abcdef")] // short
    [InlineData("")]
    public async Task Hostile_commit_ids_are_refused(string commit)
    {
        Serve(commit, Sibling("config.json", Content));
        await Refused("40 lowercase hex digits");
    }

    [Theory]
    [InlineData("../../../../x")]
    [InlineData("0123456789abcdef0123456789abcdef0123456")] // 39 characters: verification used to be skipped
    [InlineData("0123456789ABCDEF0123456789ABCDEF01234567")]
    public async Task Hostile_blob_ids_are_refused(string blobId)
    {
        Serve(Commit, Sibling("config.json", Content, blobId));
        await Refused("blob id");
        Assert.False(Directory.Exists(Path.Combine(_cache, "models--acme--evil", "blobs")));
    }

    [Theory]
    [InlineData("../../../../x")]
    [InlineData("ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789")]
    [InlineData("abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678")]
    public async Task Hostile_lfs_sha256_is_refused(string sha256)
    {
        _hub.RawListings[Id] = JsonSerializer.Serialize(new
        {
            id = Id, sha = Commit,
            siblings = new object[] { new { rfilename = "model.safetensors", size = 3, blobId = FakeHub.GitBlobId([1]), lfs = new { sha256, size = 3 } } },
        });
        await Refused("LFS sha256");
    }

    [Fact]
    public async Task File_without_size_is_refused()
    {
        _hub.RawListings[Id] = JsonSerializer.Serialize(new { id = Id, sha = Commit, siblings = new object[] { new { rfilename = "config.json", blobId = FakeHub.GitBlobId(Content) } } });
        await Refused("no size");
    }

    [Fact]
    public async Task More_bytes_than_listed_stops_the_download()
    {
        // The listing says 3 bytes with a matching blob id; the server sends the whole content.
        Serve(Commit, Sibling("config.json", Content, FakeHub.GitBlobId(Content[..3]), size: 3));
        await Refused("more than the 3 bytes");
        Assert.DoesNotContain(Directory.EnumerateFiles(Path.Combine(_cache, "models--acme--evil", "blobs")), f => !f.EndsWith(".incomplete", StringComparison.Ordinal));
    }

    [Fact]
    public async Task File_listed_twice_or_as_file_and_folder_is_refused()
    {
        Serve(Commit, Sibling("a", Content), Sibling("a/b.json", Content));
        await Refused("as a file and as a folder");
        Serve(Commit, Sibling("c.json", Content), Sibling("c.json", Content));
        await Refused("listed twice");
    }

    [Fact]
    public async Task Hostile_revision_is_refused_before_any_request()
    {
        Serve(Commit, Sibling("config.json", Content));
        using var client = Client();
        var ex = await Assert.ThrowsAnyAsync<OpenBookException>(() => client.PullAsync(Id, revision: "../../../x"));
        Assert.Contains("revision", ex.Message, StringComparison.Ordinal);
        Assert.Empty(_hub.Log);
        Assert.Equal("precious", File.ReadAllText(_sentinel));
    }

    [Fact]
    public async Task Snapshot_folder_that_is_a_symlink_out_of_the_cache_is_not_written_through()
    {
        var outside = Path.Combine(_root, "outside");
        Directory.CreateDirectory(outside);
        var snapshots = Path.Combine(_cache, "models--acme--evil", "snapshots");
        Directory.CreateDirectory(snapshots);
        Directory.CreateSymbolicLink(Path.Combine(snapshots, Commit), outside);
        Serve(Commit, Sibling("config.json", Content));
        using var client = Client();
        var ex = await Assert.ThrowsAnyAsync<OpenBookException>(() => client.PullAsync(Id, include: ["*"]));
        Assert.Contains("symbolic link", ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
    }

    [Fact]
    public async Task Well_formed_listing_with_a_subfolder_still_downloads()
    {
        Serve(Commit, Sibling("config.json", Content), Sibling("onnx/config.json", Content));
        using var client = Client();
        var r = await client.PullAsync(Id, include: ["*"]);
        Assert.Equal(Content, File.ReadAllBytes(Path.Combine(r.SnapshotDir, "onnx", "config.json")));
    }

    [Fact]
    public void Tampered_refs_file_does_not_lead_outside_the_snapshots()
    {
        var repo = Path.Combine(_cache, "models--acme--evil");
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        Directory.CreateDirectory(Path.Combine(_root, "elsewhere"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), "../../../elsewhere");
        Assert.Null(HubCache.FindSnapshot(_cache, Id, "main"));
        Assert.Null(HubCache.FindSnapshot(_cache, Id, "../../../elsewhere"));
    }

    [Theory]
    [InlineData("config.json", null)]
    [InlineData("onnx/model.onnx", null)]
    [InlineData("a/../b", "\"..\" segment")]
    [InlineData("/etc/passwd", "absolute path")]
    [InlineData("C:/x", "absolute path")]
    public void File_name_rules(string name, string? expected)
    {
        var problem = HubPaths.FileNameProblem(name);
        if (expected is null) Assert.Null(problem);
        else Assert.Contains(expected, problem, StringComparison.Ordinal);
    }
}
