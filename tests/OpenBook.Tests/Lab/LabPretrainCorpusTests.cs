using System.Text.RegularExpressions;
using OpenBook.Evaluation;
using OpenBook.Lab;
using OpenBook.Runtime.Lab;

namespace OpenBook.Tests.Lab;

/// <summary>The pretraining texts of the lab base model: multi-question reading drills and the leading reply space.</summary>
public sealed partial class LabPretrainCorpusTests
{
    [GeneratedRegex("<passage id=\"(\\d+)\"[^>]*>\\n(.*?)\\n</passage>", RegexOptions.Singleline)]
    private static partial Regex Passage();

    [GeneratedRegex("Question: ([^<]*)<\\|im_end\\|>\\n<\\|im_start\\|>assistant\\n(.*?)<\\|im_end\\|>", RegexOptions.Singleline)]
    private static partial Regex Turn();

    [Fact]
    public async Task Drill_examples_ask_follow_up_questions_answered_from_and_citing_their_own_passages()
    {
        using var dir = new TempDir();
        var worldDir = Path.Combine(dir.Path, "world");
        LabWorld.Write(LabWorld.Generate(new LabWorldOptions { Seed = 5, PublicPeople = 8, PrivatePeople = 8, DrillPeople = 24 }), worldDir);
        await using var book = await LabPretrain.PublicStoreAsync(worldDir, Path.Combine(dir.Path, "public"), CancellationToken.None);
        await using var drill = await Book.OpenAsync(Path.Combine(dir.Path, "drill"));
        await drill.IngestAsync([Path.Combine(worldDir, "drill", "docs")], new IngestOptions { Collection = "drill", Parallelism = 1 });
        var drillQuestions = QuestionSet.Load(Path.Combine(worldDir, "drill", "questions.jsonl"));
        var publicQuestions = QuestionSet.Load(Path.Combine(worldDir, "public", "questions.jsonl"));
        var request = new LabPretrainRequest { WorldDirectory = worldDir, OutputDirectory = dir.Path, DrillTurns = 6, ReplySpace = true, MaxDistractors = 2 };

        var (texts, counts) = LabPretrain.Corpus(book, publicQuestions, request, drill, drillQuestions);

        int followUps = 0, answered = 0, notFound = 0;
        foreach (var text in texts.Where(t => t.Contains("<passage id=", StringComparison.Ordinal)))
        {
            var passages = Passage().Matches(text).ToDictionary(m => int.Parse(m.Groups[1].Value), m => m.Groups[2].Value);
            var turns = Turn().Matches(text).ToList();
            Assert.NotEmpty(turns);
            Assert.True(text.Length <= 3 * request.SequenceLength || turns.Count == 1, "follow-ups stop at the length budget");
            followUps += turns.Count - 1;
            foreach (var turn in turns)
            {
                var reply = turn.Groups[2].Value;
                Assert.StartsWith(" ", reply);
                if (reply == " " + OpenBook.Answering.GroundedPrompt.DefaultNotFoundText) { notFound++; continue; }
                var cite = Regex.Match(reply, @"^ (.+) \[(\d+)\]$");
                Assert.True(cite.Success, $"reply '{reply}' is an answer and one citation");
                Assert.True(passages.TryGetValue(int.Parse(cite.Groups[2].Value), out var cited), $"reply '{reply}' cites a passage of its example");
                Assert.Contains(cite.Groups[1].Value, cited!, StringComparison.OrdinalIgnoreCase);
                answered++;
            }
            // No question is asked twice in one example.
            Assert.Equal(turns.Count, turns.Select(t => t.Groups[1].Value).Distinct().Count());
        }
        Assert.True(followUps > counts["grounded reading drills"], $"{followUps} follow-up turns over {counts["grounded reading drills"]} drill examples");
        Assert.True(answered > 0 && notFound > 0);
        // Every reply of every kind (closed-book, grounded, RAFT) starts with the space.
        foreach (var text in texts.Where(t => t.Contains("<|im_start|>assistant\n", StringComparison.Ordinal)))
            Assert.All(text.Split("<|im_start|>assistant\n").Skip(1), reply => Assert.StartsWith(" ", reply));
    }
}
