using OpenBook.Retrieval.Hybrid;

namespace OpenBook.Tests;

public class HybridFusionTests
{
    // Lexical: A(1) B(2) C(3); dense: C(10) D(11) A(12). Input scores are deliberately on different scales.
    private static readonly IReadOnlyList<RankedChunk> Lexical = [new(1, 12.5), new(2, 9.0), new(10, 3.1)];
    private static readonly IReadOnlyList<RankedChunk> Dense = [new(10, 0.91), new(11, 0.88), new(1, 0.40)];

    [Fact]
    public void Equal_weights_match_hand_computed_scores_and_tie_breaks()
    {
        var fused = ReciprocalRankFusion.Fuse([Lexical, Dense]);
        // A = 1/61 + 1/63, C = 1/63 + 1/61 (tie: same best rank 1, lower id first), B = 1/62, D = 1/62 (tie: id)
        Assert.Equal([1L, 10L, 2L, 11L], fused.Select(f => f.ChunkId));
        Assert.Equal(1.0 / 61 + 1.0 / 63, fused[0].Score, 12);
        Assert.Equal(1.0 / 62, fused[3].Score, 12);
    }

    [Fact]
    public void Weights_change_the_order()
    {
        var fused = ReciprocalRankFusion.Fuse([Lexical, Dense], [1.0, 2.0]);
        // C = 1/63 + 2/61 = .04866, A = 1/61 + 2/63 = .04814, D = 2/62 = .03226, B = 1/62 = .01613
        Assert.Equal([10L, 1L, 11L, 2L], fused.Select(f => f.ChunkId));
        Assert.Equal(1.0 / 63 + 2.0 / 61, fused[0].Score, 12);
    }

    [Fact]
    public void Zero_weight_list_only_contributes_membership_and_k_and_top_apply()
    {
        var fused = ReciprocalRankFusion.Fuse([Lexical, Dense], [1.0, 0.0], k: 1, top: 3);
        Assert.Equal([1L, 2L, 10L], fused.Select(f => f.ChunkId));
        Assert.Equal(1.0 / 2, fused[0].Score, 12);
        Assert.Equal(1.0 / 4, fused[2].Score, 12);
    }

    [Fact]
    public void Duplicate_in_one_list_counts_once_at_its_first_rank()
    {
        var fused = ReciprocalRankFusion.Fuse([[new(5, 1), new(6, 1), new(5, 1)]]);
        Assert.Equal([5L, 6L], fused.Select(f => f.ChunkId));
        Assert.Equal(1.0 / 61, fused[0].Score, 12);
    }

    [Fact]
    public void Bad_arguments_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => ReciprocalRankFusion.Fuse([Lexical, Dense], [1.0]));
        Assert.Throws<ArgumentException>(() => ReciprocalRankFusion.Fuse([Lexical], [-1.0]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReciprocalRankFusion.Fuse([Lexical], k: 0));
    }

    // q = (1,0); a = q; a2 is a near-duplicate of a; b at 60°; c orthogonal.
    private static readonly Dictionary<long, float[]> Vectors = new()
    {
        [1] = [1f, 0f], [2] = [0.995f, 0.0998f], [3] = [0.5f, 0.8660254f], [4] = [0f, 1f],
    };
    private static readonly IReadOnlyList<RankedChunk> Candidates = [new(1, .9), new(2, .8), new(3, .7), new(4, .6)];

    [Fact]
    public void Mmr_with_lambda_one_is_relevance_order()
    {
        var sel = Mmr.Select(Candidates, [1f, 0f], Vectors, 1.0, 4);
        Assert.Equal([1L, 2L, 3L, 4L], sel.Select(s => s.ChunkId));
        Assert.Equal(0.9, sel[0].Score);
    }

    [Fact]
    public void Mmr_with_low_lambda_skips_the_near_duplicate()
    {
        // step 2 (λ=.3): a2 = .3·.995 − .7·.995 = −.398, b = .15 − .35 = −.2, c = 0 − 0 = 0 → c
        // step 3: a2 = .2985 − .7·.995 = −.398, b = .15 − .7·.866 = −.456 → a2
        var sel = Mmr.Select(Candidates, [1f, 0f], Vectors, 0.3, 3);
        Assert.Equal([1L, 4L, 2L], sel.Select(s => s.ChunkId));
    }

    [Fact]
    public void Mmr_rejects_missing_vectors_and_bad_lambda()
    {
        Assert.Throws<ArgumentException>(() => Mmr.Select([new(99, 1)], [1f, 0f], Vectors, 0.5, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Mmr.Select(Candidates, [1f, 0f], Vectors, 1.5, 1));
        Assert.Empty(Mmr.Select(Candidates, [1f, 0f], Vectors, 0.5, 0));
    }
}
