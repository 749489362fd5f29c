using System.Text;
using System.Text.RegularExpressions;

namespace OpenBook.Answering;

/// <summary>Prompts and answer conventions shared by generation, training and inference.</summary>
public static partial class RaftPrompt
{
    /// <summary>The system prompt of RAFT training examples and of RAFT answers.</summary>
    public const string SystemPrompt =
        "You answer questions using the documents given with the question. Some documents are irrelevant. Quote the sentences you rely on " +
        "between " + RaftPrompt.BeginQuote + " and " + RaftPrompt.EndQuote + ", reason step by step, and end with \"" + RaftPrompt.AnswerMarker + " <answer>\".";
    /// <summary>Marks the start of a verbatim quote in a chain-of-thought answer.</summary>
    public const string BeginQuote = "##begin_quote##";
    /// <summary>Marks the end of a verbatim quote.</summary>
    public const string EndQuote = "##end_quote##";
    /// <summary>Introduces the final answer.</summary>
    public const string AnswerMarker = "<ANSWER>:";

    /// <summary>The training/inference prompt: every document in &lt;DOCUMENT&gt; tags, then the question.</summary>
    public static string Instruction(IReadOnlyList<string> documents, string question)
    {
        var sb = new StringBuilder();
        foreach (var d in documents) sb.Append("<DOCUMENT>").Append(d).Append("</DOCUMENT>\n");
        sb.Append('\n').Append(question);
        return sb.ToString();
    }

    /// <summary>Asks for questions about one chunk, one per line.</summary>
    public static string QuestionRequest(string chunk, int count) =>
        $"Below is an excerpt of an organisation's documents. Write {count} different questions that an employee could ask and that this " +
        "excerpt answers on its own. Vary the wording; do not copy phrases from the excerpt. Reply with the questions only, one per line, " +
        $"without numbering.\n\nExcerpt:\n{chunk}";

    /// <summary>Asks for a chain-of-thought answer that quotes the oracle.</summary>
    public static string AnswerRequest(string chunk, string question) =>
        $"Question: {question}\nContext: {chunk}\n\nAnswer the question using only the context. First reason step by step; whenever you " +
        $"use the context, copy the exact sentence between {BeginQuote} and {EndQuote}. Explain how the quotes lead to the answer. " +
        $"End with a line \"{AnswerMarker} <short final answer>\".";

    /// <summary>The quoted spans of a chain-of-thought answer.</summary>
    public static IReadOnlyList<string> Quotes(string cot) => QuoteRegex().Matches(cot).Select(m => m.Groups[1].Value.Trim()).ToList();

    /// <summary>The final answer after <see cref="AnswerMarker"/>, or null.</summary>
    public static string? FinalAnswer(string cot)
    {
        var i = cot.LastIndexOf(AnswerMarker, StringComparison.Ordinal);
        return i < 0 ? null : cot[(i + AnswerMarker.Length)..].Trim() is { Length: > 0 } a ? a : null;
    }

    [GeneratedRegex("##begin_quote##(.*?)##end_quote##", RegexOptions.Singleline)]
    private static partial Regex QuoteRegex();

    /// <summary>Whitespace-collapsed text for verbatim checks (line breaks inside a quote do not matter).</summary>
    public static string Collapse(string s) => string.Join(' ', s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}

