namespace OpenBook.Ingestion;

/// <summary>
/// Limits that keep one hostile or broken file from exhausting memory, disk or time. The defaults are far above
/// what ordinary office documents need; a file over a limit is skipped with a note, the run goes on.
/// </summary>
public sealed record InputLimits
{
    /// <summary>The defaults.</summary>
    public static InputLimits Default { get; } = new();

    /// <summary>Largest file read (bytes on disk). Default 256 MiB.</summary>
    public long MaxFileBytes { get; init; } = 256L << 20;

    /// <summary>Most bytes an archive (.docx) may expand to, all entries together. Default 256 MiB.</summary>
    public long MaxArchiveBytes { get; init; } = 256L << 20;

    /// <summary>Most entries in an archive (.docx). Default 10,000.</summary>
    public int MaxArchiveEntries { get; init; } = 10_000;

    /// <summary>Deepest element / list / quote nesting read from HTML and Markdown. Default 256.</summary>
    public int MaxNestingDepth { get; init; } = 256;

    /// <summary>Share of invalid UTF-8 bytes above which a text file is treated as binary and skipped. Default 0.02 (2 %).</summary>
    public double MaxInvalidUtf8Share { get; init; } = 0.02;

    /// <summary>"256 MiB" for whole MiB, else "4096-byte" style (for messages).</summary>
    internal static string Size(long bytes) => bytes % (1 << 20) == 0 ? $"{bytes >> 20} MiB" : $"{bytes}-byte";

    /// <summary>Throws <see cref="OpenBookException"/> for a non-positive limit.</summary>
    public void Validate()
    {
        foreach (var (name, value) in new[] { (nameof(MaxFileBytes), MaxFileBytes), (nameof(MaxArchiveBytes), MaxArchiveBytes), (nameof(MaxArchiveEntries), MaxArchiveEntries), (nameof(MaxNestingDepth), (long)MaxNestingDepth) })
            if (value <= 0) throw new OpenBookException($"input limit {name} must be positive (got {value})");
        if (!(MaxInvalidUtf8Share is >= 0 and <= 1)) throw new OpenBookException("MaxInvalidUtf8Share must be between 0 and 1");
    }
}
