using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace OpenBook.Server;

/// <summary>The web chat page and the API reference page, served from resources embedded in the assembly.</summary>
internal static class WebPage
{
    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8", [".js"] = "text/javascript; charset=utf-8", [".css"] = "text/css; charset=utf-8", [".svg"] = "image/svg+xml",
    };

    public static void Map(IEndpointRouteBuilder app)
    {
        var assembly = typeof(WebPage).Assembly;
        var files = assembly.GetManifestResourceNames().Where(n => n.StartsWith("wwwroot/", StringComparison.Ordinal))
            .ToDictionary(n => n["wwwroot/".Length..], n => Read(assembly, n), StringComparer.Ordinal);
        IResult Serve(string name) => files.TryGetValue(name, out var bytes)
            ? Results.Bytes(bytes, ContentTypes.GetValueOrDefault(Path.GetExtension(name), "application/octet-stream"))
            : Results.NotFound();
        app.MapGet("/", () => Serve("index.html")).ExcludeFromDescription();
        app.MapGet("/reference", () => Serve("reference.html")).ExcludeFromDescription();
        app.MapGet("/static/{name}", (string name) => Serve(name)).ExcludeFromDescription();
    }

    private static byte[] Read(Assembly assembly, string name)
    {
        using var s = assembly.GetManifestResourceStream(name)!;
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }
}
