using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenBook.Raft;
using OpenBook.Answering;

namespace OpenBook.Tests.Raft;

/// <summary>
/// Test double for a generator model (never a default anywhere): asks for questions → "What does the text say about
/// WORD?" (TOPIC = the excerpt's second word) for the first words of the excerpt; asks for an answer → a chain of thought quoting the excerpt's first
/// sentence verbatim (or a paraphrase when <see cref="Paraphrase"/> is set), ending with "&lt;ANSWER&gt;: …".
/// </summary>
internal sealed class ScriptedRaftModel : IChatClient
{
    public bool Paraphrase { get; init; }
    public int Calls;

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Calls);
        var prompt = messages.Last().Text;
        string reply;
        if (prompt.StartsWith("Below is an excerpt", StringComparison.Ordinal))
        {
            var excerpt = prompt[(prompt.IndexOf("Excerpt:\n", StringComparison.Ordinal) + 9)..];
            var words = excerpt.Split([' ', '\n', '.', ','], StringSplitOptions.RemoveEmptyEntries).Where(w => w.Length > 3).Distinct().Take(3);
            var topic = excerpt.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            reply = string.Join("\n", words.Select((w, i) => $"{i + 1}. What does the {topic} text say about {w}?"));
        }
        else
        {
            var context = prompt[(prompt.IndexOf("Context: ", StringComparison.Ordinal) + 9)..prompt.IndexOf("\n\nAnswer the question", StringComparison.Ordinal)];
            var sentence = context.Split(". ")[0].Trim().TrimEnd('.');
            var quote = Paraphrase ? "In other words, " + sentence.ToLowerInvariant() : sentence;
            reply = $"The context says {RaftPrompt.BeginQuote}{quote}{RaftPrompt.EndQuote}, which answers it.\n{RaftPrompt.AnswerMarker} {sentence}";
        }
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, reply)));
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public object? GetService(Type serviceType, object? serviceKey = null) => null;
    public void Dispose() { }
}

public sealed class RaftGeneratorTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "openbook-raft-tests", Guid.NewGuid().ToString("N"));
    private Book _book = null!;

    public async Task InitializeAsync()
    {
        var docs = Path.Combine(_dir, "docs");
        Directory.CreateDirectory(docs);
        var topics = new[] { "vacation", "expenses", "laptops", "passwords", "parking", "travel", "security", "onboarding", "benefits", "payroll", "canteen", "printing" };
        for (var i = 0; i < topics.Length; i++)
            File.WriteAllText(Path.Combine(docs, $"{topics[i]}.md"),
                $"# {topics[i]}\n\nThe {topics[i]} policy number {i} was approved by the board in {2010 + i}. Staff follow rule {i * 7} for {topics[i]} matters.\n");
        _book = await Book.OpenAsync(Path.Combine(_dir, "store"));
        await _book.IngestAsync([docs], new IngestOptions { Collection = "hr" });
    }

    public async Task DisposeAsync()
    {
        await _book.DisposeAsync();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    [Fact]
    public async Task Generates_examples_in_every_format_with_verbatim_quotes()
    {
        var dataset = await new RaftGenerator(new ScriptedRaftModel(), new RaftOptions { Collection = "hr", QuestionsPerChunk = 2, Distractors = 3 }).GenerateAsync(_book);
        Assert.Equal(12, dataset.Summary.Chunks);
        Assert.Equal(24, dataset.Summary.Kept);
        foreach (var e in dataset.Examples)
        {
            Assert.Equal(e.OracleIncluded ? 4 : 4, e.Context.Count);
            Assert.Equal(e.OracleIncluded, e.Context.Any(d => d.ChunkId == e.Oracle.ChunkId));
            Assert.All(RaftPrompt.Quotes(e.CotAnswer), q => Assert.Contains(q, e.Oracle.Text));
            Assert.Contains(e.Question, e.Instruction);
            Assert.Equal(e.Context.Count, e.Instruction.Split("<DOCUMENT>").Length - 1);
        }
        var files = RaftExport.Write(dataset, Path.Combine(_dir, "out"));
        Assert.Equal(5, files.Count);
        foreach (var file in files.Where(f => f.EndsWith(".jsonl", StringComparison.Ordinal)))
        {
            var lines = File.ReadAllLines(file);
            Assert.Equal(24, lines.Length);
            foreach (var line in lines) JsonDocument.Parse(line).Dispose();
        }
        using var chat = JsonDocument.Parse(File.ReadLines(Path.Combine(_dir, "out", "raft.chat.jsonl")).First());
        var roles = chat.RootElement.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("role").GetString());
        Assert.Equal(["system", "user", "assistant"], roles);
        using var hf = JsonDocument.Parse(File.ReadLines(Path.Combine(_dir, "out", "raft.hf.jsonl")).First());
        Assert.Equal(4, hf.RootElement.GetProperty("context").GetProperty("sentences")[0].GetArrayLength());
        // The eval set is a question file `openbook eval` reads.
        var questions = OpenBook.Evaluation.QuestionSet.Load(Path.Combine(_dir, "out", "raft.eval.jsonl"));
        Assert.Equal(24, questions.Count);
        Assert.All(questions, q => Assert.True(q.Answerable && q.Source is not null));
    }

    [Fact]
    public async Task Paraphrased_quotes_are_rejected_and_counted()
    {
        var dataset = await new RaftGenerator(new ScriptedRaftModel { Paraphrase = true }, new RaftOptions { QuestionsPerChunk = 2 }).GenerateAsync(_book);
        Assert.Empty(dataset.Examples);
        Assert.Equal(24, dataset.Summary.Dropped["quote not verbatim in the oracle"]);
    }

    [Fact]
    public async Task Oracle_probability_and_distractor_count_are_honoured_over_a_seeded_run()
    {
        var options = new RaftOptions { QuestionsPerChunk = 3, Distractors = 2, OracleProbability = 0.5, Seed = 7 };
        var dataset = await new RaftGenerator(new ScriptedRaftModel(), options).GenerateAsync(_book);
        Assert.Equal(36, dataset.Examples.Count);
        Assert.All(dataset.Examples, e => Assert.Equal(3, e.Context.Count)); // k distractors + oracle, or k + 1 distractors
        Assert.All(dataset.Examples.Where(e => !e.OracleIncluded), e => Assert.DoesNotContain(e.Context, d => d.ChunkId == e.Oracle.ChunkId));
        var share = dataset.Summary.WithOracle / (double)dataset.Examples.Count;
        Assert.InRange(share, 0.25, 0.75); // binomial(36, 0.5): this range holds with probability > 0.99
        // p = 0 and p = 1 are exact.
        var never = await new RaftGenerator(new ScriptedRaftModel(), options with { OracleProbability = 0 }).GenerateAsync(_book);
        Assert.Equal(0, never.Summary.WithOracle);
        var always = await new RaftGenerator(new ScriptedRaftModel(), options with { OracleProbability = 1 }).GenerateAsync(_book);
        Assert.Equal(36, always.Summary.WithOracle);
        // Same seed → same dataset, whatever the worker count.
        var again = await new RaftGenerator(new ScriptedRaftModel(), options with { Workers = 1 }).GenerateAsync(_book);
        Assert.Equal(Serialize(dataset), Serialize(again));
        var other = await new RaftGenerator(new ScriptedRaftModel(), options with { Seed = 8 }).GenerateAsync(_book);
        Assert.NotEqual(Serialize(dataset), Serialize(other));
    }

    [Fact]
    public async Task Resuming_from_a_checkpoint_gives_the_same_dataset_without_asking_the_model_again()
    {
        var checkpoint = Path.Combine(_dir, "raft.checkpoint.jsonl");
        var options = new RaftOptions { QuestionsPerChunk = 2, Seed = 3, CheckpointPath = checkpoint, DistractorSource = DistractorSource.HardNegatives };
        var full = await new RaftGenerator(new ScriptedRaftModel(), options with { CheckpointPath = null }).GenerateAsync(_book);

        // An interrupted run: cancel after a few chunks, leaving a partial checkpoint (with a torn last line).
        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            new RaftGenerator(new ScriptedRaftModel(), options with { Workers = 1 }).GenerateAsync(_book, new SyncProgress(p => { if (p.Done >= 4) cts.Cancel(); }), cts.Token));
        var saved = File.ReadAllLines(checkpoint).Length;
        Assert.InRange(saved, 4, 11);
        File.AppendAllText(checkpoint, "{\"chunkId\": 99, \"questi");

        var model = new ScriptedRaftModel();
        var resumed = await new RaftGenerator(model, options).GenerateAsync(_book);
        Assert.Equal(saved, resumed.Summary.ResumedChunks);
        Assert.Equal((12 - saved) * 3, model.Calls); // 1 question call + 2 answer calls per remaining chunk
        Assert.Equal(Serialize(full), Serialize(resumed));
    }

    [Fact]
    public async Task Bad_settings_name_the_setting()
    {
        var e = await Assert.ThrowsAsync<OpenBook.OpenBookException>(() => new RaftGenerator(new ScriptedRaftModel(), new RaftOptions { OracleProbability = 1.5 }).GenerateAsync(_book));
        Assert.Contains("oracle probability", e.Message);
        var empty = await Assert.ThrowsAsync<OpenBook.OpenBookException>(() => new RaftGenerator(new ScriptedRaftModel(), new RaftOptions { Collection = "nope" }).GenerateAsync(_book));
        Assert.Contains("nope", empty.Message);
    }

    private static string Serialize(RaftDataset d) => JsonSerializer.Serialize(d.Examples);

    private sealed class SyncProgress(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }
}
