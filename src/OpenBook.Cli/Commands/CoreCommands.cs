using System.CommandLine;
using System.Globalization;
using OpenBook.Answering;
using OpenBook.Ingestion;
using OpenBook.Retrieval;
using OpenBook.Runtime;
using OpenBook.Runtime.Reports;
using OpenBook.Storage;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>search</c>, <c>ask</c>, <c>chat</c>, <c>docs</c>, <c>stats</c>: the commands over an existing store.</summary>
internal static class CoreCommands
{
    public static readonly Option<string[]> Collections = new("--collection", "-c")
    {
        Description = "Only these collections (repeat or comma-separate)",
        AllowMultipleArgumentsPerToken = true,
    };

    public static readonly Option<string[]> Tags = new("--tags")
    {
        Description = "Only documents carrying all these tags (comma-separated)",
        AllowMultipleArgumentsPerToken = true,
    };

    public static readonly Option<string[]> AsGroups = new("--as-groups")
    {
        Description = "Read as a member of these ACL groups (comma-separated); documents with an ACL you share no group with are never read",
        AllowMultipleArgumentsPerToken = true,
    };

    public static readonly Option<bool> AllAccess = new("--all-access")
    {
        Description = "Read every document whatever its ACL (administrators; stated in the output)",
    };

    /// <summary>The caller's access scope: <c>--all-access</c>, else the <c>--as-groups</c> groups (none: public documents only).</summary>
    public static AccessScope Scope(ParseResult r) =>
        r.GetValue(AllAccess) ? AccessScope.All : AccessScope.ForGroups(Split(r.GetValue(AsGroups)));

    public static SearchFilter Filter(ParseResult r)
    {
        var scope = Scope(r);
        return new SearchFilter { Collections = Split(r.GetValue(Collections)), Tags = Split(r.GetValue(Tags)), Groups = scope.Groups, AllAccess = scope.AllAccess };
    }

    public static string[]? Split(string[]? values) =>
        values is null ? null : values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray() is { Length: > 0 } a ? a : null;

    /// <summary>Opens the <c>--store</c> (created when <paramref name="create"/>; read-only commands refuse a missing store).</summary>
    public static Task<Book> OpenBook(ParseResult r, CancellationToken ct, bool create = false)
    {
        var dir = r.GetValue(Cli.Store)!;
        if (!create && !File.Exists(Path.Combine(dir, DocumentStore.DatabaseFileName))) throw new OpenBookException($"no OpenBook store at {dir}");
        return Book.OpenAsync(dir, cancellationToken: ct);
    }

    public static Command Search()
    {
        var query = new Argument<string>("query") { Description = "What to search for" };
        var k = new Option<int>("-k", "--top") { Description = "Number of results", DefaultValueFactory = _ => 5 };
        var cmd = new Command("search", "Search the ingested documents") { query, k, Collections, Tags, AsGroups, AllAccess, EmbeddingCli.Mode, EmbeddingCli.Embed, EmbeddingCli.Rerank };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var text = r.GetValue(query)!;
            if (string.IsNullOrWhiteSpace(text)) throw new OpenBookException("The query is empty.");
            await using var session = await EmbeddingCli.OpenAsync(r, ct);
            var hits = await session.Book.SearchAsync(text, new SearchOptions { K = r.GetValue(k), Filter = Filter(r), Mode = r.GetValue(EmbeddingCli.Mode), Reranker = session.Reranker }, ct);
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new SearchResultsJson(hits.Select(SearchHitJson.Of).ToList()));
                return 0;
            }
            var console = Cli.Out(r);
            if (hits.Count == 0) console.MarkupLine("[yellow]No results.[/]");
            foreach (var h in hits)
            {
                console.MarkupLine($"[bold]{h.Rank}.[/] [green]{Cli.Safe(h.Citation)}[/]  [grey]score {h.Score:0.000}[/]");
                console.MarkupLine("   " + Cli.Safe(Snippet(h.Text, 300)));
                console.WriteLine();
            }
            return 0;
        });
        return cmd;
    }

    public static string Snippet(string text, int max)
    {
        var flat = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return flat.Length <= max ? flat : flat[..max] + "…";
    }

    /// <summary><c>--adapter DIR</c>: a LoRA adapter (PEFT format) applied to the local <c>--model</c> without merging.</summary>
    public static readonly Option<string?> Adapter = new("--adapter")
    {
        Description = "LoRA adapter directory (PEFT format: adapter_config.json + adapter_model.safetensors) applied to --model; " +
                      "without --model its base_model_name_or_path is used",
    };

    /// <summary>The language model of <c>--model</c> / <c>--adapter</c>, or null (extractive answers).</summary>
    private static ChatModel? OpenModel(ParseResult r, Option<string?> model) =>
        r.GetValue(model) is null && r.GetValue(Adapter) is null ? null : ChatModels.Open(r.GetValue(model), r.GetValue(Adapter));

    public static Command Ask()
    {
        var question = new Argument<string>("question") { Description = "The question" };
        var k = new Option<int>("-k", "--top") { Description = "Passages to retrieve", DefaultValueFactory = _ => 5 };
        var model = new Option<string?>("--model") { Description = "Language model that writes the answer: a local model directory, a cached Hub id, or openai:URL#name (default: extractive, no model)" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Longest answer, in tokens", DefaultValueFactory = _ => 512 };
        var cmd = new Command("ask", "Answer a question from the documents, with citations") { question, k, Collections, Tags, AsGroups, AllAccess, EmbeddingCli.Mode, EmbeddingCli.Embed, EmbeddingCli.Rerank, model, Adapter, maxTokens };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            await using var session = await EmbeddingCli.OpenAsync(r, ct);
            using var chat = OpenModel(r, model);
            var options = new AskOptions
            {
                K = r.GetValue(k), Filter = Filter(r), Mode = r.GetValue(EmbeddingCli.Mode), Reranker = session.Reranker, Answerer = chat?.Answerer(r.GetValue(maxTokens)),
            };
            await AnswerAsync(r, session.Book, r.GetValue(question)!, options, ct);
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// Asks and prints: with --json one <see cref="AnswerJson"/> line; else a model answer streams to the terminal (RAFT
    /// reasoning in grey), an extractive one is printed with its explanation; then the citations.
    /// </summary>
    private static async Task AnswerAsync(ParseResult r, Book book, string question, AskOptions options, CancellationToken ct, bool explainExtractive = true)
    {
        if (r.GetValue(Cli.Json))
        {
            Cli.WriteJson(AnswerJson.Of(await book.AskAsync(question, options, ct)));
            return;
        }
        var console = Cli.Out(r);
        if (options.Answerer is null)
        {
            PrintAnswer(console, await book.AskAsync(question, options, ct), explainExtractive);
            return;
        }
        Answer? answer = null;
        bool raft = options.Answerer.Prompt == AnswerPrompt.Raft;
        await foreach (var update in book.AskStreamingAsync(question, options, ct))
        {
            if (update.Completed is { } done) answer = done;
            else if (!raft) Console.Out.Write(Cli.StripControl(update.TextDelta));
        }
        if (answer is null) return;
        if (raft)
        {
            console.MarkupLine($"[grey]{Cli.Safe((answer.Reasoning ?? "").Trim())}[/]");
            PrintAnswer(console, answer, explainMode: false);
            return;
        }
        Console.Out.WriteLine();
        if (string.IsNullOrWhiteSpace(answer.Text)) console.MarkupLine("[yellow](the model returned an empty answer)[/]");
        PrintCitations(console, answer);
    }

    public static Command Chat()
    {
        var model = new Option<string?>("--model") { Description = "Language model: a local model directory, a cached Hub id, or openai:URL#name (or the --adapter's base model)" };
        var k = new Option<int>("-k", "--top") { Description = "Passages retrieved per question", DefaultValueFactory = _ => 5 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Longest answer, in tokens", DefaultValueFactory = _ => 512 };
        var cmd = new Command("chat", "Interactive questions answered from the documents by a language model (empty line or Ctrl+D to quit; " +
                                      "with --json one JSON object per answer, as ask --json prints it)")
        {
            model, Adapter, k, maxTokens, Collections, Tags, AsGroups, AllAccess, EmbeddingCli.Mode, EmbeddingCli.Embed, EmbeddingCli.Rerank,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            using var chat = OpenModel(r, model) ?? throw new OpenBookException("chat needs a language model: pass --model DIR|ID|openai:URL#name (or --adapter DIR).");
            await using var session = await EmbeddingCli.OpenAsync(r, ct);
            var options = new AskOptions
            {
                K = r.GetValue(k), Filter = Filter(r), Mode = r.GetValue(EmbeddingCli.Mode), Reranker = session.Reranker, Answerer = chat.Answerer(r.GetValue(maxTokens)),
            };
            Cli.ErrConsole.MarkupLine("[grey]Ask about your documents; an empty line quits.[/]");
            while (!ct.IsCancellationRequested)
            {
                Console.Error.Write("> ");
                var line = await Console.In.ReadLineAsync(ct);
                if (string.IsNullOrWhiteSpace(line)) break;
                await AnswerAsync(r, session.Book, line, options, ct);
            }
            return 0;
        });
        return cmd;
    }

    public static void PrintAnswer(IAnsiConsole console, Answer answer, bool explainMode = true)
    {
        if (answer.Mode == AnswerMode.Extractive && explainMode)
            console.MarkupLine("[grey]Extractive mode: no language model is configured, so these are the sentences of your documents that best match the question. " +
                               "For generated answers, pass --model (a local model directory, a cached Hub id, or openai:URL#name, e.g. openai:http://localhost:11434/v1#llama3).[/]");
        console.WriteLine();
        if (string.IsNullOrWhiteSpace(answer.Text)) console.MarkupLine("[yellow](the model returned an empty answer)[/]");
        else console.MarkupLine(answer.Found ? Cli.Safe(answer.Text) : $"[yellow]{Cli.Safe(answer.Text)}[/]");
        if (answer.Citations.Count > 0) console.WriteLine();
        PrintCitations(console, answer);
    }

    private static void PrintCitations(IAnsiConsole console, Answer answer)
    {
        foreach (var c in answer.Citations)
            console.MarkupLine($"[bold][[{c.N}]][/] [green]{Cli.Safe(CitationFormat.Format(c.Source, c.Page, c.Headings))}[/]");
    }

    public static Command Docs()
    {
        var docs = new Command("docs", "List, show and remove documents (those your --as-groups may read; --all-access for every document)");

        var list = new Command("list", "List documents") { Collections, AsGroups, AllAccess };
        Cli.SetHandler(list, async (r, ct) =>
        {
            await using var book = await OpenBook(r, ct);
            var scope = Scope(r);
            var items = book.ListDocuments(scope, Split(r.GetValue(Collections)));
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new DocumentListJson(items.Select(DocumentJson.Of).ToList(), scope.ToString()));
                return 0;
            }
            var table = new Table().AddColumns("id", "collection", "source", "chunks", "KB", "tags", "acl");
            foreach (var d in items)
                table.AddRow(d.Id.ToString(CultureInfo.InvariantCulture), Cli.Safe(d.Collection), Cli.Safe(d.DisplayPath), d.ChunkCount.ToString(CultureInfo.InvariantCulture),
                    $"{d.Size / 1024.0:0.0}", Cli.Safe(string.Join(",", d.Tags)), Cli.Safe(string.Join(",", d.Acl)));
            Cli.Out(r).Write(table);
            Cli.Out(r).MarkupLine($"[grey]{items.Count} documents ({Markup.Escape(scope.ToString())})[/]");
            return 0;
        });

        var idArg = new Argument<string>("document") { Description = "Document id, or its source path" };
        var show = new Command("show", "Show a document's metadata and chunks") { idArg, AsGroups, AllAccess };
        Cli.SetHandler(show, async (r, ct) =>
        {
            await using var book = await OpenBook(r, ct);
            var scope = Scope(r);
            var doc = Resolve(book, r.GetValue(idArg)!, scope);
            var chunks = book.GetDocumentChunks(doc.Id, scope);
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new DocumentShowJson(DocumentJson.Of(doc), chunks.Select(ChunkJson.Of).ToList()));
                return 0;
            }
            var console = Cli.Out(r);
            console.MarkupLine($"[bold]{Cli.Safe(doc.DisplayPath)}[/] (id {doc.Id}, collection {Cli.Safe(doc.Collection)}, {chunks.Count} chunks)");
            if (doc.Title is not null) console.MarkupLine($"title: {Cli.Safe(doc.Title)}");
            foreach (var c in chunks)
                console.MarkupLine($"[grey]#{c.Index}[/] [green]{Cli.Safe(CitationFormat.Format(doc.DisplayPath, c.Page, c.Headings))}[/] [grey]({c.TokenCount} tokens)[/]\n   {Cli.Safe(Snippet(c.Text, 200))}");
            return 0;
        });

        var remove = new Command("remove", "Remove a document and its chunks (needs one of its groups in --as-groups, or --all-access)") { idArg, AsGroups, AllAccess };
        Cli.SetHandler(remove, async (r, ct) =>
        {
            await using var book = await OpenBook(r, ct);
            var scope = Scope(r);
            var doc = Resolve(book, r.GetValue(idArg)!, scope);
            await book.RemoveDocumentAsync(doc.Id, scope, ct);
            if (r.GetValue(Cli.Json)) Cli.WriteJson(new RemovedJson(doc.Id, doc.DisplayPath));
            else Cli.Out(r).MarkupLine($"Removed [bold]{Cli.Safe(doc.DisplayPath)}[/] ({doc.ChunkCount} chunks).");
            return 0;
        });

        docs.Subcommands.Add(list);
        docs.Subcommands.Add(show);
        docs.Subcommands.Add(remove);
        return docs;
    }

    private static DocumentRecord Resolve(Book book, string idOrPath, AccessScope scope)
    {
        var matches = book.FindDocuments(idOrPath, scope);
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new OpenBookException($"No document matches '{idOrPath}'. See `openbook docs list`."),
            _ => throw new OpenBookException($"'{idOrPath}' matches {matches.Count} documents; use the id (see `openbook docs list`)."),
        };
    }

    public static Command Stats()
    {
        var cmd = new Command("stats", "Counts and sizes of the store and its indexes (of the documents your --as-groups may read; --all-access for all)") { AsGroups, AllAccess };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            await using var book = await OpenBook(r, ct);
            var scope = Scope(r);
            var s = book.Stats(scope);
            var index = book.LexicalIndex();
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new StatsJson(book.Directory, book.Store.SchemaVersion, s.Collections, s.Documents, s.Chunks, s.SourceBytes, s.TextChars, s.Tokens,
                    s.DatabaseBytes, s.Sequence, new LexicalIndexJson(index.Count, index.TermCount, book.LexicalIndexStatus), s.PerCollection, scope.ToString()));
                return 0;
            }
            var t = new Table().AddColumns("collection", "documents", "chunks", "source MB", "last ingest");
            foreach (var c in s.PerCollection)
                t.AddRow(Cli.Safe(c.Name), c.Documents.ToString(CultureInfo.InvariantCulture), c.Chunks.ToString(CultureInfo.InvariantCulture), $"{c.SourceBytes / 1e6:0.00}",
                    c.LastIngest?.ToString("u", CultureInfo.InvariantCulture) ?? "-");
            var console = Cli.Out(r);
            console.Write(t);
            console.MarkupLine($"store [bold]{Markup.Escape(book.Directory)}[/] (schema v{book.Store.SchemaVersion}, {Markup.Escape(scope.ToString())}): {s.Documents} documents, {s.Chunks} chunks, {s.Tokens:N0} tokens, database {s.DatabaseBytes / 1e6:0.0} MB");
            console.MarkupLine($"BM25 index: {index.Count} chunks, {index.TermCount} terms ({book.LexicalIndexStatus})");
            return 0;
        });
        return cmd;
    }
}
