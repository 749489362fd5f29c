using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using OpenBook.Models.FineTuning.Datasets;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Tests.Tokenization;

namespace OpenBook.Models.Tests.FineTuning.Datasets;

public class ExampleEncoderTests
{
    internal static readonly Lazy<HfTokenizer> SmolLm = new(() => HfTokenizer.FromDirectory(Fixtures.Tokenizer("smollm2")));

    internal static ChatExample Chat(int line, params (ChatRole Role, string Content, float Weight)[] turns) =>
        new(turns.Select(t => new TrainingMessage(t.Role, t.Content, t.Weight)).ToList(), line);

    /// <summary>The maximal runs of consecutive target tokens, decoded.</summary>
    private static List<string> TargetRuns(TokenizedExample ex, HfTokenizer tok)
    {
        var runs = new List<string>();
        for (int t = 0; t < ex.Length; t++)
        {
            if (ex.Targets[t] <= 0) continue;
            int start = t;
            while (t < ex.Length && ex.Targets[t] > 0) t++;
            runs.Add(tok.Decode(ex.Ids[start..t]));
        }
        return runs;
    }

    [Fact]
    public void Targets_are_exactly_the_assistant_contents_and_end_of_turn_markers()
    {
        var tok = SmolLm.Value;
        var ex = Chat(7,
            (ChatRole.System, "You answer HR questions.", 1),
            (ChatRole.User, "How many vacation days carry over?", 1),
            (ChatRole.Assistant, "Up to 5 unused days, until 31 March.", 1),
            (ChatRole.User, "And sick days?", 1),
            (ChatRole.Assistant, "Sick days never carry over.", 1));
        var encoded = ExampleEncoder.Encode(ex, tok, 4096, TruncationPolicy.Right)!;

        Assert.Equal(7, encoded.Line);
        Assert.False(encoded.Truncated);
        Assert.Equal(encoded.Length, encoded.FullLength);
        // The whole sequence is the rendered template, and only the two assistant turns (after their headers) are targets.
        Assert.Equal(
            "<|im_start|>system\nYou answer HR questions.<|im_end|>\n<|im_start|>user\nHow many vacation days carry over?<|im_end|>\n" +
            "<|im_start|>assistant\nUp to 5 unused days, until 31 March.<|im_end|>\n<|im_start|>user\nAnd sick days?<|im_end|>\n" +
            "<|im_start|>assistant\nSick days never carry over.<|im_end|>\n", tok.Decode(encoded.Ids));
        Assert.Equal(["Up to 5 unused days, until 31 March.<|im_end|>\n", "Sick days never carry over.<|im_end|>\n"], TargetRuns(encoded, tok));
        Assert.All(encoded.Targets, w => Assert.True(w is 0f or 1f));
    }

    [Fact]
    public void Weight_zero_turns_are_not_targets()
    {
        var tok = SmolLm.Value;
        var ex = Chat(1,
            (ChatRole.User, "Write a haiku.", 1),
            (ChatRole.Assistant, "A bad first draft.", 0),
            (ChatRole.User, "Better, please.", 1),
            (ChatRole.Assistant, "Autumn moonlight falls.", 1));
        var encoded = ExampleEncoder.Encode(ex, tok, 4096, TruncationPolicy.Right)!;
        Assert.Equal(["Autumn moonlight falls.<|im_end|>\n"], TargetRuns(encoded, tok));
        Assert.Contains("A bad first draft.", tok.Decode(encoded.Ids));

        var allZero = ExampleEncoder.Encode(Chat(2, (ChatRole.User, "q", 1), (ChatRole.Assistant, "a", 0)), tok, 4096, TruncationPolicy.Right)!;
        Assert.Equal(0, allZero.TargetCount);
    }

    [Fact]
    public void Truncation_policies_keep_the_head_the_tail_or_drop()
    {
        var tok = SmolLm.Value;
        var ex = Chat(3, (ChatRole.User, string.Join(" ", Enumerable.Repeat("vacation policy question", 20)), 1), (ChatRole.Assistant, "The answer is short.", 1));
        var full = ExampleEncoder.Encode(ex, tok, 4096, TruncationPolicy.Right)!;
        int max = full.Length - 10;

        var right = ExampleEncoder.Encode(ex, tok, max, TruncationPolicy.Right)!;
        Assert.True(right.Truncated);
        Assert.Equal(full.Length, right.FullLength);
        Assert.Equal(full.Ids[..max], right.Ids);
        Assert.Equal(full.Targets[..max], right.Targets);

        var left = ExampleEncoder.Encode(ex, tok, max, TruncationPolicy.Left)!;
        Assert.True(left.Truncated);
        Assert.Equal(full.Ids[^max..], left.Ids);
        Assert.Equal(0f, left.Targets[0]); // the first kept token has no predecessor
        Assert.Equal(full.Targets[^(max - 1)..], left.Targets[1..]);
        Assert.Equal(full.TargetCount, left.TargetCount); // the answer sits at the end and survives

        Assert.Null(ExampleEncoder.Encode(ex, tok, max, TruncationPolicy.Drop));
        Assert.NotNull(ExampleEncoder.Encode(ex, tok, full.Length, TruncationPolicy.Drop));
    }

    [Fact]
    public void EncodeAll_reports_truncation_dropped_examples_and_examples_left_without_targets()
    {
        var tok = SmolLm.Value;
        var longUser = Chat(4, (ChatRole.User, string.Join(" ", Enumerable.Repeat("a long question", 30)), 1), (ChatRole.Assistant, "Yes.", 1));
        var fits = Chat(5, (ChatRole.User, "Hi", 1), (ChatRole.Assistant, "Hello.", 1));
        int max = ExampleEncoder.Encode(fits, tok, 4096, TruncationPolicy.Right)!.Length;

        var right = ExampleEncoder.EncodeAll([longUser, fits], tok, max, TruncationPolicy.Right);
        Assert.Equal(2, right.Examples.Count);
        Assert.Equal(0, right.Examples[0].TargetCount);
        Assert.Equal([4, 4], right.Warnings.Select(w => w.Line));
        Assert.Contains("truncated (right)", right.Warnings[0].Message);
        Assert.Contains("no assistant token left", right.Warnings[1].Message);

        var drop = ExampleEncoder.EncodeAll([longUser, fits], tok, max, TruncationPolicy.Drop);
        Assert.Equal([5], drop.Examples.Select(e => e.Line));
        Assert.EndsWith($"over the maximum length {max}: dropped", Assert.Single(drop.Warnings).Message);
    }

    [Fact]
    public void A_template_that_raises_is_an_error_on_the_example_line()
    {
        var dir = Fixtures.Tokenizer("smollm2");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")))!.AsObject();
        config["chat_template"] =
            "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}" +
            "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        var tok = HfTokenizer.FromJson(File.ReadAllText(Path.Combine(dir, "tokenizer.json")), config.ToJsonString());
        var bad = Chat(9, (ChatRole.User, "a", 1), (ChatRole.User, "b", 1), (ChatRole.Assistant, "c", 1));
        var good = Chat(10, (ChatRole.User, "a", 1), (ChatRole.Assistant, "c", 1));

        var ex = Assert.Throws<OpenBookException>(() => ExampleEncoder.Encode(bad, tok, 100, TruncationPolicy.Right));
        Assert.StartsWith("line 9: chat template: Conversation roles must alternate", ex.Message);

        var all = ExampleEncoder.EncodeAll([bad, good], tok, 100, TruncationPolicy.Right);
        Assert.Equal([10], all.Examples.Select(e => e.Line));
        Assert.Equal((9, "chat template: Conversation roles must alternate user/assistant"), (all.Errors.Single().Line, all.Errors[0].Message));
    }
}
