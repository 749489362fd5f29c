namespace OpenBook.Models.Hub;

/// <summary>
/// Checks on everything a Hub listing (or a cached <c>refs/</c> file) says before it becomes a path in the cache:
/// a listing is untrusted input, so a file name, a commit or a blob id must never reach outside the cache root.
/// </summary>
public static class HubPaths
{
    /// <summary>Longest file name accepted from a listing (characters).</summary>
    public const int MaxFileNameLength = 1024;

    /// <summary>True when <paramref name="s"/> is exactly <paramref name="length"/> lowercase hex digits.</summary>
    public static bool IsLowerHex(string? s, int length) =>
        s is not null && s.Length == length && s.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    /// <summary>A git commit id: 40 lowercase hex digits (what the Hub returns as <c>sha</c>).</summary>
    public static bool IsCommit(string? s) => IsLowerHex(s, 40);

    /// <summary>
    /// Null when <paramref name="name"/> is a safe relative repository path ("config.json", "onnx/model.onnx");
    /// otherwise why not: empty, absolute, a backslash, an empty / "." / ".." segment, or a control character.
    /// </summary>
    public static string? FileNameProblem(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "the name is empty";
        if (name.Length > MaxFileNameLength) return $"the name is longer than {MaxFileNameLength} characters";
        if (name.Contains('\\')) return "the name contains a backslash";
        if (name.Any(char.IsControl)) return "the name contains a control character";
        if (name.StartsWith('/') || Path.IsPathRooted(name) || (name.Length >= 2 && name[1] == ':')) return "the name is an absolute path";
        foreach (var segment in name.Split('/'))
        {
            if (segment.Length == 0) return "the name has an empty path segment";
            if (segment is "." or "..") return $"the name has a \"{segment}\" segment";
        }
        return null;
    }

    /// <summary>Null when <paramref name="revision"/> is a usable branch, tag or commit name; otherwise why not.</summary>
    public static string? RevisionProblem(string? revision)
    {
        var problem = FileNameProblem(revision);
        return problem?.Replace("the name", "the revision", StringComparison.Ordinal);
    }

    /// <summary>Throws when <paramref name="revision"/> could leave the <c>refs/</c> folder.</summary>
    public static void ValidateRevision(string revision)
    {
        if (RevisionProblem(revision) is { } problem)
            throw new OpenBookException($"revision \"{Printable(revision)}\" refused: {problem}");
    }

    /// <summary>
    /// The canonical full path of <paramref name="root"/>/<paramref name="relative"/>, after checking that it lies
    /// strictly under <paramref name="root"/> and that no existing folder between the root and it is a symbolic link
    /// (a link could lead the write elsewhere). Throws otherwise. Call before every write, link and delete.
    /// </summary>
    public static string Under(string root, string relative)
    {
        var fullRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var full = Path.GetFullPath(Path.Combine(fullRoot, relative));
        var comparison = OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        if (!full.StartsWith(fullRoot + Path.DirectorySeparatorChar, comparison))
            throw new OpenBookException($"refused to touch {full}: it is outside the Hub cache {fullRoot}");
        // Every existing ancestor below the root must be a real folder, not a link.
        var dir = Path.GetDirectoryName(full);
        while (dir is not null && dir.Length > fullRoot.Length)
        {
            var info = new DirectoryInfo(dir);
            if (info.LinkTarget is not null || (File.Exists(dir) && new FileInfo(dir).LinkTarget is not null))
                throw new OpenBookException($"refused to touch {full}: {dir} is a symbolic link inside the Hub cache");
            dir = Path.GetDirectoryName(dir);
        }
        return full;
    }

    /// <summary><paramref name="s"/> with control characters shown as '?', cut to 200 characters (for error messages).</summary>
    internal static string Printable(string? s)
    {
        if (s is null) return "(null)";
        var t = new string(s.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return t.Length > 200 ? t[..200] + "…" : t;
    }
}
