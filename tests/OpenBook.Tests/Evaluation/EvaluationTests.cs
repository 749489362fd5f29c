using System.Text.Json;
using OpenBook.Evaluation;
using OpenBook.Tests.Cli;

namespace OpenBook.Tests.Evaluation;

public class AnswerMetricsTests
{
    [Theory]
    [InlineData("The 31st of March!", "31st of march")]
    [InlineData("  An  apple, a day ", "apple day")]
    [InlineData("Up to 5 days [1] [2, 3].", "up to 5 days 1 2 3")]
    public void Normalize_lowercases_and_drops_punctuation_and_articles(string input, string expected) =>
        Assert.Equal(expected, AnswerMetrics.Normalize(input));

    [Fact]
    public void Exact_match_ignores_case_punctuation_articles_and_citation_markers()
    {
        Assert.Equal(1, AnswerMetrics.ExactMatch("The 30 working days. [1]", ["30 working days"]));
        Assert.Equal(0, AnswerMetrics.ExactMatch("30 days", ["30 working days"]));
        Assert.Equal(1, AnswerMetrics.ExactMatch("thirty", ["30", "Thirty"]));
    }

    [Fact]
    public void Token_f1_matches_hand_computed_values()
    {
        // prediction tokens: employees get 30 working days (5); gold: 30 working days (3); common 3
        // precision 3/5, recall 3/3 → F1 = 2·0.6·1/1.6 = 0.75
        Assert.Equal(0.75, AnswerMetrics.TokenF1("Employees get 30 working days.", ["30 working days"]), 10);
        // duplicates count once each: "days days" vs "days": common 1, p = 1/2, r = 1 → 2/3
        Assert.Equal(2.0 / 3, AnswerMetrics.TokenF1("days days", ["days"]), 10);
        Assert.Equal(0, AnswerMetrics.TokenF1("no overlap", ["30 working days"]));
        // best over several golds
        Assert.Equal(1, AnswerMetrics.TokenF1("5 days", ["five days", "5 days"]));
    }

    [Fact]
    public void Contains_matches_on_word_boundaries()
    {
        Assert.Equal(1, AnswerMetrics.Contains("You may carry over up to 5 days until 31 March. [1]", ["31 March"]));
        Assert.Equal(0, AnswerMetrics.Contains("It costs 150 euros", ["50 euros"]));
    }

    [Fact]
    public void Percentile_uses_nearest_rank()
    {
        double[] values = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
        Assert.Equal(5, AnswerMetrics.Percentile(values, 0.5));
        Assert.Equal(10, AnswerMetrics.Percentile(values, 0.95));
        Assert.Equal(0, AnswerMetrics.Percentile([], 0.5));
    }
}

public class QuestionSetTests
{
    [Fact]
    public void Reads_answers_lists_and_answerable_flags()
    {
        using var dir = new TempDir();
        var path = dir.File("q.jsonl", """
            {"question":"How many days?","answer":"30 days","answers":["thirty days"],"source":"hr/leave.md"}
            {"question":"Who is the CEO?","answerable":false}

            {"id":"x","question":"What is the VPN?","answers":["a tunnel"]}
            """);
        var set = QuestionSet.Load(path);
        Assert.Equal(3, set.Count);
        Assert.Equal(["30 days", "thirty days"], set[0].Answers);
        Assert.True(set[0].Answerable);
        Assert.False(set[1].Answerable);
        Assert.Equal("line2", set[1].Id);
        Assert.True(set[2].Answerable);
        Assert.Equal("a tunnel", set[2].Answer);
    }

    [Theory]
    [InlineData("{\"question\":\"ok\"}\n{oops", ":2: not valid JSON")]
    [InlineData("{\"answer\":\"x\"}", ":1: field \"question\" is missing")]
    [InlineData("{\"question\":\"q\",\"answers\":\"x\"}", ":1: field \"answers\" must be an array")]
    [InlineData("{\"question\":\"q\",\"answerable\":\"yes\"}", ":1: field \"answerable\" must be true or false")]
    [InlineData("{\"id\":\"a\",\"question\":\"q\"}\n{\"id\":\"a\",\"question\":\"r\"}", ":2: duplicate id \"a\"")]
    [InlineData("{\"question\":\"ok\"}\n\n[1,2]", ":3: expected a JSON object")]
    [InlineData("{\"question\":\"\"}", ":1: field \"question\" is missing or empty")]
    [InlineData("{\"question\":42}", ":1: field \"question\" must be a string")]
    [InlineData("{\"question\":\"q\",\"answer\":30}", ":1: field \"answer\" must be a string")]
    [InlineData("{\"question\":\"q\",\"source\":[\"a.md\"]}", ":1: field \"source\" must be a string")]
    [InlineData("{\"question\":\"q\",\"answers\":[\"a\",3]}", ":1: field \"answers\" must be an array of strings")]
    [InlineData("{\"question\":\"ok\"}\n{\"question\":\"q\",\"source\":\"a.md\",\"answerable\":true}", ":2: \"answerable\" is true but there is no \"answer\"")]
    [InlineData("{\"question\":\"q\",\"answer\":\"x\",\"answerable\":false}", ":1: \"answerable\" is false but an \"answer\" is given")]
    public void Bad_lines_are_reported_with_file_and_line(string content, string expected)
    {
        using var dir = new TempDir();
        var path = dir.File("bad.jsonl", content);
        var e = Assert.Throws<OpenBookException>(() => QuestionSet.Load(path));
        Assert.Contains(path + expected, e.Message);
    }

    [Theory]
    [InlineData("handbook/hr/leave.md", "hr/leave.md", true)]
    [InlineData("hr/leave.md", "hr/leave.md", true)]
    [InlineData("handbook/faq.jsonl#line:3", "faq.jsonl", true)]
    [InlineData("handbook/hr/leave.md", "leave.md", true)]
    [InlineData("handbook/hr/sick-leave.md", "leave.md", false)]
    public void Same_document_matches_path_suffixes(string hit, string source, bool expected) =>
        Assert.Equal(expected, QuestionSet.SameDocument(hit, source));
}

public class EvalRunnerTests
{
    private sealed class ScriptedMode(Dictionary<string, ModeAnswer> answers) : IEvalMode
    {
        public string Name => "scripted";
        public string Description => "test double with fixed answers";
        public bool UsesRetrieval => true;
        public Task<ModeAnswer> AnswerAsync(EvalQuestion question, CancellationToken cancellationToken) => Task.FromResult(answers[question.Id]);
    }

    private static SearchHit Hit(string source, string text, int rank) => new()
    {
        Rank = rank, Score = 1, ChunkId = rank, DocumentId = rank, Text = text, Source = source, Headings = [], Collection = "c",
    };

    [Fact]
    public async Task Aggregates_match_hand_computed_values()
    {
        EvalQuestion[] questions =
        [
            new("q1", "How many days?", "30 days", "hr/leave.md", null, null, null),
            new("q2", "Where is the VPN guide?", "IT portal", "it/vpn.md", "the IT portal", null, null),
            new("q3", "Who is the CEO?", null, null, null, null, null),
            new("q4", "What is the budget?", "1000 euros", "fin/budget.md", null, null, null),
        ];
        var leave = Hit("handbook/hr/leave.md", "Staff get 30 days a year.", 1);
        var vpn = Hit("handbook/it/vpn.md", "Read the guide on the IT portal.", 2);
        var answers = new Dictionary<string, ModeAnswer>
        {
            // exact match, oracle at rank 1, citation contains the answer
            ["q1"] = new("30 days [1]", false, [new Citation(1, leave.Source, null, leave.Text, [], 1)], [leave, vpn]),
            // F1: pred "on it portal" → tokens on, it, portal (3); gold it, portal (2): P 2/3, R 1 → 0.8; oracle at rank 2
            ["q2"] = new("On the IT portal [1]", false, [new Citation(1, vpn.Source, null, vpn.Text, [], 2)], [leave, vpn]),
            // unanswerable, refused
            ["q3"] = new(Answer.NotInDocuments, true, [], [leave]),
            // answerable but refused, oracle not retrieved
            ["q4"] = new(Answer.NotInDocuments, true, [], [leave, vpn]),
        };
        var result = Assert.Single(await EvalRunner.RunAsync([new ScriptedMode(answers)], questions));
        Assert.Equal(4, result.Questions);
        Assert.Equal((1 + 0 + 0) / 3.0, result.ExactMatch, 10);
        Assert.Equal((1 + 0.8 + 0) / 3.0, result.F1, 10);
        Assert.Equal((1 + 1 + 0) / 3.0, result.Contained, 10);
        Assert.Equal(2 / 3.0, result.RecallAtK!.Value, 10);
        Assert.Equal((1 + 0.5 + 0) / 3.0, result.Mrr!.Value, 10);
        Assert.Equal(1.0, result.CitationCorrectness);
        Assert.Equal(1.0, result.RefusalRate);
        Assert.Equal(1 / 3.0, result.FalseRefusalRate, 10);
        Assert.Null(result.InputTokens);
    }

    [Fact]
    public async Task Eval_command_writes_every_report_file()
    {
        using var dir = new TempDir();
        dir.File("docs/leave.md", "# Leave\n\nEmployees get 30 working days of vacation per year.\n");
        dir.File("docs/vpn.md", "# VPN\n\nThe VPN client is installed from the IT portal.\n");
        var questions = dir.File("q.jsonl", "{\"question\":\"How many vacation days per year?\",\"answer\":\"30 working days\",\"source\":\"leave.md\"}\n" +
                                            "{\"question\":\"What is the CEO's shoe size?\",\"answerable\":false}\n");
        var store = Path.Combine(dir.Path, "store");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", "--no-embed", Path.Combine(dir.Path, "docs"), "--store", store, "--quiet")).Code);
        var output = Path.Combine(dir.Path, "report");
        var (code, stdout, stderr) = await CliProcess.RunAsync("eval", "--questions", questions, "--store", store, "--out", output, "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var mode = json.RootElement.GetProperty("modes")[0];
        Assert.Equal("extractive", mode.GetProperty("mode").GetString());
        Assert.Equal(1.0, mode.GetProperty("recallAtK").GetDouble());
        foreach (var file in new[] { "results.json", "report.md", "report.html", "metrics.png", "latency.png" })
            Assert.True(new FileInfo(Path.Combine(output, file)) is { Exists: true, Length: > 100 }, file);
        Assert.Contains("| extractive |", File.ReadAllText(Path.Combine(output, "report.md")));

        var model = await CliProcess.RunAsync("eval", "--questions", questions, "--store", store, "--modes", "rag", "--out", output);
        Assert.NotEqual(0, model.Code);
        Assert.Contains("needs a language model", model.Stderr);
    }

    [Theory]
    [InlineData("docs/hr/leave.md", "leave.md")]
    [InlineData("docs/hr/leave.md", "hr/leave.md")]
    [InlineData("docs\\hr\\leave.md#3", "/hr/leave.md")]
    [InlineData("docs/hr/leave.md", "docs/hr/leave.md")]
    [InlineData("docs/hr/leave.md", "eave.md")]
    [InlineData("docs/hr/leave.md", "it/leave.md")]
    [InlineData("leave.md", "leave.md")]
    public void The_document_keys_answer_SameDocument_by_lookup(string hitSource, string questionSource) =>
        Assert.Equal(QuestionSet.SameDocument(hitSource, questionSource), QuestionSet.DocumentKeys(hitSource).Contains(QuestionSet.DocumentKey(questionSource)));
}
