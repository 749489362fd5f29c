namespace OpenBook.Retrieval.Hybrid;

/// <summary>One entry of a ranked result list: a chunk id and the score its retriever (or the fusion) gave it.</summary>
/// <param name="ChunkId">Chunk id in the store.</param>
/// <param name="Score">Higher is better; only the order within one list matters to fusion.</param>
public readonly record struct RankedChunk(long ChunkId, double Score);
