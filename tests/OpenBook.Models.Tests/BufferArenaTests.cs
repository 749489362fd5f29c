using OpenBook.Models.Tensors;

namespace OpenBook.Models.Tests;

public class BufferArenaTests
{
    [Fact]
    public void Rent_gives_exact_lengths_and_zeroes_unless_told_not_to()
    {
        var arena = new BufferArena();
        var a = arena.Rent(100);
        Assert.Equal(100, a.Length);
        Array.Fill(a, 7f);
        arena.Return(a);
        var b = arena.Rent(100);
        Assert.Same(a, b);
        Assert.All(b, v => Assert.Equal(0f, v));
        Array.Fill(b, 3f);
        arena.Return(b);
        var c = arena.Rent(100, clear: false);
        Assert.Same(a, c);
        Assert.All(c, v => Assert.Equal(3f, v));
        Assert.Empty(arena.Rent(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => arena.Rent(-1));
    }

    [Fact]
    public void Reset_makes_the_pass_arrays_available_to_the_next_pass()
    {
        var arena = new BufferArena();
        var first = new[] { arena.Rent(64), arena.Rent(64), arena.Rent(32) };
        arena.Reset();
        var second = new[] { arena.Rent(64), arena.Rent(64), arena.Rent(32) };
        Assert.Equal(first.OrderBy(RuntimeHelpersHash), second.OrderBy(RuntimeHelpersHash));
        Assert.Equal(4L * 160, arena.Bytes);
    }

    [Fact]
    public void Reset_drops_arrays_the_last_pass_did_not_use()
    {
        var arena = new BufferArena();
        arena.Rent(1000);
        arena.Reset();
        arena.Rent(10); // a pass of another shape
        arena.Reset();
        Assert.Equal(40L, arena.Bytes);
    }

    [Fact]
    public void Returning_a_foreign_or_already_returned_array_throws()
    {
        var arena = new BufferArena();
        var a = arena.Rent(8);
        arena.Return(a);
        Assert.Throws<InvalidOperationException>(() => arena.Return(a));
        Assert.Throws<InvalidOperationException>(() => arena.Return(new float[8]));
    }

    [Fact]
    public void A_returned_array_is_reused_within_the_pass_and_counted_once()
    {
        var arena = new BufferArena();
        var a = arena.Rent(16);
        arena.Return(a);
        Assert.Same(a, arena.Rent(16));
        arena.Reset();
        Assert.Equal(64L, arena.Bytes);
    }

    [Fact]
    public void Concurrent_rents_get_distinct_arrays()
    {
        var arena = new BufferArena();
        var arrays = new float[200][];
        Parallel.For(0, arrays.Length, i => arrays[i] = arena.Rent(32));
        Assert.Equal(arrays.Length, arrays.Distinct(ReferenceEqualityComparer.Instance).Count());
        arena.Reset();
        var again = new float[200][];
        Parallel.For(0, again.Length, i => again[i] = arena.Rent(32));
        Assert.Equal(arrays.Length, arrays.Intersect(again, ReferenceEqualityComparer.Instance).Count());
    }

    private static int RuntimeHelpersHash(float[] a) => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(a);
}
