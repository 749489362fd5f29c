using System.Text.Json;

namespace OpenBook.Tests.Cli;

public class DataCliTests
{
    private const string Good1 = """{"messages":[{"role":"system","content":"You answer HR questions."},{"role":"user","content":"How many vacation days carry over?"},{"role":"assistant","content":"Up to 5 unused days, until 31 March."}]}""";
    private const string Good2 = """{"messages":[{"role":"user","content":"Who approves travel?"},{"role":"assistant","content":"Your manager approves travel requests."}]}""";

    /// <summary>The smollm2 fixture tokenizer (tokenizer.json + chat template) of the models tests, found from the repository root.</summary>
    private static string SmolLmTokenizer()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "OpenBook.Models.Tests", "Fixtures", "tokenizer", "smollm2");
            if (File.Exists(Path.Combine(candidate, "tokenizer.json"))) return candidate;
        }
        throw new DirectoryNotFoundException("tests/OpenBook.Models.Tests/Fixtures/tokenizer/smollm2 not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Spectre wraps human output at the (redirected, 80-column) console width: compare without whitespace.</summary>
    private static string Squash(string s) => System.Text.RegularExpressions.Regex.Replace(s, @"\s+", "");

    [Fact]
    public async Task A_bad_file_exits_1_with_every_problem_on_its_line_in_the_json_contract()
    {
        using var dir = new TempDir();
        var path = dir.File("train.jsonl", string.Join("\n",
            Good1,                                                                        // 1
            """{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}""", // 2: invalid JSON
            "",                                                                           // 3
            """{"messages":[{"role":"bot","content":"x"},{"role":"assistant","content":"y"}]}""", // 4: unknown role
            """{"messages":[{"role":"user","content":"only a question"}]}""",             // 5: no assistant
            Good1,                                                                        // 6: duplicate of 1
            """{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","weight":0.5}]}""")); // 7: bad weight

        var (code, stdout, _) = await CliProcess.RunAsync("data", "validate", path, "--json");
        Assert.Equal(1, code);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal(["valid", "errors", "warnings", "stats"], root.EnumerateObject().Select(p => p.Name));
        Assert.False(root.GetProperty("valid").GetBoolean());
        var errors = root.GetProperty("errors").EnumerateArray().Select(e => (e.GetProperty("line").GetInt32(), e.GetProperty("message").GetString()!)).ToList();
        Assert.Equal([2, 4, 5, 7], errors.Select(e => e.Item1));
        Assert.StartsWith("invalid JSON", errors[0].Item2);
        Assert.Equal("messages[0]: unknown role \"bot\" (expected system, user or assistant)", errors[1].Item2);
        Assert.Equal("no assistant message (nothing to train on)", errors[2].Item2);
        Assert.Equal("messages[1].weight must be 0 or 1 (got 0.5)", errors[3].Item2);
        var warning = root.GetProperty("warnings").EnumerateArray().Single();
        Assert.Equal((6, "duplicate of line 1 (identical conversation)"), (warning.GetProperty("line").GetInt32(), warning.GetProperty("message").GetString()));
        var stats = root.GetProperty("stats");
        Assert.Equal(2, stats.GetProperty("examples").GetInt32());
        Assert.Equal(4, stats.GetProperty("invalidLines").GetInt32());
        Assert.Equal(1, stats.GetProperty("duplicates").GetInt32());
        Assert.False(stats.GetProperty("tokenized").GetBoolean());

        // Human output: the statistics table and the problems with their line numbers, same exit code.
        var human = await CliProcess.RunAsync("data", "validate", path);
        Assert.Equal(1, human.Code);
        Assert.Contains(Squash("examples (valid)"), Squash(human.Stdout));
        Assert.Contains(Squash("error line 4: messages[0]: unknown role \"bot\""), Squash(human.Stdout));
        Assert.Contains(Squash("warning line 6: duplicate of line 1"), Squash(human.Stdout));
    }

    [Fact]
    public async Task With_a_tokenizer_it_reports_token_statistics_truncation_and_writes_a_split()
    {
        using var dir = new TempDir();
        var lines = Enumerable.Range(0, 18).Select(i => i % 2 == 0 ? Good1.Replace("carry over", $"carry over in year {i}") : Good2.Replace("travel", $"travel ({i})")).ToList();
        lines.Add(Good2.Replace("Who approves travel?", string.Join(" ", Enumerable.Repeat("Who approves the travel of contractors abroad?", 12))));
        var path = dir.File("data/faq.jsonl", string.Join("\n", lines) + "\n");

        var (code, stdout, stderr) = await CliProcess.RunAsync("data", "validate", path, "--model", SmolLmTokenizer(), "--max-length", "120",
            "--epochs", "2", "--split", "0.2", "--seed", "7", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.True(root.GetProperty("valid").GetBoolean());
        var stats = root.GetProperty("stats");
        Assert.True(stats.GetProperty("tokenized").GetBoolean());
        Assert.Equal(19, stats.GetProperty("examples").GetInt32());
        Assert.Equal(1, stats.GetProperty("truncated").GetInt32());
        var perExample = stats.GetProperty("tokensPerExample");
        Assert.True(perExample.GetProperty("max").GetInt32() > 120);
        Assert.True(perExample.GetProperty("min").GetInt32() < perExample.GetProperty("median").GetDouble());
        long total = stats.GetProperty("totalTokens").GetInt64();
        Assert.Equal(2 * total, stats.GetProperty("trainingTokens").GetInt64());
        Assert.InRange(stats.GetProperty("targetTokens").GetInt64(), 1, total - 1);
        var warning = root.GetProperty("warnings").EnumerateArray().First();
        Assert.Equal(19, warning.GetProperty("line").GetInt32());
        Assert.EndsWith("tokens after templating, over the maximum length 120: truncated (right)", warning.GetProperty("message").GetString());

        var split = root.GetProperty("split");
        var train = split.GetProperty("train");
        var val = split.GetProperty("val");
        Assert.Equal(Path.Combine(dir.Path, "data", "faq.train.jsonl"), train.GetProperty("path").GetString());
        Assert.Equal(4, val.GetProperty("examples").GetInt32());
        Assert.Equal(15, train.GetProperty("examples").GetInt32());
        Assert.Equal(lines.Order(), File.ReadAllLines(train.GetProperty("path").GetString()!).Concat(File.ReadAllLines(val.GetProperty("path").GetString()!)).Order());
    }

    [Fact]
    public async Task Csv_columns_and_a_missing_file()
    {
        using var dir = new TempDir();
        var csv = dir.File("faq.csv", "question,answer\n\"Where is the VPN guide?\",\"On the intranet, under IT.\"\n,No question\n");
        var (code, stdout, _) = await CliProcess.RunAsync("data", "validate", csv, "--columns", "user=question,assistant=answer", "--json");
        Assert.Equal(1, code);
        using (var json = JsonDocument.Parse(stdout))
        {
            Assert.Equal("csv", json.RootElement.GetProperty("stats").GetProperty("format").GetString());
            var error = json.RootElement.GetProperty("errors").EnumerateArray().Single();
            Assert.Equal((3, "empty user column \"question\""), (error.GetProperty("line").GetInt32(), error.GetProperty("message").GetString()));
        }

        var missing = Path.Combine(dir.Path, "nope.jsonl");
        var result = await CliProcess.RunAsync("data", "validate", missing);
        Assert.NotEqual(0, result.Code);
        Assert.Contains(Squash("nope.jsonl: dataset file not found"), Squash(result.Stderr));
    }
}
