using System.Text.Json;
using OpenBook.Evaluation;
using OpenBook.Lab;

namespace OpenBook.Tests.Lab;

public sealed class LabWorldTests
{
    private static readonly LabWorldOptions Small = new() { Seed = 3, PublicPeople = 24, PrivatePeople = 12 };

    [Fact]
    public void The_same_seed_gives_the_same_world_and_another_seed_another()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        var filesA = LabWorld.Write(LabWorld.Generate(Small), a.Path);
        var filesB = LabWorld.Write(LabWorld.Generate(Small), b.Path);
        Assert.Equal(filesA.Select(f => Path.GetRelativePath(a.Path, f)), filesB.Select(f => Path.GetRelativePath(b.Path, f)));
        foreach (var f in filesA) Assert.Equal(File.ReadAllText(f), File.ReadAllText(Path.Combine(b.Path, Path.GetRelativePath(a.Path, f))));
        var other = LabWorld.Generate(Small with { Seed = 4 });
        Assert.NotEqual(LabWorld.Generate(Small).PrivateDocuments.Select(d => d.Text), other.PrivateDocuments.Select(d => d.Text));
    }

    [Fact]
    public void Every_answer_is_written_in_its_source_document()
    {
        var w = LabWorld.Generate(Small);
        void Check(IEnumerable<LabQuestion> questions, IEnumerable<LabDocument> docs)
        {
            var byPath = docs.ToDictionary(d => d.Path);
            foreach (var q in questions.Where(q => q.Answer is not null))
            {
                Assert.True(byPath.TryGetValue(q.Source!, out var doc), $"{q.Id}: source {q.Source} missing");
                Assert.Contains(System.Net.WebUtility.HtmlEncode(q.Answer!), doc!.Text);
            }
        }
        Check(w.PublicQuestions.Where(q => q.Type is "single" or "comparison"), w.PublicDocuments);
        Check(w.HeldOutQuestions.Where(q => q.Type is "single" or "comparison"), w.HeldOutDocuments);
        Check(w.PrivateQuestions, w.PrivateDocuments);
        Check(w.ChangedQuestions, w.ChangedDocuments);
        Assert.Contains(w.PrivateQuestions, q => q.Type == "unanswerable" && q.Answer is null && q.Source is null);
        Assert.Contains(w.PrivateQuestions, q => q.Type == "multi-hop");
        Assert.Contains(w.PrivateQuestions, q => q.Type == "comparison");
    }

    [Fact]
    public void Private_entities_never_occur_in_the_public_part()
    {
        var w = LabWorld.Generate(Small);
        var privateNames = w.Entities.Where(e => e.Part == LabPart.Private).SelectMany(e => e.Name.Split(' ')).Where(n => char.IsUpper(n[0])).ToHashSet();
        var publicNames = w.Entities.Where(e => e.Part != LabPart.Private).SelectMany(e => e.Name.Split(' ')).ToHashSet();
        Assert.Empty(privateNames.Intersect(publicNames));
        var publicText = string.Join("\n", w.PublicDocuments.Concat(w.HeldOutDocuments).Select(d => d.Text).Concat(w.PublicQuestions.Select(q => q.Question + " " + q.Answer)));
        var words = publicText.Split([' ', '\n', '|', '.', ',', '?', '\'', '<', '>', '*', ':'], StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        Assert.DoesNotContain(privateNames, words.Contains);
    }

    [Fact]
    public void Reading_drills_are_a_separate_company_and_leave_the_other_parts_unchanged()
    {
        var with = LabWorld.Generate(Small with { DrillPeople = 40 });
        var without = LabWorld.Generate(Small with { DrillPeople = 0 });
        Assert.Empty(without.DrillDocuments);
        Assert.Equal(without.PublicDocuments.Select(d => d.Text), with.PublicDocuments.Select(d => d.Text));
        Assert.Equal(without.PrivateDocuments.Select(d => d.Text), with.PrivateDocuments.Select(d => d.Text));
        Assert.Equal(without.PrivateQuestions, with.PrivateQuestions);
        Assert.Equal(without.HeldOutQuestions, with.HeldOutQuestions);
        // No drill name shares a word with any other part, so drills teach reading, never facts of the other parts.
        var drillWords = with.Entities.Where(e => e.Part == LabPart.Drill).SelectMany(e => e.Name.Split(' ')).Where(n => char.IsUpper(n[0])).ToHashSet();
        var otherWords = with.Entities.Where(e => e.Part != LabPart.Drill).SelectMany(e => e.Name.Split(' ')).ToHashSet();
        Assert.NotEmpty(drillWords);
        Assert.Empty(drillWords.Intersect(otherWords));
        // Every drill question is single-fact, in a training phrasing, answered by its own drill document.
        var byPath = with.DrillDocuments.ToDictionary(d => d.Path);
        Assert.True(with.DrillQuestions.Count >= 40 * 5);
        Assert.All(with.DrillQuestions, q =>
        {
            Assert.Equal(("single", "train"), (q.Type, q.Phrasing));
            Assert.Contains(System.Net.WebUtility.HtmlEncode(q.Answer!), byPath[q.Source!].Text);
        });
    }

    [Fact]
    public void The_change_set_changes_values_and_its_questions_carry_the_new_ones()
    {
        var w = LabWorld.Generate(Small);
        Assert.NotEmpty(w.ChangedDocuments);
        var old = w.PrivateQuestions.ToDictionary(q => q.Id);
        Assert.NotEmpty(w.ChangedQuestions);
        foreach (var q in w.ChangedQuestions)
        {
            var before = old[q.Id[..^"-changed".Length]];
            Assert.NotEqual(before.Answer, q.Answer);
            Assert.Equal(before.Source, q.Source);
        }
        // Changed documents keep their paths (a re-ingest replaces them).
        Assert.All(w.ChangedDocuments, d => Assert.Contains(w.PrivateDocuments, p => p.Path == d.Path));
    }

    [Fact]
    public void Question_files_load_as_eval_question_sets_with_both_phrasings()
    {
        using var dir = new TempDir();
        LabWorld.Write(LabWorld.Generate(Small), dir.Path);
        var train = QuestionSet.Load(Path.Combine(dir.Path, "private", "questions.train.jsonl"));
        var unseen = QuestionSet.Load(Path.Combine(dir.Path, "private", "questions.unseen.jsonl"));
        Assert.Equal(train.Count, unseen.Count);
        Assert.All(train, q => Assert.Contains(unseen, u => u.Id == q.Id + "-u" && u.Answer == q.Answer && u.Question != q.Question));
        Assert.Contains(train, q => !q.Answerable);
        Assert.True(File.Exists(Path.Combine(dir.Path, "world.json")));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "world.json")));
        Assert.Equal(3, doc.RootElement.GetProperty("seed").GetInt32());
        var styles = LabWorld.Generate(Small).PublicDocuments.Select(d => d.Style).Distinct().Count();
        Assert.True(styles >= 4, $"only {styles} document styles");
    }
}
