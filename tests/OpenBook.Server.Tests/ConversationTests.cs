using System.Net;
using System.Text.Json;

namespace OpenBook.Server.Tests;

[Collection("server")]
public sealed class ConversationTests(ServerFixture f)
{
    public const string Berlin = "What is the annual vacation entitlement in Berlin?";
    public const string BostonRow = "Boston | 20 days of PTO plus 2 floating holidays";

    [Fact]
    public async Task Berlin_then_and_in_Boston_is_rewritten_and_cites_the_Boston_row()
    {
        var first = await f.PostJson(f.Alice, "/api/chat", new { message = Berlin });
        var id = first.GetProperty("conversationId").GetString()!;
        Assert.Equal("none", first.GetProperty("rewrite").GetString());
        Assert.Contains(Citations(first), c => c.Contains("Berlin (HQ) | 30 working days"));

        var second = await f.PostJson(f.Alice, "/api/chat", new { message = "And in Boston?", conversationId = id });
        Assert.Equal(id, second.GetProperty("conversationId").GetString());
        Assert.Equal("rule", second.GetProperty("rewrite").GetString());
        Assert.Equal("What is the annual vacation entitlement in Boston?", second.GetProperty("retrievalQuery").GetString());
        Assert.Contains(Citations(second), c => c.Contains(BostonRow));

        // Stored: the conversation lists both turns with the rewritten query and the citations.
        var detail = await f.GetJson(f.Alice, $"/api/conversations/{id}");
        var messages = detail.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(["user", "assistant", "user", "assistant"], messages.Select(m => m.GetProperty("role").GetString()!));
        Assert.Equal("What is the annual vacation entitlement in Boston?", messages[2].GetProperty("retrievalQuery").GetString());
        Assert.NotEmpty(messages[3].GetProperty("citations").EnumerateArray());
        var list = await f.GetJson(f.Alice, "/api/conversations");
        Assert.Contains(list.EnumerateArray(), c => c.GetProperty("id").GetString() == id && c.GetProperty("title").GetString() == Berlin);
    }

    [Fact]
    public async Task A_conversation_belongs_to_its_key()
    {
        var first = await f.PostJson(f.Alice, "/api/chat", new { message = Berlin });
        var id = first.GetProperty("conversationId").GetString()!;
        using var bob = f.Client(f.Bob);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/api/conversations/{id}")).StatusCode);
        using var post = await bob.PostAsync("/api/chat", JsonContent(new { message = "And in Boston?", conversationId = id }));
        Assert.Equal(HttpStatusCode.NotFound, post.StatusCode);
        var bobs = await f.GetJson(f.Bob, "/api/conversations");
        Assert.DoesNotContain(bobs.EnumerateArray(), c => c.GetProperty("id").GetString() == id);
    }

    [Fact]
    public async Task Streamed_chat_sends_meta_deltas_and_done_and_matches_the_plain_answer()
    {
        using var http = f.Client(f.Alice);
        using var res = await http.PostAsync("/api/chat", JsonContent(new { message = Berlin, stream = true }));
        Assert.Equal("text/event-stream", res.Content.Headers.ContentType?.MediaType);
        var events = Sse.Parse(await res.Content.ReadAsStringAsync());
        Assert.Equal("meta", events[0].Name);
        Assert.Equal("done", events[^1].Name);
        var deltas = string.Concat(events.Where(e => e.Name == "delta").Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("text").GetString()));
        var done = JsonDocument.Parse(events[^1].Data).RootElement;
        Assert.Equal(done.GetProperty("answer").GetProperty("answer").GetString(), deltas);
        var plain = await f.PostJson(f.Alice, "/api/ask", new { message = Berlin });
        Assert.Equal(plain.GetProperty("answer").GetProperty("answer").GetString(), deltas);
    }

    [Fact]
    public async Task An_unanswerable_question_says_the_documents_do_not_say()
    {
        var r = await f.PostJson(f.Alice, "/api/ask", new { message = "What is the airspeed velocity of an unladen swallow on Jupiter?" });
        Assert.False(r.GetProperty("answer").GetProperty("found").GetBoolean());
        Assert.Equal(Answer.NotInDocuments, r.GetProperty("answer").GetProperty("answer").GetString());
    }

    internal static List<string> Citations(JsonElement chat) =>
        chat.GetProperty("answer").GetProperty("citations").EnumerateArray().Select(c => c.GetProperty("text").GetString()!).ToList();

    internal static StringContent JsonContent(object body) => new(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
}

/// <summary>Parses a text/event-stream body.</summary>
internal static class Sse
{
    public static List<(string Name, string Data)> Parse(string body) =>
        body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(block =>
        {
            var lines = block.Split('\n');
            var name = lines.FirstOrDefault(l => l.StartsWith("event: "))?["event: ".Length..] ?? "message";
            var data = string.Concat(lines.Where(l => l.StartsWith("data: ")).Select(l => l["data: ".Length..]));
            return (name, data);
        }).Where(e => e.data.Length > 0).ToList();
}
