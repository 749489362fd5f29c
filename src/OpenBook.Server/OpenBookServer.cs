using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenBook.Runtime;
using OpenBook.Storage;

namespace OpenBook.Server;

/// <summary>
/// The chat server over a store: <see cref="StartAsync"/> opens the store (with its embedding model) and the served
/// models, and starts Kestrel on <see cref="ServerOptions.Urls"/> (127.0.0.1:5170 unless told otherwise).
/// <code>
/// await using var server = await OpenBookServer.StartAsync(new ServerOptions { Store = ".openbook" });
/// await server.WaitForShutdownAsync();
/// </code>
/// </summary>
public sealed class OpenBookServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly BookSession _session;
    private readonly ServedModels _models;
    private readonly IngestQueue _queue;

    private OpenBookServer(WebApplication app, BookSession session, ServedModels models, IngestQueue queue)
    {
        _app = app;
        _session = session;
        _models = models;
        _queue = queue;
    }

    /// <summary>The addresses Kestrel listens on (with the real port when the URL asked for port 0).</summary>
    public IReadOnlyList<string> Urls => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];

    /// <summary>The models served.</summary>
    public IReadOnlyList<ServedModel> Models => _models.All;

    /// <summary>Warnings to show the operator (e.g. a recorded embedding model that could not be opened).</summary>
    public IReadOnlyList<string> Warnings => _session.Warnings;

    /// <summary>Opens everything and starts listening.</summary>
    public static async Task<OpenBookServer> StartAsync(ServerOptions options, CancellationToken cancellationToken = default, Action<ILoggingBuilder>? logging = null)
    {
        options.Validate();
        var session = await BookSession.OpenAsync(options.Store, new BookSessionOptions { Embed = options.Embed }, cancellationToken).ConfigureAwait(false);
        ServedModels? models = null;
        try
        {
            models = new ServedModels(options);
            var app = Build(options, session, models, logging);
            var queue = app.Services.GetRequiredService<IngestQueue>();
            // The lexical index is loaded (or built) before the first request, so /ready means ready.
            await Task.Run(session.Book.LexicalIndex, cancellationToken).ConfigureAwait(false);
            queue.Start();
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            return new OpenBookServer(app, session, models, queue);
        }
        catch
        {
            models?.Dispose();
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static WebApplication Build(ServerOptions options, BookSession session, ServedModels models, Action<ILoggingBuilder>? logging)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(OpenBookServer).Assembly.GetName().Name, ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
        });
        builder.Services.Configure<Microsoft.AspNetCore.Http.Features.FormOptions>(f =>
        {
            f.MultipartBodyLengthLimit = options.MaxRequestBytes;
            f.ValueCountLimit = 1024;
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(15));
        builder.Logging.ClearProviders();
        if (logging is not null) logging(builder.Logging);
        else if (options.LogFormat == "json") builder.Logging.AddJsonConsole(j => j.IncludeScopes = false);
        else builder.Logging.AddSimpleConsole(s => s.SingleLine = true);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(session);
        builder.Services.AddSingleton(models);
        builder.Services.AddSingleton(new ApiKeyStore(session.Book.Store));
        builder.Services.AddSingleton(new ConversationStore(session.Book.Store));
        builder.Services.AddSingleton(new IngestJobStore(session.Book.Store));
        builder.Services.AddSingleton<IngestQueue>();
        builder.Services.AddSingleton<Asker>();
        builder.Services.ConfigureHttpJsonOptions(j => j.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never);
        builder.Services.AddOpenApi("v1", o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info = new() { Title = "OpenBook server", Version = "v1", Description = "OpenAI-compatible RAG API and native API over an OpenBook store. Authenticate with Authorization: Bearer KEY." };
            return Task.CompletedTask;
        }));
        if (options.CorsOrigins.Count > 0)
            builder.Services.AddCors(c => c.AddDefaultPolicy(p => p.WithOrigins([.. options.CorsOrigins]).AllowAnyHeader().AllowAnyMethod()));
        builder.Services.AddRateLimiter(r =>
        {
            r.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            r.OnRejected = (ctx, ct) =>
            {
                if (ctx.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retry))
                    ctx.HttpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(retry.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                return new ValueTask(Errors.Write(ctx.HttpContext, 429, "rate_limit_exceeded", $"More than {options.RateLimitPerMinute} requests a minute with this key; retry later."));
            };
            // One fixed window per API key; unauthenticated requests never get this far on the API paths.
            r.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
                ApiKeyMiddleware.TryCaller(http) is { } key && options.RateLimitPerMinute > 0
                    ? RateLimitPartition.GetFixedWindowLimiter("key:" + key.Id, _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = options.RateLimitPerMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0, AutoReplenishment = true,
                    })
                    : RateLimitPartition.GetNoLimiter("anonymous"));
        });

        var app = builder.Build();
        app.Use(async (http, next) =>
        {
            try { await next(http); }
            catch (OpenBookException e) when (!http.Response.HasStarted)
            {
                await Errors.Write(http, 400, "invalid_request", e.Message);
            }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested) { }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (!http.Response.HasStarted)
            {
                await Errors.Write(http, e.StatusCode, "bad_request", e.Message);
            }
        });
        if (options.CorsOrigins.Count > 0) app.UseCors();
        app.UseMiddleware<ApiKeyMiddleware>();
        app.UseRateLimiter();
        app.MapGet("/health", () => Results.Json(new HealthJson("ok"))).WithTags("Operations").WithSummary("Liveness");
        app.MapGet("/ready", (BookSession s) =>
        {
            var index = s.Book.LexicalIndex();
            return Results.Json(new ReadyJson("ready", index.Count, s.Book.LexicalIndexStatus, s.Embeddings is not null));
        }).WithTags("Operations").WithSummary("Readiness: the store is open and its index loaded");
        app.MapOpenApi("/openapi/{documentName}.json");
        OpenAiApi.Map(app);
        NativeApi.Map(app);
        WebPage.Map(app);
        return app;
    }

    /// <summary>Waits until the server is stopped (Ctrl+C, SIGTERM or <see cref="StopAsync"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    /// <summary>Stops accepting requests, lets running ones finish (up to 15 s) and stops the ingestion worker.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try { await _app.StopAsync().ConfigureAwait(false); } catch (ObjectDisposedException) { }
        await _queue.DisposeAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _models.Dispose();
        await _session.DisposeAsync().ConfigureAwait(false);
    }
}
