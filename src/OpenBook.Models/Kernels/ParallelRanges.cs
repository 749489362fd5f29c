namespace OpenBook.Models.Kernels;

/// <summary>Work splitting shared by the kernels: one place to change the threading policy.</summary>
internal static class ParallelRanges
{
    /// <summary>Runs <paramref name="body"/> for 0..count-1, in parallel when more than one core is available.</summary>
    public static void For(int count, Action<int> body)
    {
        if (count <= 0) return;
        if (count == 1 || Environment.ProcessorCount == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, body);
    }
}
