using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OpenBook.Storage;

namespace OpenBook.Server.Tests;

[Collection("server")]
public sealed class AccessTests(ServerFixture f)
{
    /// <summary>Text only hr documents hold (the vacation table, the sick-leave policy).</summary>
    private static readonly string[] HrMarkers = ["Berlin (HQ) | 30 working days", "hr/", "vacation-policy", "sick-leave", "parental-leave"];

    [Theory]
    [InlineData("GET", "/v1/models")]
    [InlineData("POST", "/v1/chat/completions")]
    [InlineData("POST", "/api/search")]
    [InlineData("GET", "/api/docs")]
    [InlineData("GET", "/api/stats")]
    public async Task No_key_or_an_unknown_key_is_401(string method, string path)
    {
        foreach (var key in new[] { null, "ob_unknown", f.Alice + "x" })
        {
            using var http = f.Client(key);
            using var res = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? JsonContent.Create(new { }) : null });
            Assert.Equal(HttpStatusCode.Unauthorized, res.StatusCode);
            var error = JsonDocument.Parse(await res.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("authentication_error", error.GetProperty("type").GetString());
        }
    }

    [Fact]
    public async Task A_revoked_key_is_401()
    {
        string key;
        using (var store = DocumentStore.Open(f.Store)) key = new ApiKeyStore(store).Add("temp-" + Guid.NewGuid().ToString("N")[..6], ["hr"], false).Key;
        using var http = f.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models")).StatusCode);
        using (var store = DocumentStore.Open(f.Store))
        {
            var keys = new ApiKeyStore(store);
            Assert.True(keys.Revoke(keys.List().Single(k => k.Prefix == key[..9]).Name));
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task Upload_remove_and_jobs_without_the_admin_scope_are_403()
    {
        using var alice = f.Client(f.Alice);
        using var form = new MultipartFormDataContent { { new StringContent("hello"), "files", "a.md" } };
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.PostAsync("/api/documents", form)).StatusCode);
        var doc = (await f.GetJson(f.Alice, "/api/docs")).EnumerateArray().First().GetProperty("id").GetString();
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.DeleteAsync($"/api/docs/{doc}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await alice.GetAsync("/api/jobs")).StatusCode);
    }

    [Fact]
    public async Task Without_hr_no_endpoint_shows_an_hr_document()
    {
        // alice (hr) sees hr documents: the markers are real.
        var aliceDocs = await f.GetJson(f.Alice, "/api/docs");
        var hrDoc = aliceDocs.EnumerateArray().First(d => d.GetProperty("collection").GetString() == "hr");
        var hrId = hrDoc.GetProperty("id").GetString();
        Assert.Contains(HrMarkers, m => aliceDocs.GetRawText().Contains(m));
        var aliceSearch = await f.PostJson(f.Alice, "/api/search", new { query = "vacation entitlement Berlin", k = 10 });
        Assert.Contains(HrMarkers, m => aliceSearch.GetRawText().Contains(m));

        // bob (no groups) and admin (admin scope, no groups) see none of them, through any endpoint.
        foreach (var key in new[] { f.Bob, f.Admin })
        {
            var seen = new List<string>
            {
                (await f.GetJson(key, "/api/docs")).GetRawText(),
                (await f.GetJson(key, "/api/docs?collection=hr")).GetRawText(),
                (await f.GetJson(key, "/api/stats")).GetRawText(),
                (await f.PostJson(key, "/api/search", new { query = "vacation entitlement Berlin sick leave parental", k = 50 })).GetRawText(),
                (await f.PostJson(key, "/api/search", new { query = "Berlin vacation", collections = new[] { "hr" } })).GetRawText(),
                (await f.PostJson(key, "/api/ask", new { message = ConversationTests.Berlin })).GetRawText(),
                (await f.PostJson(key, "/api/chat", new { message = ConversationTests.Berlin })).GetRawText(),
                (await f.PostJson(key, "/v1/chat/completions", new { model = "openbook-extractive", messages = new[] { new { role = "user", content = ConversationTests.Berlin } } })).GetRawText(),
                (await f.GetJson(key, "/api/conversations")).GetRawText(),
            };
            using var http = f.Client(key);
            using (var stream = await http.PostAsync("/v1/chat/completions", ConversationTests.JsonContent(new { stream = true, messages = new[] { new { role = "user", content = "How many sick days and parental leave weeks do I get?" } } })))
                seen.Add(await stream.Content.ReadAsStringAsync());
            using (var show = await http.GetAsync($"/api/docs/{hrId}"))
            {
                Assert.Equal(HttpStatusCode.NotFound, show.StatusCode);
                seen.Add(await show.Content.ReadAsStringAsync());
            }
            using (var remove = await http.DeleteAsync($"/api/docs/{hrId}"))
                Assert.True(remove.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Forbidden, $"delete: {remove.StatusCode}");
            foreach (var text in seen)
                foreach (var marker in HrMarkers)
                    Assert.DoesNotContain(marker, text);
            var stats = await f.GetJson(key, "/api/stats");
            Assert.DoesNotContain(stats.GetProperty("perCollection").EnumerateArray(), c => c.GetProperty("name").GetString() == "hr");
        }
        // The hr document is still there for alice.
        Assert.Equal(hrId, (await f.GetJson(f.Alice, $"/api/docs/{hrId}")).GetProperty("document").GetProperty("id").GetString());
    }

    [Fact]
    public async Task Past_the_rate_limit_a_key_gets_429_and_other_keys_do_not()
    {
        using var dir = new TempStore();
        string a, b;
        await using (var book = await Book.OpenAsync(dir.Path))
        {
            await book.IngestAsync([Path.Combine(ServerFixture.Samples, "it", "vpn.html")]);
            a = new ApiKeyStore(book.Store).Add("a", null, false).Key;
            b = new ApiKeyStore(book.Store).Add("b", null, false).Key;
        }
        await using var server = await ServerFixture.StartAsync(new ServerOptions { Store = dir.Path, Urls = "http://127.0.0.1:0", RateLimitPerMinute = 3 });
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]) };
        HttpStatusCode Get(string key)
        {
            using var req = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
            req.Headers.Authorization = new("Bearer", key);
            using var res = http.Send(req);
            if (res.StatusCode == HttpStatusCode.TooManyRequests) Assert.True(res.Headers.RetryAfter is not null, "429 without Retry-After");
            return res.StatusCode;
        }
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], Enumerable.Range(0, 4).Select(_ => Get(a)));
        Assert.Equal(HttpStatusCode.OK, Get(b));
    }

    [Fact]
    public async Task An_oversized_request_is_refused()
    {
        using var dir = new TempStore();
        string key;
        await using (var book = await Book.OpenAsync(dir.Path))
        {
            await book.IngestAsync([Path.Combine(ServerFixture.Samples, "it", "vpn.html")]);
            key = new ApiKeyStore(book.Store).Add("admin", null, true).Key;
        }
        await using var server = await ServerFixture.StartAsync(new ServerOptions { Store = dir.Path, Urls = "http://127.0.0.1:0", MaxRequestBytes = 4096 });
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        using var form = new MultipartFormDataContent { { new ByteArrayContent(new byte[20_000]), "files", "big.txt" } };
        using var res = await http.PostAsync("/api/documents", form);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, res.StatusCode);
    }
}

/// <summary>A temporary store directory.</summary>
internal sealed class TempStore : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "openbook-server-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
