using System.Text.Json;
using Microsoft.AspNetCore.Http;
using OpenBook.Storage;

namespace OpenBook.Server;

/// <summary>
/// API key authentication: every request to <c>/v1/</c> and <c>/api/</c> carries <c>Authorization: Bearer KEY</c> (as
/// OpenAI clients send it) or <c>X-Api-Key: KEY</c>. No key or an unknown or revoked key → 401. The key's record is
/// kept on the request for the rate limiter (one window per key) and for access checks.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, ApiKeyStore keys)
{
    private const string ItemKey = "openbook.key";

    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        if (!path.StartsWithSegments("/v1") && !path.StartsWithSegments("/api"))
        {
            await next(context);
            return;
        }
        var key = KeyOf(context.Request);
        if (key is null)
        {
            await Errors.Write(context, StatusCodes.Status401Unauthorized, "missing_api_key", "No API key: send Authorization: Bearer KEY (create one with `openbook keys add NAME`).");
            return;
        }
        if (keys.Authenticate(key) is not { } record)
        {
            await Errors.Write(context, StatusCodes.Status401Unauthorized, "invalid_api_key", "Unknown or revoked API key.");
            return;
        }
        context.Items[ItemKey] = record;
        await next(context);
    }

    /// <summary>The key of an authenticated request.</summary>
    public static ApiKeyRecord Caller(HttpContext context) =>
        context.Items[ItemKey] as ApiKeyRecord ?? throw new InvalidOperationException("request was not authenticated");

    /// <summary>The key of the request, when authenticated (the rate limiter's partition).</summary>
    public static ApiKeyRecord? TryCaller(HttpContext context) => context.Items[ItemKey] as ApiKeyRecord;

    private static string? KeyOf(HttpRequest request)
    {
        var auth = request.Headers.Authorization.ToString();
        if (auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return auth["Bearer ".Length..].Trim() is { Length: > 0 } k ? k : null;
        return request.Headers["X-Api-Key"].ToString() is { Length: > 0 } x ? x.Trim() : null;
    }
}

/// <summary>Errors in the OpenAI shape, <c>{"error":{"message","type","code"}}</c>, for every endpoint.</summary>
internal static class Errors
{
    public static IResult Result(int status, string code, string message) =>
        Results.Json(Body(status, code, message), statusCode: status);

    public static Task Write(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(Body(status, code, message)));
    }

    private static ErrorJson Body(int status, string code, string message) => new(new ErrorDetailJson(message,
        status switch { 401 => "authentication_error", 403 => "permission_error", 404 => "not_found_error", 429 => "rate_limit_error", >= 500 => "server_error", _ => "invalid_request_error" },
        code));

    public static IResult BadRequest(string message) => Result(400, "invalid_request", message);
    public static IResult NotFound(string message) => Result(404, "not_found", message);
    public static IResult Forbidden(string message) => Result(403, "forbidden", message);
}
