using Microsoft.Extensions.AI;
using OpenBook.Models.FineTuning.Datasets;

namespace OpenBook.Models.Tests.FineTuning.Datasets;

/// <summary>Dataset files in a temporary directory, deleted at dispose.</summary>
internal sealed class DatasetDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("openbook-data-").FullName;

    public string Write(string name, params string[] lines)
    {
        var file = System.IO.Path.Combine(Path, name);
        File.WriteAllText(file, string.Join("\n", lines) + "\n");
        return file;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, true); } catch (IOException) { }
    }
}

public class TrainingDataTests
{
    internal const string Good = """{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Capital of France?"},{"role":"assistant","content":"Paris."}]}""";

    /// <summary>Loads a file whose line 1 is good, line 2 blank and line 3 <paramref name="bad"/>.</summary>
    private static DatasetLoadResult LoadWithBadThirdLine(string bad, DatasetFormat format = DatasetFormat.Auto, string first = Good)
    {
        using var dir = new DatasetDir();
        return TrainingData.Load(dir.Write("d.jsonl", first, "", bad), format);
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}""", "invalid JSON at character")]
    [InlineData("""[1,2]""", "expected a JSON object, got array")]
    [InlineData("""{"messages":"hello"}""", "\"messages\" must be an array (got string)")]
    [InlineData("""{"messages":[]}""", "\"messages\" is empty")]
    [InlineData("""{"messages":["hi",{"role":"assistant","content":"x"}]}""", "messages[0] must be an object (got string)")]
    [InlineData("""{"messages":[{"content":"hi"},{"role":"assistant","content":"x"}]}""", "messages[0]: missing \"role\"")]
    [InlineData("""{"messages":[{"role":1,"content":"hi"},{"role":"assistant","content":"x"}]}""", "messages[0].role must be a string (got number)")]
    [InlineData("""{"messages":[{"role":"human","content":"hi"},{"role":"assistant","content":"x"}]}""", "messages[0]: unknown role \"human\"")]
    [InlineData("""{"messages":[{"role":"user"},{"role":"assistant","content":"x"}]}""", "messages[0] (user): missing \"content\"")]
    [InlineData("""{"messages":[{"role":"user","content":"  "},{"role":"assistant","content":"x"}]}""", "messages[0] (user): empty content")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":""}]}""", "messages[1] (assistant): empty content")]
    [InlineData("""{"messages":[{"role":"user","content":["hi"]},{"role":"assistant","content":"x"}]}""", "messages[0].content[0] must be a text part")]
    [InlineData("""{"messages":[{"role":"user","content":null},{"role":"assistant","content":"x"}]}""", "messages[0].content must be a string (got null)")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"x","weight":2}]}""", "messages[1].weight must be 0 or 1 (got 2)")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"x","weight":"1"}]}""", "messages[1].weight must be 0 or 1 (got string)")]
    [InlineData("""{"messages":[{"role":"user","content":"hi","weight":0},{"role":"assistant","content":"x"}]}""", "\"weight\" is only allowed on assistant messages")]
    [InlineData("""{"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]}""", "no assistant message")]
    [InlineData("""{"question":"q","answer":"a"}""", "missing \"messages\"")]
    [InlineData("""{"prompt":"q","completion":"a"}""", "this line is prompt-completion format but the file is chat (detected from line 1)")]
    public void Each_kind_of_bad_chat_line_is_reported_on_its_line(string bad, string expected)
    {
        var result = LoadWithBadThirdLine(bad);
        Assert.Single(result.Examples);
        Assert.Equal(1, result.Examples[0].Line);
        var error = Assert.Single(result.Errors);
        Assert.Equal(3, error.Line);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_good_chat_line_loads_roles_contents_weights_and_raw_text()
    {
        var line = """{"messages":[{"role":"user","content":"Draft?"},{"role":"assistant","content":"bad","weight":0},{"role":"user","content":[{"type":"text","text":"Again"},{"type":"text","text":"!"}]},{"role":"assistant","content":"good","weight":1}]}""";
        using var dir = new DatasetDir();
        var result = TrainingData.Load(dir.Write("d.jsonl", line));
        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        Assert.Equal(DatasetFormat.Chat, result.Format);
        var ex = Assert.Single(result.Examples);
        Assert.Equal(line, ex.Raw);
        Assert.Equal([ChatRole.User, ChatRole.Assistant, ChatRole.User, ChatRole.Assistant], ex.Messages.Select(m => m.Role));
        Assert.Equal(["Draft?", "bad", "Again!", "good"], ex.Messages.Select(m => m.Content));
        Assert.Equal([1f, 0f, 1f, 1f], ex.Messages.Select(m => m.Weight));
    }

    [Fact]
    public void Several_problems_on_one_line_are_all_reported_and_warnings_do_not_reject_the_line()
    {
        var result = LoadWithBadThirdLine("""{"messages":[{"role":"user","content":3},{"role":"robot","content":"x"}]}""");
        Assert.Equal(["messages[0].content must be a string (got number)", "messages[1]: unknown role \"robot\" (expected system, user or assistant)"],
            result.Errors.Select(e => e.Message));
        Assert.All(result.Errors, e => Assert.Equal(3, e.Line));

        var warned = LoadWithBadThirdLine("""{"messages":[{"role":"user","content":"a","name":"bob","extra":1},{"role":"assistant","content":"b","weight":0},{"role":"user","content":"c"}]}""");
        Assert.Empty(warned.Errors);
        Assert.Equal(2, warned.Examples.Count);
        Assert.Equal([
            "messages[0]: ignoring unknown field \"extra\"",
            "every assistant message has weight 0 (nothing to train on)",
            "the conversation ends with a user message, which is not trained on"], warned.Warnings.Select(w => w.Message));
        Assert.All(warned.Warnings, w => Assert.Equal(3, w.Line));
    }

    [Theory]
    [InlineData("""{"prompt":"q"}""", "missing \"completion\"")]
    [InlineData("""{"prompt":"q","completion":7}""", "\"completion\" must be a string (got number)")]
    [InlineData("""{"prompt":"","completion":"a"}""", "empty \"prompt\"")]
    [InlineData("""{"completion":"a"}""", "missing \"prompt\"")]
    [InlineData("not json", "invalid JSON at character")]
    public void Prompt_completion_bad_lines(string bad, string expected)
    {
        var result = LoadWithBadThirdLine(bad, first: """{"prompt":"2+2?","completion":"4"}""");
        Assert.Equal(DatasetFormat.PromptCompletion, result.Format);
        var ex = Assert.Single(result.Examples);
        Assert.Equal([(ChatRole.User, "2+2?"), (ChatRole.Assistant, "4")], ex.Messages.Select(m => (m.Role, m.Content)));
        var error = Assert.Single(result.Errors);
        Assert.Equal(3, error.Line);
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("""{"instruction":"Summarise"}""", "missing \"output\"")]
    [InlineData("""{"instruction":"Summarise","input":5,"output":"x"}""", "\"input\" must be a string (got number)")]
    [InlineData("""{"instruction":"  ","output":"x"}""", "empty \"instruction\"")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"x"}]}""", "this line is chat format but the file is instruction (as requested)")]
    public void Instruction_bad_lines(string bad, string expected)
    {
        var result = LoadWithBadThirdLine(bad, DatasetFormat.Instruction, """{"instruction":"Translate to French","input":"cat","output":"chat"}""");
        var ex = Assert.Single(result.Examples);
        Assert.Equal("Translate to French\n\ncat", ex.Messages[0].Content);
        Assert.Equal("chat", ex.Messages[1].Content);
        var error = Assert.Single(result.Errors);
        Assert.Equal(3, error.Line);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Instruction_without_input_is_just_the_instruction()
    {
        using var dir = new DatasetDir();
        var result = TrainingData.Load(dir.Write("a.jsonl", """{"instruction":"Say hi","input":"","output":"hi"}""", """{"instruction":"Say bye","input":null,"output":"bye"}"""));
        Assert.Empty(result.Errors);
        Assert.Equal(["Say hi", "Say bye"], result.Examples.Select(e => e.Messages[0].Content));
    }

    [Fact]
    public void Csv_with_a_column_mapping_reports_rows_by_their_starting_line()
    {
        using var dir = new DatasetDir();
        var path = dir.Write("faq.csv",
            "id,question,answer,sys",                                 // line 1
            "1,\"Multi-line\nquestion, with comma\",\"Yes, \"\"quoted\"\"\",Be nice", // lines 2-3
            "2,Only two fields",                                      // line 4
            "3,Empty answer?,,",                                      // line 5
            "",                                                       // line 6 (blank)
            "4,Fine?,Fine.,");                                        // line 7
        var result = TrainingData.Load(path, columns: CsvColumns.Parse("user=question, assistant=answer, system=sys"));
        Assert.Equal(DatasetFormat.Csv, result.Format);
        Assert.Equal([2, 7], result.Examples.Select(e => e.Line));
        Assert.Equal([(ChatRole.System, "Be nice"), (ChatRole.User, "Multi-line\nquestion, with comma"), (ChatRole.Assistant, "Yes, \"quoted\"")],
            result.Examples[0].Messages.Select(m => (m.Role, m.Content)));
        Assert.Equal(2, result.Examples[1].Messages.Count); // empty system cell → no system turn
        Assert.Null(result.Examples[0].Raw);
        Assert.Equal([(4, "2 fields but the header has 4"), (5, "empty assistant column \"answer\"")], result.Errors.Select(e => (e.Line, e.Message)));
    }

    [Fact]
    public void Csv_mapping_problems_are_reported_on_the_header_line()
    {
        using var dir = new DatasetDir();
        var noMapping = TrainingData.Load(dir.Write("a.csv", "question,answer", "q,a"));
        Assert.Equal(1, Assert.Single(noMapping.Errors).Line);
        Assert.Contains("--columns user=COLUMN", noMapping.Errors[0].Message);

        var missing = TrainingData.Load(dir.Write("b.csv", "question,answer", "q,a"), columns: new CsvColumns("question", "reply"));
        Assert.Equal((1, "assistant column \"reply\" not found in the header (question, answer)"), (missing.Errors[0].Line, missing.Errors[0].Message));
        Assert.Empty(missing.Examples);

        var defaults = TrainingData.Load(dir.Write("c.tsv", "user\tassistant", "q, with comma\ta"));
        Assert.Empty(defaults.Errors);
        Assert.Equal("q, with comma", defaults.Examples.Single().Messages[0].Content);

        var unterminated = TrainingData.Load(dir.Write("d.csv", "user,assistant", "q,a", "q2,\"never closed", "x,y"));
        Assert.Single(unterminated.Examples);
        Assert.Equal(3, unterminated.Errors.Single().Line);
        Assert.Contains("unterminated quoted field", unterminated.Errors[0].Message);
    }

    [Theory]
    [InlineData("user=q", "--columns needs assistant=COLUMN")]
    [InlineData("user=q,assistant=a,tool=t", "unknown role 'tool'")]
    [InlineData("user,assistant=a", "'user' is not role=column")]
    public void Column_mapping_errors_name_the_problem(string spec, string expected) =>
        Assert.Contains(expected, Assert.Throws<OpenBookException>(() => CsvColumns.Parse(spec)).Message);

    [Fact]
    public void A_missing_file_throws_naming_it_and_a_json_array_gets_a_hint()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-dataset-" + Guid.NewGuid() + ".jsonl");
        Assert.Contains(missing, Assert.Throws<OpenBookException>(() => TrainingData.Load(missing)).Message);

        using var dir = new DatasetDir();
        var array = TrainingData.Load(dir.Write("a.jsonl", "[", Good, "]"));
        Assert.Contains("looks like a JSON array", array.Errors[0].Message);

        // A shape no format has, before any format was detected.
        var unknown = TrainingData.Load(dir.Write("b.jsonl", """{"question":"q","answer":"a"}""", "{}", Good));
        Assert.Equal([
            (1, "unknown format: expected \"messages\" (chat), \"prompt\"/\"completion\" or \"instruction\"/\"output\" keys; found \"question\", \"answer\""),
            (2, "unknown format: expected \"messages\" (chat), \"prompt\"/\"completion\" or \"instruction\"/\"output\" keys; the object is empty")],
            unknown.Errors.Select(e => (e.Line, e.Message)));
        Assert.Equal(3, unknown.Examples.Single().Line);
    }

    [Fact]
    public void Format_names_round_trip()
    {
        foreach (var f in Enum.GetValues<DatasetFormat>()) Assert.Equal(f, TrainingData.ParseFormat(f.Name()));
        Assert.Throws<OpenBookException>(() => TrainingData.ParseFormat("parquet"));
    }
}
