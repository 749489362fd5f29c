namespace OpenBook.Models.Formats.ChatTemplates;

/// <summary>
/// Bounds on the work a chat template (untrusted: it ships inside a model's tokenizer_config.json) may do.
/// Past a bound, parsing or rendering fails with one <see cref="JinjaException"/> naming the limit. The defaults
/// are orders of magnitude above what real templates need.
/// </summary>
public sealed record ChatTemplateLimits
{
    /// <summary>The defaults.</summary>
    public static ChatTemplateLimits Default { get; } = new();

    /// <summary>Deepest nesting of parentheses / brackets / unary operators in an expression, and of blocks (if/for/macro). Default 64.</summary>
    public int MaxNesting { get; init; } = 64;

    /// <summary>Deepest macro call chain (recursion). Default 64.</summary>
    public int MaxCallDepth { get; init; } = 64;

    /// <summary>Deepest expression evaluation (long operator chains, values nested in values). Default 512.</summary>
    public int MaxEvalDepth { get; init; } = 512;

    /// <summary>Loop iterations in one render, all loops together; also the longest list or <c>range()</c>. Default 1,000,000.</summary>
    public long MaxLoopIterations { get; init; } = 1_000_000;

    /// <summary>Longest output, and longest string value (repetition, concatenation, join, replace). Default 8 M characters.</summary>
    public long MaxOutputChars { get; init; } = 8L << 20;
}
