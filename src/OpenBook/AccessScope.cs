using OpenBook.Retrieval;

namespace OpenBook;

/// <summary>
/// Whose documents a caller may read. A document ingested with an ACL (a list of groups) is readable only by callers
/// sharing at least one group with it; a document without an ACL is readable by everyone. <see cref="AllAccess"/>
/// (administrators, explicit opt-in) reads everything. Every read of documents or chunks through <see cref="Book"/> —
/// search, ask, listing, showing, statistics, evaluation, RAFT datasets, tokenizer and pretraining corpora, removal —
/// takes a scope, so a new command cannot forget it.
/// </summary>
public sealed record AccessScope
{
    /// <summary>The caller's groups (compared case-insensitively).</summary>
    public IReadOnlyList<string> Groups { get; init; } = [];

    /// <summary>Read every document whatever its ACL (administrative use; say so in any output).</summary>
    public bool AllAccess { get; init; }

    /// <summary>Only documents without an ACL.</summary>
    public static AccessScope Public { get; } = new();

    /// <summary>Every document (administrators).</summary>
    public static AccessScope All { get; } = new() { AllAccess = true };

    /// <summary>A caller in <paramref name="groups"/> (blank names ignored).</summary>
    public static AccessScope ForGroups(IEnumerable<string>? groups) =>
        new() { Groups = groups?.Select(g => g.Trim()).Where(g => g.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase).ToArray() ?? [] };

    /// <summary>Whether a document with <paramref name="acl"/> is readable in this scope.</summary>
    public bool CanRead(IReadOnlyList<string> acl) =>
        AllAccess || acl.Count == 0 || acl.Any(a => Groups.Contains(a, StringComparer.OrdinalIgnoreCase));

    /// <summary>The scope a search filter carries (its groups and all-access flag).</summary>
    public static AccessScope Of(SearchFilter? filter) =>
        filter is null ? Public : filter.AllAccess ? All : ForGroups(filter.Groups);

    /// <summary>"all access", "public documents only" or "groups hr, it", for summaries.</summary>
    public override string ToString() =>
        AllAccess ? "all access" : Groups.Count == 0 ? "public documents only" : "groups " + string.Join(", ", Groups);
}
