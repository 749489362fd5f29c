using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using OpenBook.Models.Formats.ChatTemplates;
using OpenBook.Models.Formats.Tokenization;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>What to do with an example longer than the maximum sequence length.</summary>
public enum TruncationPolicy
{
    /// <summary>Keep the first maxLength tokens (HF's default <c>truncation_side="right"</c>).</summary>
    Right,
    /// <summary>Keep the last maxLength tokens (the final answer survives, the start of the context is lost).</summary>
    Left,
    /// <summary>Skip the example (<see cref="ExampleEncoder.Encode"/> returns null).</summary>
    Drop,
}

/// <summary>
/// A conversation rendered with the chat template and tokenized. <see cref="Targets"/>[t] &gt; 0 means token t is a
/// training target, predicted from position t−1, with that loss weight; it is 0 on system/user turns, on the
/// template's headers, on assistant turns of weight 0 and always on token 0 (it has no predecessor).
/// </summary>
public sealed record TokenizedExample(int[] Ids, float[] Targets, int Line, bool Truncated)
{
    /// <summary>Tokens of the whole conversation before truncation.</summary>
    public int FullLength { get; init; }

    /// <summary>Number of tokens with a target &gt; 0.</summary>
    public int TargetCount => Targets.Count(t => t > 0);

    /// <summary>Tokens kept.</summary>
    public int Length => Ids.Length;
}

/// <summary>Everything <see cref="ExampleEncoder.EncodeAll"/> produced, and what it had to report.</summary>
public sealed record EncodedDataset(IReadOnlyList<TokenizedExample> Examples, IReadOnlyList<DatasetIssue> Errors, IReadOnlyList<DatasetIssue> Warnings);

/// <summary>
/// Renders <see cref="ChatExample"/>s with the tokenizer's chat template and marks the assistant tokens to learn
/// (TRL-style prefix spans from <see cref="ChatTemplate.EncodeAssistantSpans"/>: each assistant turn's content and
/// end-of-turn marker, not its header), respecting each turn's weight, then truncates.
/// </summary>
public static class ExampleEncoder
{
    private static readonly ConditionalWeakTable<HfTokenizer, ChatTemplate> Templates = new();

    /// <summary>
    /// Encodes one conversation. Returns null only under <see cref="TruncationPolicy.Drop"/> when it is longer than
    /// <paramref name="maxLength"/>. A template error (e.g. roles that must alternate) throws an
    /// <see cref="OpenBookException"/> naming the line.
    /// </summary>
    public static TokenizedExample? Encode(ChatExample example, HfTokenizer tokenizer, int maxLength, TruncationPolicy policy) =>
        EncodeCore(example, tokenizer, maxLength, policy, out _);

    private static TokenizedExample? EncodeCore(ChatExample example, HfTokenizer tokenizer, int maxLength, TruncationPolicy policy, out int fullLength)
    {
        if (maxLength < 2) throw new OpenBookException($"max length must be ≥ 2 tokens (got {maxLength})");
        var template = Templates.GetValue(tokenizer, ChatTemplate.FromTokenizer);
        int[] ids;
        IReadOnlyList<MessageSpan> spans;
        try
        {
            (ids, spans) = ChatTemplate.EncodeAssistantSpans(tokenizer, example.ToChatMessages(), template);
        }
        catch (OpenBookException ex)
        {
            throw new OpenBookException($"line {example.Line}: {ex.Message}", ex);
        }
        var targets = new float[ids.Length];
        foreach (var span in spans)
            targets.AsSpan(span.Start, span.End - span.Start).Fill(example.Messages[span.Message].Weight);
        fullLength = ids.Length;
        bool truncated = fullLength > maxLength;
        if (truncated)
        {
            if (policy == TruncationPolicy.Drop) return null;
            int start = policy == TruncationPolicy.Left ? fullLength - maxLength : 0;
            ids = ids[start..(start + maxLength)];
            targets = targets[start..(start + maxLength)];
        }
        if (targets.Length > 0) targets[0] = 0;
        return new TokenizedExample(ids, targets, example.Line, truncated) { FullLength = fullLength };
    }

    /// <summary>
    /// Encodes a dataset: template failures become errors, truncated or dropped examples and examples left with no
    /// target token become warnings (all with their line). Examples without targets are kept in the list — the
    /// <see cref="BatchPlanner"/> skips them — so counts stay comparable.
    /// </summary>
    public static EncodedDataset EncodeAll(IEnumerable<ChatExample> examples, HfTokenizer tokenizer, int maxLength, TruncationPolicy policy)
    {
        var list = new List<TokenizedExample>();
        var errors = new List<DatasetIssue>();
        var warnings = new List<DatasetIssue>();
        foreach (var example in examples)
        {
            TokenizedExample? encoded;
            int full;
            try { encoded = EncodeCore(example, tokenizer, maxLength, policy, out full); }
            catch (OpenBookException ex) when (ex.InnerException is OpenBookException inner)
            {
                errors.Add(new DatasetIssue(example.Line, inner.Message));
                continue;
            }
            if (encoded is null)
            {
                warnings.Add(new DatasetIssue(example.Line, $"{full} tokens after templating, over the maximum length {maxLength}: dropped"));
                continue;
            }
            if (encoded.Truncated)
                warnings.Add(new DatasetIssue(example.Line, $"{encoded.FullLength} tokens after templating, over the maximum length {maxLength}: truncated ({policy.ToString().ToLowerInvariant()})"));
            if (encoded.TargetCount == 0 && example.Messages.Any(m => m.Role == ChatRole.Assistant && m.Weight > 0))
                warnings.Add(new DatasetIssue(example.Line, "no assistant token left inside the kept window; the example will be skipped"));
            list.Add(encoded);
        }
        return new EncodedDataset(list, errors, warnings);
    }
}
