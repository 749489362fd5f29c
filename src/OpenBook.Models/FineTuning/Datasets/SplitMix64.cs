using OpenBook.Shared;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>SplitMix64: a tiny, fully specified generator, so orders never change with the .NET version.</summary>
internal sealed class SplitMix64(ulong state)
{
    public ulong Next() => Seeds.Scramble(state += 0x9E3779B97F4A7C15UL);

    /// <summary>Fisher–Yates shuffle.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = (int)(Next() % (ulong)(i + 1));
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
