using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning;
using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Datasets;
using OpenBook.Models.FineTuning.Full;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Models.Formats;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.Pretraining;

/// <summary>Named model shapes for <c>openbook pretrain --shape</c> (Llama architecture, tied embeddings).</summary>
public static class PretrainShapes
{
    /// <summary>hidden, intermediate, layers, attention heads, key/value heads.</summary>
    public static IReadOnlyDictionary<string, (int Hidden, int Intermediate, int Layers, int Heads, int KvHeads)> All { get; } =
        new Dictionary<string, (int, int, int, int, int)>(StringComparer.OrdinalIgnoreCase)
        {
            ["tiny"] = (64, 192, 2, 4, 2),
            ["lab-mini"] = (128, 384, 2, 4, 2),   // ~0.4 M parameters with a 1k vocabulary: the lab base model on 2 CPU cores
            ["lab-small"] = (192, 576, 3, 6, 2),
            ["small"] = (256, 768, 4, 8, 4),
            ["lab"] = (256, 768, 8, 8, 4),        // ~10 M parameters with an 8k vocabulary
            ["base"] = (512, 1536, 8, 8, 4),
            ["smollm2-135m"] = (576, 1536, 30, 9, 3),
        };

    /// <summary>A config for shape <paramref name="name"/> with <paramref name="vocabSize"/> tokens.</summary>
    public static ModelConfig Config(string name, int vocabSize, int maxPositions)
    {
        if (!All.TryGetValue(name, out var s))
            throw new OpenBookException($"--shape: unknown shape '{name}' (known: {string.Join(", ", All.Keys)}).");
        return new ModelConfig
        {
            Architecture = LlamaForCausalLM.ArchitectureName, HiddenSize = s.Hidden, IntermediateSize = s.Intermediate, NumHiddenLayers = s.Layers,
            NumAttentionHeads = s.Heads, NumKeyValueHeads = s.KvHeads, HeadDim = s.Hidden / s.Heads, VocabSize = vocabSize, TieWordEmbeddings = true,
            MaxPositionEmbeddings = maxPositions, RopeTheta = 10000, RmsNormEps = 1e-5,
        };
    }
}

/// <summary>
/// Hugging Face's initialisation of a Llama model (<c>LlamaPreTrainedModel._init_weights</c>): every linear and the
/// embedding ~ N(0, initializer_range), biases 0, RMSNorm weights 1.
/// </summary>
public sealed class HfInitWeights(int seed, double std = 0.02) : IWeightSource
{
    private readonly Random _random = new(seed);

    /// <inheritdoc />
    public WeightMatrix Matrix(string name, int rows, int cols, bool isEmbedding = false)
    {
        var data = new float[(long)rows * cols];
        for (int i = 0; i < data.Length; i += 2)
        {
            double u1 = 1.0 - _random.NextDouble(), u2 = _random.NextDouble(), r = Math.Sqrt(-2 * Math.Log(u1)) * std;
            data[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < data.Length) data[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
        return WeightMatrix.FromF32(data, rows, cols);
    }

    /// <inheritdoc />
    public float[] Vector(string name, int length)
    {
        var v = new float[length];
        if (!name.EndsWith(".bias", StringComparison.Ordinal)) Array.Fill(v, 1f);
        return v;
    }
}

/// <summary>
/// Causal-LM batches over one token stream (documents concatenated, each followed by a separator token, as HF's
/// <c>run_clm</c> groups texts): blocks of <c>sequence length</c> tokens, every token after the first a target,
/// attention across document boundaries within a block. Epoch e shuffles the blocks with (seed, e), then cuts them
/// into micro-batches of <c>rows</c> blocks — the same epoch always gives the same batches (exact resume).
/// </summary>
public sealed class PackedTextBatches : ITrainingBatches
{
    private readonly IReadOnlyList<int[]> _blocks;
    private readonly int _rows, _seed;
    private readonly Dictionary<int, IReadOnlyList<SequenceBatch>> _cache = [];

    /// <summary>Batches over <paramref name="blocks"/> (each exactly one sequence long), <paramref name="rows"/> per micro-batch.</summary>
    public PackedTextBatches(IReadOnlyList<int[]> blocks, int rows, int seed)
    {
        if (blocks.Count == 0) throw new OpenBookException("No training block (the text is shorter than one sequence).");
        _blocks = blocks; _rows = rows; _seed = seed;
    }

    /// <summary>Micro-batches per epoch.</summary>
    public int MicroBatchesPerEpoch => (_blocks.Count + _rows - 1) / _rows;

    /// <summary>Cuts <paramref name="stream"/> into blocks of <paramref name="length"/> tokens (the remainder is dropped).</summary>
    public static List<int[]> Blocks(IReadOnlyList<int> stream, int length)
    {
        var blocks = new List<int[]>();
        for (int start = 0; start + length <= stream.Count; start += length)
        {
            var block = new int[length];
            for (int i = 0; i < length; i++) block[i] = stream[start + i];
            blocks.Add(block);
        }
        return blocks;
    }

    /// <summary>One micro-batch of the given blocks: every token but each row's first is a target.</summary>
    public static SequenceBatch Batch(IReadOnlyList<int[]> rows, int index = 0)
    {
        int seq = rows[0].Length;
        var tokens = new int[rows.Count * seq];
        var targets = new float[tokens.Length];
        for (int r = 0; r < rows.Count; r++)
        {
            rows[r].CopyTo(tokens, r * seq);
            for (int t = 1; t < seq; t++) targets[r * seq + t] = 1f;
        }
        return new SequenceBatch(rows.Count, seq, tokens, targets) { Index = index };
    }

    /// <inheritdoc />
    public IReadOnlyList<SequenceBatch> Epoch(int epoch)
    {
        lock (_cache)
        {
            if (_cache.TryGetValue(epoch, out var hit)) return hit;
            if (_cache.Count > 2) _cache.Clear();
            var order = Enumerable.Range(0, _blocks.Count).ToList();
            var rng = new FineTuning.Datasets.SplitMix64(((ulong)(uint)_seed << 32) ^ (uint)epoch ^ 0x9E7A_1B0C_5EEDUL);
            rng.Shuffle(order);
            var batches = order.Chunk(_rows).Select((chunk, i) => Batch(chunk.Select(k => _blocks[k]).ToList(), i)).ToList();
            return _cache[epoch] = batches;
        }
    }
}

/// <summary>Everything <c>openbook pretrain</c> needs. Texts come from the caller (files, a document store read under an access scope, …).</summary>
public sealed record PretrainOptions
{
    /// <summary>The training documents (plain text, one entry per document).</summary>
    public required IEnumerable<string> Documents { get; init; }
    /// <summary>Output directory: the model (HF layout), checkpoint/, metrics.jsonl.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>Model shape (<see cref="PretrainShapes"/>) when <see cref="Config"/> is null.</summary>
    public string Shape { get; init; } = "tiny";
    /// <summary>An explicit config (its vocab_size must hold the tokenizer's vocabulary).</summary>
    public ModelConfig? Config { get; init; }
    /// <summary>Take the tokenizer of this model directory (else one is trained on the documents).</summary>
    public string? TokenizerDirectory { get; init; }
    /// <summary>
    /// Start from the weights (and config) of this model directory instead of a random init: continued pretraining, with a
    /// fresh optimizer and schedule. Its tokenizer must be the one used (<see cref="TokenizerDirectory"/>).
    /// </summary>
    public string? InitialWeights { get; init; }
    /// <summary>Vocabulary of the byte-level BPE tokenizer trained when <see cref="TokenizerDirectory"/> is null.</summary>
    public int VocabSize { get; init; } = 8192;
    /// <summary>Tokens per training sequence.</summary>
    public int SequenceLength { get; init; } = 256;
    /// <summary>Tokens per optimizer step (a multiple of <see cref="SequenceLength"/>).</summary>
    public int BatchTokens { get; init; } = 16384;
    /// <summary>Tokens per forward/backward pass (gradient accumulation makes up the rest of <see cref="BatchTokens"/>).</summary>
    public int MicroBatchTokens { get; init; } = 4096;
    /// <summary>Optimizer steps (null: <see cref="Epochs"/> passes over the data).</summary>
    public int? MaxSteps { get; init; }
    /// <summary>Passes over the data when <see cref="MaxSteps"/> is null.</summary>
    public int Epochs { get; init; } = 1;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 6e-4;
    /// <summary>Warmup steps (linear from 0), then cosine to 0.</summary>
    public int WarmupSteps { get; init; } = 100;
    /// <summary>AdamW weight decay (not on biases and norms).</summary>
    public double WeightDecay { get; init; } = 0.1;
    /// <summary>AdamW β2 (0.95, as GPT-style pretraining uses).</summary>
    public double Beta2 { get; init; } = 0.95;
    /// <summary>Gradient clipping.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>Fraction of the blocks held out for the eval loss (0 = none).</summary>
    public double EvalFraction { get; init; } = 0.05;
    /// <summary>At most this many held-out blocks are scored per evaluation.</summary>
    public int MaxEvalBlocks { get; init; } = 64;
    /// <summary>Eval loss every N steps (0 = at the end only).</summary>
    public int EvalEvery { get; init; } = 100;
    /// <summary>Checkpoint every N steps (always at the end and on interruption).</summary>
    public int SaveEvery { get; init; } = 200;
    /// <summary>Seed of the weights, data split and order.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Continue from the checkpoint in the output directory.</summary>
    public bool Resume { get; init; }
    /// <summary>Recompute each layer in backward instead of keeping its activations.</summary>
    public bool GradientCheckpointing { get; init; }
    /// <summary>Peak FLOP/s for MFU (null: measured with this engine's SGEMM on this machine at start).</summary>
    public double? PeakFlops { get; init; }
    /// <summary>
    /// Null (default): one token stream cut into blocks, attention across document boundaries (HF <c>run_clm</c>).
    /// A value: <b>example packing</b> — every document is its own example (first-fit packed into rows, attention kept
    /// inside the example, positions from 0, documents longer than a sequence cut into pieces), and in ChatML texts every
    /// token outside the assistant replies has this loss weight (0 = loss on the replies only, as chat fine-tuning does).
    /// </summary>
    public double? PromptLossWeight { get; init; }

    /// <summary>Checks ranges, naming the bad option.</summary>
    public PretrainOptions Validate()
    {
        if (SequenceLength < 2) throw new OpenBookException($"--seq-len must be ≥ 2 (got {SequenceLength}).");
        if (BatchTokens < SequenceLength || BatchTokens % SequenceLength != 0)
            throw new OpenBookException($"--batch-tokens must be a positive multiple of --seq-len {SequenceLength} (got {BatchTokens}).");
        if (MicroBatchTokens < SequenceLength) throw new OpenBookException($"--micro-batch-tokens must be ≥ --seq-len {SequenceLength} (got {MicroBatchTokens}).");
        if (EvalFraction is < 0 or >= 1) throw new OpenBookException($"--eval-fraction must be in [0, 1) (got {EvalFraction}).");
        if (InitialWeights is not null && (TokenizerDirectory is null || Config is not null))
            throw new OpenBookException("--init-from takes the model's own tokenizer and config: give its directory as the tokenizer and no --config.");
        if (VocabSize < 300 && TokenizerDirectory is null) throw new OpenBookException($"--vocab must be ≥ 300 for a byte-level tokenizer (got {VocabSize}).");
        if (MaxSteps is < 1) throw new OpenBookException($"--max-steps must be ≥ 1 (got {MaxSteps}).");
        if (Epochs < 1) throw new OpenBookException($"--epochs must be ≥ 1 (got {Epochs}).");
        if (PromptLossWeight is < 0 or > 1 || PromptLossWeight is { } w && double.IsNaN(w))
            throw new OpenBookException($"--prompt-loss-weight must be in [0, 1] (got {PromptLossWeight}).");
        return this;
    }
}

/// <summary>What a pretraining run produced.</summary>
public sealed record PretrainResult(TrainingResult Training, string ModelDirectory, long Parameters, int TrainBlocks, int EvalBlocks, long CorpusTokens,
    int TokensPerStep, int GradientAccumulation, double FlopsPerToken, double PeakFlops, string TokenizerSource)
{
    /// <summary>Tokens per second over the run.</summary>
    public double TokensPerSecond => Training.TrainedTokens / Math.Max(1e-9, Training.Elapsed.TotalSeconds);
    /// <summary>Model FLOP utilisation: training FLOPs (6N + attention, per token) × tokens/s over the peak.</summary>
    public double Mfu => TokensPerSecond * FlopsPerToken / PeakFlops;
    /// <summary>Bytes of weights, gradients and AdamW moments (16 per parameter).</summary>
    public long TrainingStateBytes => Parameters * FullModel.StateBytesPerParameter;
}

/// <summary>
/// Pretraining from random init, end to end: tokenizer (given, or a byte-level BPE trained on the documents),
/// documents → one token stream → blocks, a held-out split, HF-style init of a Llama model of the chosen shape, full
/// training with <see cref="ModelTrainer"/> (AdamW over all parameters, warmup + cosine, clipping, accumulation, eval
/// loss, checkpoints, exact resume) and a Hugging Face model directory in the output directory.
/// </summary>
public sealed class PretrainJob
{
    /// <summary>Separator appended to every document (the trained tokenizer's first special token).</summary>
    public const string DocumentSeparator = "<|endoftext|>";
    /// <summary>ChatML without a default system prompt, so a pretrained model can be fine-tuned on chat data next.</summary>
    public const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    private readonly PretrainOptions _o;
    private readonly List<int[]> _train, _eval;
    private readonly List<TokenizedExample>? _trainExamples, _evalExamples;
    private readonly string _tokenizerSource;
    private readonly long _corpusTokens;

    /// <summary>Prepares the run: tokenizer, token stream, split and model (no training yet).</summary>
    public PretrainJob(PretrainOptions options)
    {
        _o = options.Validate();
        var outDir = options.OutputDirectory;
        if (!options.Resume && Directory.Exists(outDir) && File.Exists(Path.Combine(outDir, "model.safetensors")))
            throw new OpenBookException($"--out {outDir}: already holds a model; pass --resume to continue it or choose another directory.");
        Directory.CreateDirectory(outDir);
        var documents = options.Documents.Where(d => !string.IsNullOrWhiteSpace(d)).ToList();
        if (documents.Count == 0) throw new OpenBookException("No training text (every document is empty).");
        Tokenizer = PrepareTokenizer(documents, out _tokenizerSource);
        int? separator = Tokenizer.TokenToId(DocumentSeparator) ?? Tokenizer.EosTokenId;

        if (options.PromptLossWeight is { } promptWeight)
        {
            var examples = new List<TokenizedExample>();
            foreach (var doc in documents)
                foreach (var piece in EncodeExample(Tokenizer, doc, (float)promptWeight, separator, options.SequenceLength))
                    examples.Add(piece with { Line = examples.Count + 1 });
            _corpusTokens = examples.Sum(e => (long)e.Length);
            if (examples.Count == 0 || examples.All(e => e.TargetCount == 0)) throw new OpenBookException("No training target (every text is empty or all prompt).");
            var (held, kept) = Split(examples.Count, options);
            // Examples are shorter than sequences: a few per held-out row.
            _evalExamples = held.Take(8 * options.MaxEvalBlocks).Select(i => examples[i]).ToList();
            _trainExamples = kept.Select(i => examples[i]).ToList();
            _train = _eval = [];
        }
        else
        {
            var stream = new List<int>();
            foreach (var doc in documents)
            {
                stream.AddRange(Tokenizer.Encode(doc, addSpecialTokens: false));
                if (separator is { } s) stream.Add(s);
            }
            _corpusTokens = stream.Count;
            var blocks = PackedTextBatches.Blocks(stream, options.SequenceLength);
            if (blocks.Count == 0)
                throw new OpenBookException($"The text has {stream.Count} tokens, fewer than one sequence of --seq-len {options.SequenceLength}.");
            var (held, kept) = Split(blocks.Count, options);
            _eval = held.Take(options.MaxEvalBlocks).Select(i => blocks[i]).ToList();
            _train = kept.Select(i => blocks[i]).ToList();
        }

        if (options.InitialWeights is { } init && !options.Resume)
        {
            Model = ModelLoader.Load(init);
            Config = Model.Config;
            if (Config.VocabSize < Tokenizer.VocabSize)
                throw new OpenBookException($"--init-from {init}: vocab_size {Config.VocabSize} is smaller than the tokenizer's {Tokenizer.VocabSize} tokens (use its own tokenizer).");
            if (Config.MaxPositionEmbeddings < options.SequenceLength)
                throw new OpenBookException($"--init-from {init}: max_position_embeddings {Config.MaxPositionEmbeddings} is below --seq-len {options.SequenceLength}.");
            return;
        }
        var config = options.Config ?? PretrainShapes.Config(options.Shape, Tokenizer.VocabSize, Math.Max(2048, options.SequenceLength));
        if (config.VocabSize < Tokenizer.VocabSize)
            throw new OpenBookException($"--config: vocab_size {config.VocabSize} is smaller than the tokenizer's {Tokenizer.VocabSize} tokens.");
        if (config.MaxPositionEmbeddings < options.SequenceLength)
            throw new OpenBookException($"--config: max_position_embeddings {config.MaxPositionEmbeddings} is below --seq-len {options.SequenceLength}.");
        Config = config with
        {
            BosTokenId = Tokenizer.BosTokenId,
            EosTokenIds = new[] { Tokenizer.EosTokenId, separator }.OfType<int>().Distinct().ToArray(),
        };
        Model = ModelLoader.Create(Config, new HfInitWeights(options.Seed));
    }

    /// <summary>
    /// Held-out indices (a seeded sample; at least one when a fraction is asked for and there are two items or more) and
    /// the training indices in order.
    /// </summary>
    private static (List<int> Held, List<int> Kept) Split(int count, PretrainOptions o)
    {
        var order = Enumerable.Range(0, count).ToList();
        new SplitMix64(((ulong)(uint)o.Seed << 32) ^ 0xE7A1UL).Shuffle(order);
        int evalCount = o.EvalFraction > 0 && count >= 2 ? Math.Clamp((int)Math.Round(o.EvalFraction * count), 1, count - 1) : 0;
        var held = order.Take(evalCount).ToList();
        var evalSet = held.ToHashSet();
        return (held, Enumerable.Range(0, count).Where(i => !evalSet.Contains(i)).ToList());
    }

    /// <summary>
    /// One text as training examples of at most <paramref name="maxLength"/> tokens: ChatML texts are encoded part by part,
    /// the assistant replies (through their <c>&lt;|im_end|&gt;</c>) with weight 1 and everything else with
    /// <paramref name="promptWeight"/>; other texts have weight 1 throughout. The separator ends the text (weight 1, so the
    /// model learns where a document stops); a text longer than a sequence is cut into pieces.
    /// </summary>
    public static IEnumerable<TokenizedExample> EncodeExample(HfTokenizer tokenizer, string text, float promptWeight, int? separator, int maxLength)
    {
        const string reply = "<|im_start|>assistant\n", end = "<|im_end|>";
        var ids = new List<int>();
        var weights = new List<float>();
        void Add(string part, float w)
        {
            if (part.Length == 0) return;
            var enc = tokenizer.Encode(part, addSpecialTokens: false);
            ids.AddRange(enc);
            for (int i = 0; i < enc.Length; i++) weights.Add(w);
        }
        int at = 0;
        bool chat = text.Contains(reply, StringComparison.Ordinal);
        while (at < text.Length)
        {
            int r = text.IndexOf(reply, at, StringComparison.Ordinal);
            if (r < 0) break;
            Add(text[at..(r + reply.Length)], promptWeight);
            int e = text.IndexOf(end, r + reply.Length, StringComparison.Ordinal);
            int stop = e < 0 ? text.Length : e + end.Length;
            Add(text[(r + reply.Length)..stop], 1f);
            at = stop;
        }
        Add(text[at..], chat ? promptWeight : 1f);
        if (separator is { } sep) { ids.Add(sep); weights.Add(1f); }
        for (int start = 0; start < ids.Count; start += maxLength)
        {
            int n = Math.Min(maxLength, ids.Count - start);
            if (n < 2) yield break;
            yield return new TokenizedExample(ids.GetRange(start, n).ToArray(), weights.GetRange(start, n).ToArray(), 0, Truncated: false);
        }
    }

    /// <summary>The tokenizer (given or trained; saved in the output directory).</summary>
    public HfTokenizer Tokenizer { get; }
    /// <summary>The model's config.</summary>
    public ModelConfig Config { get; }
    /// <summary>The model being trained (random init until <see cref="Run"/>).</summary>
    public LlamaForCausalLM Model { get; }
    /// <summary>Training blocks.</summary>
    public int TrainBlocks => _trainExamples?.Count ?? _train.Count;
    /// <summary>Held-out blocks scored at each evaluation.</summary>
    public int EvalBlocks => _evalExamples?.Count ?? _eval.Count;

    /// <summary>
    /// Training FLOPs per token (PaLM appendix B): 6 × the parameters a token meets in matrix products (every weight but
    /// the embedding lookup; lm_head counted once, tied or not) + 12 × layers × heads × head_dim × sequence length for attention.
    /// </summary>
    public static double FlopsPerToken(ModelConfig c, int sequenceLength)
    {
        double matmul = c.ParameterCount() - (c.TieWordEmbeddings ? 0 : (double)c.VocabSize * c.HiddenSize);
        return 6 * matmul + 12.0 * c.NumHiddenLayers * c.NumAttentionHeads * c.HeadDim * sequenceLength;
    }

    /// <summary>
    /// FLOP/s of this engine's SGEMM on this machine right now (best of a few 768³ products): the peak MFU is
    /// measured against, since a CPU's nominal peak is rarely known.
    /// </summary>
    public static double MeasureSgemmPeak()
    {
        const int n = 768;
        var a = new float[n * n];
        var b = new float[n * n];
        var c = new float[n * n];
        var rng = new Random(1);
        for (int i = 0; i < a.Length; i++) { a[i] = rng.NextSingle(); b[i] = rng.NextSingle(); }
        Sgemm.Multiply(Transpose.No, Transpose.No, n, n, n, a, n, b, n, c, n);
        double best = double.MaxValue;
        for (int rep = 0; rep < 3; rep++)
        {
            var sw = Stopwatch.StartNew();
            Sgemm.Multiply(Transpose.No, Transpose.No, n, n, n, a, n, b, n, c, n);
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return 2.0 * n * n * n / best;
    }

    private HfTokenizer PrepareTokenizer(List<string> documents, out string source)
    {
        var outDir = _o.OutputDirectory;
        var ownTokenizer = Path.Combine(outDir, "tokenizer.json");
        if (_o.Resume && File.Exists(ownTokenizer))
        {
            source = outDir;
            return HfTokenizer.FromDirectory(outDir);
        }
        if (_o.TokenizerDirectory is { } dir)
        {
            if (!File.Exists(Path.Combine(dir, "tokenizer.json"))) throw new OpenBookException($"--tokenizer {dir}: tokenizer.json not found.");
            foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
                if (File.Exists(Path.Combine(dir, name))) File.Copy(Path.Combine(dir, name), Path.Combine(outDir, name), overwrite: true);
            source = dir;
            return HfTokenizer.FromDirectory(outDir);
        }
        var trained = BpeTrainer.Train(documents, new BpeTrainerOptions { VocabSize = _o.VocabSize, SpecialTokens = [DocumentSeparator, "<|im_start|>", "<|im_end|>"] });
        File.WriteAllText(ownTokenizer, trained.ToTokenizerJson());
        File.WriteAllText(Path.Combine(outDir, "tokenizer_config.json"), trained.ToTokenizerConfigJson("<|im_start|>", "<|im_end|>", "<|im_end|>", ChatMlTemplate));
        source = $"byte-level BPE ({trained.IdToToken.Count} tokens) trained on {documents.Count} documents";
        return HfTokenizer.FromDirectory(outDir);
    }

    /// <summary>Trains and writes the model directory; checkpoints as configured (and on cancellation).</summary>
    public PretrainResult Run(IProgress<TrainerProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var outDir = _o.OutputDirectory;
        var generation = new JsonObject { ["bos_token_id"] = Config.BosTokenId, ["eos_token_id"] = new JsonArray(Config.EosTokenIds.Select(e => (JsonNode)e).ToArray()) };
        File.WriteAllText(Path.Combine(outDir, "generation_config.json"), generation.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var companions = new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json" }
            .Select(f => Path.Combine(outDir, f)).Where(File.Exists).ToList();
        var full = FullModel.Create(Model, decayEmbeddings: true, companionFiles: companions);

        int seq = _o.SequenceLength, rowsPerStep = _o.BatchTokens / seq;
        int microRows = Math.Clamp(_o.MicroBatchTokens / seq, 1, rowsPerStep);
        int accumulation = (rowsPerStep + microRows - 1) / microRows;
        ITrainingBatches batches;
        int microPerEpoch;
        IReadOnlyList<SequenceBatch> validation;
        if (_trainExamples is not null)
        {
            var plan = new BatchOptions { BatchSize = microRows, MaxLength = seq, Packing = true, Seed = _o.Seed };
            var examples = new PlannedBatches(_trainExamples, plan);
            (batches, microPerEpoch) = (examples, examples.Epoch(0).Count);
            validation = _evalExamples!.Count == 0 ? [] : BatchPlanner.Plan(_evalExamples, plan, 0);
        }
        else
        {
            var blocks = new PackedTextBatches(_train, microRows, _o.Seed);
            (batches, microPerEpoch) = (blocks, blocks.MicroBatchesPerEpoch);
            validation = _eval.Chunk(microRows).Select((c, i) => PackedTextBatches.Batch(c, i)).ToList();
        }
        int stepsPerEpoch = (microPerEpoch + accumulation - 1) / accumulation;
        int epochs = _o.MaxSteps is { } max ? (max + stepsPerEpoch - 1) / stepsPerEpoch : _o.Epochs;
        var trainer = new ModelTrainer(full, batches, validation, new TrainerOptions
        {
            Epochs = epochs, MaxSteps = _o.MaxSteps, LearningRate = _o.LearningRate, Schedule = LrSchedule.Cosine, WarmupSteps = _o.WarmupSteps,
            WeightDecay = _o.WeightDecay, Beta1 = 0.9, Beta2 = _o.Beta2, MaxGradNorm = _o.MaxGradNorm, GradientAccumulation = accumulation,
            EvalEvery = _o.EvalEvery, SaveEvery = _o.SaveEvery, Seed = _o.Seed, GradientCheckpointing = _o.GradientCheckpointing,
        }, outDir);
        if (_o.Resume) trainer.Resume();
        double peak = _o.PeakFlops ?? MeasureSgemmPeak();
        var result = trainer.Run(progress, cancellationToken);
        full.Save(outDir);
        return new PretrainResult(result, outDir, full.TrainableParameters, _train.Count, _eval.Count, _corpusTokens, rowsPerStep * seq, accumulation,
            FlopsPerToken(Config, seq), peak, _tokenizerSource);
    }
}
