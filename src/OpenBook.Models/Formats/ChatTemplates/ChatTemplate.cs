using System.Text;
using Microsoft.Extensions.AI;
using OpenBook.Models.Formats.Tokenization;

namespace OpenBook.Models.Formats.ChatTemplates;

/// <summary>Raised by a template's <c>raise_exception(...)</c> (e.g. "Conversation roles must alternate").</summary>
public sealed class ChatTemplateException(string message) : OpenBookException("chat template: " + message);

/// <summary>
/// A Hugging Face chat template (the Jinja <c>chat_template</c> of tokenizer_config.json), rendered with the
/// same environment transformers uses: <c>trim_blocks</c>, <c>lstrip_blocks</c>, <c>raise_exception</c>,
/// <c>tojson</c>, <c>strftime_now</c> and <c>namespace</c>. Supports the Jinja subset real templates use:
/// if/elif/else, for (with loop.*, filters, else), set (incl. namespace attributes and blocks), macros,
/// filters (trim, tojson, length, join, default, selectattr, map, …), tests (defined, none, string, …),
/// string methods (strip, startswith, split, …) and slicing.
/// </summary>
public sealed class ChatTemplate
{
    private readonly List<Node> _nodes;

    private ChatTemplate(string source, List<Node> nodes, ChatTemplateLimits limits)
    {
        Source = source;
        _nodes = nodes;
        Limits = limits;
    }

    /// <summary>Bounds on rendering (recursion, loops, output size); a template past them fails with one clear error.</summary>
    public ChatTemplateLimits Limits { get; init; }

    /// <summary>The template text.</summary>
    public string Source { get; }

    /// <summary>Parses a template; syntax errors name the template line.</summary>
    public static ChatTemplate Parse(string source, ChatTemplateLimits? limits = null)
    {
        limits ??= ChatTemplateLimits.Default;
        try
        {
            return new(source, JinjaParser.Parse(source, limits.MaxNesting), limits);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new ChatTemplateException("the template is nested too deeply to parse");
        }
    }

    /// <summary>The tokenizer's default chat template, or a clear error when tokenizer_config.json has none.</summary>
    public static ChatTemplate FromTokenizer(HfTokenizer tokenizer) =>
        Parse(tokenizer.ChatTemplate ?? throw new OpenBookException(
            "tokenizer_config.json has no chat_template; this looks like a base (not instruction-tuned) model"));

    /// <summary>Clock used by <c>strftime_now</c> (tests pin it).</summary>
    public Func<DateTime> Now { get; set; } = () => DateTime.Now;

    /// <summary>Renders with arbitrary variables (messages as lists of dictionaries, etc.).</summary>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        var sb = new StringBuilder();
        try
        {
            new JinjaRuntime(variables, Now, Limits).Render(_nodes, sb);
        }
        catch (Exception e) when (e is InsufficientExecutionStackException or OutOfMemoryException)
        {
            throw new ChatTemplateException($"rendering ran out of {(e is OutOfMemoryException ? "memory" : "stack")}; the template is too deep or too large");
        }
        catch (Exception e) when (e is InvalidCastException or ArgumentException or OverflowException or IndexOutOfRangeException or FormatException)
        {
            throw new ChatTemplateException($"rendering failed ({e.GetType().Name}: {e.Message})");
        }
        return sb.ToString();
    }

    /// <summary>
    /// Renders a conversation. Each message becomes <c>{"role": …, "content": …}</c> (the text of
    /// <see cref="ChatMessage.Text"/>); <paramref name="bosToken"/> / <paramref name="eosToken"/> are usually the
    /// tokenizer's <see cref="HfTokenizer.BosToken"/> and <see cref="HfTokenizer.EosToken"/>.
    /// </summary>
    public string Render(IEnumerable<ChatMessage> messages, bool addGenerationPrompt = true, string? bosToken = null,
        string? eosToken = null, IReadOnlyDictionary<string, object?>? extraVariables = null)
    {
        var vars = new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => (object?)new Dictionary<string, object?> { ["role"] = m.Role.Value, ["content"] = m.Text }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = bosToken ?? "",
            ["eos_token"] = eosToken ?? "",
        };
        if (extraVariables is not null) foreach (var (k, v) in extraVariables) vars[k] = v;
        return Render(vars);
    }

    /// <summary>Renders a conversation with the tokenizer's template and special tokens.</summary>
    public static string Apply(HfTokenizer tokenizer, IEnumerable<ChatMessage> messages, bool addGenerationPrompt = true) =>
        FromTokenizer(tokenizer).Render(messages, addGenerationPrompt, tokenizer.BosToken, tokenizer.EosToken);

    /// <summary>
    /// Renders a conversation with the tokenizer's template and encodes it the way transformers'
    /// <c>apply_chat_template(tokenize=True)</c> does: without adding special tokens (the template writes
    /// its own BOS where the family wants one), so the ids are ready for generation.
    /// </summary>
    public static int[] ApplyAndEncode(HfTokenizer tokenizer, IEnumerable<ChatMessage> messages, bool addGenerationPrompt = true) =>
        EncodeConversation(tokenizer, FromTokenizer(tokenizer), messages, addGenerationPrompt);

    /// <summary>
    /// Renders a conversation and encodes it with message contents treated as data: special-token text inside a
    /// message (a document containing "&lt;|im_end|&gt;&lt;|im_start|&gt;system") is tokenized as plain text and
    /// never becomes a special-token id; only the template's own markers do. For ordinary messages the ids are
    /// exactly those of encoding the rendered text. The content positions are found by rendering once more with
    /// unguessable placeholders; a template that rewrites contents in a way this cannot follow falls back to
    /// removing special-token strings from the contents before rendering.
    /// </summary>
    public static int[] EncodeConversation(HfTokenizer tokenizer, ChatTemplate template, IEnumerable<ChatMessage> messages, bool addGenerationPrompt)
    {
        var list = messages.ToList();
        var rendered = template.Render(list, addGenerationPrompt, tokenizer.BosToken, tokenizer.EosToken);
        if (ContentSpans(template, tokenizer, list, addGenerationPrompt, rendered) is { } spans)
            return tokenizer.Encode(rendered, addSpecialTokens: false, spans);
        var specials = tokenizer.AddedTokens.Where(t => t.Special && t.Content.Length > 0).Select(t => t.Content).OrderByDescending(t => t.Length).ToList();
        var cleaned = list.Select(m => new ChatMessage(m.Role, RemoveAll(m.Text, specials))).ToList();
        return tokenizer.Encode(template.Render(cleaned, addGenerationPrompt, tokenizer.BosToken, tokenizer.EosToken), addSpecialTokens: false);
    }

    private static string RemoveAll(string text, IReadOnlyList<string> markers)
    {
        // Repeat: removing one marker can join the halves of another.
        for (var guard = 0; guard < 16; guard++)
        {
            var next = markers.Aggregate(text, (t, m) => t.Replace(m, "", StringComparison.Ordinal));
            if (next == text) return text;
            text = next;
        }
        return text;
    }

    /// <summary>Where each message's content lies in <paramref name="rendered"/>, or null when it cannot be told.</summary>
    private static List<(int Start, int End)>? ContentSpans(ChatTemplate template, HfTokenizer tokenizer, List<ChatMessage> messages,
        bool addGenerationPrompt, string rendered)
    {
        var nonce = Guid.NewGuid().ToString("N");
        var placeholders = messages.Select((m, i) => new ChatMessage(m.Role, $"\uE000{nonce}:{i}\uE001")).ToList();
        string withPlaceholders;
        try { withPlaceholders = template.Render(placeholders, addGenerationPrompt, tokenizer.BosToken, tokenizer.EosToken); }
        catch (OpenBookException) { return null; } // the template inspects contents (e.g. raises on a pattern): fall back
        foreach (var trim in new[] { false, true })
        {
            var sb = new StringBuilder(rendered.Length);
            var spans = new List<(int, int)>();
            var pattern = new System.Text.RegularExpressions.Regex("\uE000" + nonce + ":(\\d+)\uE001");
            var last = 0;
            foreach (System.Text.RegularExpressions.Match match in pattern.Matches(withPlaceholders))
            {
                sb.Append(withPlaceholders, last, match.Index - last);
                var content = messages[int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)].Text;
                if (trim) content = content.Trim();
                spans.Add((sb.Length, sb.Length + content.Length));
                sb.Append(content);
                last = match.Index + match.Length;
            }
            sb.Append(withPlaceholders, last, withPlaceholders.Length - last);
            if (sb.ToString() == rendered) return spans;
        }
        return null;
    }

    /// <summary>
    /// Encodes a whole conversation for supervised fine-tuning: the ids of the rendered chat (no generation prompt)
    /// and a mask that is true on the tokens the model must learn to produce — each assistant turn's content and
    /// its end-of-turn marker — and false on system/user turns and on the template's assistant headers. Spans are
    /// found the way TRL does: the ids of the conversation up to each assistant turn (with the generation prompt)
    /// must be a prefix of the ids including that turn; a template for which this does not hold is reported.
    /// </summary>
    public static (int[] Ids, bool[] AssistantMask) EncodeForTraining(HfTokenizer tokenizer, IReadOnlyList<ChatMessage> messages)
    {
        var (ids, spans) = EncodeAssistantSpans(tokenizer, messages);
        var mask = new bool[ids.Length];
        foreach (var span in spans) mask.AsSpan(span.Start, span.End - span.Start).Fill(true);
        return (ids, mask);
    }

    /// <summary>
    /// Like <see cref="EncodeForTraining"/>, but returns one token span per assistant message (its content and
    /// end-of-turn marker, without the template's assistant header), so callers can weight turns separately.
    /// Pass <paramref name="template"/> to avoid re-parsing the tokenizer's template for every conversation.
    /// </summary>
    public static (int[] Ids, IReadOnlyList<MessageSpan> AssistantSpans) EncodeAssistantSpans(
        HfTokenizer tokenizer, IReadOnlyList<ChatMessage> messages, ChatTemplate? template = null)
    {
        template ??= FromTokenizer(tokenizer);
        int[] Encode(IEnumerable<ChatMessage> m, bool genPrompt) => EncodeConversation(tokenizer, template, m, genPrompt);
        var ids = Encode(messages, false);
        var spans = new List<MessageSpan>();
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i].Role != ChatRole.Assistant) continue;
            var before = Encode(messages.Take(i), true);
            var through = i == messages.Count - 1 ? ids : Encode(messages.Take(i + 1), false); // the last turn: the whole conversation
            if (!IsPrefix(before, through) || !IsPrefix(through, ids))
                throw new OpenBookException(
                    $"chat template: the tokens before assistant message {i + 1} are not a prefix of the conversation's tokens; " +
                    "this template cannot be used to mask training targets");
            spans.Add(new MessageSpan(i, before.Length, through.Length));
        }
        return (ids, spans);
    }

    private static bool IsPrefix(int[] a, int[] b) => a.Length <= b.Length && a.AsSpan().SequenceEqual(b.AsSpan(0, a.Length));
}

/// <summary>The tokens [<see cref="Start"/>, <see cref="End"/>) that message <see cref="Message"/> (0-based) contributes.</summary>
public readonly record struct MessageSpan(int Message, int Start, int End);
