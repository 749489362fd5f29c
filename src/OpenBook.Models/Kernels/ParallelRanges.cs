namespace OpenBook.Models.Kernels;

/// <summary>The engine's threading policy: how many cores the kernels may use.</summary>
public static class KernelThreads
{
    private static int _max = Environment.ProcessorCount;

    /// <summary>Maximum threads a kernel call uses (default: all cores). Benchmarks set it to compare fairly.</summary>
    public static int Max
    {
        get => _max;
        set => _max = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), "At least one thread.");
    }
}

/// <summary>Work splitting shared by the kernels: one place to change the threading policy.</summary>
internal static class ParallelRanges
{
    /// <summary>
    /// Work (in bytes streamed or multiply-adds) below which a call stays on the calling thread: a parallel region
    /// costs a few microseconds on a quiet machine and much more on a busy one, more than it saves on small work.
    /// </summary>
    public const long MinParallelWork = 1 << 20;

    /// <summary>
    /// Runs <paramref name="body"/> for 0..count-1, in parallel (up to <see cref="KernelThreads.Max"/>) when more
    /// than one core may be used and <paramref name="work"/> reaches <see cref="MinParallelWork"/>.
    /// </summary>
    public static void For(int count, Action<int> body, long work = long.MaxValue)
    {
        if (count <= 0) return;
        if (count == 1 || KernelThreads.Max == 1 || work < MinParallelWork)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = KernelThreads.Max }, body);
    }
}
