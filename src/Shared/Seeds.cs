namespace OpenBook.Shared;

/// <summary>
/// Deterministic seed derivation (SplitMix64). <see cref="HashCode"/> and string hash codes are randomised per process,
/// so they must never feed a seed: a resumed run in a new process has to draw the same data order and dropout masks.
/// Compiled into both the core and the engine (a linked source file).
/// </summary>
internal static class Seeds
{
    /// <summary>A non-negative seed mixed from <paramref name="parts"/>, identical in every process.</summary>
    public static int Mix(params long[] parts)
    {
        ulong z = 0x9E3779B97F4A7C15UL;
        foreach (var p in parts) z = Scramble(z + (ulong)p * 0xBF58476D1CE4E5B9UL + 0x9E3779B97F4A7C15UL);
        return (int)(z & 0x7FFFFFFF);
    }

    /// <summary>SplitMix64's output function: a bijective 64-bit mix in which every input bit affects every output bit.</summary>
    internal static ulong Scramble(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A stable 64-bit hash of a string (FNV-1a), for seeding by ids.</summary>
    public static long Of(string text)
    {
        ulong h = 14695981039346656037UL;
        foreach (var c in text)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return (long)h;
    }
}
