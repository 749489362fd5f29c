using System.CommandLine;
using System.Globalization;
using OpenBook.Evaluation;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook demo</c>: the bundled handbook into a temporary store, a few answers, and retrieval hit@k on its questions.</summary>
internal static class DemoCommands
{
    /// <summary>Where the bundled samples are copied next to the CLI binary.</summary>
    public static string SamplesDirectory => Path.Combine(AppContext.BaseDirectory, "samples");

    public static Command Demo()
    {
        var corpus = new Option<string>("--corpus") { Description = "Corpus directory", DefaultValueFactory = _ => Path.Combine(SamplesDirectory, "handbook") };
        var questionsFile = new Option<string>("--questions") { Description = "Questions (JSONL)", DefaultValueFactory = _ => Path.Combine(SamplesDirectory, "questions.jsonl") };
        var count = new Option<int>("--ask") { Description = "How many sample questions to answer on screen", DefaultValueFactory = _ => 4 };
        var keep = new Option<bool>("--keep") { Description = "Keep the temporary store and print its path" };
        var cmd = new Command("demo", "Ingest the bundled sample handbook into a temporary store, answer sample questions, and measure retrieval hit@1/hit@5")
        {
            corpus, questionsFile, count, keep, EmbeddingCli.Embed,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var corpusDir = r.GetValue(corpus)!;
            if (!Directory.Exists(corpusDir))
                throw new OpenBookException($"{corpusDir}: sample corpus not found (pass --corpus DIR)");
            var questions = QuestionSet.Load(r.GetValue(questionsFile)!);
            var store = Path.Combine(Path.GetTempPath(), "openbook-demo-" + Guid.NewGuid().ToString("n")[..8]);
            var console = Cli.Out(r);
            try
            {
                var embed = r.GetValue(EmbeddingCli.Embed) is not null;
                await using var opened = await EmbeddingCli.OpenAsync(r, ct, embed ? SearchMode.Vector : SearchMode.Lexical, store, mustExist: false);
                var book = opened.Book;
                console.MarkupLine($"[bold]OpenBook demo[/]: ingesting [green]{Markup.Escape(corpusDir)}[/] into a temporary store…");
                var report = await IngestCommands.RunWithProgress(r, book, [corpusDir], new IngestOptions { Collection = "handbook", Embed = embed }, ct);
                if (!r.GetValue(Cli.Json)) IngestCommands.Report(r, report);

                var shown = Pick(questions, r.GetValue(count));
                var answers = new List<(EvalQuestion Q, Answer A)>();
                foreach (var q in shown)
                {
                    var answer = await book.AskAsync(q.Question, cancellationToken: ct);
                    answers.Add((q, answer));
                    if (r.GetValue(Cli.Json)) continue;
                    console.WriteLine();
                    console.Write(new Rule($"[bold]Q:[/] {Markup.Escape(q.Question)}").LeftJustified());
                    CoreCommands.PrintAnswer(console, answer, explainMode: answers.Count == 1);
                    console.MarkupLine($"[grey]expected: {Markup.Escape(q.Answer ?? "not in the documents")}{(q.Source is null ? "" : " — " + Markup.Escape(q.Source))}[/]");
                }

                var retrieval = await RetrievalEvaluator.EvaluateAsync(book, questions, 5, cancellationToken: ct, mode: SearchMode.Lexical);
                var byMode = new List<(string Mode, RetrievalReport Report)> { ("lexical", retrieval) };
                if (embed)
                    foreach (var mode in new[] { SearchMode.Vector, SearchMode.Hybrid })
                        byMode.Add((mode.ToString().ToLowerInvariant(), await RetrievalEvaluator.EvaluateAsync(book, questions, 5, cancellationToken: ct, mode: mode)));
                if (r.GetValue(Cli.Json))
                {
                    Cli.WriteJson(new
                    {
                        ingest = IngestCommands.ToJson(report),
                        answers = answers.Select(a => new
                        {
                            id = a.Q.Id, question = a.Q.Question, expected = a.Q.Answer, answer = a.A.Text, found = a.A.Found,
                            mode = a.A.Mode == AnswerMode.Llm ? "llm" : "extractive",
                            citations = a.A.Citations.Select(c => new { n = c.N, source = c.Source, page = c.Page }),
                        }),
                        retrieval = Summary(retrieval),
                        retrievalByMode = byMode.Select(m => new { mode = m.Mode, result = Summary(m.Report) }),
                        store = r.GetValue(keep) ? store : null,
                    });
                }
                else
                {
                    console.WriteLine();
                    console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                        $"[bold]Retrieval (BM25) on {retrieval.Questions} answerable sample questions:[/] hit@1 {retrieval.HitAt1:P1}, hit@5 {retrieval.HitAt5:P1}, " +
                        $"supporting passage in top 5 {retrieval.PassageHitAt5:P1}, MRR {retrieval.Mrr:0.000}, median search {retrieval.P50Milliseconds:0.00} ms"));
                    if (byMode.Count > 1)
                    {
                        var table = new Table().AddColumns("retrieval", "hit@1", "hit@5", "passage@5", "MRR", "p50 ms");
                        foreach (var (mode, m) in byMode)
                            table.AddRow(mode, $"{m.HitAt1:P1}", $"{m.HitAt5:P1}", $"{m.PassageHitAt5:P1}", $"{m.Mrr:0.000}", $"{m.P50Milliseconds:0.00}");
                        console.Write(table);
                    }
                    if (r.GetValue(keep))
                        console.MarkupLine($"Store kept at [green]{Markup.Escape(store)}[/]: try [bold]openbook ask \"…\" --store {Markup.Escape(store)}[/]");
                    else
                        console.MarkupLine("[grey]Next: `openbook ingest <your folder>` then `openbook ask \"your question\"`.[/]");
                }
                return 0;
            }
            finally
            {
                if (!r.GetValue(keep)) Cli.TryDeleteDirectory(store);
            }
        });
        return cmd;
    }

    private static object Summary(RetrievalReport m) => new
    {
        questions = m.Questions, hitAt1 = Math.Round(m.HitAt1, 4), hitAt5 = Math.Round(m.HitAt5, 4),
        passageHitAt5 = Math.Round(m.PassageHitAt5, 4), mrr = Math.Round(m.Mrr, 4), p50Ms = Math.Round(m.P50Milliseconds, 3),
    };

    /// <summary>A spread of sample questions: answerable ones of different types first, then one the documents cannot answer.</summary>
    private static List<EvalQuestion> Pick(IReadOnlyList<EvalQuestion> questions, int count)
    {
        if (count <= 0) return [];
        var answerable = questions.Where(q => q.Answerable).GroupBy(q => q.Type ?? "").Select(g => g.First()).Take(Math.Max(1, count - 1)).ToList();
        var unanswerable = questions.FirstOrDefault(q => !q.Answerable);
        if (unanswerable is not null && answerable.Count >= count) answerable.RemoveAt(answerable.Count - 1);
        if (unanswerable is not null) answerable.Add(unanswerable);
        return answerable.Take(count).ToList();
    }

}
