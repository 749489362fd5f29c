using System.Text.Json.Serialization;
using OpenBook.Runtime.Reports;
using OpenBook.Storage;

namespace OpenBook.Server;

/// <summary>POST /api/ask and /api/chat: a question, optionally in a conversation.</summary>
public sealed record ChatRequest
{
    /// <summary>The question.</summary>
    public string? Message { get; init; }
    /// <summary>The conversation to continue (null: a new one for /api/chat; none for /api/ask).</summary>
    public string? ConversationId { get; init; }
    /// <summary>A served model id (null: the default).</summary>
    public string? Model { get; init; }
    /// <summary>Passages to retrieve (null: the server's k).</summary>
    public int? K { get; init; }
    /// <summary>Only these collections.</summary>
    public IReadOnlyList<string>? Collections { get; init; }
    /// <summary>Stream the answer as server-sent events.</summary>
    public bool Stream { get; init; }
}

/// <summary>The answer of /api/ask and /api/chat.</summary>
public sealed record ChatResponseJson(string? ConversationId, string Model, string RetrievalQuery, string Rewrite, AnswerJson Answer);

/// <summary>POST /api/search.</summary>
public sealed record SearchRequest
{
    /// <summary>The query.</summary>
    public string? Query { get; init; }
    /// <summary>Number of results.</summary>
    public int? K { get; init; }
    /// <summary>Only these collections.</summary>
    public IReadOnlyList<string>? Collections { get; init; }
}

/// <summary>A conversation in a list.</summary>
public sealed record ConversationJson(string Id, string Title, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static ConversationJson Of(ConversationRecord c) => new(c.Id, c.Title, c.CreatedAt, c.UpdatedAt);
}

/// <summary>A message of a conversation.</summary>
public sealed record MessageJson(string Role, string Content, string? RetrievalQuery, bool? Found, IReadOnlyList<CitationJson> Citations, DateTimeOffset CreatedAt)
{
    public static MessageJson Of(ConversationMessage m) => new(m.Role, m.Content, m.RetrievalQuery, m.Found, m.Citations.Select(CitationJson.Of).ToList(), m.CreatedAt);
}

/// <summary>GET /api/conversations/{id}.</summary>
public sealed record ConversationDetailJson(ConversationJson Conversation, IReadOnlyList<MessageJson> Messages);

/// <summary>A document (GET /api/docs).</summary>
public sealed record DocumentItemJson(string Id, string Collection, string Source, string? Title, int Chunks, long Size, IReadOnlyList<string> Tags, IReadOnlyList<string> Acl, DateTimeOffset UpdatedAt)
{
    public static DocumentItemJson Of(DocumentRecord d) => new(d.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), d.Collection, d.DisplayPath, d.Title, d.ChunkCount, d.Size, d.Tags, d.Acl, d.UpdatedAt);
}

/// <summary>A chunk of a document (GET /api/docs/{id}).</summary>
public sealed record ChunkItemJson(string ChunkId, int Index, string Text, int? Page, IReadOnlyList<string> Headings, int Tokens);

/// <summary>GET /api/docs/{id}.</summary>
public sealed record DocumentDetailJson(DocumentItemJson Document, IReadOnlyList<ChunkItemJson> Chunks);

/// <summary>An ingestion job.</summary>
public sealed record JobJson(string Id, string Status, string Collection, IReadOnlyList<string> Files, IReadOnlyList<string> Acl, IReadOnlyList<string> Tags,
    [property: JsonPropertyName("report")] System.Text.Json.JsonElement? Report, string? Error, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static JobJson Of(IngestJobRecord j) => new(j.Id, j.Status, j.Collection, j.Files, j.Acl, j.Tags,
        j.Report is null ? null : System.Text.Json.JsonDocument.Parse(j.Report).RootElement.Clone(), j.Error, j.CreatedAt, j.UpdatedAt);
}

/// <summary>GET /api/stats.</summary>
public sealed record StatsItemJson(int Collections, int Documents, int Chunks, long SourceBytes, long Tokens, string Access, IReadOnlyList<CollectionItemJson> PerCollection);

/// <summary>A collection in <see cref="StatsItemJson"/>.</summary>
public sealed record CollectionItemJson(string Name, int Documents, int Chunks, long SourceBytes, string? EmbeddingModel);

/// <summary>GET /health.</summary>
internal sealed record HealthJson(string Status);

/// <summary>GET /ready.</summary>
internal sealed record ReadyJson(string Status, int Chunks, string? LexicalIndex, bool Embeddings);

/// <summary>GET /api/me.</summary>
internal sealed record MeJson(string Name, IReadOnlyList<string> Groups, bool Admin);

/// <summary>The <c>meta</c> event of a streamed /api/ask or /api/chat answer.</summary>
internal sealed record ChatMetaJson(string? ConversationId, string RetrievalQuery, string Rewrite, string Model);

/// <summary>A <c>delta</c> event of a streamed native answer.</summary>
internal sealed record DeltaJson(string Text);

/// <summary>DELETE /api/docs/{id}.</summary>
internal sealed record RemovedJson(string Removed, string Source);

/// <summary>A file an ingestion job could not ingest or skipped (its name only, not the server's path).</summary>
internal sealed record JobFileJson(string Path, string Reason);

/// <summary>The report an ingestion job stores (<see cref="JobJson.Report"/>).</summary>
internal sealed record JobReportJson(int Files, int Added, int Updated, int Unchanged, int Chunks, long Bytes, long ElapsedMs,
    IReadOnlyList<JobFileJson> Failed, IReadOnlyList<JobFileJson> Skipped);

/// <summary>GET /v1/models, in OpenAI's shape.</summary>
internal sealed record ModelListJson(
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("data")] IReadOnlyList<ModelJson> Data);

/// <summary>One model of <see cref="ModelListJson"/>.</summary>
internal sealed record ModelJson(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("created")] long Created,
    [property: JsonPropertyName("owned_by")] string OwnedBy,
    [property: JsonPropertyName("description")] string Description);

/// <summary>An error in OpenAI's shape: <c>{"error":{"message","type","code"}}</c>.</summary>
internal sealed record ErrorJson([property: JsonPropertyName("error")] ErrorDetailJson Error);

/// <summary>The body of <see cref="ErrorJson"/>.</summary>
internal sealed record ErrorDetailJson(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("code")] string Code);
