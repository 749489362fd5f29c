using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using OpenBook.Storage;

namespace OpenBook.Server.Tests;

/// <summary>
/// One server for the tests of the "server" collection: the sample handbook ingested with hr/ under ACL "hr" (collection
/// hr) and it/ + facilities/ without ACL (collection general), and three keys: alice (hr), bob (no groups), admin
/// (admin scope, no groups). It listens on 127.0.0.1 on a free port.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "openbook-server-tests", Guid.NewGuid().ToString("N"));
    public string Store => Path.Combine(Root, "store");
    public OpenBookServer Server { get; private set; } = null!;
    public Uri Url { get; private set; } = null!;
    public string Alice { get; private set; } = "";
    public string Bob { get; private set; } = "";
    public string Admin { get; private set; } = "";

    public static string Samples => Path.Combine(AppContext.BaseDirectory, "samples", "handbook");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Root);
        await using (var book = await Book.OpenAsync(Store))
        {
            await book.IngestAsync([Path.Combine(Samples, "hr")], new IngestOptions { Collection = "hr", Acl = ["hr"] });
            await book.IngestAsync([Path.Combine(Samples, "it"), Path.Combine(Samples, "facilities")], new IngestOptions { Collection = "general" });
            var keys = new ApiKeyStore(book.Store);
            Alice = keys.Add("alice", ["hr"], admin: false).Key;
            Bob = keys.Add("bob", null, admin: false).Key;
            Admin = keys.Add("admin", null, admin: true).Key;
        }
        Server = await StartAsync(new ServerOptions { Store = Store, Urls = "http://127.0.0.1:0", RateLimitPerMinute = 0 });
        Url = new Uri(Server.Urls[0]);
    }

    public static Task<OpenBookServer> StartAsync(ServerOptions options) =>
        OpenBookServer.StartAsync(options, logging: l => l.SetMinimumLevel(LogLevel.Warning));

    public HttpClient Client(string? key)
    {
        var http = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    public async Task<JsonElement> PostJson(string? key, string path, object body)
    {
        using var http = Client(key);
        using var res = await http.PostAsJsonAsync(path, body);
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.IsSuccessStatusCode, $"{path}: {(int)res.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task<JsonElement> GetJson(string? key, string path)
    {
        using var http = Client(key);
        using var res = await http.GetAsync(path);
        var text = await res.Content.ReadAsStringAsync();
        Assert.True(res.IsSuccessStatusCode, $"{path}: {(int)res.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task DisposeAsync()
    {
        if (Server is not null) await Server.DisposeAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;
