using Microsoft.Extensions.AI;
using OpenBook.Evaluation;
using OpenBook.Raft;
using OpenBook.Answering;

namespace OpenBook.Tests.Evaluation;

/// <summary>An in-process IChatClient test double: replies are computed from the last user message; usage is fixed (10 in, 5 out).</summary>
internal sealed class ScriptedChatClient(Func<string, string> reply) : IChatClient
{
    public List<IReadOnlyList<ChatMessage>> Calls { get; } = [];

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        Calls.Add(list);
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, reply(list[^1].Text)))
        {
            ModelId = "scripted", Usage = new UsageDetails { InputTokenCount = 10, OutputTokenCount = 5 },
        });
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("the test double does not stream");

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose() { }
}

public class EvalModesTests
{
    private static SearchHit Hit(long id, string source, string text) => new()
    {
        Rank = (int)id, Score = 1, ChunkId = id, DocumentId = id, Text = text, Source = source, Headings = [], Collection = "c",
    };

    [Fact]
    public async Task Raft_mode_reads_the_answer_marker_verifies_quotes_and_counts_tokens()
    {
        using var dir = new TempDir();
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));
        var leave = Hit(1, "handbook/hr/leave.md", "Staff get 30 days a year. Unused days expire.");
        var vpn = Hit(2, "handbook/it/vpn.md", "Read the guide on the IT portal.");
        EvalQuestion[] questions =
        [
            new("q1", "How many days?", "30 days", "hr/leave.md", null, null, null),
            new("q2", "Where is the VPN guide?", "IT portal", "it/vpn.md", null, null, null),
            new("q3", "Who is the CEO?", null, null, null, null, null),
        ];
        var replies = new Dictionary<string, string>
        {
            // verbatim quote of passage 1 → cites leave.md; EM 1
            ["How many days?"] = "The handbook says ##begin_quote##Staff get 30 days a year.##end_quote##\n<ANSWER>: 30 days",
            // one quote verbatim after collapsing whitespace (cites vpn.md), one invented; pred "on it portal" vs gold "it portal": F1 0.8
            ["Where is the VPN guide?"] = "##begin_quote##Read the guide on  the IT\nportal.##end_quote## and ##begin_quote##The portal is blue.##end_quote##\n<ANSWER>: On the IT portal",
            // no marker: the whole reply is the answer, a refusal
            ["Who is the CEO?"] = "The answer is not in the documents.",
        };
        var client = new ScriptedChatClient(prompt => replies.Single(r => prompt.EndsWith(r.Key, StringComparison.Ordinal)).Value);
        var mode = new RaftMode(book, client, "raft", "scripted");
        var rows = new List<QuestionResult>();
        foreach (var q in questions)
            rows.Add(EvalRunner.Score(q, await mode.AnswerWithContextAsync(q, [leave, vpn], CancellationToken.None), true, 1));
        var result = EvalRunner.Aggregate(mode, rows);

        // The prompt is RAFT's training format: documents in <DOCUMENT> tags, then the question, as the user message.
        Assert.Equal(RaftPrompt.Instruction([leave.Text, vpn.Text], "How many days?"), client.Calls[0][^1].Text);
        Assert.Equal(ChatRole.User, client.Calls[0][^1].Role);
        Assert.Equal(0.5, result.ExactMatch, 10);
        Assert.Equal((1 + 0.8) / 2, result.F1, 10);
        Assert.Equal(1.0, result.Contained, 10);
        Assert.Equal(1.0, result.CitationCorrectness);
        Assert.Equal(1.0, result.RefusalRate);
        Assert.Equal(0.0, result.FalseRefusalRate);
        Assert.Equal(3, result.Quotes);
        Assert.Equal(2 / 3.0, result.QuoteVerbatimRate!.Value, 10);
        Assert.Equal((30L, 15L), (result.InputTokens!.Value, result.OutputTokens!.Value));
        Assert.Equal([0, 1, 0], rows.Select(r => r.UnverifiedQuotes));
        Assert.Equal("On the IT portal", rows[1].Prediction);
    }

    [Fact]
    public async Task Closed_book_ft_mode_counts_refusals_and_has_no_quote_rate()
    {
        var client = new ScriptedChatClient(q => q.Contains("days", StringComparison.Ordinal) ? "30 days." : "I don't know.");
        var mode = new ClosedBookMode(client, "ft", "scripted");
        var result = Assert.Single(await EvalRunner.RunAsync([mode],
        [
            new EvalQuestion("a", "How many days?", "30 days", null, null, null, null),
            new EvalQuestion("b", "What colour is the VPN?", "blue", null, null, null, null),
        ]));
        Assert.Equal("ft", result.Mode);
        Assert.Equal(0.5, result.ExactMatch, 10);
        Assert.Equal(0.5, result.FalseRefusalRate, 10);
        Assert.Null(result.RecallAtK);
        Assert.Null(result.QuoteVerbatimRate);
        Assert.Equal(ClosedBookMode.SystemPrompt, client.Calls[0][0].Text);
    }

    [Theory]
    [InlineData("I don't know.", true)]
    [InlineData("I don’t know", true)]
    [InlineData("The documents do not say.", true)]
    [InlineData("That is not in the documents.", true)]
    [InlineData("", false)]
    [InlineData("  \n", false)]
    [InlineData("30 days, as the documents say.", false)]
    public void Refusals_are_recognised(string answer, bool refused) => Assert.Equal(refused, AnswerMetrics.IsRefusal(answer));

    [Fact]
    public void Empty_answers_are_counted_apart_from_refusals()
    {
        QuestionResult Row(string id, bool answerable, string prediction) =>
            new(id, "q", answerable ? "a" : null, prediction, answerable, AnswerMetrics.IsRefusal(prediction), 0, 0, 0, null, null, 1, null, null);
        var mode = new ClosedBookMode(null!, "base", "m");
        var result = EvalRunner.Aggregate(mode, [Row("1", true, ""), Row("2", true, "a"), Row("3", false, " "), Row("4", false, "I don't know.")]);
        Assert.Equal(0.5, result.EmptyRate);
        Assert.Equal(0.5, result.RefusalRate); // the empty reply to an unanswerable question is not a refusal
        Assert.Equal(0.0, result.FalseRefusalRate);
    }
}

public class DistractorSweepTests
{
    private static async Task<Book> Corpus(TempDir dir)
    {
        foreach (var topic in new[] { "parking", "canteen", "laptops", "passwords", "travel", "printing" })
            dir.File($"docs/{topic}.md", $"# {topic}\n\nThe {topic} rules were approved in 2024. Ask the help desk about {topic}.\n");
        // A long document: several chunks, only one of which holds the answer.
        var filler = string.Join(" ", Enumerable.Range(0, 400).Select(i => $"word{i}"));
        dir.File("docs/leave.md", $"# Leave\n\n## Overview\n\n{filler}\n\n## Carry-over\n\nUnused vacation days carry over until 31 March.\n\n## More\n\n{filler}\n");
        var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));
        await book.IngestAsync([Path.Combine(dir.Path, "docs")], new IngestOptions { Collection = "hr" });
        return book;
    }

    private static readonly EvalQuestion[] Questions =
    [
        new("q1", "Until when do unused vacation days carry over?", "31 March", "leave.md", "carry over until 31 March", null, null),
        new("q2", "When were the parking rules approved?", "2024", "parking.md", null, null, null),
        new("q3", "Who is the CEO?", null, null, null, null, null),
        new("q4", "What is in the annex?", "an annex", "annex.md", null, null, null),
    ];

    [Fact]
    public async Task Restricted_documents_are_never_oracles_or_distractors_of_the_sweep()
    {
        using var dir = new TempDir();
        await using var book = await Corpus(dir);
        dir.File("secret/salaries.md", "# Salaries\n\nThe salary band of a senior engineer is 90,000 EUR, approved in 2024.\n");
        await book.IngestAsync([Path.Combine(dir.Path, "secret")], new IngestOptions { Collection = "hr", Acl = ["hr"] });
        var index = book.LexicalIndex();
        var sweep = DistractorSweep.Build(book.ReadChunks(AccessScope.Public), t => index.Idf(t), Questions, [0, 4], seed: 7);
        Assert.NotEmpty(sweep.Contexts);
        Assert.All(sweep.Contexts, c => Assert.DoesNotContain(c.Pool.Append(c.Oracle), h => h.Text.Contains("90,000")));
        var all = DistractorSweep.Build(book.ReadChunks(AccessScope.All), t => index.Idf(t), Questions, [0, 4], seed: 7);
        Assert.Contains(all.Contexts, c => c.Pool.Any(h => h.Text.Contains("90,000")));
    }

    [Fact]
    public async Task Contexts_hold_the_oracle_once_and_exactly_k_distractors_from_other_documents()
    {
        using var dir = new TempDir();
        await using var book = await Corpus(dir);
        var index = book.LexicalIndex();
        Assert.True(book.Store.AllChunks().Count(c => c.Source.EndsWith("leave.md", StringComparison.Ordinal)) >= 2, "the long document must span several chunks");
        var sweep = DistractorSweep.Build(book.ReadChunks(AccessScope.Public), t => index.Idf(t), Questions, [4, 0, 1, 4], seed: 7);

        Assert.Equal([0, 1, 4], sweep.Distractors);
        Assert.Equal(["q1", "q2"], sweep.Contexts.Select(c => c.Question.Id));
        Assert.Equal(1, sweep.SkippedNoSource);
        Assert.Equal(["q4"], sweep.SkippedSourceNotFound);
        Assert.Contains("31 March", sweep.Contexts[0].Oracle.Text);
        foreach (var c in sweep.Contexts)
        {
            IReadOnlyList<SearchHit>? previous = null;
            foreach (var k in sweep.Distractors)
            {
                var context = c.Context(k);
                Assert.Equal(k + 1, context.Count);
                Assert.Single(context, h => h.ChunkId == c.Oracle.ChunkId);
                Assert.All(context.Where(h => h.ChunkId != c.Oracle.ChunkId), h => Assert.False(QuestionSet.SameDocument(h.Source, c.Question.Source!)));
                Assert.Equal(k + 1, context.Select(h => h.ChunkId).Distinct().Count());
                Assert.Equal(Enumerable.Range(1, k + 1), context.Select(h => h.Rank));
                // A larger k only adds distractors.
                if (previous is not null) Assert.Subset(context.Select(h => h.ChunkId).ToHashSet(), previous.Select(h => h.ChunkId).ToHashSet());
                previous = context;
            }
        }

        var again = DistractorSweep.Build(book.ReadChunks(AccessScope.Public), t => index.Idf(t), Questions, [0, 1, 4], seed: 7);
        Assert.Equal(Ids(sweep), Ids(again));
        var other = DistractorSweep.Build(book.ReadChunks(AccessScope.Public), t => index.Idf(t), Questions, [0, 1, 4], seed: 8);
        Assert.NotEqual(Ids(sweep), Ids(other));

        var tooMany = Assert.Throws<OpenBookException>(() => DistractorSweep.Build(book.ReadChunks(AccessScope.Public), t => index.Idf(t), Questions, [50], 7));
        Assert.Contains("50 distractors", tooMany.Message);
    }

    private static string Ids(DistractorSweep s) =>
        string.Join(";", s.Contexts.Select(c => string.Join(",", s.Distractors.SelectMany(k => c.Context(k).Select(h => h.ChunkId)))));

    [Fact]
    public async Task Sweep_scores_every_mode_at_every_k()
    {
        using var dir = new TempDir();
        await using var book = await Corpus(dir);
        var index = book.LexicalIndex();
        var sweep = DistractorSweep.Build(book.ReadChunks(AccessScope.Public), t => index.Idf(t), Questions, [0, 2], seed: 1);
        var sizes = new List<int>();
        // RAFT replies quoting the first document of the prompt and answering "31 March" (right for q1 only).
        var client = new ScriptedChatClient(prompt =>
        {
            sizes.Add(prompt.Split("<DOCUMENT>").Length - 1);
            var first = prompt[(prompt.IndexOf("<DOCUMENT>", StringComparison.Ordinal) + 10)..prompt.IndexOf("</DOCUMENT>", StringComparison.Ordinal)];
            return $"##begin_quote##{first.Trim()}##end_quote##\n<ANSWER>: 31 March";
        });
        var results = await EvalRunner.SweepAsync([new RaftMode(book, client, "raft", "scripted"), new ExtractiveMode(book)], sweep);
        Assert.Equal([("raft", 0), ("raft", 2), ("extractive", 0), ("extractive", 2)], results.Select(r => (r.Mode, r.Distractors)));
        Assert.Equal([1, 1, 3, 3], sizes);
        var raft0 = results[0].Result;
        Assert.Equal(2, raft0.Questions);
        Assert.Equal(0.5, raft0.Contained, 10);
        Assert.Equal(1.0, raft0.QuoteVerbatimRate);
        Assert.Equal(1.0, results[2].Result.Contained, 10); // extractive with only the oracle finds both answers
    }
}
