using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OpenBook.Models.Hub;

/// <summary>A file of a Hub repository at one commit.</summary>
/// <param name="Path">Path in the repository ("model.safetensors", "onnx/model.onnx").</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="BlobId">Git blob id (sha1) of the file, or null.</param>
/// <param name="Sha256">For LFS files, the sha256 of the content; null for plain git files.</param>
public sealed record HubFile(string Path, long Size, string? BlobId, string? Sha256)
{
    /// <summary>The cache blob name: the sha256 for LFS files, the git blob id otherwise (as huggingface_hub).</summary>
    public string Etag => Sha256 ?? BlobId ?? throw new OpenBookException($"{Path}: the Hub listed no blob id or sha256");
}

/// <summary>A repository at one commit.</summary>
public sealed record HubModelInfo(string Id, string Commit, IReadOnlyList<HubFile> Files);

/// <summary>Download progress of one file.</summary>
public sealed record HubDownloadProgress(string File, long BytesDone, long TotalBytes, int FileIndex, int FileCount);

/// <summary>The result of <see cref="HubClient.PullAsync"/>.</summary>
/// <param name="SnapshotDir">The snapshot folder: a model directory usable as <c>--model DIR</c>.</param>
/// <param name="Commit">The commit it holds.</param>
/// <param name="Downloaded">Files fetched (fully or resumed) in this call.</param>
/// <param name="Reused">Files that were already in the cache.</param>
/// <param name="BytesDownloaded">Bytes received in this call.</param>
/// <param name="FromCacheOnly">True when no network was used (offline or unreachable, cached snapshot found).</param>
public sealed record HubDownloadResult(string SnapshotDir, string Commit, IReadOnlyList<string> Downloaded, IReadOnlyList<string> Reused, long BytesDownloaded, bool FromCacheOnly);

/// <summary>
/// Hugging Face Hub client: lists a repository's files (<c>/api/models/{id}/revision/{rev}?blobs=true</c>),
/// downloads them with resume (HTTP Range) and retries into the standard cache layout, verifies each file
/// (sha256 of LFS files against the Hub's LFS metadata; git blob sha1 of small files) and reuses what is
/// already cached. Offline (<c>HF_HUB_OFFLINE=1</c>) or without network it serves cached snapshots, or fails with
/// one message saying what is missing and how to use a local directory instead.
/// </summary>
public sealed class HubClient : IDisposable
{
    /// <summary>Files pulled by default: configs, tokenizer files, chat templates and safetensors weights.</summary>
    public static readonly IReadOnlyList<string> DefaultInclude = ["*.json", "*.safetensors", "tokenizer.model", "*.jinja", "*.txt"];

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    /// <summary>Creates a client. <paramref name="handler"/> is for tests and proxies.</summary>
    public HubClient(HubOptions options, HttpMessageHandler? handler = null)
    {
        Options = options;
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.Timeout = Timeout.InfiniteTimeSpan;
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("openbook/0.1 (+https://github.com/openbook)");
        _ownsHttp = true;
    }

    /// <summary>The options in use.</summary>
    public HubOptions Options { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    /// <summary>Lists the files of a repository at a revision (branch, tag or commit).</summary>
    public async Task<HubModelInfo> GetModelInfoAsync(string repoId, string revision = "main", CancellationToken ct = default)
    {
        HubCache.ValidateRepoId(repoId);
        HubPaths.ValidateRevision(revision);
        if (Options.Offline) throw OfflineError(repoId, revision, "HF_HUB_OFFLINE is set", null);
        var url = $"{Options.Endpoint.TrimEnd('/')}/api/models/{repoId}/revision/{Uri.EscapeDataString(revision)}?blobs=true";
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(Options.RequestTimeout);
        using var req = Request(url);
        HttpResponseMessage resp;
        try
        {
            resp = await _http.SendAsync(req, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new HubUnreachableException($"{Options.Endpoint}: no answer within {Options.RequestTimeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException ex)
        {
            throw new HubUnreachableException($"{Options.Endpoint}: {ex.Message}");
        }
        using (resp)
        {
            ThrowForStatus(resp, repoId, revision, null);
            var body = await resp.Content.ReadAsStringAsync(cts.Token).ConfigureAwait(false);
            return ParseListing(url, repoId, body);
        }
    }

    /// <summary>
    /// Parses and checks a model-info answer. Everything in it is untrusted: the commit must be 40 lowercase hex
    /// digits, every file name a plain relative path (no "..", no absolute path, no backslash, no empty segment),
    /// every file must have a size, a git blob id of 40 lowercase hex digits, and LFS files a sha256 of 64.
    /// </summary>
    internal static HubModelInfo ParseListing(string url, string repoId, string body)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body);
        }
        catch (JsonException ex)
        {
            throw new OpenBookException($"{url}: the Hub's answer is not valid JSON ({ex.Message})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            OpenBookException Bad(string what) => new($"{url}: refused the Hub listing: {what}");
            if (root.ValueKind != JsonValueKind.Object) throw Bad("not a JSON object");
            if (!root.TryGetProperty("sha", out var sha) || sha.ValueKind != JsonValueKind.String)
                throw Bad("no \"sha\" (commit)");
            var commit = sha.GetString()!;
            if (!HubPaths.IsCommit(commit)) throw Bad($"commit \"{HubPaths.Printable(commit)}\" is not 40 lowercase hex digits");
            if (!root.TryGetProperty("siblings", out var siblings) || siblings.ValueKind != JsonValueKind.Array)
                throw Bad("no \"siblings\" (file list)");
            var files = new List<HubFile>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var s in siblings.EnumerateArray())
            {
                if (s.ValueKind != JsonValueKind.Object || !s.TryGetProperty("rfilename", out var rf) || rf.ValueKind != JsonValueKind.String)
                    throw Bad("a file without \"rfilename\"");
                var path = rf.GetString()!;
                if (HubPaths.FileNameProblem(path) is { } problem) throw Bad($"file \"{HubPaths.Printable(path)}\": {problem}");
                if (!names.Add(path)) throw Bad($"file \"{HubPaths.Printable(path)}\" is listed twice");
                long size = s.TryGetProperty("size", out var sz) && sz.ValueKind == JsonValueKind.Number && sz.TryGetInt64(out var n) ? n : -1;
                string? sha256 = null;
                if (s.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object)
                {
                    var hash = lfs.TryGetProperty("sha256", out var h) ? h : lfs.TryGetProperty("oid", out var o) ? o : default;
                    sha256 = hash.ValueKind == JsonValueKind.String ? hash.GetString() : null;
                    if (!HubPaths.IsLowerHex(sha256, 64))
                        throw Bad($"file \"{path}\": LFS sha256 \"{HubPaths.Printable(sha256)}\" is not 64 lowercase hex digits");
                    if (lfs.TryGetProperty("size", out var ls))
                    {
                        if (ls.ValueKind != JsonValueKind.Number || !ls.TryGetInt64(out var lfsSize) || (size >= 0 && lfsSize != size))
                            throw Bad($"file \"{path}\": LFS size {ls.GetRawText()} is not a size or differs from the file size {size}");
                        size = lfsSize;
                    }
                }
                if (size < 0) throw Bad($"file \"{path}\": no size (or a negative one)");
                var blobId = s.TryGetProperty("blobId", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString() : null;
                if (!HubPaths.IsLowerHex(blobId, 40))
                    throw Bad($"file \"{path}\": blob id \"{HubPaths.Printable(blobId)}\" is not 40 lowercase hex digits");
                files.Add(new HubFile(path, size, blobId, sha256));
            }
            // "a" and "a/b" cannot both exist on disk: one would have to be a file and a folder.
            foreach (var name in names)
            {
                for (var i = name.IndexOf('/'); i > 0; i = name.IndexOf('/', i + 1))
                    if (names.Contains(name[..i])) throw Bad($"\"{name[..i]}\" is listed as a file and as a folder");
            }
            var id = root.TryGetProperty("id", out var idEl) && idEl.ValueKind == JsonValueKind.String ? idEl.GetString() ?? repoId : repoId;
            return new HubModelInfo(id, commit, files);
        }
    }

    /// <summary>
    /// Downloads a model into the cache (or finds it there) and returns its snapshot folder.
    /// <paramref name="include"/> holds glob patterns of files to fetch (default <see cref="DefaultInclude"/>).
    /// </summary>
    public async Task<HubDownloadResult> PullAsync(string repoId, string revision = "main", IReadOnlyList<string>? include = null,
        IProgress<HubDownloadProgress>? progress = null, CancellationToken ct = default)
    {
        HubCache.ValidateRepoId(repoId);
        HubPaths.ValidateRevision(revision);
        HubModelInfo info;
        try
        {
            info = await GetModelInfoAsync(repoId, revision, ct).ConfigureAwait(false);
        }
        catch (HubUnreachableException ex)
        {
            return FromCache(repoId, revision, ex.Message);
        }
        catch (HubOfflineException) when (HubCache.FindSnapshot(Options.CacheDir, repoId, revision) is not null)
        {
            return FromCache(repoId, revision, "HF_HUB_OFFLINE is set");
        }

        var patterns = (include ?? DefaultInclude).Select(Glob).ToList();
        var files = info.Files.Where(f => patterns.Any(p => p.IsMatch(f.Path))).ToList();
        if (files.Count == 0)
            throw new OpenBookException($"{repoId}@{revision}: no file matches {string.Join(", ", include ?? DefaultInclude)} " +
                                        $"(the repository has: {string.Join(", ", info.Files.Take(12).Select(f => f.Path))})");
        var cacheRoot = Path.GetFullPath(Options.CacheDir);
        Directory.CreateDirectory(cacheRoot);
        var repoDir = HubPaths.Under(cacheRoot, HubCache.FolderName(repoId));
        var snapshot = HubPaths.Under(cacheRoot, Path.Combine(HubCache.FolderName(repoId), "snapshots", info.Commit));
        Directory.CreateDirectory(HubPaths.Under(cacheRoot, Path.Combine(HubCache.FolderName(repoId), "blobs")));
        Directory.CreateDirectory(snapshot);
        HubPaths.Under(cacheRoot, Path.Combine(HubCache.FolderName(repoId), "snapshots", info.Commit, "x")); // snapshot itself is no link
        if (revision != info.Commit)
        {
            var refFile = HubPaths.Under(cacheRoot, Path.Combine(HubCache.FolderName(repoId), "refs", revision));
            Directory.CreateDirectory(Path.GetDirectoryName(refFile)!);
            HubPaths.Under(cacheRoot, Path.GetRelativePath(cacheRoot, refFile));
            await File.WriteAllTextAsync(refFile, info.Commit, ct).ConfigureAwait(false);
        }

        var downloaded = new List<string>();
        var reused = new List<string>();
        long received = 0;
        for (var i = 0; i < files.Count; i++)
        {
            var f = files[i];
            var blob = HubPaths.Under(cacheRoot, Path.Combine(HubCache.FolderName(repoId), "blobs", f.Etag));
            var target = HubPaths.Under(snapshot, f.Path.Replace('/', Path.DirectorySeparatorChar));
            HubPaths.Under(cacheRoot, Path.GetRelativePath(cacheRoot, target));
            if (File.Exists(blob) && new FileInfo(blob).LinkTarget is null && new FileInfo(blob).Length == f.Size)
            {
                Link(cacheRoot, target, blob);
                reused.Add(f.Path);
                progress?.Report(new HubDownloadProgress(f.Path, f.Size, f.Size, i, files.Count));
                continue;
            }
            try
            {
                received += await DownloadBlobAsync(repoId, info.Commit, f, blob, p => progress?.Report(new HubDownloadProgress(f.Path, p, f.Size, i, files.Count)), ct).ConfigureAwait(false);
            }
            catch (HubUnreachableException ex)
            {
                var missing = files.Skip(i).Where(x => !File.Exists(Path.Combine(repoDir, "blobs", x.Etag))).Select(x => x.Path);
                throw new OpenBookException(
                    $"{repoId}: download stopped ({ex.Message}). Missing: {string.Join(", ", missing)}. Run the same command again to resume, " +
                    $"or point OpenBook at a local model directory (--model /path/to/dir with config.json, model.safetensors and tokenizer.json).", ex);
            }
            Link(cacheRoot, target, blob);
            downloaded.Add(f.Path);
        }
        return new HubDownloadResult(snapshot, info.Commit, downloaded, reused, received, FromCacheOnly: false);
    }

    private HubDownloadResult FromCache(string repoId, string revision, string reason)
    {
        var snap = HubCache.FindSnapshot(Options.CacheDir, repoId, revision) ?? throw OfflineError(repoId, revision, reason, null);
        var files = Directory.EnumerateFiles(snap, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(snap, p).Replace('\\', '/')).ToList();
        return new HubDownloadResult(snap, Path.GetFileName(snap), [], files, 0, FromCacheOnly: true);
    }

    private HubOfflineException OfflineError(string repoId, string revision, string reason, Exception? inner) => new(
        $"{repoId}@{revision} is not in the local cache ({HubCache.RepoDir(Options.CacheDir, repoId)}) and cannot be downloaded: {reason}. " +
        $"Either run `openbook models pull {repoId}` on a machine with network access and copy {Options.CacheDir} here (or set HF_HOME), " +
        $"or pass a local model directory containing config.json, model.safetensors and tokenizer.json (e.g. --model ./models/my-model).", inner);

    /// <summary>Downloads one file to its blob path (resuming a <c>.incomplete</c> file) and verifies it; returns bytes received.</summary>
    private async Task<long> DownloadBlobAsync(string repoId, string commit, HubFile f, string blob, Action<long> progress, CancellationToken ct)
    {
        var partial = blob + ".incomplete";
        var url = $"{Options.Endpoint.TrimEnd('/')}/{repoId}/resolve/{commit}/{string.Join('/', f.Path.Split('/').Select(Uri.EscapeDataString))}";
        var received = new System.Runtime.CompilerServices.StrongBox<long>();
        var corruptRetries = 0;
        for (var attempt = 1; ; attempt++)
        {
            var have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
            try
            {
                if (!(f.Size >= 0 && have == f.Size)) await FetchAsync(url, partial, have, f, progress, received, ct).ConfigureAwait(false);
                var problem = await VerifyAsync(partial, f, ct).ConfigureAwait(false);
                if (problem is null)
                {
                    File.Move(partial, blob, overwrite: true);
                    return received.Value;
                }
                File.Delete(partial);
                if (++corruptRetries > 1) throw new OpenBookException($"{repoId}/{f.Path}: {problem}; the download was deleted.");
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or StallException && !ct.IsCancellationRequested)
            {
                if (attempt >= Options.MaxAttempts) throw new HubUnreachableException($"{f.Path}: {ex.Message} (after {attempt} attempts)");
                await Task.Delay(TimeSpan.FromMilliseconds(250 * (1 << Math.Min(attempt - 1, 6))), ct).ConfigureAwait(false);
            }
        }
    }

    private async Task FetchAsync(string url, string partial, long have, HubFile f, Action<long> progress,
        System.Runtime.CompilerServices.StrongBox<long> received, CancellationToken ct)
    {
        using var req = Request(url);
        if (have > 0) req.Headers.Range = new RangeHeaderValue(have, null);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stall.CancelAfter(Options.DownloadStallTimeout);
        HttpResponseMessage resp;
        try
        {
            resp = await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new StallException($"no answer within {Options.DownloadStallTimeout.TotalSeconds:0} s");
        }
        using (resp)
        {
            if (resp.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0) return; // already complete
            ThrowForStatus(resp, null, null, f.Path);
            var append = resp.StatusCode == HttpStatusCode.PartialContent && have > 0;
            await using var src = await resp.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
            await using var dst = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            var buffer = new byte[1 << 16];
            var done = append ? have : 0;
            while (true)
            {
                stall.CancelAfter(Options.DownloadStallTimeout);
                int n;
                try
                {
                    n = await src.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new StallException($"no data for {Options.DownloadStallTimeout.TotalSeconds:0} s");
                }
                if (n == 0) break;
                if (done + n > f.Size) throw new OpenBookException($"{f.Path}: the Hub sent more than the {f.Size} bytes it listed; the download was stopped.");
                await dst.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                received.Value += n;
                done += n;
                progress(done);
            }
            if (f.Size >= 0 && done < f.Size) throw new IOException($"connection closed after {done} of {f.Size} bytes");
        }
    }

    /// <summary>Null when the file matches the Hub's metadata; otherwise what is wrong.</summary>
    private static async Task<string?> VerifyAsync(string path, HubFile f, CancellationToken ct)
    {
        var size = new FileInfo(path).Length;
        if (f.Size >= 0 && size != f.Size) return $"size {size} differs from the Hub's {f.Size}";
        await using var s = File.OpenRead(path);
        if (f.Sha256 is not null)
        {
            var got = Convert.ToHexStringLower(await SHA256.HashDataAsync(s, ct).ConfigureAwait(false));
            return string.Equals(got, f.Sha256, StringComparison.OrdinalIgnoreCase) ? null : $"sha256 {got} differs from the LFS metadata {f.Sha256}";
        }
        if (f.BlobId is not null)
        {
            using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
            sha1.AppendData(Encoding.ASCII.GetBytes($"blob {size}\0"));
            var buf = new byte[1 << 16];
            int n;
            while ((n = await s.ReadAsync(buf, ct).ConfigureAwait(false)) > 0) sha1.AppendData(buf, 0, n);
            var got = Convert.ToHexStringLower(sha1.GetHashAndReset());
            return string.Equals(got, f.BlobId, StringComparison.OrdinalIgnoreCase) ? null : $"git blob id {got} differs from the Hub's {f.BlobId}";
        }
        return null;
    }

    private HttpRequestMessage Request(string url)
    {
        var req = new HttpRequestMessage(HttpMethod.Get, url);
        if (Options.Token is { } t) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", t);
        return req;
    }

    private void ThrowForStatus(HttpResponseMessage resp, string? repoId, string? revision, string? file)
    {
        if (resp.IsSuccessStatusCode) return;
        var what = file ?? $"{repoId}@{revision}";
        var code = (int)resp.StatusCode;
        throw code switch
        {
            401 or 403 => new OpenBookException(Options.Token is null
                ? $"{what}: the Hub refused access (HTTP {code}). The model may be gated or private: accept its license on the Hub and set HF_TOKEN."
                : $"{what}: the Hub refused access with the given HF_TOKEN (HTTP {code}); check the token and that you accepted the model's license."),
            404 => new OpenBookException($"{what}: not found on {Options.Endpoint} (HTTP 404); check the model id and --revision."),
            >= 500 or 429 => new HttpRequestException($"{what}: HTTP {code} {resp.ReasonPhrase}"),
            _ => new OpenBookException($"{what}: HTTP {code} {resp.ReasonPhrase}"),
        };
    }

    private static void Link(string cacheRoot, string target, string blob)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        HubPaths.Under(cacheRoot, Path.GetRelativePath(cacheRoot, target)); // the folders just created are real folders
        if (Directory.Exists(target) && new DirectoryInfo(target).LinkTarget is null)
            throw new OpenBookException($"{target}: a folder is in the way of a downloaded file");
        if (File.Exists(target) || new FileInfo(target).LinkTarget is not null) File.Delete(target);
        try
        {
            File.CreateSymbolicLink(target, Path.GetRelativePath(Path.GetDirectoryName(target)!, blob));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(blob, target, overwrite: true); // no symlink rights (e.g. Windows without developer mode)
        }
    }

    /// <summary>fnmatch-style glob: '*' any run of characters, '?' one character.</summary>
    internal static Regex Glob(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);

    private sealed class StallException(string message) : IOException(message);
}

/// <summary>The Hub cannot be reached (no network, DNS failure, timeout).</summary>
public sealed class HubUnreachableException(string message) : OpenBookException(message);

/// <summary>A model is needed that is not cached while the Hub cannot be used.</summary>
public sealed class HubOfflineException(string message, Exception? inner = null) : OpenBookException(message, inner);
