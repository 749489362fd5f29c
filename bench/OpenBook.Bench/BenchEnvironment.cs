namespace OpenBook.Bench;

/// <summary>What every bench verb records beside its figures, and where the peer scripts are.</summary>
internal static class BenchEnvironment
{
    /// <summary>The 1, 5 and 15 minute load averages from /proc/loadavg ("n/a" where there is none).</summary>
    public static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
        catch (UnauthorizedAccessException) { return "n/a"; }
    }

    /// <summary>
    /// A peer script shipped beside the bench assembly (bench/&lt;area&gt;/&lt;script&gt; in the source tree, copied to
    /// the same relative path in the build output), e.g. <c>PeerScript("vectors", "ann_peers.py")</c>; null when absent.
    /// </summary>
    public static string? PeerScript(string area, string file)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "bench", area, file);
        return File.Exists(path) ? path : null;
    }
}
