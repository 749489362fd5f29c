namespace OpenBook.Ingestion;

/// <summary>Sizes for <see cref="Chunker"/>, in tokens of its <see cref="ITokenCounter"/>.</summary>
public sealed record ChunkingOptions
{
    /// <summary>Defaults: 256-token chunks, 32 tokens of overlap, sections under 32 tokens may merge.</summary>
    public static ChunkingOptions Default { get; } = new();

    /// <summary>Maximum tokens per chunk (default 256).</summary>
    public int ChunkTokens { get; init; } = 256;

    /// <summary>Tokens repeated from the end of a chunk at the start of the next one within the same section (default 32).</summary>
    public int OverlapTokens { get; init; } = 32;

    /// <summary>
    /// Sections with fewer tokens than this are "tiny": consecutive tiny sections under the same parent heading are
    /// merged into one chunk (default 32; 0 disables merging).
    /// </summary>
    public int MinSectionTokens { get; init; } = 32;

    /// <summary>Throws <see cref="OpenBookException"/> naming the bad setting.</summary>
    public void Validate()
    {
        if (ChunkTokens < 8)
            throw new OpenBookException($"chunk size must be at least 8 tokens (got {ChunkTokens})");
        if (OverlapTokens < 0)
            throw new OpenBookException($"chunk overlap cannot be negative (got {OverlapTokens})");
        if (OverlapTokens > ChunkTokens / 2)
            throw new OpenBookException($"chunk overlap ({OverlapTokens} tokens) must be at most half the chunk size ({ChunkTokens} tokens)");
        if (MinSectionTokens < 0 || MinSectionTokens > ChunkTokens)
            throw new OpenBookException($"minimum section size must be between 0 and the chunk size {ChunkTokens} (got {MinSectionTokens})");
    }
}
