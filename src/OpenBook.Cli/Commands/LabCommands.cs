using System.CommandLine;
using OpenBook.Lab;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Runtime.Lab;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook lab</c>: the closed-world lab (synthetic world, lab base model, RAG vs fine-tuning vs RAFT).</summary>
internal static class LabCommands
{
    public static Command Lab()
    {
        var cmd = new Command("lab", "The closed-world lab: a synthetic world, a base model pretrained on it, and RAG / fine-tuning / RAFT measured on its private corpus");
        cmd.Subcommands.Add(World());
        cmd.Subcommands.Add(Pretrain());
        cmd.Subcommands.Add(Run());
        return cmd;
    }

    private static Command Run()
    {
        var world = new Option<string>("--world") { Description = "World directory (openbook lab world)", Required = true };
        var model = new Option<string>("--model") { Description = "The lab base model (openbook lab pretrain)", Required = true };
        var output = new Option<string>("--out") { Description = "Output directory (store, trained models, report); replaced", Required = true };
        var questions = new Option<int>("--questions") { Description = "Private questions evaluated per phrasing", DefaultValueFactory = _ => 40 };
        var sweepQuestions = new Option<int>("--sweep-questions") { Description = "Questions of the distractor sweep", DefaultValueFactory = _ => 20 };
        var sweep = new Option<string>("--sweep") { Description = "Distractor counts of the sweep", DefaultValueFactory = _ => "0,1,2,4,8" };
        var fresh = new Option<int>("--freshness-questions") { Description = "Changed-fact questions evaluated", DefaultValueFactory = _ => 30 };
        var k = new Option<int>("-k") { Description = "Passages retrieved", DefaultValueFactory = _ => 3 };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the fine-tuning data", DefaultValueFactory = _ => 3 };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Optimizer steps of each fine-tuning run at most" };
        var raftSteps = new Option<int?>("--raft-max-steps") { Description = "Optimizer steps of the RAFT run at most (default: --max-steps)" };
        var loraLr = new Option<double>("--lora-lr") { Description = "LoRA learning rate", DefaultValueFactory = _ => 3e-3 };
        var fullLr = new Option<double>("--full-lr") { Description = "Full-parameter learning rate", DefaultValueFactory = _ => 1e-3 };
        var embed = new Option<string?>("--embed") { Description = "Encoder of the hybrid mode ('none' to skip)", DefaultValueFactory = _ => "minilm" };
        var seed = new Option<int>("--seed") { Description = "Seed of the sample, sweep and training", DefaultValueFactory = _ => 42 };
        var cmd = new Command("run", "On the private corpus: base, RAG (BM25, hybrid), FT (LoRA/full, docs and docs+QA), RAFT, FT+RAG; paraphrases, distractor sweep, freshness, cost; one report and advice")
        {
            world, model, output, questions, sweepQuestions, sweep, fresh, k, epochs, maxSteps, raftSteps, loraLr, fullLr, embed, seed,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var ks = DistractorSweepKs(r.GetValue(sweep)!);
            var request = new LabRunRequest
            {
                WorldDirectory = r.GetValue(world)!, ModelDirectory = r.GetValue(model)!, OutputDirectory = r.GetValue(output)!, Questions = r.GetValue(questions),
                SweepQuestions = r.GetValue(sweepQuestions), Sweep = ks, FreshnessQuestions = r.GetValue(fresh), K = r.GetValue(k), Epochs = r.GetValue(epochs),
                MaxSteps = r.GetValue(maxSteps), RaftMaxSteps = r.GetValue(raftSteps), LoraLearningRate = r.GetValue(loraLr), FullLearningRate = r.GetValue(fullLr),
                Embed = r.GetValue(embed) is { } e && !e.Equals("none", StringComparison.OrdinalIgnoreCase) ? e : null, Seed = r.GetValue(seed),
            };
            var quiet = r.GetValue(Cli.Quiet) || r.GetValue(Cli.Json);
            var console = Cli.Out(r);
            var result = await LabRun.RunAsync(request, quiet ? null : line => console.MarkupLine($"[grey]{Markup.Escape(line)}[/]"), ct);
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new LabRunJson(r.GetValue(output)!, result.Seconds, result.Rows, result.Sweep.ToDictionary(kv => kv.Key,
                        kv => (IReadOnlyDictionary<string, double>)kv.Value.ToDictionary(p => p.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), p => p.Value)),
                    result.Freshness, result.Training, result.Recommendation, result.Reasons, result.Files));
                return 0;
            }
            console.WriteLine(LabRun.Markdown(result));
            console.MarkupLine($"report: [green]{Markup.Escape(Path.Combine(r.GetValue(output)!, "report.html"))}[/] ({result.Seconds:F0} s)");
            return 0;
        });
        return cmd;
    }

    private static IReadOnlyList<int> DistractorSweepKs(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => int.TryParse(t, System.Globalization.CultureInfo.InvariantCulture, out var v) && v >= 0 ? v : throw new OpenBookException($"--sweep: '{t}' is not a number ≥ 0"))
            .ToList();

    private static Command World()
    {
        var output = new Option<string>("--out") { Description = "Output directory of the world", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the world", DefaultValueFactory = _ => 7 };
        var publicPeople = new Option<int>("--public-people") { Description = "People of the public (pretraining) company", DefaultValueFactory = _ => 160 };
        var privatePeople = new Option<int>("--private-people") { Description = "People of the private company", DefaultValueFactory = _ => 40 };
        var change = new Option<double>("--change-fraction") { Description = "Share of the changeable private facts the change set alters", DefaultValueFactory = _ => 0.25 };
        var drill = new Option<int>("--drill-people")
        {
            Description = "People of the reading-drill company (facts used only in pretraining reading examples; 0: none)", DefaultValueFactory = _ => 0,
        };
        var cmd = new Command("world", "Write a seeded synthetic world: public documents, held-out public documents, the private corpus, the change set, reading drills and question sets")
        {
            output, seed, publicPeople, privatePeople, change, drill,
        };
        Cli.SetHandler(cmd, (r, ct) =>
        {
            var world = LabWorld.Generate(new LabWorldOptions
            {
                Seed = r.GetValue(seed), PublicPeople = r.GetValue(publicPeople), PrivatePeople = r.GetValue(privatePeople), ChangeFraction = r.GetValue(change),
                DrillPeople = r.GetValue(drill),
            });
            var dir = r.GetValue(output)!;
            var files = LabWorld.Write(world, dir);
            var json = new LabWorldJson(dir, r.GetValue(seed), world.Entities.Count, world.PublicDocuments.Count, world.HeldOutDocuments.Count, world.PrivateDocuments.Count,
                world.ChangedDocuments.Count, world.PublicQuestions.Count, world.HeldOutQuestions.Count, world.PrivateQuestions.Count, world.ChangedQuestions.Count, files.Count)
            {
                DrillDocuments = world.DrillDocuments.Count, DrillQuestions = world.DrillQuestions.Count,
            };
            if (r.GetValue(Cli.Json)) Cli.WriteJson(json);
            else
                Cli.Out(r).MarkupLine($"world in [green]{Markup.Escape(dir)}[/]: {json.Entities} entities; documents: {json.PublicDocuments} public, {json.HeldOutDocuments} held out, " +
                                      $"{json.PrivateDocuments} private, {json.ChangedDocuments} changed; questions: {json.PublicQuestions} public, {json.HeldOutQuestions} held out, " +
                                      $"{json.PrivateQuestions} private, {json.ChangedQuestions} on changed facts; reading drills: {json.DrillDocuments} documents, {json.DrillQuestions} questions");
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static Command Pretrain()
    {
        var world = new Option<string>("--world") { Description = "World directory (openbook lab world)", Required = true };
        var output = new Option<string>("--out") { Description = "Output model directory", Required = true };
        var shape = new Option<string>("--shape") { Description = "Model shape (openbook pretrain --shape)", DefaultValueFactory = _ => "lab-mini" };
        var vocab = new Option<int>("--vocab") { Description = "BPE vocabulary trained on the corpus", DefaultValueFactory = _ => 1536 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence", DefaultValueFactory = _ => 512 };
        var batchTokens = new Option<int>("--batch-tokens") { Description = "Tokens per optimizer step", DefaultValueFactory = _ => 4096 };
        var steps = new Option<int>("--max-steps") { Description = "Optimizer steps", DefaultValueFactory = _ => 300 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => 2e-3 };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps", DefaultValueFactory = _ => 20 };
        var seed = new Option<int>("--seed") { Description = "Seed of the data mix, weights and order", DefaultValueFactory = _ => 1 };
        var draws = new Option<int>("--reading-draws") { Description = "Reading examples per public question", DefaultValueFactory = _ => 1 };
        var drillDraws = new Option<int>("--drill-draws") { Description = "Reading examples per reading-drill question of the world (0: no drills)", DefaultValueFactory = _ => 1 };
        var drillTurns = new Option<int>("--drill-turns")
        {
            Description = "Questions per reading-drill example (the first in the RAG prompt, the rest as follow-up turns over the same passages)", DefaultValueFactory = _ => 1,
        };
        var maxDistractors = new Option<int>("--max-distractors") { Description = "Most distractor passages in a pretraining reading example", DefaultValueFactory = _ => 2 };
        var initFrom = new Option<string?>("--init-from") { Description = "Start from this lab base model's weights and tokenizer (continued pretraining, fresh optimizer)" };
        var replySpace = new Option<bool>("--reply-space") { Description = "Start every training reply with a space (a copied answer then tokenizes as in the passage)" };
        var readingQuestions = new Option<int>("--reading-questions") { Description = "Held-out public questions of the reading score (0: skip)", DefaultValueFactory = _ => 30 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Eval loss every N steps", DefaultValueFactory = _ => 50 };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --out" };
        var promptWeight = new Option<double?>("--prompt-loss-weight")
        {
            Description = "Pack each text as its own example and weight the tokens outside assistant replies by this (0: loss on the answers only); omit for one packed token stream",
        };
        var cmd = new Command("pretrain", "Pretrain the lab base model on the public world (documents, closed-book QA, reading examples) and measure its reading score")
        {
            world, output, shape, vocab, seqLen, batchTokens, steps, lr, warmup, seed, draws, drillDraws, drillTurns, maxDistractors, replySpace, initFrom, readingQuestions, evalEvery, resume, promptWeight,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var request = new LabPretrainRequest
            {
                WorldDirectory = r.GetValue(world)!, OutputDirectory = r.GetValue(output)!, Shape = r.GetValue(shape)!, VocabSize = r.GetValue(vocab),
                SequenceLength = r.GetValue(seqLen), BatchTokens = r.GetValue(batchTokens), MaxSteps = r.GetValue(steps), LearningRate = r.GetValue(lr),
                WarmupSteps = r.GetValue(warmup), Seed = r.GetValue(seed), ReadingDraws = r.GetValue(draws), DrillDraws = r.GetValue(drillDraws), ReadingQuestions = r.GetValue(readingQuestions),
                EvalEvery = r.GetValue(evalEvery), SaveEvery = r.GetValue(evalEvery), Resume = r.GetValue(resume),
                PromptLossWeight = r.GetValue(promptWeight), DrillTurns = r.GetValue(drillTurns), MaxDistractors = r.GetValue(maxDistractors), ReplySpace = r.GetValue(replySpace),
                InitFrom = r.GetValue(initFrom),
            };
            var quiet = r.GetValue(Cli.Quiet) || r.GetValue(Cli.Json);
            var console = Cli.Out(r);
            var progress = quiet ? null : new SyncProgress<TrainerProgress>(p =>
            {
                if (p.EvalLoss is { } e) console.MarkupLine($"[grey]step {p.Step}/{p.TotalSteps} eval loss {e:F4}[/]");
                else if (p.Step % 10 == 0) console.MarkupLine($"[grey]step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} {p.TokensPerSecond:F0} tok/s[/]");
            });
            var result = await LabPretrain.RunAsync(request, progress, ct);
            var t = result.Pretrain.Training;
            var json = new LabPretrainJson(result.Pretrain.ModelDirectory, result.Pretrain.Parameters, t.Steps, t.FinalLoss, t.LastEvalLoss, t.TrainedTokens,
                result.Pretrain.CorpusTokens, Math.Round(t.Elapsed.TotalSeconds, 1), Math.Round(result.Pretrain.TokensPerSecond, 1), result.Documents,
                result.Reading.ToDictionary(kv => kv.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), kv => kv.Value), result.ReadingQuestions, result.ReadingReport);
            if (r.GetValue(Cli.Json)) Cli.WriteJson(json);
            else
            {
                console.MarkupLine($"trained {t.Steps} steps, {t.TrainedTokens:N0} tokens in {t.Elapsed.TotalSeconds:F0} s ({result.Pretrain.TokensPerSecond:F0} tokens/s); " +
                                   $"final loss {t.FinalLoss:F4}; model [green]{Markup.Escape(result.Pretrain.ModelDirectory)}[/] ({result.Pretrain.Parameters:N0} parameters)");
                foreach (var (k, em) in result.Reading.OrderBy(kv => kv.Key))
                    console.MarkupLine($"reading score (held-out public questions, oracle + {k} distractors): exact match {em:F3} over {result.ReadingQuestions} questions");
            }
            return t.Interrupted ? 130 : 0;
        });
        return cmd;
    }
}

