using System.Text.Json;
using OpenBook.Tests.Cli;
using OpenBook.Tests.Samples;

namespace OpenBook.Tests.Raft;

/// <summary>
/// The whole method comparison through the real CLI on the sample handbook, with a tiny randomly initialised model
/// (no pretrained weights exist offline): ingest → models init → raft generate (from the sample questions, a held-out
/// split) → finetune (ft) and raft train → eval base/rag/ft/raft/extractive → ask --adapter. Scores of a random model are
/// near zero; the test checks that every stage runs, writes what it promises and reports consistent numbers.
/// </summary>
public class EndToEndTrainingTests
{
    private static async Task<JsonElement> Json(params string[] args)
    {
        var (code, stdout, stderr) = await CliProcess.RunAsync(args);
        Assert.True(code == 0, $"openbook {string.Join(' ', args)} exited {code}: {stderr}");
        return JsonDocument.Parse(stdout).RootElement;
    }

    [Fact]
    public async Task Generate_train_and_evaluate_every_mode_on_the_handbook()
    {
        using var dir = new TempDir();
        string P(string name) => Path.Combine(dir.Path, name);
        var store = P("store");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", "--no-embed", HandbookFixture.Handbook, "--store", store, "--quiet")).Code);
        var init = await Json("models", "init", "--out", P("tiny"), "--vocab", "600", "--store", store, "--json");
        Assert.Equal(600, init.GetProperty("vocab").GetInt32());

        var questions = Path.Combine(HandbookFixture.Samples, "questions.jsonl");
        var generated = await Json("raft", "generate", "--from-questions", questions, "--holdout", "0.05", "--distractors", "2",
            "--store", store, "--out", P("raft-data"), "--json");
        int kept = generated.GetProperty("kept").GetInt32();
        Assert.InRange(kept, 120, 172);
        var heldOut = P("raft-data/heldout.questions.jsonl");
        Assert.True(File.Exists(heldOut));

        // Closed-book fine-tuning data: the training questions with their answers (no documents).
        var heldIds = File.ReadLines(heldOut).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()).ToHashSet();
        File.WriteAllLines(P("qa.jsonl"), File.ReadLines(questions).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(q => !heldIds.Contains(q.GetProperty("id").GetString()) && q.TryGetProperty("answer", out var a) && a.ValueKind == JsonValueKind.String)
            .Select(q => JsonSerializer.Serialize(new
            {
                messages = new[] { new { role = "user", content = q.GetProperty("question").GetString() }, new { role = "assistant", content = q.GetProperty("answer").GetString() } },
            })));
        var validate = await CliProcess.RunAsync("data", "validate", P("qa.jsonl"), "--model", P("tiny"), "--json");
        Assert.Equal(0, validate.Code);
        Assert.True(JsonDocument.Parse(validate.Stdout).RootElement.GetProperty("valid").GetBoolean());

        // The model as a relative path: the adapter records its full path, so it finds its base from anywhere.
        var ftRun = await CliProcess.RunInAsync(dir.Path, "finetune", "--model", "tiny", "--data", P("qa.jsonl"), "--out", P("ft"), "--max-steps", "6",
            "--grad-accum", "2", "--batch-size", "4", "--max-length", "96", "--lr", "5e-3", "--rank", "4", "--json");
        Assert.True(ftRun.Code == 0, ftRun.Stderr);
        var ft = JsonDocument.Parse(ftRun.Stdout).RootElement;
        Assert.Equal(6, ft.GetProperty("steps").GetInt32());
        Assert.True(File.Exists(P("ft/adapter_model.safetensors")) && File.Exists(P("ft/loss.png")));
        using (var peft = JsonDocument.Parse(File.ReadAllText(P("ft/adapter_config.json"))))
            Assert.Equal(Path.GetFullPath(P("tiny")), peft.RootElement.GetProperty("base_model_name_or_path").GetString());

        var raft = await Json("raft", "train", "--dataset", P("raft-data"), "--model", P("tiny"), "--out", P("raft"), "--max-steps", "3", "--grad-accum", "1",
            "--max-length", "320", "--truncation", "left", "--rank", "4", "--store", store, "--json");
        Assert.Equal(3, raft.GetProperty("steps").GetInt32());
        Assert.Contains("\"raft\"", File.ReadAllText(P("raft/openbook_adapter.json")));

        var eval = await Json("eval", "--questions", heldOut, "--modes", "extractive,base,rag,ft,raft", "--model", P("tiny"), "--ft-adapter", P("ft"),
            "--raft-adapter", P("raft"), "--limit", "4", "--store", store, "--out", P("report"), "--json");
        var modes = eval.GetProperty("modes").EnumerateArray().ToDictionary(m => m.GetProperty("mode").GetString()!);
        Assert.Equal(["base", "extractive", "ft", "raft", "rag"], modes.Keys.Order(StringComparer.Ordinal));
        foreach (var m in modes.Values)
        {
            Assert.Equal(4, m.GetProperty("questions").GetInt32());
            foreach (var metric in new[] { "f1", "contained" })
                Assert.InRange(m.GetProperty(metric).GetDouble(), 0, 1);
        }
        Assert.Equal(JsonValueKind.Null, modes["ft"].GetProperty("recallAtK").ValueKind);
        Assert.InRange(modes["raft"].GetProperty("recallAtK").GetDouble(), 0, 1);
        Assert.Equal(modes["rag"].GetProperty("recallAtK").GetDouble(), modes["raft"].GetProperty("recallAtK").GetDouble());
        foreach (var f in new[] { "report.md", "report.html", "results.json", "metrics.png" }) Assert.True(File.Exists(P("report/" + f)), f);
        Assert.Contains("raft", File.ReadAllText(P("report/report.md")));

        var ask = await Json("ask", "How many vacation days do Berlin employees get?", "--adapter", P("raft"), "--model", P("tiny"), "--store", store,
            "--max-tokens", "16", "--json");
        Assert.Equal("llm", ask.GetProperty("mode").GetString());

        // chat with the RAFT adapter prompts it as ask does (the RAFT format, not the grounded [n] prompt): the same
        // prompt (token count) and, greedy, the same reply; the grounded prompt of the plain model differs.
        const string question = "How many vacation days do Berlin employees get?";
        string[] common = ["--model", P("tiny"), "--store", store, "--max-tokens", "16", "--json"];
        var asked = await Json(["ask", question, "--adapter", P("raft"), .. common]);
        Assert.Equal("raft", asked.GetProperty("prompt").GetString());
        var chatted = await CliProcess.RunWithInputAsync(null, question + "\n\n", ["chat", "--adapter", P("raft"), .. common]);
        Assert.True(chatted.Code == 0, chatted.Stderr);
        var chatAnswer = JsonDocument.Parse(chatted.Stdout.Trim()).RootElement;
        Assert.Equal("raft", chatAnswer.GetProperty("prompt").GetString());
        Assert.Equal(asked.GetProperty("inputTokens").GetInt64(), chatAnswer.GetProperty("inputTokens").GetInt64());
        Assert.Equal(asked.GetProperty("answer").GetString(), chatAnswer.GetProperty("answer").GetString());
        var grounded = JsonDocument.Parse((await CliProcess.RunWithInputAsync(null, question + "\n\n", ["chat", .. common])).Stdout.Trim()).RootElement;
        Assert.Equal("grounded", grounded.GetProperty("prompt").GetString());
        Assert.NotEqual(asked.GetProperty("inputTokens").GetInt64(), grounded.GetProperty("inputTokens").GetInt64());
    }

    /// <summary>
    /// finetune --resume continues from the checkpoint of an earlier run (here extended with --max-steps), and refuses a
    /// checkpoint made on other data. (Cancellation mid-run — Ctrl-C/SIGTERM → checkpoint, exit 130 — is covered in the
    /// trainer tests; a signal test through a child process is unreliable under a loaded test host.)
    /// </summary>
    [Fact]
    public async Task Finetune_resumes_from_its_checkpoint_and_refuses_other_data()
    {
        using var dir = new TempDir();
        string P(string name) => Path.Combine(dir.Path, name);
        dir.File("docs/a.md", "# Leave\n\nUnused vacation days carry over until 31 March. Berlin staff get 30 working days.\n");
        dir.File("docs/b.md", "# VPN\n\nAlways connect through the company VPN on hotel wifi. WireGuard is the client.\n");
        Assert.Equal(0, (await CliProcess.RunAsync("ingest", "--no-embed", P("docs"), "--store", P("store"), "--quiet")).Code);
        Assert.Equal(0, (await CliProcess.RunAsync("models", "init", "--out", P("tiny"), "--vocab", "300", "--store", P("store"), "--quiet")).Code);
        File.WriteAllLines(P("train.jsonl"), Enumerable.Range(0, 12).Select(i => JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = $"Question {i}: where do vacation days go?" }, new { role = "assistant", content = $"They carry over until 31 March ({i})." } },
        })));
        string[] args = ["finetune", "--model", P("tiny"), "--data", P("train.jsonl"), "--out", P("adapter"), "--epochs", "2", "--grad-accum", "1", "--max-length", "64", "--json"];
        var first = await Json([.. args, "--max-steps", "3"]);
        Assert.Equal(3, first.GetProperty("steps").GetInt32());
        var state = JsonDocument.Parse(File.ReadAllText(P("adapter/checkpoint/trainer_state.json"))).RootElement;
        Assert.Equal(3, state.GetProperty("global_step").GetInt32());

        File.WriteAllLines(P("other.jsonl"), File.ReadLines(P("train.jsonl")).Take(5));
        var wrong = await CliProcess.RunAsync([.. args.Select(a => a == P("train.jsonl") ? P("other.jsonl") : a), "--resume"]);
        Assert.NotEqual(0, wrong.Code);
        Assert.Contains("different data or options", wrong.Stderr);

        var resumed = await Json([.. args, "--resume", "--max-steps", "7"]);
        Assert.Equal(7, resumed.GetProperty("steps").GetInt32());
        Assert.Equal(7, File.ReadAllLines(P("adapter/metrics.jsonl")).Length);
    }
}
