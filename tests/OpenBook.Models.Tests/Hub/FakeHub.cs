using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace OpenBook.Models.Tests.Hub;

/// <summary>
/// A minimal Hugging Face Hub on 127.0.0.1 (HttpListener): the model-info API with blobs, and resolve downloads
/// with Range support. It can cut a download short once, corrupt a file, or require a token.
/// </summary>
internal sealed class FakeHub : LocalHttpServer
{
    public sealed record Repo(string Commit, Dictionary<string, byte[]> Files, HashSet<string> Lfs);

    public Dictionary<string, Repo> Repos { get; } = new();
    public string? RequiredToken { get; set; }
    /// <summary>File path → bytes to send on its first download before dropping the connection.</summary>
    public ConcurrentDictionary<string, int> CutOnce { get; } = new();
    /// <summary>Files whose content is served corrupted (metadata stays right).</summary>
    public HashSet<string> Corrupt { get; } = [];
    /// <summary>Repository id → a model-info answer served verbatim (hostile listings).</summary>
    public Dictionary<string, string> RawListings { get; } = new();
    /// <summary>File path → bytes served for any repository and commit (with <see cref="RawListings"/>).</summary>
    public Dictionary<string, byte[]> RawFiles { get; } = new();

    public static string Sha256(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    public static string GitBlobId(byte[] b) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {b.Length}\0"), .. b]));

    protected override Task Handle(HttpListenerContext ctx)
    {
        var path = Uri.UnescapeDataString(ctx.Request.Url!.AbsolutePath);
        var range = ctx.Request.Headers["Range"];
        Log.Enqueue($"{path}{(range is null ? "" : " " + range)}");
        var resp = ctx.Response;
        if (RequiredToken is not null && ctx.Request.Headers["Authorization"] != $"Bearer {RequiredToken}")
        {
            resp.StatusCode = 401;
            resp.Close();
            return Task.CompletedTask;
        }
        var parts = path.Trim('/').Split('/');
        if (parts is ["api", "models", var o, var n, "revision", ..] && RawListings.TryGetValue($"{o}/{n}", out var raw))
        {
            Send(resp, 200, Encoding.UTF8.GetBytes(raw));
            return Task.CompletedTask;
        }
        if (parts.Length >= 5 && parts[2] == "resolve" && RawFiles.TryGetValue(string.Join('/', parts[4..]), out var rawFile))
        {
            Send(resp, 200, rawFile, "application/octet-stream");
            return Task.CompletedTask;
        }
        if (parts is ["api", "models", var org, var name, "revision", var rev] && Repos.TryGetValue($"{org}/{name}", out var repo) && (rev == "main" || rev == repo.Commit))
        {
            var json = JsonSerializer.Serialize(new
            {
                id = $"{org}/{name}",
                sha = repo.Commit,
                siblings = repo.Files.Select(kv => repo.Lfs.Contains(kv.Key)
                    ? (object)new { rfilename = kv.Key, size = kv.Value.Length, blobId = GitBlobId(Encoding.ASCII.GetBytes("pointer " + kv.Key)), lfs = new { sha256 = Sha256(kv.Value), size = kv.Value.Length, pointerSize = 134 } }
                    : new { rfilename = kv.Key, size = kv.Value.Length, blobId = GitBlobId(kv.Value) }).ToArray(),
            });
            Send(resp, 200, Encoding.UTF8.GetBytes(json));
            return Task.CompletedTask;
        }
        if (parts.Length >= 5 && parts[2] == "resolve" && Repos.TryGetValue($"{parts[0]}/{parts[1]}", out var r) && parts[3] == r.Commit &&
            r.Files.TryGetValue(string.Join('/', parts[4..]), out var content))
        {
            var file = string.Join('/', parts[4..]);
            if (Corrupt.Contains(file)) { content = (byte[])content.Clone(); content[0] ^= 0xFF; }
            long start = 0;
            if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal))
            {
                start = long.Parse(range[6..].TrimEnd('-'));
                if (start >= content.Length) { resp.StatusCode = 416; resp.Close(); return Task.CompletedTask; }
                resp.StatusCode = 206;
                resp.Headers["Content-Range"] = $"bytes {start}-{content.Length - 1}/{content.Length}";
            }
            resp.Headers["ETag"] = "\"" + (r.Lfs.Contains(file) ? Sha256(content) : GitBlobId(content)) + "\"";
            resp.Headers["X-Repo-Commit"] = r.Commit;
            resp.ContentLength64 = content.Length - start;
            if (CutOnce.TryRemove(file, out var cut))
            {
                resp.OutputStream.Write(content, (int)start, cut);
                resp.OutputStream.Flush();
                resp.Abort();
                return Task.CompletedTask;
            }
            resp.OutputStream.Write(content, (int)start, (int)(content.Length - start));
            resp.Close();
            return Task.CompletedTask;
        }
        Send(resp, 404, Encoding.UTF8.GetBytes("{\"error\":\"Repository not found\"}"));
        return Task.CompletedTask;
    }
}
