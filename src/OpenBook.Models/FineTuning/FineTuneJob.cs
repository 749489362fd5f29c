using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Backward;
using OpenBook.Models.FineTuning.Datasets;
using OpenBook.Models.FineTuning.Full;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.FineTuning.Trainer;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.FineTuning;

/// <summary>LoRA on the base weights as stored (fp32/bf16), QLoRA on NF4 projections, or every weight (full).</summary>
public enum FineTuneMethod
{
    /// <summary>Frozen base in its stored precision.</summary>
    Lora,
    /// <summary>Frozen projections in NF4 (double-quantised), embedding in bf16.</summary>
    QLora,
    /// <summary>Every weight trained (fp32 master weights); the result is a full model directory.</summary>
    Full,
}

/// <summary>Everything <c>openbook finetune</c> needs.</summary>
public sealed record FineTuneOptions
{
    /// <summary>Base model directory (HF layout with tokenizer and chat template).</summary>
    public required string ModelDirectory { get; init; }
    /// <summary>How the base is named in adapter_config.json (the spec the user gave).</summary>
    public string? BaseModelName { get; init; }
    /// <summary>Training data file.</summary>
    public required string DataPath { get; init; }
    /// <summary>Validation data file (optional).</summary>
    public string? ValidationPath { get; init; }
    /// <summary>Data format (auto-detected by default).</summary>
    public DatasetFormat Format { get; init; } = DatasetFormat.Auto;
    /// <summary>CSV column mapping.</summary>
    public CsvColumns? Columns { get; init; }
    /// <summary>Output directory (adapter or, for <see cref="FineTuneMethod.Full"/>, the model; checkpoint, metrics).</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>LoRA or QLoRA.</summary>
    public FineTuneMethod Method { get; init; } = FineTuneMethod.Lora;
    /// <summary>Full fine-tuning: whether the embedding gets weight decay (HF Trainer: yes; biases and norms never do).</summary>
    public bool DecayEmbeddings { get; init; } = true;
    /// <summary>Adapter configuration.</summary>
    public LoraConfig Lora { get; init; } = new();
    /// <summary>Optimiser, schedule, evaluation and checkpoint options.</summary>
    public TrainerOptions Trainer { get; init; } = new();
    /// <summary>Sequences per micro-batch.</summary>
    public int BatchSize { get; init; } = 1;
    /// <summary>Longest sequence in tokens.</summary>
    public int MaxLength { get; init; } = 1024;
    /// <summary>What to do with longer examples.</summary>
    public TruncationPolicy Truncation { get; init; } = TruncationPolicy.Right;
    /// <summary>Pack several examples per row (block-diagonal attention).</summary>
    public bool Packing { get; init; }
    /// <summary>Batch examples of similar length together.</summary>
    public bool GroupByLength { get; init; }
    /// <summary>Continue from the checkpoint in the output directory.</summary>
    public bool Resume { get; init; }
    /// <summary>The prompt format the adapter is trained for (written to openbook_adapter.json): "chat" or "raft".</summary>
    public AdapterPromptFormat PromptFormat { get; init; } = AdapterPromptFormat.Chat;
}

/// <summary>
/// What a fine-tuning run produced. <see cref="AdapterDirectory"/> holds the adapter (LoRA/QLoRA) or the full model
/// directory (<see cref="FineTuneMethod.Full"/>); <see cref="TrainingStateBytes"/> is the memory of trainable weights,
/// gradients and AdamW moments.
/// </summary>
public sealed record FineTuneResult(TrainingResult Training, string AdapterDirectory, int TrainExamples, int ValidationExamples, int SkippedExamples,
    long TrainableParameters, long FrozenWeightBytes, long Fp32WeightBytes, double? InitialValidationLoss)
{
    /// <summary>The method that ran.</summary>
    public FineTuneMethod Method { get; init; }
    /// <summary>Bytes of trainable weights, their gradients and the two AdamW moments (16 per trainable parameter).</summary>
    public long TrainingStateBytes => TrainableParameters * 16;
}

/// <summary>
/// One fine-tuning run end to end: load the base (quantised for QLoRA), load and encode the data with the model's chat
/// template (loss on assistant tokens only), plan batches, attach LoRA, train with <see cref="ModelTrainer"/>, save the
/// adapter in PEFT format with <c>openbook_adapter.json</c>.
/// </summary>
public sealed class FineTuneJob
{
    private readonly FineTuneOptions _o;

    /// <summary>Prepares the run: loads the model and data (and reports invalid data before any training).</summary>
    public FineTuneJob(FineTuneOptions options)
    {
        _o = options;
        Tokenizer = HfTokenizer.FromDirectory(options.ModelDirectory);
        if (Tokenizer.ChatTemplate is null)
            throw new OpenBookException($"{options.ModelDirectory}: the tokenizer has no chat template, which fine-tuning on chat data needs (tokenizer_config.json chat_template).");
        Train = Encode(options.DataPath, out int skippedTrain);
        Validation = options.ValidationPath is null ? [] : Encode(options.ValidationPath, out _);
        Skipped = skippedTrain;
        if (Train.Count == 0) throw new OpenBookException($"{options.DataPath}: no example fits in --max-length {options.MaxLength} with an assistant token to learn.");
        // QLoRA's memory recipe: projections in NF4 (double-quantised), embedding / lm_head in bf16, norms fp32 — each
        // tensor converted as it is read, so the peak stays near the quantised size.
        // Full fine-tuning trains fp32 master weights.
        Model = ModelLoader.Load(options.ModelDirectory, options.Method switch
        {
            FineTuneMethod.QLora => QLoraLoadOptions,
            FineTuneMethod.Full => new ModelLoadOptions { WeightFormat = WeightFormat.F32 },
            _ => null,
        });
        Fp32WeightBytes = FrozenBytes(Model, fp32: true);
        FrozenWeightBytes = FrozenBytes(Model, fp32: false);
    }

    /// <summary>How QLoRA loads the frozen base: NF4 projections, bf16 embedding and lm_head.</summary>
    public static ModelLoadOptions QLoraLoadOptions { get; } = new() { WeightFormat = WeightFormat.Bf16, ProjectionFormat = WeightFormat.Nf4 };

    /// <summary>The base model (frozen; adapters are attached by <see cref="Run"/>).</summary>
    public LlamaForCausalLM Model { get; }
    /// <summary>The model's tokenizer.</summary>
    public HfTokenizer Tokenizer { get; }
    /// <summary>Encoded training examples.</summary>
    public IReadOnlyList<TokenizedExample> Train { get; }
    /// <summary>Encoded validation examples.</summary>
    public IReadOnlyList<TokenizedExample> Validation { get; }
    /// <summary>Training examples skipped (too long under the Drop policy, or no target token left).</summary>
    public int Skipped { get; }
    /// <summary>Bytes of the frozen weights as trained on.</summary>
    public long FrozenWeightBytes { get; }
    /// <summary>Bytes the same weights take in fp32.</summary>
    public long Fp32WeightBytes { get; }

    private List<TokenizedExample> Encode(string path, out int skipped)
    {
        var loaded = TrainingData.Load(path, _o.Format, _o.Columns);
        if (loaded.Errors.Count > 0)
        {
            var first = loaded.Errors.Take(5).Select(e => $"{path}:{e.Line}: {e.Message}");
            throw new OpenBookException($"{path}: {loaded.Errors.Count} invalid line(s); fix them first (openbook data validate {path}):\n  " + string.Join("\n  ", first));
        }
        var list = new List<TokenizedExample>();
        skipped = 0;
        foreach (var ex in loaded.Examples)
        {
            var enc = ExampleEncoder.Encode(ex, Tokenizer, _o.MaxLength, _o.Truncation);
            if (enc is null || !enc.Targets.Any(t => t > 0)) skipped++;
            else list.Add(enc);
        }
        return list;
    }

    /// <summary>Bytes of all frozen base weights (linears, embedding once when tied, norms), as stored or as fp32.</summary>
    public static long FrozenBytes(LlamaForCausalLM model, bool fp32)
    {
        long Size(WeightMatrix w) => fp32 ? (long)w.Rows * w.Cols * 4 : w.ByteSize;
        long bytes = model.Layers.Sum(l => l.Linears().Sum(x => Size(x.Weight) + (x.Bias?.Length ?? 0) * 4L) + (l.InputLayerNorm.Length + l.PostAttentionLayerNorm.Length) * 4L);
        bytes += Size(model.EmbedTokens) + model.Norm.Length * 4L;
        if (!model.Config.TieWordEmbeddings) bytes += Size(model.LmHead.Weight);
        return bytes;
    }

    /// <summary>Trains and saves the adapter (or, for full fine-tuning, the model) into the output directory.</summary>
    public FineTuneResult Run(IProgress<TrainerProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var config = _o.Lora with { BaseModel = _o.BaseModelName ?? _o.ModelDirectory };
        if (_o.Method == FineTuneMethod.Full) return RunFull(config.BaseModel, progress, cancellationToken);
        var lora = LoraModel.Create(Model, config, _o.Trainer.Seed);
        try
        {
            var (result, initial) = TrainModel(lora, progress, cancellationToken);
            lora.Save(_o.OutputDirectory);
            new AdapterInfo(_o.PromptFormat, config.BaseModel, _o.Method == FineTuneMethod.QLora ? "qlora" : "lora").Write(_o.OutputDirectory);
            return new FineTuneResult(result, _o.OutputDirectory, Train.Count, Validation.Count, Skipped, lora.TrainableParameters, FrozenWeightBytes, Fp32WeightBytes, initial) { Method = _o.Method };
        }
        finally
        {
            lora.Detach();
        }
    }

    /// <summary>Full fine-tuning: every weight learns; the output directory becomes a Hugging Face model directory.</summary>
    private FineTuneResult RunFull(string baseModel, IProgress<TrainerProgress>? progress, CancellationToken cancellationToken)
    {
        var full = FullModel.Create(Model, _o.DecayEmbeddings, _o.ModelDirectory);
        var (result, initial) = TrainModel(full, progress, cancellationToken);
        full.Save(_o.OutputDirectory);
        new AdapterInfo(_o.PromptFormat, baseModel, "full").Write(_o.OutputDirectory);
        return new FineTuneResult(result, _o.OutputDirectory, Train.Count, Validation.Count, Skipped, full.TrainableParameters, 0, Fp32WeightBytes, initial) { Method = _o.Method };
    }

    private (TrainingResult Result, double? InitialValidationLoss) TrainModel(ITrainableModel trainable, IProgress<TrainerProgress>? progress, CancellationToken cancellationToken)
    {
        int pad = Tokenizer.PadToken is { } p && Tokenizer.TokenToId(p) is { } padId ? padId : Tokenizer.EosTokenId ?? 0;
        var batchOptions = new BatchOptions
        {
            BatchSize = _o.BatchSize, MaxLength = _o.MaxLength, Packing = _o.Packing, GroupByLength = _o.GroupByLength, Seed = _o.Trainer.Seed, PadTokenId = pad,
        };
        var validation = BatchPlanner.Plan(Validation, batchOptions with { GroupByLength = false }, 0);
        var trainer = new ModelTrainer(trainable, new PlannedBatches(Train, batchOptions), validation, _o.Trainer, _o.OutputDirectory);
        if (_o.Resume) trainer.Resume();
        double? initial = validation.Count > 0 && !_o.Resume ? trainer.ValidationLoss() : null;
        return (trainer.Run(progress, cancellationToken), initial);
    }
}
