using OpenBook.Models.FineTuning.Datasets;

namespace OpenBook.Models.Tests.FineTuning.Datasets;

public class DatasetValidatorTests
{
    private static string Line(string user, string assistant, string? system = null) =>
        "{\"messages\":[" + (system is null ? "" : $"{{\"role\":\"system\",\"content\":\"{system}\"}},") +
        $"{{\"role\":\"user\",\"content\":\"{user}\"}},{{\"role\":\"assistant\",\"content\":\"{assistant}\"}}]}}";

    private static string[] Lines() =>
    [
        Line("What is the VPN policy?", "Always connect through the VPN on public networks.", "You answer IT questions."), // 1
        Line("Hi", "Hello."),                                                                                          // 2
        """{"messages":[{"role":"user","content":"no answer"}]}""",                                                  // 3 (error)
        Line("Hi", "Hello."),                                                                                          // 4 (duplicate of 2)
        Line(string.Join(" ", Enumerable.Repeat("Please explain the full travel expense policy", 12)), "Ask finance."), // 5 (long)
        Line("Hi", "Hello."),                                                                                          // 6 (duplicate of 2)
    ];

    [Fact]
    public void Reports_errors_duplicates_and_character_statistics_without_a_tokenizer()
    {
        using var dir = new DatasetDir();
        var report = DatasetValidator.Validate(dir.Write("d.jsonl", Lines()), new ValidationOptions { Epochs = 2 });
        Assert.False(report.Valid);
        Assert.Equal((3, "no assistant message (nothing to train on)"), (report.Errors.Single().Line, report.Errors[0].Message));
        Assert.Equal([(4, "duplicate of line 2 (identical conversation)"), (6, "duplicate of line 2 (identical conversation)")],
            report.Warnings.Select(w => (w.Line, w.Message)));
        var s = report.Stats;
        Assert.Equal(("chat", 5, 1, 2), (s.Format, s.Examples, s.InvalidLines, s.Duplicates));
        Assert.Equal(new RoleCounts(1, 5, 5), s.Roles);
        Assert.False(s.Tokenized);
        Assert.Null(s.TokensPerExample);
        Assert.Null(s.TrainingTokens);
        Assert.Contains("--model", s.Note);
        int[] chars = [.. report.Data.Examples.Select(e => e.Messages.Sum(m => m.Content.Length)).Order()];
        Assert.Equal(new LengthStats(chars[0], chars[2], chars[4], chars[4]), s.CharactersPerExample);
    }

    [Fact]
    public void Token_statistics_come_from_the_chat_template_and_flag_over_length_examples()
    {
        using var dir = new DatasetDir();
        var tok = ExampleEncoderTests.SmolLm.Value;
        var path = dir.Write("d.jsonl", Lines());
        var loaded = TrainingData.Load(path).Examples;
        var full = loaded.Select(e => ExampleEncoder.Encode(e, tok, 100_000, TruncationPolicy.Right)!).ToList();
        int max = full.Where(e => e.Line != 5).Max(e => e.Length); // only line 5 is longer

        var report = DatasetValidator.Validate(path, new ValidationOptions { Tokenizer = tok, MaxLength = max, Epochs = 3 });
        var s = report.Stats;
        Assert.True(s.Tokenized);
        Assert.Null(s.Note);
        Assert.Equal(1, s.Truncated);
        Assert.Equal(LengthStats.From(full.Select(e => e.Length)), s.TokensPerExample);
        long total = full.Sum(e => (long)Math.Min(e.Length, max));
        Assert.Equal(total, s.TotalTokens);
        Assert.Equal(total * 3, s.TrainingTokens);
        // Line 5's answer is cut off (right truncation), the others keep all their target tokens.
        var truncated = ExampleEncoder.Encode(loaded.Single(e => e.Line == 5), tok, max, TruncationPolicy.Right)!;
        Assert.Equal(full.Where(e => e.Line != 5).Sum(e => (long)e.TargetCount) + truncated.TargetCount, s.TargetTokens);
        Assert.Equal([
            $"{full.Single(e => e.Line == 5).Length} tokens after templating, over the maximum length {max}: truncated (right)",
            "no assistant token left inside the kept window; the example will be skipped"], report.Warnings.Where(w => w.Line == 5).Select(w => w.Message));
    }

    [Fact]
    public void A_clean_file_is_valid()
    {
        using var dir = new DatasetDir();
        var report = DatasetValidator.Validate(dir.Write("ok.jsonl", Line("a", "b"), Line("c", "d")), new ValidationOptions { Tokenizer = ExampleEncoderTests.SmolLm.Value });
        Assert.True(report.Valid);
        Assert.Empty(report.Errors);
        Assert.Empty(report.Warnings);
        Assert.Equal(0, report.Stats.Truncated);
    }

    [Fact]
    public void Length_statistics_use_the_middle_values_and_nearest_rank_p95()
    {
        Assert.Equal(new LengthStats(1, 2.5, 4, 4), LengthStats.From([4, 1, 3, 2]));
        Assert.Equal(new LengthStats(1, 50, 95, 99), LengthStats.From(Enumerable.Range(1, 99)));
        Assert.Null(LengthStats.From([]));
    }

    [Fact]
    public void Split_is_deterministic_keeps_duplicates_together_and_writes_the_original_lines()
    {
        using var dir = new DatasetDir();
        var lines = Enumerable.Range(0, 40).Select(i => Line($"question {i % 30}", $"answer {i % 30}")).ToList(); // 10 duplicated pairs
        lines.Insert(5, "{broken");
        var path = dir.Write("d.jsonl", [.. lines]);
        string Out(string name) => Path.Combine(dir.Path, name);

        var a = DatasetSplitter.Split(path, 0.25, 42, Out("a.train.jsonl"), Out("a.val.jsonl"));
        var b = DatasetSplitter.Split(path, 0.25, 42, Out("b.train.jsonl"), Out("b.val.jsonl"));
        var c = DatasetSplitter.Split(path, 0.25, 43, Out("c.train.jsonl"), Out("c.val.jsonl"));
        Assert.Equal(File.ReadAllText(Out("a.val.jsonl")), File.ReadAllText(Out("b.val.jsonl")));
        Assert.Equal(File.ReadAllText(Out("a.train.jsonl")), File.ReadAllText(Out("b.train.jsonl")));
        Assert.NotEqual(File.ReadAllText(Out("a.val.jsonl")), File.ReadAllText(Out("c.val.jsonl")));

        Assert.Equal(40, a.TrainExamples + a.ValidationExamples);
        Assert.Equal(10, a.ValidationExamples);
        var train = File.ReadAllLines(Out("a.train.jsonl"));
        var val = File.ReadAllLines(Out("a.val.jsonl"));
        Assert.Empty(train.Intersect(val)); // no conversation on both sides
        Assert.Equal(lines.Where(l => l != "{broken").Order(), train.Concat(val).Order()); // original lines, invalid one left out
        Assert.Equal(lines.Where(train.Contains), train); // file order kept

        Assert.Throws<OpenBookException>(() => DatasetSplitter.Split(path, 1.5, 1, Out("x"), Out("y")));
        Assert.Throws<OpenBookException>(() => DatasetSplitter.Split(path, 0.5, 1, path, Out("y")));
    }

    [Fact]
    public void Csv_rows_are_split_as_chat_jsonl()
    {
        using var dir = new DatasetDir();
        var path = dir.Write("faq.csv", "q,a", "\"Hi, there\",\"Hello \"\"you\"\"\"", "Bye,Ciao", "Why?,Because.");
        var train = Path.Combine(dir.Path, "t.jsonl");
        var val = Path.Combine(dir.Path, "v.jsonl");
        DatasetSplitter.Split(path, 0.34, 1, train, val, DatasetFormat.Auto, new CsvColumns("q", "a"));
        var reloaded = TrainingData.Load(train).Examples.Concat(TrainingData.Load(val).Examples).Select(e => e.ConversationKey()).Order();
        var original = TrainingData.Load(path, columns: new CsvColumns("q", "a")).Examples.Select(e => e.ConversationKey()).Order();
        Assert.Equal(original, reloaded);
    }
}
