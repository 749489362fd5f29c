using OpenBook.Models.Architectures;
using OpenBook.Models.Formats;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Pretraining;
using OpenBook.Models.Tests.FineTuning;

namespace OpenBook.Models.Tests.Pretraining;

public class PretrainTests
{
    private const string Memorised = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu";

    /// <summary>Greedy continuation of <paramref name="prompt"/> decoded back to text.</summary>
    private static string Greedy(LlamaForCausalLM model, HfTokenizer tok, string prompt, int tokens)
    {
        var ids = tok.Encode(prompt, addSpecialTokens: false).ToList();
        var cache = model.CreateCache(1, ids.Count + tokens);
        var logits = model.Forward(ids.ToArray(), cache);
        var output = new List<int>();
        for (int i = 0; i < tokens; i++)
        {
            int next = 0;
            for (int v = 1; v < logits.Length; v++) if (logits[v] > logits[next]) next = v;
            output.Add(next);
            logits = model.Forward([next], cache);
        }
        return tok.Decode(output.ToArray());
    }

    [Fact]
    public void A_tiny_model_pretrained_from_random_init_reproduces_a_memorised_sequence()
    {
        using var dir = new TempDirectory();
        // Synthetic corpus: the sequence to memorise, many times, between bits of other text.
        var rng = new Random(5);
        string[] filler = ["one", "two", "three", "four", "five", "six"];
        var documents = Enumerable.Range(0, 40).Select(i =>
            string.Join(" ", Enumerable.Range(0, 3).Select(_ => filler[rng.Next(filler.Length)])) + " " + Memorised + ".").ToList();
        var outDir = Path.Combine(dir.Path, "model");
        var job = new PretrainJob(new PretrainOptions
        {
            Documents = documents, OutputDirectory = outDir, Shape = "tiny", VocabSize = 300, SequenceLength = 32, BatchTokens = 256, MicroBatchTokens = 128,
            MaxSteps = 60, LearningRate = 6e-3, WarmupSteps = 6, EvalFraction = 0.1, EvalEvery = 30, SaveEvery = 30, Seed = 2, PeakFlops = 1e9,
        });
        var tok = job.Tokenizer;
        Assert.NotEqual(" kappa lambda mu", Greedy(job.Model, tok, "alpha beta gamma delta epsilon zeta eta theta iota", tok.Encode(" kappa lambda mu", false).Length));
        var result = job.Run();
        Assert.Equal(60, result.Training.Steps);
        Assert.Equal(2, result.GradientAccumulation);
        Assert.True(result.EvalBlocks > 0);
        Assert.True(result.Training.LastEvalLoss < 1.5, $"eval loss {result.Training.LastEvalLoss}");
        Assert.True(result.TokensPerSecond > 0 && result.Mfu > 0);

        // The output directory is a model: load it back and let it continue the sequence.
        var loaded = ModelLoader.Load(outDir);
        var loadedTok = HfTokenizer.FromDirectory(outDir);
        var continuation = Greedy(loaded, loadedTok, "alpha beta gamma delta epsilon zeta eta theta iota", loadedTok.Encode(" kappa lambda mu", false).Length);
        Assert.Equal(" kappa lambda mu", continuation);
        Assert.True(File.Exists(Path.Combine(outDir, "checkpoint", "trainer_state.json")));
        Assert.Contains("eval_loss", File.ReadAllText(Path.Combine(outDir, "metrics.jsonl")));

        // Continued pretraining starts from those weights (it knows the sequence before a step), not from a random init.
        var next = new PretrainJob(new PretrainOptions
        {
            Documents = documents, OutputDirectory = Path.Combine(dir.Path, "continued"), InitialWeights = outDir, TokenizerDirectory = outDir,
            SequenceLength = 32, BatchTokens = 256, MaxSteps = 1, Seed = 3, PeakFlops = 1e9,
        });
        Assert.Equal(" kappa lambda mu", Greedy(next.Model, next.Tokenizer, "alpha beta gamma delta epsilon zeta eta theta iota", loadedTok.Encode(" kappa lambda mu", false).Length));
        Assert.Throws<OpenBookException>(() => new PretrainJob(new PretrainOptions
        {
            Documents = documents, OutputDirectory = Path.Combine(dir.Path, "bad"), InitialWeights = outDir, SequenceLength = 32, BatchTokens = 256,
        }));
    }

    [Fact]
    public void Flops_per_token_follow_six_n_plus_attention()
    {
        var c = PretrainShapes.Config("smollm2-135m", 49152, 2048);
        Assert.InRange(c.ParameterCount(), 134_000_000, 135_000_000);
        double expected = 6.0 * c.ParameterCount() + 12.0 * 30 * 9 * 64 * 512;
        Assert.Equal(expected, PretrainJob.FlopsPerToken(c, 512));
        var lab = PretrainShapes.Config("lab", 8192, 2048);
        Assert.InRange(lab.ParameterCount(), 8_000_000, 12_000_000);
    }

    [Fact]
    public void Hf_init_draws_weights_with_the_initializer_range_and_unit_norms()
    {
        var model = ModelLoader.Create(PretrainShapes.Config("tiny", 512, 256), new HfInitWeights(3));
        var w = model.Layers[0].GateProj.Weight.ToFloat();
        double mean = w.Average(v => (double)v), std = Math.Sqrt(w.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(std, 0.019, 0.021);
        Assert.All(model.Layers[1].InputLayerNorm, v => Assert.Equal(1f, v));
    }

    [Fact]
    public void Bad_options_and_bad_corpus_lines_name_the_option_or_the_line()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<OpenBookException>(() => new PretrainJob(new PretrainOptions { Documents = ["x"], OutputDirectory = dir.Path, SequenceLength = 64, BatchTokens = 100 }));
        Assert.Contains("--batch-tokens", e.Message);
        var jsonl = Path.Combine(dir.Path, "corpus.jsonl");
        File.WriteAllLines(jsonl, ["{\"text\": \"fine\"}", "{\"body\": 1}"]);
        var bad = Assert.Throws<OpenBookException>(() => PretrainCorpus.ReadFiles([jsonl]).ToList());
        Assert.Contains("corpus.jsonl:2", bad.Message);
        var shortText = Assert.Throws<OpenBookException>(() => new PretrainJob(new PretrainOptions
        {
            Documents = ["too short"], OutputDirectory = Path.Combine(dir.Path, "m"), VocabSize = 300, SequenceLength = 64, BatchTokens = 64,
        }));
        Assert.Contains("--seq-len", shortText.Message);
    }

    private static string Chat(string user, string reply) =>
        $"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{reply}<|im_end|>\n";

    [Fact]
    public void Example_packing_weights_the_assistant_replies_and_keeps_the_text_intact()
    {
        using var dir = new TempDirectory();
        var texts = Enumerable.Range(0, 30).Select(i => Chat($"what is item {i}?", $"item {i} is red")).Append("a plain document about items, red and blue.").ToList();
        var job = new PretrainJob(new PretrainOptions
        {
            Documents = texts, OutputDirectory = dir.Path, Shape = "tiny", VocabSize = 300, SequenceLength = 32, BatchTokens = 64, MicroBatchTokens = 64,
            MaxSteps = 1, PromptLossWeight = 0, PeakFlops = 1e9,
        });
        var tok = job.Tokenizer;
        int sep = tok.TokenToId(PretrainJob.DocumentSeparator)!.Value;
        var chat = PretrainJob.EncodeExample(tok, Chat("what is item 7?", "item 7 is red"), 0f, sep, 512).Single();
        Assert.Equal(Chat("what is item 7?", "item 7 is red") + PretrainJob.DocumentSeparator, tok.Decode(chat.Ids, skipSpecialTokens: false));
        var weighted = chat.Ids.Where((_, i) => chat.Targets[i] > 0).ToArray();
        Assert.Equal("item 7 is red<|im_end|>" + PretrainJob.DocumentSeparator, tok.Decode(weighted, skipSpecialTokens: false));
        var half = PretrainJob.EncodeExample(tok, Chat("q", "a"), 0.25f, sep, 512).Single();
        Assert.Contains(0.25f, half.Targets);
        // A plain document is all targets; one longer than a sequence is cut into pieces of at most that length.
        var doc = string.Join(" ", Enumerable.Repeat("items are red and blue", 20));
        var pieces = PretrainJob.EncodeExample(tok, doc, 0f, sep, 16).ToList();
        Assert.True(pieces.Count > 1 && pieces.All(p => p.Length <= 16 && p.Targets.All(t => t == 1f)));
        Assert.Equal(doc + PretrainJob.DocumentSeparator, tok.Decode(pieces.SelectMany(p => p.Ids).ToArray(), skipSpecialTokens: false));
        int examples = texts.Sum(t => PretrainJob.EncodeExample(tok, t, 0f, sep, 32).Count());
        Assert.True(examples >= texts.Count && job.EvalBlocks >= 1);
        Assert.Equal(examples - job.EvalBlocks, job.TrainBlocks);
        Assert.Throws<OpenBookException>(() => new PretrainOptions { Documents = ["x"], OutputDirectory = dir.Path, PromptLossWeight = 2 }.Validate());
    }

    [Fact]
    public void With_the_loss_on_replies_only_a_tiny_model_learns_to_copy_from_the_prompt()
    {
        using var dir = new TempDirectory();
        // The reply repeats a word of the prompt: only reading the prompt can lower the reply loss, and the prompt itself is never a target.
        string[] words = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "candle"];
        var rng = new Random(3);
        var texts = Enumerable.Range(0, 600).Select(_ => words[rng.Next(words.Length)]).Select(w => Chat($"repeat {w}", w)).ToList();
        var job = new PretrainJob(new PretrainOptions
        {
            Documents = texts, OutputDirectory = dir.Path, Shape = "tiny", VocabSize = 300, SequenceLength = 64, BatchTokens = 1024, MicroBatchTokens = 1024,
            MaxSteps = 160, LearningRate = 5e-3, WarmupSteps = 10, EvalFraction = 0.05, EvalEvery = 160, SaveEvery = 160, Seed = 2, PeakFlops = 1e9, PromptLossWeight = 0,
        });
        var result = job.Run();
        var tok = job.Tokenizer;
        var answers = words.Select(w => Greedy(job.Model, tok, $"<|im_start|>user\nrepeat {w}<|im_end|>\n<|im_start|>assistant\n", tok.Encode(w, false).Length)).ToArray();
        Assert.True(words.SequenceEqual(answers) && result.Training.LastEvalLoss < 0.5,
            $"eval loss {result.Training.LastEvalLoss}; answers {string.Join(", ", answers)}");
    }
}
