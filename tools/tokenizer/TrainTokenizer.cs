#:project ../../src/OpenBook.Models/OpenBook.Models.csproj
#:property PublishAot=false
// Trains a byte-level (or SentencePiece-style) BPE tokenizer on text files and writes tokenizer.json +
// tokenizer_config.json in Hugging Face format. Used to create the project's tokenizer fixtures.
//
//   dotnet run tools/tokenizer/TrainTokenizer.cs -- --preset smollm2 --vocab 2048 --out DIR [--template FILE] CORPUS...
//
// Presets: gpt2, smollm2, qwen2, llama3, sentencepiece. Special tokens follow the family (e.g. SmolLM2:
// <|endoftext|>, <|im_start|>, <|im_end|>); --template puts a chat template into tokenizer_config.json.
using OpenBook.Models.Formats.Tokenization;

var preset = TokenizerPreset.SmolLM2;
var vocab = 2048;
long minFrequency = 2;
string? outDir = null;
string? template = null;
var corpus = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--preset": preset = Enum.Parse<TokenizerPreset>(args[++i], ignoreCase: true); break;
        case "--vocab": vocab = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--min-frequency": minFrequency = long.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--out": outDir = args[++i]; break;
        case "--template": template = File.ReadAllText(args[++i]); break;
        default: corpus.Add(args[i]); break;
    }
}
if (outDir is null || corpus.Count == 0)
{
    Console.Error.WriteLine("usage: TrainTokenizer.cs --preset P --vocab N --out DIR [--template FILE] CORPUS...");
    return 2;
}

// Special tokens, BOS, EOS and PAD of each family.
var (specials, bos, eos, pad) = preset switch
{
    TokenizerPreset.SmolLM2 => (new[] { "<|endoftext|>", "<|im_start|>", "<|im_end|>" }, "<|im_start|>", "<|im_end|>", "<|im_end|>"),
    TokenizerPreset.Qwen2 => (["<|endoftext|>", "<|im_start|>", "<|im_end|>"], null, "<|im_end|>", "<|endoftext|>"),
    TokenizerPreset.Llama3 => (["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        "<|begin_of_text|>", "<|eot_id|>", null),
    TokenizerPreset.SentencePiece => (["<unk>", "<s>", "</s>"], "<s>", "</s>", "</s>"),
    _ => (["<|endoftext|>"], "<|endoftext|>", "<|endoftext|>", null),
};

// Paragraphs as training texts (blank-line separated), like line-by-line training in HF.
var texts = corpus.SelectMany(f => File.ReadAllText(f).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)).ToList();
var trained = BpeTrainer.Train(texts, new BpeTrainerOptions
{
    Preset = preset, VocabSize = vocab, MinFrequency = minFrequency, SpecialTokens = specials,
});
Directory.CreateDirectory(outDir);
File.WriteAllText(Path.Combine(outDir, "tokenizer.json"), trained.ToTokenizerJson());
File.WriteAllText(Path.Combine(outDir, "tokenizer_config.json"), trained.ToTokenizerConfigJson(bos, eos, pad, template));
Console.WriteLine($"{preset}: {trained.IdToToken.Count} tokens, {trained.Merges.Count} merges → {outDir}");
return 0;
