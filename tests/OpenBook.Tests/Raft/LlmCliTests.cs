using System.Text.Json;
using OpenBook.Tests.Cli;

namespace OpenBook.Tests.Raft;

public class LlmCliTests
{
    [Fact]
    public async Task Ask_with_a_model_and_eval_across_extractive_base_and_rag()
    {
        using var dir = new TempDir();
        dir.File("docs/leave.md", "# Leave\n\nUnused vacation days carry over until 31 March.\n");
        dir.File("docs/vpn.md", "# VPN\n\nAlways connect through the company VPN on hotel wifi.\n");
        var store = Path.Combine(dir.Path, "store");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", "--no-embed", Path.Combine(dir.Path, "docs"), "--store", store, "--quiet")).Code);
        using var server = new ScriptedChatServer();
        var env = new Dictionary<string, string> { ["OPENAI_API_KEY"] = "test-key" };
        var model = $"openai:{server.BaseUrl}#scripted";

        var ask = await CliProcess.RunAsync(env, "ask", "Until when do vacation days carry over?", "--model", model, "--store", store, "--json");
        Assert.True(ask.Code == 0, ask.Stderr);
        using (var json = JsonDocument.Parse(ask.Stdout))
        {
            Assert.Equal("llm", json.RootElement.GetProperty("mode").GetString());
            Assert.Contains("31 March", json.RootElement.GetProperty("answer").GetString());
            var citation = json.RootElement.GetProperty("citations")[0];
            Assert.Equal(1, citation.GetProperty("n").GetInt32());
            Assert.Equal("docs/leave.md", citation.GetProperty("source").GetString());
        }

        var chat = await CliProcess.RunWithInputAsync(env, "Until when?\nAnd the VPN?\n\n", "chat", "--model", model, "--store", store);
        Assert.True(chat.Code == 0, chat.Stderr);
        Assert.Equal(2, chat.Stdout.Split("31 March [1]").Length - 1);
        Assert.Contains("[1] docs/", chat.Stdout + chat.Stderr);

        var questions = dir.File("q.jsonl", "{\"question\":\"Until when do vacation days carry over?\",\"answer\":\"31 March\",\"source\":\"leave.md\"}\n" +
                                            "{\"question\":\"What is the CEO's shoe size?\",\"answerable\":false}\n");
        var output = Path.Combine(dir.Path, "report");
        var eval = await CliProcess.RunAsync(env, "eval", "--questions", questions, "--modes", "extractive,base,rag", "--model", model, "--store", store, "--out", output, "--json");
        Assert.True(eval.Code == 0, eval.Stderr);
        using var report = JsonDocument.Parse(eval.Stdout);
        var modes = report.RootElement.GetProperty("modes").EnumerateArray().ToDictionary(m => m.GetProperty("mode").GetString()!);
        Assert.Equal(["extractive", "base", "rag"], modes.Keys);
        Assert.Equal(1.0, modes["rag"].GetProperty("contained").GetDouble());
        Assert.Equal(0.0, modes["base"].GetProperty("contained").GetDouble()); // the scripted model answers "I don't know." without passages
        Assert.Equal(1.0, modes["base"].GetProperty("falseRefusalRate").GetDouble());
        Assert.True(modes["rag"].GetProperty("inputTokens").GetInt64() > 0);
        Assert.Contains("| rag |", File.ReadAllText(Path.Combine(output, "report.md")));
    }
}
