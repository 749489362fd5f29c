namespace OpenBook.Ingestion;

/// <summary>Which files <see cref="SourceWalker"/> yields from directories.</summary>
public sealed record WalkOptions
{
    /// <summary>Globs a file must match (any of them) to be taken; empty: every file. See <see cref="Glob"/>.</summary>
    public IReadOnlyList<string> Include { get; init; } = [];

    /// <summary>Globs that exclude a file (or a whole directory: "drafts/", "drafts/**").</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>Directory names never entered besides hidden ones (default: the store directory ".openbook", node_modules, bin, obj).</summary>
    public IReadOnlyList<string> SkipDirectories { get; init; } = [".openbook", "node_modules", "bin", "obj"];

    /// <summary>
    /// Read files whose symbolic link resolves outside the ingested folders (default false: such links are skipped
    /// with a note, so a link to /etc/passwd does not become searchable). Links inside the folders are always read.
    /// </summary>
    public bool FollowSymlinks { get; init; }
}

/// <summary>One file found by <see cref="SourceWalker"/>: loadable (<see cref="Loader"/> set) or skipped (<see cref="SkipReason"/> set).</summary>
/// <param name="FullPath">Absolute path of the file.</param>
/// <param name="SourcePath">
/// Path to record and cite, '/'-separated: for a file found under a directory argument, the directory's own name
/// plus the path below it ("handbook/hr/leave.md" for root "samples/handbook"); for a file argument, its file name.
/// </param>
/// <param name="RelativePath">Path below the walked root that globs were matched against ("hr/leave.md").</param>
/// <param name="Loader">The loader for the file's type, null when skipped.</param>
/// <param name="SkipReason">Why the file is not loaded ("unknown type .xyz"), null when loadable.</param>
public sealed record SourceFile(string FullPath, string SourcePath, string RelativePath, IDocumentLoader? Loader, string? SkipReason)
{
    /// <summary>True when the file has a loader.</summary>
    public bool IsLoadable => Loader is not null;
}

/// <summary>
/// Expands files and directories (recursively) into the files to ingest, in a deterministic order (arguments in
/// order; inside a directory, ordinal order of the relative path). Hidden files and directories (".git"), the store
/// directory ".openbook" and <see cref="WalkOptions.SkipDirectories"/> are not entered; include/exclude globs apply
/// to files under a directory argument. Files of unknown type are yielded with a <see cref="SourceFile.SkipReason"/>
/// so the caller can report them.
/// </summary>
public sealed class SourceWalker
{
    private readonly LoaderRegistry _registry;
    private readonly WalkOptions _options;
    private readonly Glob[] _include, _exclude;

    /// <summary>Creates a walker; bad globs throw <see cref="OpenBookException"/>.</summary>
    public SourceWalker(LoaderRegistry registry, WalkOptions? options = null)
    {
        _registry = registry ?? throw new ArgumentNullException(nameof(registry));
        _options = options ?? new WalkOptions();
        _include = _options.Include.Select(g => new Glob(g)).ToArray();
        _exclude = _options.Exclude.Select(g => new Glob(g)).ToArray();
    }

    /// <summary>
    /// The files under <paramref name="paths"/>. A path that does not exist throws <see cref="OpenBookException"/>
    /// before anything is yielded. A file named twice is yielded once.
    /// </summary>
    public IEnumerable<SourceFile> Walk(IEnumerable<string> paths)
    {
        var roots = paths.ToList();
        foreach (var path in roots)
            if (!File.Exists(path) && !Directory.Exists(path))
                throw new OpenBookException($"{path}: no such file or directory");
        return WalkCore(roots);
    }

    private IEnumerable<SourceFile> WalkCore(List<string> roots)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        // Canonical (links resolved) roots: a file link must resolve under one of them to be read.
        var realRoots = roots.Select(r => FileKinds.RealPath(Path.GetFullPath(r))).OfType<string>().ToList();
        foreach (var root in roots)
        {
            var full = Path.GetFullPath(root);
            if (!Directory.Exists(full))
            {
                if (seen.Add(full)) yield return Describe(full, Path.GetFileName(full), Path.GetFileName(full), null);
                continue;
            }
            var rootName = Path.GetFileName(Path.TrimEndingDirectorySeparator(full));
            var files = new List<(string Full, string Relative, string? Skip)>();
            Collect(full, "", files, realRoots);
            files.Sort((a, b) => string.CompareOrdinal(a.Relative, b.Relative));
            foreach (var (file, relative, skip) in files)
            {
                if (_include.Length > 0 && !_include.Any(g => g.IsMatch(relative))) continue;
                if (_exclude.Any(g => g.IsMatch(relative))) continue;
                if (!seen.Add(file)) continue;
                var source = rootName.Length > 0 ? rootName + "/" + relative : relative;
                yield return Describe(file, source, relative, skip);
            }
        }
    }

    /// <summary>Why a file link found in a folder is not read (dangling, or outside the roots), or null.</summary>
    private string? LinkProblem(FileSystemInfo entry, List<string> realRoots)
    {
        if (entry.LinkTarget is null) return null;
        var real = FileKinds.RealPath(entry.FullName);
        if (real is null) return $"symbolic link to {entry.LinkTarget}, which does not exist";
        if (_options.FollowSymlinks || realRoots.Any(r => FileKinds.IsUnder(real, r))) return null;
        return $"symbolic link to {real}, outside the ingested folders (use --follow-symlinks to read it)";
    }

    private void Collect(string directory, string relative, List<(string, string, string?)> files, List<string> realRoots)
    {
        var info = new DirectoryInfo(directory);
        foreach (var entry in info.EnumerateFileSystemInfos())
        {
            if (entry.Name.StartsWith('.') || (entry.Attributes & FileAttributes.Hidden) != 0) continue;
            var rel = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
            if (entry is DirectoryInfo dir)
            {
                if ((dir.Attributes & FileAttributes.ReparsePoint) != 0) continue; // don't follow directory links (cycles)
                if (_options.SkipDirectories.Contains(dir.Name, StringComparer.OrdinalIgnoreCase)) continue;
                if (_exclude.Any(g => g.IsMatch(rel + "/"))) continue; // "drafts/**" excludes the whole directory
                Collect(dir.FullName, rel, files, realRoots);
            }
            else files.Add((entry.FullName, rel, LinkProblem(entry, realRoots)));
        }
    }

    private SourceFile Describe(string full, string source, string relative, string? skip)
    {
        if (skip is not null) return new SourceFile(full, source, relative, null, skip);
        // Only regular files are opened: a FIFO would block forever, /dev/zero never ends.
        var kind = FileKinds.Probe(full);
        if (kind != FileKind.Regular) return new SourceFile(full, source, relative, null, $"not a regular file: {FileKinds.Describe(kind)}");
        if (_registry.TryGet(full, out var loader)) return new SourceFile(full, source, relative, loader, null);
        var ext = Path.GetExtension(full);
        return new SourceFile(full, source, relative, null, ext.Length > 0 ? $"unknown type {ext.ToLowerInvariant()}" : "no file extension");
    }
}
