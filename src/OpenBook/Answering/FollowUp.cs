using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using OpenBook.Retrieval.Lexical;

namespace OpenBook.Answering;

/// <summary>A question turned into the query it is retrieved with.</summary>
/// <param name="Query">The standalone retrieval query (the question itself when it stands alone).</param>
/// <param name="Method">"none" (the question stands alone), "rule" (the deterministic rewrite) or "model" (the language model's rewrite).</param>
public sealed record FollowUpQuery(string Query, string Method)
{
    /// <summary>Whether the query differs from the question.</summary>
    public bool Rewritten => Method != "none";
}

/// <summary>
/// Rewrites a follow-up ("And in Boston?") into a standalone retrieval query ("How many vacation days do employees in
/// Boston get?") from the conversation so far. Without a model the rewrite is deterministic: the follow-up's new terms
/// take the place of the matching part of the previous standalone question (the words after the same preposition, or
/// its last proper noun), else they are appended to it. With a model, the model writes the standalone question, and
/// its rewrite is kept only if it keeps every new term of the follow-up (otherwise the rule's rewrite is used).
/// Used by <c>openbook chat</c> and by the server.
/// </summary>
public static partial class FollowUp
{
    private static readonly HashSet<string> Fillers = new(StringComparer.OrdinalIgnoreCase)
    {
        "and", "what", "about", "how", "also", "else", "too", "then", "same", "again", "please", "ok", "okay", "thanks",
    };

    private static readonly string[] Openers = ["and ", "what about ", "how about ", "also ", "same for ", "and what about ", "what if "];
    private static readonly string[] Pronouns = ["there", "it", "they", "that", "those", "them", "this", "these", "he", "she"];
    private static readonly string[] Prepositions = ["in", "at", "for", "on", "from", "to", "with", "during", "under", "of"];

    /// <summary>Longest follow-up the rule treats as elliptical (in content words).</summary>
    private const int ShortFollowUpTerms = 2;

    /// <summary>Whether <paramref name="question"/> reads as a follow-up that needs the conversation to be understood.</summary>
    public static bool LooksLikeFollowUp(string question)
    {
        var q = (question ?? "").Trim().ToLowerInvariant();
        if (q.Length == 0) return false;
        if (Openers.Any(o => q.StartsWith(o, StringComparison.Ordinal))) return true;
        var words = Words(q);
        var content = words.Where(w => !StopWords.Contains(w) && !Fillers.Contains(w)).ToList();
        if (content.Count <= ShortFollowUpTerms && words.Count <= 4) return true;
        return content.Count <= 3 && words.Any(w => Pronouns.Contains(w));
    }

    /// <summary>
    /// The standalone query of the last user turn in <paramref name="userTurns"/> (oldest first), each turn rewritten
    /// against the standalone query before it by the rule.
    /// </summary>
    public static string StandaloneByRule(IEnumerable<string> userTurns)
    {
        string? previous = null;
        foreach (var turn in userTurns)
            previous = previous is null || !LooksLikeFollowUp(turn) ? turn : RewriteByRule(turn, previous);
        return previous ?? "";
    }

    /// <summary>The deterministic rewrite of <paramref name="followUp"/> against <paramref name="previousQuery"/> (see the class summary).</summary>
    public static string RewriteByRule(string followUp, string previousQuery)
    {
        var prev = previousQuery.Trim();
        var tokens = WordTokens(followUp);
        var fresh = tokens.Where(t => !StopWords.Contains(t.ToLowerInvariant()) && !Fillers.Contains(t) && !Pronouns.Contains(t.ToLowerInvariant())).ToList();
        if (fresh.Count == 0) return prev;
        var phrase = string.Join(' ', fresh);
        var firstFresh = tokens.IndexOf(fresh[0]);
        var preposition = firstFresh > 0 && Prepositions.Contains(tokens[firstFresh - 1].ToLowerInvariant()) ? tokens[firstFresh - 1].ToLowerInvariant() : null;

        // 1. "…employees in Berlin get?" + "And in Boston?": the words after the same preposition are replaced.
        if (preposition is not null)
        {
            var slot = new Regex($@"\b{preposition}\s+(?:the\s+|a\s+)?((?:[\p{{Lu}}\d][\w\-]*)(?:\s+[\p{{Lu}}\d][\w\-]*)*)", RegexOptions.CultureInvariant);
            var matches = slot.Matches(prev);
            if (matches.Count > 0) return Replace(prev, matches[^1].Groups[1], phrase);
        }
        // 2. A proper noun replaces the previous question's last proper noun ("…on a Berlin contract…").
        if (char.IsUpper(fresh[0][0]))
        {
            var names = ProperNoun().Matches(prev).Where(m => m.Index > 0 && !StopWords.Contains(m.Value.ToLowerInvariant())).ToList();
            if (names.Count > 0) return Replace(prev, names[^1], phrase);
        }
        // 3. Otherwise the new terms are added to the previous question.
        return prev.TrimEnd('?', '.', ' ') + " " + phrase + "?";
    }

    private static string Replace(string text, Capture capture, string with) =>
        text[..capture.Index] + with + text[(capture.Index + capture.Length)..];

    /// <summary>
    /// The retrieval query for <paramref name="question"/> after <paramref name="history"/> (user and assistant turns,
    /// oldest first). A question that stands alone, or one without history, is returned as it is. With
    /// <paramref name="model"/>, a follow-up is rewritten by the model (kept only when it keeps the follow-up's new
    /// terms); otherwise, or when the model's rewrite is not usable, by the rule.
    /// </summary>
    public static async Task<FollowUpQuery> RewriteAsync(string question, IReadOnlyList<ChatMessage> history, IChatClient? model = null,
        CancellationToken cancellationToken = default)
    {
        var userTurns = history.Where(m => m.Role == ChatRole.User).Select(m => m.Text).Where(t => !string.IsNullOrWhiteSpace(t)).ToList();
        if (userTurns.Count == 0 || !LooksLikeFollowUp(question)) return new FollowUpQuery(question, "none");
        var rule = RewriteByRule(question, StandaloneByRule(userTurns));
        if (model is null) return new FollowUpQuery(rule, "rule");
        var rewritten = await AskModelAsync(model, question, history, cancellationToken).ConfigureAwait(false);
        return rewritten is not null && KeepsNewTerms(rewritten, question) ? new FollowUpQuery(rewritten, "model") : new FollowUpQuery(rule, "rule");
    }

    /// <summary>Longest slice of each earlier turn shown to the model.</summary>
    private const int TurnChars = 600;
    /// <summary>Earlier turns shown to the model.</summary>
    private const int Turns = 6;

    private static async Task<string?> AskModelAsync(IChatClient model, string question, IReadOnlyList<ChatMessage> history, CancellationToken ct)
    {
        var transcript = new StringBuilder();
        foreach (var m in history.TakeLast(Turns))
        {
            var text = m.Text.Length <= TurnChars ? m.Text : m.Text[..TurnChars] + "…";
            transcript.Append(m.Role == ChatRole.User ? "User: " : "Assistant: ").AppendLine(text.ReplaceLineEndings(" "));
        }
        ChatMessage[] prompt =
        [
            new(ChatRole.System, "You rewrite follow-up questions. Given a conversation and a follow-up question, write one standalone question " +
                                 "that means the same and can be understood without the conversation. Keep names, places and numbers. Reply with the question only."),
            new(ChatRole.User, $"Conversation:\n{transcript}\nFollow-up: {question}\nStandalone question:"),
        ];
        var response = await model.GetResponseAsync(prompt, new ChatOptions { MaxOutputTokens = 64, Temperature = 0 }, ct).ConfigureAwait(false);
        var line = response.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        if (line is null) return null;
        if (line.StartsWith("Standalone question:", StringComparison.OrdinalIgnoreCase)) line = line["Standalone question:".Length..];
        line = line.Trim('"', '\'', ' ');
        return line.Length is < 3 or > 400 ? null : line;
    }

    /// <summary>Whether <paramref name="rewrite"/> mentions every content word of <paramref name="followUp"/>.</summary>
    private static bool KeepsNewTerms(string rewrite, string followUp)
    {
        var have = Words(rewrite.ToLowerInvariant()).ToHashSet();
        return Words(followUp.ToLowerInvariant()).Where(w => !StopWords.Contains(w) && !Fillers.Contains(w) && !Pronouns.Contains(w)).All(have.Contains);
    }

    private static List<string> Words(string text) => WordTokens(text).Select(t => t.ToLowerInvariant()).ToList();

    private static List<string> WordTokens(string text) => WordPattern().Matches(text).Select(m => m.Value).ToList();

    [GeneratedRegex(@"[\p{L}\p{N}][\p{L}\p{N}\-']*", RegexOptions.CultureInvariant)]
    private static partial Regex WordPattern();

    [GeneratedRegex(@"\b\p{Lu}[\p{L}\-]*(?:\s+\p{Lu}[\p{L}\-]*)*", RegexOptions.CultureInvariant)]
    private static partial Regex ProperNoun();
}
