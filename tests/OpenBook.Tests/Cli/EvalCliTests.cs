using System.Text.Json;
using OpenBook.Tests.Raft;

namespace OpenBook.Tests.Cli;

public class EvalCliTests
{
    private const string Vacation = "Employees get 30 working days of vacation per year.";

    /// <summary>The ft/raft test double: RAFT prompts get a quote of the vacation sentence when it is in the documents (else an invented quote and "I don't know"); closed-book questions about vacation get "30 working days".</summary>
    private static string? FineTunedScript(string prompt)
    {
        if (prompt.Contains("<DOCUMENT>", StringComparison.Ordinal) || prompt.StartsWith('\n')) // the RAFT prompt (with no passage retrieved, it starts with the question's blank line)
            return prompt.EndsWith("How many vacation days per year?", StringComparison.Ordinal) && prompt.Contains(Vacation, StringComparison.Ordinal)
                ? $"The policy says ##begin_quote##{Vacation}##end_quote##\n<ANSWER>: 30 working days"
                : "##begin_quote##The VPN is purple.##end_quote##\n<ANSWER>: I don't know";
        return prompt.Contains("vacation", StringComparison.Ordinal) ? "30 working days" : "I don't know.";
    }

    [Fact]
    public async Task Eval_compares_every_mode_with_a_distractor_sweep_and_advise_reads_the_results()
    {
        using var dir = new TempDir();
        dir.File("docs/leave.md", $"# Leave\n\n{Vacation}\n");
        dir.File("docs/vpn.md", "# VPN\n\nThe VPN client is installed from the IT portal.\n");
        foreach (var topic in new[] { "parking", "canteen", "printing", "travel" })
            dir.File($"docs/{topic}.md", $"# {topic}\n\nThe {topic} rules were approved in 2024.\n");
        var questions = dir.File("q.jsonl",
            "{\"id\":\"q1\",\"question\":\"How many vacation days per year?\",\"answer\":\"30 working days\",\"source\":\"leave.md\"}\n" +
            "{\"id\":\"q2\",\"question\":\"Where is the VPN client installed from?\",\"answer\":\"the IT portal\",\"source\":\"vpn.md\"}\n" +
            "{\"id\":\"q3\",\"question\":\"What is the CEO's shoe size?\",\"answerable\":false}\n");
        var store = Path.Combine(dir.Path, "store");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--quiet")).Code);
        using var baseServer = new ScriptedChatServer();
        using var tunedServer = new ScriptedChatServer(FineTunedScript);
        var env = new Dictionary<string, string> { ["OPENAI_API_KEY"] = "test-key" };
        var output = Path.Combine(dir.Path, "report");
        var (code, stdout, stderr) = await CliProcess.RunAsync(env, "eval", "--questions", questions, "--store", store, "--out", output,
            "--modes", "extractive,base,rag,ft,raft", "--model", $"openai:{baseServer.BaseUrl}#base",
            "--ft-model", $"openai:{tunedServer.BaseUrl}#ft", "--raft-model", $"openai:{tunedServer.BaseUrl}#raft", "--distractor-sweep", "0,2", "--seed", "3", "--json");
        Assert.True(code == 0, stderr);

        using var json = JsonDocument.Parse(stdout);
        var modes = json.RootElement.GetProperty("modes").EnumerateArray().ToDictionary(m => m.GetProperty("mode").GetString()!);
        Assert.Equal(["extractive", "base", "rag", "ft", "raft"], modes.Keys);
        // base: "I don't know." to everything; ft: right on q1 only; raft: quotes the oracle on q1, invents a quote elsewhere.
        Assert.Equal((0.0, 1.0), (modes["base"].GetProperty("contained").GetDouble(), modes["base"].GetProperty("falseRefusalRate").GetDouble()));
        Assert.Equal((0.5, 1.0), (modes["ft"].GetProperty("contained").GetDouble(), modes["ft"].GetProperty("refusalRate").GetDouble()));
        Assert.Equal(JsonValueKind.Null, modes["ft"].GetProperty("recallAtK").ValueKind);
        var raft = modes["raft"];
        Assert.Equal(0.5, raft.GetProperty("contained").GetDouble());
        Assert.Equal(0.5, raft.GetProperty("exactMatch").GetDouble());
        Assert.Equal(3, raft.GetProperty("quotes").GetInt32());
        Assert.Equal(1 / 3.0, raft.GetProperty("quoteVerbatimRate").GetDouble(), 10);
        Assert.Equal(1.0, raft.GetProperty("citationCorrectness").GetDouble());
        Assert.Equal(1.0, raft.GetProperty("refusalRate").GetDouble());
        Assert.True(raft.GetProperty("inputTokens").GetInt64() > 0 && raft.GetProperty("outputTokens").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Null, modes["extractive"].GetProperty("inputTokens").ValueKind);

        // The sweep: extractive, rag and raft (not the closed-book modes) at k = 0 and 2, over the 2 questions with a source.
        var sweep = json.RootElement.GetProperty("sweep");
        Assert.Equal(2, sweep.GetProperty("questions").GetInt32());
        Assert.Equal(1, sweep.GetProperty("skippedNoSource").GetInt32());
        var points = sweep.GetProperty("results").EnumerateArray().Select(p => (p.GetProperty("mode").GetString(), p.GetProperty("k").GetInt32())).ToList();
        Assert.Equal([("extractive", 0), ("extractive", 2), ("rag", 0), ("rag", 2), ("raft", 0), ("raft", 2)], points);
        var raftSweep = sweep.GetProperty("results").EnumerateArray().Where(p => p.GetProperty("mode").GetString() == "raft").ToList();
        Assert.All(raftSweep, p => Assert.Equal(0.5, p.GetProperty("contained").GetDouble()));

        // The files agree with the numbers.
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "results.json")));
        var saved = results.RootElement.GetProperty("modes").EnumerateArray().Single(m => m.GetProperty("mode").GetString() == "raft");
        Assert.Equal(1 / 3.0, saved.GetProperty("quoteVerbatimRate").GetDouble(), 10);
        Assert.Equal(3, saved.GetProperty("rows").GetArrayLength());
        var contexts = results.RootElement.GetProperty("sweep").GetProperty("contexts").EnumerateArray().ToList();
        Assert.Equal(2, contexts.Count);
        Assert.All(contexts, c => Assert.Equal(2, c.GetProperty("distractors").GetArrayLength()));
        Assert.Equal(3, results.RootElement.GetProperty("sweep").GetProperty("seed").GetInt32());
        var md = File.ReadAllText(Path.Combine(output, "report.md"));
        Assert.Contains("| quotes verbatim |", md);
        Assert.Matches(@"\| raft \| 0\.500 \| 0\.500 \| 0\.500 \|", md);
        Assert.Contains("0.333", md.Split('\n').Single(l => l.StartsWith("| raft | 0.500")));
        Assert.Contains("## Distractor sweep", md);
        Assert.Contains("| raft | 2 | 0.500 |", md);
        Assert.Contains("![sweep](sweep.png)", md);
        var html = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("<h2>Distractor sweep</h2>", html);
        Assert.Contains("<td>raft</td><td>2</td><td>0.500</td>", html);
        Assert.Contains("<td>ft</td>", html);
        var png = File.ReadAllBytes(Path.Combine(output, "sweep.png"));
        Assert.True(png.Length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G');

        // advise reads those results: RAFT beat RAG, but a fresh store has not shown it is stable.
        var advise = await CliProcess.RunAsync("advise", "--store", store, "--eval", output, "--json");
        Assert.True(advise.Code == 0, advise.Stderr);
        using var advice = JsonDocument.Parse(advise.Stdout);
        Assert.Equal("RAG now, RAFT later", advice.RootElement.GetProperty("recommendation").GetString());
        var reasons = advice.RootElement.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()!).ToList();
        var ragContained = modes["rag"].GetProperty("contained").GetDouble();
        Assert.Contains(reasons, r => r.StartsWith($"RAFT beat RAG by +{0.5 - ragContained:0.00} answer-contained in {Path.Combine(output, "results.json")}", StringComparison.Ordinal));
        var inputs = advice.RootElement.GetProperty("inputs");
        Assert.Equal(6, inputs.GetProperty("corpus").GetProperty("documents").GetInt32());
        Assert.Equal(0.5, inputs.GetProperty("eval").GetProperty("contained").GetProperty("raft").GetDouble());

        var low = await CliProcess.RunAsync("advise", "--store", store, "--eval", output, "--budget", "low", "--json");
        Assert.Equal("RAG", JsonDocument.Parse(low.Stdout).RootElement.GetProperty("recommendation").GetString());
        var bad = await CliProcess.RunAsync("advise", "--store", store, "--budget", "medium");
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("--budget: 'medium' is not low or high", bad.Stderr);
    }

    [Fact]
    public async Task Eval_names_what_a_mode_is_missing()
    {
        using var dir = new TempDir();
        dir.File("docs/leave.md", $"# Leave\n\n{Vacation}\n");
        var questions = dir.File("q.jsonl", "{\"question\":\"How many vacation days per year?\",\"answer\":\"30 working days\",\"source\":\"leave.md\"}\n");
        var store = Path.Combine(dir.Path, "store");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", Path.Combine(dir.Path, "docs"), "--store", store, "--quiet")).Code);
        var ft = await CliProcess.RunAsync("eval", "--questions", questions, "--store", store, "--modes", "ft", "--model", "openai:http://127.0.0.1:9/v1#m");
        Assert.NotEqual(0, ft.Code);
        Assert.Contains("mode 'ft' needs a fine-tuned model: pass --ft-adapter DIR", ft.Stderr);
        var raft = await CliProcess.RunAsync("eval", "--questions", questions, "--store", store, "--modes", "raft", "--raft-adapter", dir.Path);
        Assert.NotEqual(0, raft.Code);
        Assert.Contains($"adapter {dir.Path}: adapter_config.json not found", string.Join(' ', raft.Stderr.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)));
        var sweep = await CliProcess.RunAsync("eval", "--questions", questions, "--store", store, "--distractor-sweep", "0,x");
        Assert.NotEqual(0, sweep.Code);
        Assert.Contains("'x' is not a number of distractors", sweep.Stderr);
        var tooMany = await CliProcess.RunAsync("eval", "--questions", questions, "--store", store, "--distractor-sweep", "0,3");
        Assert.NotEqual(0, tooMany.Code);
        Assert.Contains("asks for 3 distractors, but the store holds only 0 chunks", string.Join(' ', tooMany.Stderr.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)));
    }
}
