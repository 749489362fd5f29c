using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenBook.Models.Formats.ChatTemplates;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Tests.Tokenization;

namespace OpenBook.Models.Tests.ChatTemplates;

public class ChatTemplateTests
{
    private static string Dir => Path.Combine(Fixtures.Root, "chat_templates");

    private static ChatTemplate Load(string family) => ChatTemplate.Parse(File.ReadAllText(Path.Combine(Dir, family + ".jinja")));

    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "Answer from the handbook."),
        new(ChatRole.User, "When does the canteen open?"),
        new(ChatRole.Assistant, "At 12:00 [1]."),
        new(ChatRole.User, "And when does it close?"),
    ];

    // Exact strings typed from each family's documented prompt format (independent of the jinja2 reference).
    [Theory]
    [InlineData("smollm2", "<|im_start|>system\nAnswer from the handbook.<|im_end|>\n<|im_start|>user\nWhen does the canteen open?<|im_end|>\n<|im_start|>assistant\nAt 12:00 [1].<|im_end|>\n<|im_start|>user\nAnd when does it close?<|im_end|>\n<|im_start|>assistant\n")]
    [InlineData("qwen2", "<|im_start|>system\nAnswer from the handbook.<|im_end|>\n<|im_start|>user\nWhen does the canteen open?<|im_end|>\n<|im_start|>assistant\nAt 12:00 [1].<|im_end|>\n<|im_start|>user\nAnd when does it close?<|im_end|>\n<|im_start|>assistant\n")]
    [InlineData("qwen2.5", "<|im_start|>system\nAnswer from the handbook.<|im_end|>\n<|im_start|>user\nWhen does the canteen open?<|im_end|>\n<|im_start|>assistant\nAt 12:00 [1].<|im_end|>\n<|im_start|>user\nAnd when does it close?<|im_end|>\n<|im_start|>assistant\n")]
    [InlineData("tinyllama", "<|system|>\nAnswer from the handbook.</s>\n<|user|>\nWhen does the canteen open?</s>\n<|assistant|>\nAt 12:00 [1].</s>\n<|user|>\nAnd when does it close?</s>\n<|assistant|>\n")]
    [InlineData("llama3", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer from the handbook.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhen does the canteen open?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nAt 12:00 [1].<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd when does it close?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
    [InlineData("llama3.2", "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nAnswer from the handbook.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhen does the canteen open?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nAt 12:00 [1].<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd when does it close?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
    public void Real_templates_render_the_exact_prompt(string family, string expected)
    {
        var (bos, eos) = family switch
        {
            "llama3" or "llama3.2" => ("<|begin_of_text|>", "<|eot_id|>"), "tinyllama" => ("<s>", "</s>"), _ => ("", "<|im_end|>"),
        };
        var template = Load(family);
        template.Now = () => new DateTime(2024, 7, 26);
        Assert.Equal(expected, template.Render(Conversation, addGenerationPrompt: true, bos, eos));
    }

    [Theory]
    [InlineData("smollm2", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")]
    [InlineData("qwen2", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")]
    [InlineData("qwen2.5", "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")]
    [InlineData("tinyllama", "<|user|>\nHi</s>\n")]
    public void Default_system_prompt_and_no_generation_prompt(string family, string expected) =>
        Assert.Equal(expected, Load(family).Render([new ChatMessage(ChatRole.User, "Hi")], addGenerationPrompt: false, "<s>", "</s>"));

    public static TheoryData<string, string> ReferenceCases()
    {
        var data = new TheoryData<string, string>();
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json")));
        foreach (var fam in doc.RootElement.GetProperty("rendered").EnumerateObject())
            foreach (var conv in fam.Value.EnumerateObject()) data.Add(fam.Name, conv.Name);
        return data;
    }

    /// <summary>Every template × conversation against real Jinja2 (tools/reference/chat-templates-reference.py).</summary>
    [Theory]
    [MemberData(nameof(ReferenceCases))]
    public void Matches_jinja2(string family, string conversation)
    {
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json")));
        using var convs = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "conversations.json")));
        var vars = (Dictionary<string, object?>)JsonValues.From(convs.RootElement.GetProperty(conversation))!;
        foreach (var p in expected.RootElement.GetProperty("specials").EnumerateObject()) vars[p.Name] = p.Value.GetString();
        var want = expected.RootElement.GetProperty("rendered").GetProperty(family).GetProperty(conversation).GetString();
        var template = Load(family);
        template.Now = () => new DateTime(2024, 7, 26); // as the reference script pins strftime_now
        Assert.Equal(want, template.Render(vars));
    }

    [Fact]
    public void Fixture_tokenizer_carries_the_smollm2_template_and_its_markers_encode_as_special_tokens()
    {
        var tok = HfTokenizer.FromDirectory(Fixtures.Tokenizer("smollm2"));
        var prompt = ChatTemplate.Apply(tok, [new ChatMessage(ChatRole.User, "When does the library open?")]);
        Assert.StartsWith("<|im_start|>system\n", prompt);
        var ids = ChatTemplate.ApplyAndEncode(tok, [new ChatMessage(ChatRole.User, "When does the library open?")]);
        Assert.Equal(tok.Encode(prompt, addSpecialTokens: false), ids);
        Assert.Equal(1, ids[0]); // <|im_start|>
        Assert.Equal(2, ids.Count(i => i == 2)); // <|im_end|> after the system and the user turn; the assistant turn is open
        Assert.Equal(prompt, tok.Decode(ids));
    }

    [Fact]
    public void Training_mask_covers_exactly_the_assistant_turns()
    {
        var tok = HfTokenizer.FromDirectory(Fixtures.Tokenizer("smollm2"));
        ChatMessage[] conversation =
        [
            new(ChatRole.System, "Answer from the handbook."), new(ChatRole.User, "When is lunch?"),
            new(ChatRole.Assistant, "From 12:00 [1]."), new(ChatRole.User, "Thanks"), new(ChatRole.Assistant, "You are welcome."),
        ];
        var (ids, mask) = ChatTemplate.EncodeForTraining(tok, conversation);
        Assert.Equal(ChatTemplate.Apply(tok, conversation, addGenerationPrompt: false), tok.Decode(ids));
        // The masked tokens spell the assistant contents, each followed by the end-of-turn marker (and newline).
        var learned = tok.Decode(ids.Where((_, i) => mask[i]).ToArray());
        Assert.Equal("From 12:00 [1].<|im_end|>\nYou are welcome.<|im_end|>\n", learned);
        Assert.DoesNotContain(true, mask[..5]);
    }

    [Fact]
    public void Tokenizer_without_template_gives_a_clear_error()
    {
        var tok = HfTokenizer.FromDirectory(Fixtures.Tokenizer("gpt2"));
        var ex = Assert.Throws<OpenBookException>(() => ChatTemplate.FromTokenizer(tok));
        Assert.Contains("chat_template", ex.Message);
    }

    [Fact]
    public void Raise_exception_surfaces_the_templates_message()
    {
        var t = ChatTemplate.Parse("{% if messages[0]['role'] == 'assistant' %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}");
        var ex = Assert.Throws<ChatTemplateException>(() => t.Render([new ChatMessage(ChatRole.Assistant, "x")]));
        Assert.Contains("Conversation roles must alternate", ex.Message);
    }

    [Theory]
    [InlineData("{% if x %}unclosed", 1, "endif")]
    [InlineData("line1\n{{ 'a' + }}", 2, "unexpected")]
    [InlineData("{% for x in y %}\n{% endif %}", 1, "endfor")]
    [InlineData("{{ x | nosuchfilter }}", 1, "nosuchfilter")]
    [InlineData("{% while true %}{% endwhile %}", 1, "while")]
    public void Errors_name_the_template_line(string source, int line, string fragment)
    {
        var ex = Assert.ThrowsAny<OpenBookException>(() => ChatTemplate.Parse(source).Render(new Dictionary<string, object?>()));
        Assert.Contains($"line {line}", ex.Message);
        Assert.Contains(fragment, ex.Message);
    }

    [Fact]
    public void Strftime_now_uses_the_pinned_clock()
    {
        var t = ChatTemplate.Parse("Today Date: {{ strftime_now('%d %b %Y') }}");
        t.Now = () => new DateTime(2024, 7, 26);
        Assert.Equal("Today Date: 26 Jul 2024", t.Render(new Dictionary<string, object?>()));
    }
}

/// <summary>Converts JSON to template values (dictionaries, lists, strings, longs, doubles, bools, null).</summary>
internal static class JsonValues
{
    public static object? From(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().ToDictionary(p => p.Name, p => From(p.Value)),
        JsonValueKind.Array => e.EnumerateArray().Select(From).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var i) ? (object)i : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };
}
