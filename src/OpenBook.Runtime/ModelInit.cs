using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Export;
using OpenBook.Models.Formats;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Hub;

namespace OpenBook.Runtime;

/// <summary>Sizes of <see cref="ModelInit"/> models: small enough to train on a laptop CPU in minutes.</summary>
public enum InitShape
{
    /// <summary>64 hidden, 2 layers.</summary>
    Tiny,
    /// <summary>256 hidden, 4 layers.</summary>
    Small,
    /// <summary>512 hidden, 8 layers.</summary>
    Base,
}

/// <summary>What <see cref="ModelInit.CreateAsync"/> makes.</summary>
public sealed record ModelInitRequest
{
    /// <summary>Directory to create (must be absent or empty).</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>Model size.</summary>
    public InitShape Shape { get; init; } = InitShape.Tiny;
    /// <summary>Copy the tokenizer of this model directory or cached Hub id (it must have a chat template); null: train one on the book.</summary>
    public string? Tokenizer { get; init; }
    /// <summary>Vocabulary size of a tokenizer trained on the book.</summary>
    public int VocabSize { get; init; } = 2048;
    /// <summary>Seed of the random weights.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Whose documents a trained tokenizer may learn from (see <see cref="AccessScope"/>).</summary>
    public AccessScope Scope { get; init; } = AccessScope.Public;
}

/// <summary>The model directory written by <see cref="ModelInit.CreateAsync"/>.</summary>
/// <param name="Path">The directory.</param>
/// <param name="Parameters">Parameter count.</param>
/// <param name="Vocab">Vocabulary size.</param>
/// <param name="Tokenizer">Where the tokenizer came from.</param>
public sealed record ModelInitResult(string Path, long Parameters, int Vocab, string Tokenizer);

/// <summary>
/// A randomly initialised Llama-architecture model in Hugging Face layout, with a copied tokenizer or a byte-level BPE
/// tokenizer trained on the book's chunks (those the scope may read) — to smoke-test fine-tuning, RAFT and evaluation
/// offline. It knows nothing until trained.
/// </summary>
public static class ModelInit
{
    /// <summary>ChatML without a default system prompt, for tokenizers trained here.</summary>
    public const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    private static (int Hidden, int Inter, int Layers, int Heads, int KvHeads) Dimensions(InitShape shape) => shape switch
    {
        InitShape.Tiny => (64, 192, 2, 4, 2),
        InitShape.Small => (256, 768, 4, 8, 4),
        InitShape.Base => (512, 1536, 8, 8, 4),
        _ => throw new ArgumentOutOfRangeException(nameof(shape)),
    };

    /// <summary>Writes the model; <paramref name="book"/> is needed only to train a tokenizer.</summary>
    public static Task<ModelInitResult> CreateAsync(ModelInitRequest request, Book? book, CancellationToken cancellationToken = default) => Task.Run(() =>
    {
        var sh = Dimensions(request.Shape);
        var dir = request.OutputDirectory;
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            throw new OpenBookException($"{dir}: the directory exists and is not empty.");
        string source;
        if (request.Tokenizer is { } tokSpec)
        {
            var tokDir = ModelLocator.Resolve(tokSpec, HubOptions.FromEnvironment());
            Directory.CreateDirectory(dir);
            foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
                if (File.Exists(Path.Combine(tokDir, name))) File.Copy(Path.Combine(tokDir, name), Path.Combine(dir, name));
            source = tokDir;
        }
        else
        {
            if (book is null) throw new OpenBookException("Training a tokenizer needs a store (or copy a tokenizer from a model).");
            var texts = book.ReadChunks(request.Scope).Select(c => c.Text).ToList();
            if (texts.Count == 0) throw new OpenBookException($"The store {book.Directory} has no documents this caller may read: ingest documents first, or copy a tokenizer from a model.");
            cancellationToken.ThrowIfCancellationRequested();
            var trained = BpeTrainer.Train(texts, new BpeTrainerOptions { VocabSize = request.VocabSize, SpecialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] });
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), trained.ToTokenizerJson());
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), trained.ToTokenizerConfigJson("<|im_start|>", "<|im_end|>", "<|im_end|>", ChatMlTemplate));
            source = $"{texts.Count} chunks of {book.Directory}";
        }
        var tok = HfTokenizer.FromDirectory(dir);
        if (tok.ChatTemplate is null) throw new OpenBookException($"{source}: the tokenizer has no chat template (tokenizer_config.json chat_template).");
        var config = new ModelConfig
        {
            Architecture = "LlamaForCausalLM", HiddenSize = sh.Hidden, IntermediateSize = sh.Inter, NumHiddenLayers = sh.Layers,
            NumAttentionHeads = sh.Heads, NumKeyValueHeads = sh.KvHeads, HeadDim = sh.Hidden / sh.Heads, VocabSize = tok.VocabSize,
            TieWordEmbeddings = true, MaxPositionEmbeddings = 4096, RopeTheta = 10000, RmsNormEps = 1e-5,
            BosTokenId = tok.BosTokenId, EosTokenIds = tok.EosTokenId is { } e ? [e] : [],
        };
        var model = ModelLoader.Create(config, new RandomWeightSource(request.Seed));
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJson());
        SafetensorsWriter.WriteCheckpoint(dir, MergedModelExport.Tensors(model, bf16: false));
        return new ModelInitResult(dir, config.ParameterCount(), tok.VocabSize, source);
    }, cancellationToken);
}
