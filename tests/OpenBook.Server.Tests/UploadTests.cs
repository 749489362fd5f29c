using System.Net;
using System.Text.Json;
using OpenBook.Storage;

namespace OpenBook.Server.Tests;

[Collection("server")]
public sealed class UploadTests(ServerFixture f)
{
    [Fact]
    public async Task Admin_upload_is_ingested_in_the_background_with_its_acl_and_a_reupload_is_unchanged()
    {
        var name = $"bonus-{Guid.NewGuid():N}.md";
        var text = "# Relocation bonus\n\nEmployees moving to the Quokka office receive a relocation bonus of 4321 euros.";
        var job = await Upload(f.Admin, name, text, "uploads", "hr");
        var done = await WaitForJob(job);
        Assert.Equal("done", done.GetProperty("status").GetString());
        Assert.Equal(1, done.GetProperty("report").GetProperty("added").GetInt32());

        var alice = await f.PostJson(f.Alice, "/api/search", new { query = "Quokka relocation bonus" });
        Assert.Contains("4321 euros", alice.GetRawText());
        var bob = await f.PostJson(f.Bob, "/api/search", new { query = "Quokka relocation bonus" });
        Assert.DoesNotContain("4321", bob.GetRawText());

        var again = await WaitForJob(await Upload(f.Admin, name, text, "uploads", "hr"));
        Assert.Equal(1, again.GetProperty("report").GetProperty("unchanged").GetInt32());
    }

    [Fact]
    public async Task Bad_uploads_are_400_with_the_field_named()
    {
        using var http = f.Client(f.Admin);
        using (var form = new MultipartFormDataContent { { new StringContent("x"), "files", "a.md" }, { new StringContent("../etc"), "collection" } })
        {
            using var res = await http.PostAsync("/api/documents", form);
            Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
            Assert.Contains("collection", await res.Content.ReadAsStringAsync());
        }
        using (var form = new MultipartFormDataContent { { new StringContent("x"), "collection" } })
        {
            using var res = await http.PostAsync("/api/documents", form);
            Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
            Assert.Contains("files", await res.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task A_job_left_unfinished_by_a_killed_server_runs_at_the_next_start()
    {
        using var dir = new TempStore();
        string key;
        IngestJobRecord job;
        using (var store = DocumentStore.Open(dir.Path))
        {
            key = new ApiKeyStore(store).Add("admin", null, true).Key;
            // What a server killed right after acknowledging an upload leaves: the files on disk and a "running" job.
            var incoming = Path.Combine(dir.Path, "uploads", ".incoming", "job1");
            Directory.CreateDirectory(incoming);
            File.WriteAllText(Path.Combine(incoming, "wombat.md"), "# Wombats\n\nThe wombat policy allows 7 wombats per office.");
            var jobs = new IngestJobStore(store);
            job = jobs.Create(1, "pets", [], [], incoming, ["wombat.md"], "job1");
            jobs.SetStatus(job.Id, "running");
        }
        await using var server = await ServerFixture.StartAsync(new ServerOptions { Store = dir.Path, Urls = "http://127.0.0.1:0" });
        using var http = new HttpClient { BaseAddress = new Uri(server.Urls[0]) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        JsonElement status;
        do
        {
            await Task.Delay(200);
            status = JsonDocument.Parse(await http.GetStringAsync("/api/jobs/job1")).RootElement;
        } while (status.GetProperty("status").GetString() is "queued" or "running" && DateTime.UtcNow < deadline);
        Assert.Equal("done", status.GetProperty("status").GetString());
        var hits = await http.PostAsync("/api/search", ConversationTests.JsonContent(new { query = "wombat policy" }));
        Assert.Contains("7 wombats", await hits.Content.ReadAsStringAsync());
    }

    private async Task<string> Upload(string key, string name, string text, string collection, string acl)
    {
        using var http = f.Client(key);
        using var form = new MultipartFormDataContent
        {
            { new StringContent(text), "files", name }, { new StringContent(collection), "collection" }, { new StringContent(acl), "acl" },
        };
        using var res = await http.PostAsync("/api/documents", form);
        var body = await res.Content.ReadAsStringAsync();
        Assert.True(res.StatusCode == HttpStatusCode.Accepted, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!;
    }

    private async Task<JsonElement> WaitForJob(string id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var job = await f.GetJson(f.Admin, $"/api/jobs/{id}");
            if (job.GetProperty("status").GetString() is not ("queued" or "running") || DateTime.UtcNow > deadline) return job;
            await Task.Delay(100);
        }
    }
}
