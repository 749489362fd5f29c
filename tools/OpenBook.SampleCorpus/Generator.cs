namespace OpenBook.SampleCorpus;

/// <summary>Where things live: the repository root, the handbook, the questions file and the generator sources.</summary>
internal sealed record CorpusPaths(string Root)
{
    public string Handbook => Path.Combine(Root, "samples", "handbook");
    public string Questions => Path.Combine(Root, "samples", "questions.jsonl");
    public string Sources => Path.Combine(Root, "tools", "OpenBook.SampleCorpus", "sources");

    /// <summary>The given root, else the nearest directory above the current one that holds OpenBook.sln.</summary>
    public static CorpusPaths Find(string? root)
    {
        if (root is not null)
            return Directory.Exists(root) ? new CorpusPaths(Path.GetFullPath(root)) : throw new DirectoryNotFoundException($"--root '{root}' does not exist");
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OpenBook.sln"))) return new CorpusPaths(dir.FullName);
        throw new DirectoryNotFoundException("OpenBook.sln not found above the current directory; pass --root REPO_ROOT");
    }

    public IReadOnlyList<SourceDocument> LoadSources() =>
        Directory.EnumerateFiles(Sources, "*.txt", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(f => SourceDocument.Parse(f, Sources))
            .ToList();
}

/// <summary>The "generate" verb: renders every source and writes the files whose bytes changed.</summary>
internal static class Generator
{
    /// <summary>Fixed creation/modification time of every generated file, so re-running does not churn git.</summary>
    public static readonly DateTime Timestamp = new(2026, 1, 5, 9, 0, 0, DateTimeKind.Utc);

    public static byte[] Render(SourceDocument source) =>
        source.IsPdf ? PdfRenderer.Render(source, Timestamp) : DocxRenderer.Render(source, Timestamp);

    public static int Run(CorpusPaths paths)
    {
        int written = 0, unchanged = 0;
        foreach (var source in paths.LoadSources())
        {
            var bytes = Render(source);
            var target = Path.Combine(paths.Handbook, source.OutputPath);
            if (File.Exists(target) && File.ReadAllBytes(target).AsSpan().SequenceEqual(bytes)) { unchanged++; continue; }
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.WriteAllBytes(target, bytes);
            Console.WriteLine($"wrote {Path.GetRelativePath(paths.Root, target)} ({bytes.Length / 1024.0:F1} KB)");
            written++;
        }
        Console.WriteLine($"generate: {written} written, {unchanged} unchanged");
        return 0;
    }
}
