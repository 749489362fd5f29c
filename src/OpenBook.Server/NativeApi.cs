using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.AI;
using OpenBook.Retrieval;
using OpenBook.Runtime;
using OpenBook.Runtime.Reports;
using OpenBook.Storage;

namespace OpenBook.Server;

/// <summary>
/// The native API under <c>/api</c>: search, ask, chat in stored conversations, documents, statistics, uploads and
/// ingestion jobs. Every read searches or lists as the caller's key (its ACL groups); uploads and removal need the
/// admin scope (403 otherwise), and removal only reaches documents the key may read.
/// </summary>
internal static class NativeApi
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("Native");
        api.MapPost("/search", Search).WithSummary("Search the documents the key may read");
        api.MapPost("/ask", Ask).WithSummary("Answer one question (no conversation); stream: server-sent events");
        api.MapPost("/chat", Chat).WithSummary("Answer in a stored conversation (new when conversationId is absent); stream: server-sent events");
        api.MapGet("/conversations", (HttpContext http, ConversationStore conversations) =>
            Results.Json(conversations.List(ApiKeyMiddleware.Caller(http).Id).Select(ConversationJson.Of).ToList())).WithSummary("The key's conversations, newest first");
        api.MapGet("/conversations/{id}", (string id, HttpContext http, ConversationStore conversations) =>
        {
            var owner = ApiKeyMiddleware.Caller(http).Id;
            return conversations.Get(owner, id) is { } c
                ? Results.Json(new ConversationDetailJson(ConversationJson.Of(c), conversations.Messages(owner, id).Select(MessageJson.Of).ToList()))
                : Errors.NotFound($"no conversation {id}");
        }).WithSummary("A conversation with its messages and citations");
        api.MapDelete("/conversations/{id}", (string id, HttpContext http, ConversationStore conversations) =>
            conversations.Delete(ApiKeyMiddleware.Caller(http).Id, id) ? Results.NoContent() : Errors.NotFound($"no conversation {id}")).WithSummary("Delete a conversation");
        api.MapGet("/docs", (HttpContext http, BookSession session, string? collection) =>
            Results.Json(session.Book.ListDocuments(ApiKeyMiddleware.Caller(http).Access, collection is null ? null : [collection]).Select(DocumentItemJson.Of).ToList()))
            .WithSummary("The documents the key may read");
        api.MapGet("/docs/{id:long}", (long id, HttpContext http, BookSession session) =>
        {
            var scope = ApiKeyMiddleware.Caller(http).Access;
            if (session.Book.GetDocument(id, scope) is not { } doc) return Errors.NotFound($"no document {id}");
            var chunks = session.Book.GetDocumentChunks(id, scope)
                .Select(c => new ChunkItemJson(c.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), c.Index, c.Text, c.Page, c.Headings, c.TokenCount)).ToList();
            return Results.Json(new DocumentDetailJson(DocumentItemJson.Of(doc), chunks));
        }).WithSummary("A document with its chunks");
        api.MapDelete("/docs/{id:long}", RemoveDocument).WithSummary("Remove a document (admin)");
        api.MapGet("/stats", (HttpContext http, BookSession session) =>
        {
            var scope = ApiKeyMiddleware.Caller(http).Access;
            var s = session.Book.Stats(scope);
            return Results.Json(new StatsItemJson(s.PerCollection.Count(c => c.Documents > 0), s.Documents, s.Chunks, s.SourceBytes, s.Tokens, scope.ToString(),
                s.PerCollection.Where(c => c.Documents > 0).Select(c => new CollectionItemJson(c.Name, c.Documents, c.Chunks, c.SourceBytes, c.EmbeddingModel)).ToList()));
        }).WithSummary("Counts of what the key may read");
        api.MapPost("/documents", Upload).WithSummary("Upload documents (multipart: files, collection, tags, acl) into the ingestion queue (admin)").DisableAntiforgery();
        api.MapGet("/jobs", (HttpContext http, IngestJobStore jobs) =>
            ApiKeyMiddleware.Caller(http).IsAdmin ? Results.Json(jobs.List().Select(JobJson.Of).ToList()) : Errors.Forbidden("listing ingestion jobs needs the admin scope"))
            .WithSummary("Ingestion jobs (admin)");
        api.MapGet("/jobs/{id}", (string id, HttpContext http, IngestJobStore jobs) =>
        {
            if (!ApiKeyMiddleware.Caller(http).IsAdmin) return Errors.Forbidden("ingestion jobs need the admin scope");
            return jobs.Get(id) is { } job ? Results.Json(JobJson.Of(job)) : Errors.NotFound($"no job {id}");
        }).WithSummary("An ingestion job's status and report (admin)");
        api.MapGet("/me", (HttpContext http) =>
        {
            var k = ApiKeyMiddleware.Caller(http);
            return Results.Json(new MeJson(k.Name, k.Groups, k.IsAdmin));
        }).WithSummary("The calling key: its name, groups and whether it is admin");
    }

    private static async Task<IResult> Search(SearchRequest request, HttpContext http, BookSession session)
    {
        if (string.IsNullOrWhiteSpace(request.Query) || request.Query.Length > 4000) return Errors.BadRequest("query: give 1 to 4000 characters.");
        var scope = ApiKeyMiddleware.Caller(http).Access;
        var hits = await session.Book.SearchAsync(request.Query, new SearchOptions
        {
            K = Math.Clamp(request.K ?? 5, 1, 50), Reranker = session.Reranker,
            Filter = new SearchFilter { Groups = scope.Groups, Collections = request.Collections is { Count: > 0 } c ? c : null },
        }, http.RequestAborted);
        return Results.Json(new SearchResultsJson(hits.Select(SearchHitJson.Of).ToList()));
    }

    private static Task Ask(ChatRequest request, HttpContext http, Asker asker, ServedModels models, ConversationStore conversations) =>
        AnswerAsync(request with { ConversationId = null }, http, asker, models, conversations, keep: false);

    private static Task Chat(ChatRequest request, HttpContext http, Asker asker, ServedModels models, ConversationStore conversations) =>
        AnswerAsync(request, http, asker, models, conversations, keep: true);

    /// <summary>
    /// Answers <paramref name="request"/>; with <paramref name="keep"/>, in its conversation (created when absent), to
    /// which the turn is appended. Streams as events <c>meta</c> ({conversationId, retrievalQuery, rewrite, model}),
    /// <c>delta</c> ({text}) and <c>done</c> (the <see cref="ChatResponseJson"/>).
    /// </summary>
    private static async Task AnswerAsync(ChatRequest request, HttpContext http, Asker asker, ServedModels models, ConversationStore conversations, bool keep)
    {
        var ct = http.RequestAborted;
        var caller = ApiKeyMiddleware.Caller(http);
        if (string.IsNullOrWhiteSpace(request.Message) || request.Message.Length > 8000)
        {
            await Errors.BadRequest("message: give 1 to 8000 characters.").ExecuteAsync(http);
            return;
        }
        if (models.Find(request.Model) is not { } model)
        {
            await Errors.Result(404, "model_not_found", $"model '{request.Model}' is not served; GET /v1/models lists them.").ExecuteAsync(http);
            return;
        }
        List<ChatMessage> history = [];
        ConversationRecord? conversation = null;
        if (keep && request.ConversationId is { } cid)
        {
            conversation = conversations.Get(caller.Id, cid);
            if (conversation is null)
            {
                await Errors.NotFound($"no conversation {cid}").ExecuteAsync(http);
                return;
            }
            history = conversations.Messages(caller.Id, cid)
                .Select(m => new ChatMessage(m.Role == "user" ? ChatRole.User : ChatRole.Assistant, m.Content)).ToList();
        }
        var prepared = await asker.PrepareAsync(request.Message, history, model, caller.Access, request.Collections, request.K, ct);
        if (keep) conversation ??= conversations.Create(caller.Id, request.Message);
        Answer? answer = null;
        if (!request.Stream)
        {
            answer = await asker.AskAsync(prepared, ct);
            if (keep) conversations.AppendTurn(conversation!.Id, request.Message, prepared.Query.Query, answer);
            await Results.Json(new ChatResponseJson(conversation?.Id, model.Id, prepared.Query.Query, prepared.Query.Method, AnswerJson.Of(answer))).ExecuteAsync(http);
            return;
        }
        var sse = new ServerSentEvents(http);
        await sse.StartAsync();
        await sse.EventAsync("meta", new ChatMetaJson(conversation?.Id, prepared.Query.Query, prepared.Query.Method, model.Id));
        var text = new StreamedText();
        await foreach (var update in asker.StreamAsync(prepared, ct))
        {
            if (update.Completed is { } done) answer = done;
            else if (text.Add(update.TextDelta) is { Length: > 0 } delta) await sse.EventAsync("delta", new DeltaJson(delta));
        }
        if (answer is null) return;
        if (text.Rest(answer.Text) is { Length: > 0 } rest) await sse.EventAsync("delta", new DeltaJson(rest));
        if (keep) conversations.AppendTurn(conversation!.Id, request.Message, prepared.Query.Query, answer);
        await sse.EventAsync("done", new ChatResponseJson(conversation?.Id, model.Id, prepared.Query.Query, prepared.Query.Method, AnswerJson.Of(answer)));
    }

    private static async Task<IResult> RemoveDocument(long id, HttpContext http, BookSession session)
    {
        var caller = ApiKeyMiddleware.Caller(http);
        if (!caller.IsAdmin) return Errors.Forbidden("removing documents needs the admin scope");
        // The document must be readable by the key: an admin key without a document's group cannot see it, so cannot remove it.
        if (session.Book.GetDocument(id, caller.Access) is not { } doc) return Errors.NotFound($"no document {id}");
        await session.Book.RemoveDocumentAsync(doc.Id, AccessScope.All, http.RequestAborted);
        return Results.Json(new RemovedJson(doc.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), doc.DisplayPath));
    }

    private static async Task<IResult> Upload(HttpContext http, IngestQueue queue)
    {
        var caller = ApiKeyMiddleware.Caller(http);
        if (!caller.IsAdmin) return Errors.Forbidden("uploading documents needs the admin scope");
        if (!http.Request.HasFormContentType) return Errors.BadRequest("send multipart/form-data with one or more 'files' parts.");
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var collection = form["collection"].ToString() is { Length: > 0 } c ? c : "default";
        if (!IngestQueue.ValidCollection(collection)) return Errors.BadRequest($"collection: '{collection}' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
        static string[] List(string v) => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var tags = List(form["tags"].ToString());
        var acl = List(form["acl"].ToString());
        if (form.Files.Count == 0) return Errors.BadRequest("files: attach at least one file.");
        if (form.Files.Count > IngestQueue.MaxFiles) return Errors.BadRequest($"files: at most {IngestQueue.MaxFiles} per upload.");
        var names = new List<string>();
        foreach (var f in form.Files)
        {
            if (IngestQueue.SafeFileName(f.FileName) is not { } name) return Errors.BadRequest($"files: '{f.FileName}' is not a usable file name.");
            if (names.Contains(name, StringComparer.Ordinal)) return Errors.BadRequest($"files: '{name}' is uploaded twice.");
            names.Add(name);
        }
        var id = Guid.NewGuid().ToString("N");
        var incoming = Path.Combine(queue.UploadRoot, ".incoming", id);
        Directory.CreateDirectory(incoming);
        for (var i = 0; i < form.Files.Count; i++)
        {
            await using var output = File.Create(Path.Combine(incoming, names[i]));
            await form.Files[i].CopyToAsync(output, http.RequestAborted);
            await output.FlushAsync(http.RequestAborted);
            output.Flush(flushToDisk: true);
        }
        var job = queue.Enqueue(caller.Id, id, collection, tags, acl, incoming, names);
        return Results.Json(JobJson.Of(job), statusCode: StatusCodes.Status202Accepted);
    }
}
