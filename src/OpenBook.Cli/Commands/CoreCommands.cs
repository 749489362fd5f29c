using OpenBook.Ingestion;
using System.CommandLine;
using OpenBook.Retrieval;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>search</c>, <c>ask</c>, <c>docs</c>, <c>stats</c>: the commands over an existing store.</summary>
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
        Description = "Search as a member of these ACL groups (comma-separated); documents with an ACL you share no group with are never returned",
        AllowMultipleArgumentsPerToken = true,
    };

    public static SearchFilter Filter(ParseResult r) => new()
    {
        Collections = Split(r.GetValue(Collections)),
        Tags = Split(r.GetValue(Tags)),
        Groups = Split(r.GetValue(AsGroups)),
    };

    public static string[]? Split(string[]? values) =>
        values is null ? null : values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray() is { Length: > 0 } a ? a : null;

    public static Task<Book> OpenBook(ParseResult r, CancellationToken ct) => Book.OpenAsync(r.GetValue(Cli.Store)!, cancellationToken: ct);

    public static Command Search()
    {
        var query = new Argument<string>("query") { Description = "What to search for" };
        var k = new Option<int>("-k", "--top") { Description = "Number of results", DefaultValueFactory = _ => 5 };
        var cmd = new Command("search", "Search the ingested documents") { query, k, Collections, Tags, AsGroups, EmbeddingCli.Mode, EmbeddingCli.Embed, EmbeddingCli.Rerank };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var mode = r.GetValue(EmbeddingCli.Mode);
            await using var opened = await EmbeddingCli.OpenAsync(r, ct, mode);
            using var reranker = EmbeddingCli.Reranker(r);
            var hits = await opened.Book.SearchAsync(r.GetValue(query)!, new SearchOptions { K = r.GetValue(k), Filter = Filter(r), Mode = mode, Reranker = reranker }, ct);
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new
                {
                    results = hits.Select(h => new
                    {
                        rank = h.Rank, score = Math.Round(h.Score, 6), text = h.Text, source = h.Source, page = h.Page, headings = h.Headings,
                        chunkId = h.ChunkId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    }),
                });
                return 0;
            }
            var console = Cli.Out(r);
            if (hits.Count == 0) console.MarkupLine("[yellow]No results.[/]");
            foreach (var h in hits)
            {
                console.MarkupLine($"[bold]{h.Rank}.[/] [green]{Markup.Escape(h.Citation)}[/]  [grey]score {h.Score:0.000}[/]");
                console.WriteLine("   " + Snippet(h.Text, 300));
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

    public static Command Ask()
    {
        var question = new Argument<string>("question") { Description = "The question" };
        var k = new Option<int>("-k", "--top") { Description = "Passages to retrieve", DefaultValueFactory = _ => 5 };
        var model = new Option<string?>("--model") { Description = "Language model that writes the answer: a local model directory, a cached Hub id, or openai:URL#name (default: extractive, no model)" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Longest answer, in tokens", DefaultValueFactory = _ => 512 };
        var cmd = new Command("ask", "Answer a question from the documents, with citations") { question, k, Collections, Tags, AsGroups, EmbeddingCli.Mode, EmbeddingCli.Embed, model, Adapter, maxTokens };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var mode = r.GetValue(EmbeddingCli.Mode);
            await using var opened = await EmbeddingCli.OpenAsync(r, ct, mode);
            if (ModelSpec(r, model) is { } spec)
                return await AskModelAsync(r, opened.Book, spec, r.GetValue(question)!, new SearchOptions { K = r.GetValue(k), Filter = Filter(r), Mode = mode },
                    r.GetValue(maxTokens), ct);
            var answer = await opened.Book.AskAsync(r.GetValue(question)!, new AskOptions { K = r.GetValue(k), Filter = Filter(r), Mode = mode }, ct);
            if (r.GetValue(Cli.Json))
            {
                WriteAnswerJson(answer);
                return 0;
            }
            PrintAnswer(Cli.Out(r), answer);
            return 0;
        });
        return cmd;
    }

    /// <summary>Retrieves, then lets the model answer from numbered passages, streaming to the terminal (JSON at the end with --json).</summary>
    private static async Task<int> AskModelAsync(ParseResult r, Book book, string spec, string question, SearchOptions search, int maxTokens, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(question)) throw new OpenBookException("The question is empty.");
        var hits = await book.SearchAsync(question, search, ct);
        var adapter = r.GetValue(Adapter);
        using var client = Models.Chat.ChatClients.Create(spec, adapter: adapter);
        if (RaftAnswerer(adapter, client, maxTokens) is { } raftAnswerer)
        {
            var raft = await raftAnswerer.AnswerAsync(question, hits, ct);
            if (r.GetValue(Cli.Json)) WriteAnswerJson(raft.Answer, "raft");
            else PrintRaftAnswer(Cli.Out(r), raft);
            return 0;
        }
        var answerer = new Models.Prompting.GroundedAnswerer(client, chatOptions: new Microsoft.Extensions.AI.ChatOptions { MaxOutputTokens = maxTokens, Temperature = 0 });
        if (r.GetValue(Cli.Json))
        {
            WriteAnswerJson(await answerer.AnswerAsync(question, hits, ct), "grounded");
            return 0;
        }
        await StreamAnswerAsync(Cli.Out(r), answerer, question, hits, ct);
        return 0;
    }

    /// <summary>
    /// For an adapter trained with the RAFT prompt format (<c>openbook raft train</c>), the answerer that prompts it the
    /// same way; null for other adapters and for none.
    /// </summary>
    private static Models.Raft.RaftAnswerer? RaftAnswerer(string? adapter, Microsoft.Extensions.AI.IChatClient client, int maxTokens) =>
        adapter is not null && Models.Raft.AdapterInfo.Read(adapter).PromptFormat == "raft"
            ? new Models.Raft.RaftAnswerer(client, new Microsoft.Extensions.AI.ChatOptions { MaxOutputTokens = maxTokens, Temperature = 0 })
            : null;

    /// <summary>A RAFT answer: its reasoning (with the quotes) in grey, then the final answer and the cited passages.</summary>
    private static void PrintRaftAnswer(IAnsiConsole console, Models.Raft.RaftAnswer raft)
    {
        console.MarkupLine($"[grey]{Markup.Escape(raft.Reasoning.Trim())}[/]");
        PrintAnswer(console, raft.Answer, explainMode: false);
    }

    /// <summary>Streams a grounded answer to stdout, then lists its citations.</summary>
    public static async Task StreamAnswerAsync(IAnsiConsole console, Models.Prompting.GroundedAnswerer answerer, string question, IReadOnlyList<SearchHit> hits, CancellationToken ct)
    {
        Answer? answer = null;
        await foreach (var piece in answerer.StreamAsync(question, hits, a => answer = a, ct))
            Console.Out.Write(piece);
        Console.Out.WriteLine();
        if (answer is { Citations.Count: > 0 })
            foreach (var c in answer.Citations)
                console.MarkupLine($"[bold][[{c.N}]][/] [green]{Markup.Escape(CitationFormat.Format(c.Source, c.Page, c.Headings))}[/]");
    }

    /// <summary><c>--adapter DIR</c>: a LoRA adapter (PEFT format) applied to the local <c>--model</c> without merging.</summary>
    public static readonly Option<string?> Adapter = new("--adapter")
    {
        Description = "LoRA adapter directory (PEFT format: adapter_config.json + adapter_model.safetensors) applied to --model; " +
                      "without --model its base_model_name_or_path is used",
    };

    /// <summary>The model spec: <c>--model</c>, else the base model named by the <c>--adapter</c>'s adapter_config.json.</summary>
    public static string? ModelSpec(ParseResult r, Option<string?> model)
    {
        if (r.GetValue(model) is { } spec) return spec;
        return r.GetValue(Adapter) is { } adapter ? AdapterBaseModel(adapter, "--adapter") : null;
    }

    /// <summary>The base model named by an adapter's adapter_config.json (<paramref name="optionName"/> names the option in errors).</summary>
    public static string AdapterBaseModel(string adapter, string optionName)
    {
        var configPath = Path.Combine(adapter, Models.FineTuning.Lora.LoraModel.ConfigFileName);
        if (!File.Exists(configPath)) throw new OpenBookException($"{optionName} {adapter}: {Models.FineTuning.Lora.LoraModel.ConfigFileName} not found.");
        return Models.FineTuning.Lora.LoraConfig.FromPeftJson(File.ReadAllText(configPath), configPath).BaseModel
               ?? throw new OpenBookException($"{configPath}: base_model_name_or_path is empty; pass --model.");
    }

    public static Command Chat()
    {
        var model = new Option<string?>("--model") { Description = "Language model: a local model directory, a cached Hub id, or openai:URL#name (or the --adapter's base model)" };
        var k = new Option<int>("-k", "--top") { Description = "Passages retrieved per question", DefaultValueFactory = _ => 5 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Longest answer, in tokens", DefaultValueFactory = _ => 512 };
        var cmd = new Command("chat", "Interactive questions answered from the documents by a language model (empty line or Ctrl+D to quit; " +
                                      "with --json one JSON object per answer, as ask --json prints it)")
        {
            model, Adapter, k, maxTokens, Collections, Tags, AsGroups, EmbeddingCli.Mode, EmbeddingCli.Embed,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var mode = r.GetValue(EmbeddingCli.Mode);
            var spec = ModelSpec(r, model) ?? throw new OpenBookException("chat needs a language model: pass --model DIR|ID|openai:URL#name (or --adapter DIR).");
            await using var opened = await EmbeddingCli.OpenAsync(r, ct, mode);
            using var client = Models.Chat.ChatClients.Create(spec, adapter: r.GetValue(Adapter));
            var answerer = new Models.Prompting.GroundedAnswerer(client, chatOptions: new Microsoft.Extensions.AI.ChatOptions { MaxOutputTokens = r.GetValue(maxTokens), Temperature = 0 });
            var raftAnswerer = RaftAnswerer(r.GetValue(Adapter), client, r.GetValue(maxTokens));
            var console = Cli.ErrConsole;
            console.MarkupLine("[grey]Ask about your documents; an empty line quits.[/]");
            while (!ct.IsCancellationRequested)
            {
                Console.Error.Write("> ");
                var line = await Console.In.ReadLineAsync(ct);
                if (string.IsNullOrWhiteSpace(line)) break;
                var hits = await opened.Book.SearchAsync(line, new SearchOptions { K = r.GetValue(k), Filter = Filter(r), Mode = mode }, ct);
                if (raftAnswerer is not null)
                {
                    var raft = await raftAnswerer.AnswerAsync(line, hits, ct);
                    if (r.GetValue(Cli.Json)) WriteAnswerJson(raft.Answer, "raft");
                    else PrintRaftAnswer(Cli.Out(r), raft);
                }
                else if (r.GetValue(Cli.Json)) WriteAnswerJson(await answerer.AnswerAsync(line, hits, ct), "grounded");
                else await StreamAnswerAsync(console, answerer, line, hits, ct);
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// One answer as JSON: text, mode, citations, and for model answers the prompt format ("grounded" or "raft") and
    /// the token counts the model reported.
    /// </summary>
    public static void WriteAnswerJson(Answer answer, string? prompt = null) => Cli.WriteJson(new
    {
        answer = answer.Text,
        mode = answer.Mode == AnswerMode.Llm ? "llm" : "extractive",
        citations = answer.Citations.Select(c => new { n = c.N, source = c.Source, page = c.Page, text = c.Text }),
        prompt,
        inputTokens = answer.InputTokens,
        outputTokens = answer.OutputTokens,
    });

    public static void PrintAnswer(IAnsiConsole console, Answer answer, bool explainMode = true)
    {
        if (answer.Mode == AnswerMode.Extractive && explainMode)
            console.MarkupLine("[grey]Extractive mode: no language model is configured, so these are the sentences and table rows of your documents that best answer the question. " +
                               "For generated answers, pass --model: a local Hugging Face model directory, a Hub id pulled with `openbook models pull`, or openai:URL#name (e.g. openai:http://localhost:11434/v1#llama3).[/]");
        console.WriteLine();
        if (string.IsNullOrWhiteSpace(answer.Text)) console.MarkupLine("[yellow](the model returned an empty answer)[/]");
        else console.MarkupLine(answer.Found ? Markup.Escape(answer.Text) : $"[yellow]{Markup.Escape(answer.Text)}[/]");
        if (answer.Citations.Count > 0)
        {
            console.WriteLine();
            foreach (var c in answer.Citations)
                console.MarkupLine($"[bold][[{c.N}]][/] [green]{Markup.Escape(CitationFormat.Format(c.Source, c.Page, c.Headings))}[/]");
        }
    }

    public static Command Docs()
    {
        var docs = new Command("docs", "List, show and remove documents");
        var allAccess = new Option<bool>("--all-access") { Description = "Include documents restricted by ACL (administrators)" };

        var list = new Command("list", "List documents") { Collections };
        Cli.SetHandler(list, async (r, ct) =>
        {
            await using var book = await OpenBook(r, ct);
            var collections = Split(r.GetValue(Collections));
            var items = book.Store.ListDocuments().Where(d => collections is null || collections.Contains(d.Collection)).ToList();
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new
                {
                    documents = items.Select(d => new
                    {
                        id = d.Id, collection = d.Collection, source = d.DisplayPath, path = d.SourceKey, title = d.Title, chunks = d.ChunkCount, bytes = d.Size,
                        tags = d.Tags, acl = d.Acl, hash = d.ContentHash, updated = d.UpdatedAt,
                    }),
                });
                return 0;
            }
            var table = new Table().AddColumns("id", "collection", "source", "chunks", "KB", "tags", "acl");
            foreach (var d in items)
                table.AddRow(d.Id.ToString(), Markup.Escape(d.Collection), Markup.Escape(d.DisplayPath), d.ChunkCount.ToString(), $"{d.Size / 1024.0:0.0}",
                    Markup.Escape(string.Join(",", d.Tags)), Markup.Escape(string.Join(",", d.Acl)));
            Cli.Out(r).Write(table);
            Cli.Out(r).MarkupLine($"[grey]{items.Count} documents[/]");
            return 0;
        });

        var idArg = new Argument<string>("document") { Description = "Document id, or its source path" };
        var show = new Command("show", "Show a document's metadata and chunks") { idArg, allAccess };
        Cli.SetHandler(show, async (r, ct) =>
        {
            await using var book = await OpenBook(r, ct);
            var doc = Resolve(book, r.GetValue(idArg)!);
            var chunks = book.Store.ChunksOfDocument(doc.Id);
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new
                {
                    document = new { id = doc.Id, collection = doc.Collection, source = doc.DisplayPath, path = doc.SourceKey, title = doc.Title, tags = doc.Tags, acl = doc.Acl, hash = doc.ContentHash },
                    chunks = chunks.Select(c => new { id = c.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), index = c.Index, page = c.Page, headings = c.Headings, tokens = c.TokenCount, text = c.Text }),
                });
                return 0;
            }
            var console = Cli.Out(r);
            console.MarkupLine($"[bold]{Markup.Escape(doc.DisplayPath)}[/] (id {doc.Id}, collection {Markup.Escape(doc.Collection)}, {chunks.Count} chunks)");
            if (doc.Title is not null) console.MarkupLine($"title: {Markup.Escape(doc.Title)}");
            foreach (var c in chunks)
                console.MarkupLine($"[grey]#{c.Index}[/] [green]{Markup.Escape(CitationFormat.Format(doc.DisplayPath, c.Page, c.Headings))}[/] [grey]({c.TokenCount} tokens)[/]\n   {Markup.Escape(Snippet(c.Text, 200))}");
            return 0;
        });

        var remove = new Command("remove", "Remove a document and its chunks") { idArg };
        Cli.SetHandler(remove, async (r, ct) =>
        {
            await using var book = await OpenBook(r, ct);
            var doc = Resolve(book, r.GetValue(idArg)!);
            await book.RemoveDocumentAsync(doc.Id, ct);
            if (r.GetValue(Cli.Json)) Cli.WriteJson(new { removed = doc.Id, source = doc.DisplayPath });
            else Cli.Out(r).MarkupLine($"Removed [bold]{Markup.Escape(doc.DisplayPath)}[/] ({doc.ChunkCount} chunks).");
            return 0;
        });

        docs.Subcommands.Add(list);
        docs.Subcommands.Add(show);
        docs.Subcommands.Add(remove);
        return docs;
    }

    private static Storage.DocumentRecord Resolve(Book book, string idOrPath)
    {
        if (long.TryParse(idOrPath, out var id))
            return book.Store.GetDocument(id) ?? throw new OpenBookException($"No document with id {id}.");
        var full = Path.GetFullPath(idOrPath);
        var matches = book.Store.ListDocuments()
            .Where(d => d.SourceKey == idOrPath || d.Path == full || d.DisplayPath == idOrPath || d.DisplayPath.EndsWith("/" + idOrPath, StringComparison.Ordinal))
            .ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new OpenBookException($"No document matches '{idOrPath}'. See `openbook docs list`."),
            _ => throw new OpenBookException($"'{idOrPath}' matches {matches.Count} documents; use the id (see `openbook docs list`)."),
        };
    }

    public static Command Stats()
    {
        var cmd = new Command("stats", "Counts and sizes of the store and its indexes");
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            await using var book = await OpenBook(r, ct);
            var s = book.Store.Stats();
            var index = book.LexicalIndex();
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new
                {
                    store = book.Directory, schemaVersion = book.Store.SchemaVersion, s.Collections, s.Documents, s.Chunks, s.SourceBytes, s.TextChars, s.Tokens,
                    s.DatabaseBytes, s.Sequence,
                    lexicalIndex = new { chunks = index.Count, terms = index.TermCount, status = book.LexicalIndexStatus },
                    collections = s.PerCollection,
                });
                return 0;
            }
            var t = new Table().AddColumns("collection", "documents", "chunks", "source MB", "last ingest");
            foreach (var c in s.PerCollection)
                t.AddRow(Markup.Escape(c.Name), c.Documents.ToString(), c.Chunks.ToString(), $"{c.SourceBytes / 1e6:0.00}", c.LastIngest?.ToString("u") ?? "-");
            var console = Cli.Out(r);
            console.Write(t);
            console.MarkupLine($"store [bold]{Markup.Escape(book.Directory)}[/] (schema v{book.Store.SchemaVersion}): {s.Documents} documents, {s.Chunks} chunks, {s.Tokens:N0} tokens, database {s.DatabaseBytes / 1e6:0.0} MB");
            console.MarkupLine($"BM25 index: {index.Count} chunks, {index.TermCount} terms ({book.LexicalIndexStatus})");
            return 0;
        });
        return cmd;
    }
}
