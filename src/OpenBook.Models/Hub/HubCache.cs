namespace OpenBook.Models.Hub;

/// <summary>A model found in the local Hugging Face cache.</summary>
/// <param name="Id">Repository id ("org/name").</param>
/// <param name="Path">The <c>models--org--name</c> folder.</param>
/// <param name="Refs">Revision name → commit (from <c>refs/</c>).</param>
/// <param name="Snapshots">Commit hashes with a snapshot folder.</param>
/// <param name="SizeBytes">Bytes in <c>blobs/</c> (what the model occupies on disk).</param>
public sealed record CachedModel(string Id, string Path, IReadOnlyDictionary<string, string> Refs, IReadOnlyList<string> Snapshots, long SizeBytes);

/// <summary>
/// The Hugging Face hub cache layout, shared with the Python libraries:
/// <c>CACHE/models--org--name/{blobs/&lt;etag&gt;, refs/&lt;revision&gt;, snapshots/&lt;commit&gt;/&lt;file&gt; → ../../blobs/&lt;etag&gt;}</c>.
/// </summary>
public static class HubCache
{
    /// <summary>"org/name" → "models--org--name".</summary>
    public static string FolderName(string repoId) => "models--" + repoId.Replace("/", "--", StringComparison.Ordinal);

    /// <summary>The repository folder in <paramref name="cacheDir"/>.</summary>
    public static string RepoDir(string cacheDir, string repoId) => Path.Combine(cacheDir, FolderName(repoId));

    /// <summary>Validates an "org/name" id (letters, digits, '-', '_', '.'; one '/').</summary>
    public static void ValidateRepoId(string repoId)
    {
        var parts = repoId.Split('/');
        if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p.Length > 96 || p.StartsWith('.') ||
                                               !p.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) || repoId.Contains("--", StringComparison.Ordinal))
            throw new OpenBookException($"model id \"{repoId}\": expected \"org/name\" (e.g. HuggingFaceTB/SmolLM2-360M-Instruct)");
    }

    /// <summary>
    /// The snapshot folder for a revision (a branch/tag name resolved through <c>refs/</c>, or a commit hash),
    /// or null when it is not cached.
    /// </summary>
    public static string? FindSnapshot(string cacheDir, string repoId, string revision)
    {
        if (HubPaths.RevisionProblem(revision) is not null) return null;
        var repo = RepoDir(cacheDir, repoId);
        var refFile = Path.Combine(repo, "refs", revision);
        var commit = File.Exists(refFile) ? File.ReadAllText(refFile).Trim() : revision;
        // A refs file is untrusted too: only a commit id may name a snapshot folder.
        if (!HubPaths.IsCommit(commit) && (File.Exists(refFile) || HubPaths.FileNameProblem(commit) is not null || commit.Contains('/'))) return null;
        var snap = Path.Combine(repo, "snapshots", commit);
        return Directory.Exists(snap) ? snap : null;
    }

    /// <summary>Every model in the cache.</summary>
    public static IReadOnlyList<CachedModel> List(string cacheDir)
    {
        if (!Directory.Exists(cacheDir)) return [];
        var result = new List<CachedModel>();
        foreach (var dir in Directory.EnumerateDirectories(cacheDir, "models--*").Order(StringComparer.Ordinal))
        {
            var model = Describe(dir);
            if (model is not null) result.Add(model);
        }
        return result;
    }

    /// <summary>One cached model, or null.</summary>
    public static CachedModel? Find(string cacheDir, string repoId) => Describe(RepoDir(cacheDir, repoId));

    private static CachedModel? Describe(string dir)
    {
        if (!Directory.Exists(dir)) return null;
        var name = System.IO.Path.GetFileName(dir)["models--".Length..];
        var sep = name.IndexOf("--", StringComparison.Ordinal);
        var id = sep < 0 ? name : name[..sep] + "/" + name[(sep + 2)..];
        var refsDir = System.IO.Path.Combine(dir, "refs");
        var refs = Directory.Exists(refsDir)
            ? Directory.EnumerateFiles(refsDir, "*", SearchOption.AllDirectories)
                .ToDictionary(f => System.IO.Path.GetRelativePath(refsDir, f).Replace('\\', '/'), f => File.ReadAllText(f).Trim())
            : new Dictionary<string, string>();
        var snapsDir = System.IO.Path.Combine(dir, "snapshots");
        var snaps = Directory.Exists(snapsDir) ? Directory.EnumerateDirectories(snapsDir).Select(System.IO.Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList() : [];
        var blobsDir = System.IO.Path.Combine(dir, "blobs");
        var size = Directory.Exists(blobsDir)
            ? Directory.EnumerateFiles(blobsDir).Where(f => !f.EndsWith(".incomplete", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length)
            : 0;
        return new CachedModel(id, dir, refs, snaps, size);
    }
}

/// <summary>Finds the directory of a model given as a local path or a Hub id.</summary>
public static class ModelLocator
{
    /// <summary>
    /// A model directory for <paramref name="idOrDirectory"/>: an existing directory as is, otherwise the cached
    /// snapshot of the Hub id at <paramref name="revision"/>. Throws a clear error when neither exists
    /// (download with <c>openbook models pull ID</c>).
    /// </summary>
    public static string Resolve(string idOrDirectory, HubOptions options, string revision = "main")
    {
        if (Directory.Exists(idOrDirectory)) return Path.GetFullPath(idOrDirectory);
        if (idOrDirectory.Count(c => c == '/') != 1 || idOrDirectory.StartsWith('.') || Path.IsPathRooted(idOrDirectory))
            throw new OpenBookException($"{idOrDirectory}: directory not found (give a model directory or a Hub id like org/name)");
        HubCache.ValidateRepoId(idOrDirectory);
        return HubCache.FindSnapshot(options.CacheDir, idOrDirectory, revision)
               ?? throw new OpenBookException(
                   $"{idOrDirectory}@{revision} is not downloaded (looked in {HubCache.RepoDir(options.CacheDir, idOrDirectory)}). " +
                   $"Run `openbook models pull {idOrDirectory}`, or pass a local model directory.");
    }
}
