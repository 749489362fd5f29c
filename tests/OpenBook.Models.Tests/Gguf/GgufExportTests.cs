using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.Formats.Gguf;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Tests.Tokenization;

namespace OpenBook.Models.Tests.Gguf;

/// <summary>
/// GGUF export checked by the consumer that matters: llama.cpp (LLamaSharp 0.30 CPU backend) loads the exported
/// fixture models and must give OpenBook's logits and greedy tokens.
/// </summary>
public sealed class GgufExportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "openbook-gguf-tests", Guid.NewGuid().ToString("N"));

    public GgufExportTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Model fixture, tokenizer fixture of the same vocabulary size (512), positions llama.cpp can match.</summary>
    public static readonly TheoryData<string, string, int> Families = new()
    {
        { "llama-tied", "llama3-512", 12 },          // Llama-3 RoPE scaling → rope_freqs.weight
        { "llama-untied-sharded", "llama3-512", 12 }, // separate lm_head → output.weight
        { "qwen2-bf16", "qwen2-512", 12 },            // q/k/v biases, NeoX RoPE, bf16 checkpoint
        { "mistral", "sentencepiece-512", 4 },        // sliding_window 4: llama.cpp attends to everything, so compare 4 positions
    };

    private static string Model(string name) => ModelFixtureTests.FixtureDir(name);

    private string Export(string family, string tokenizer, GgufFileType type, string? adapter = null)
    {
        string path = Path.Combine(_dir, $"{family}-{type}.gguf");
        GgufExport.Write(Model(family), path, new GgufExportOptions { Type = type, TokenizerDirectory = Fixtures.Tokenizer(tokenizer), AdapterDirectory = adapter });
        return path;
    }

    private static float MaxDiff(float[][] llama, float[] engine, int positions, int vocab)
    {
        float max = 0;
        for (int t = 0; t < positions; t++)
            for (int v = 0; v < vocab; v++) max = Math.Max(max, Math.Abs(llama[t][v] - engine[t * vocab + v]));
        return max;
    }

    private static int[] EngineGreedy(LlamaForCausalLM model, int[] prompt, int count)
    {
        var cache = model.CreateCache(1, prompt.Length + count);
        var logits = model.Forward(prompt, cache);
        var output = new List<int>();
        for (int i = 0; i < count; i++)
        {
            int next = LlamaCpp.ArgMax(logits);
            output.Add(next);
            if (i < count - 1) logits = model.Forward([next], cache);
        }
        return output.ToArray();
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void F32_export_gives_the_engines_logits_and_greedy_tokens_in_llama_cpp(string family, string tokenizer, int positions)
    {
        var model = ModelLoader.Load(Model(family));
        int vocab = model.Config.VocabSize;
        using var llama = LlamaCpp.Load(Export(family, tokenizer, GgufFileType.F32));
        foreach (var ids in ModelFixtureTests.LoadReference(family).Inputs)
        {
            var seq = ids.Take(positions).ToArray();
            var engine = model.Forward(seq, model.CreateCache(1, 32), LogitsMode.AllPositions);
            float diff = MaxDiff(llama.Logits(seq), engine, seq.Length, vocab);
            Assert.True(diff < 1e-3f, $"{family}: max |llama.cpp − OpenBook| logit difference {diff}");
        }
        var reference = ModelFixtureTests.LoadReference(family);
        if (positions >= reference.GreedyPrompt.Length + 10) // greedy decoding runs past a sliding window otherwise
            Assert.Equal(EngineGreedy(model, reference.GreedyPrompt, 10), llama.Greedy(reference.GreedyPrompt, 10));
    }

    [Theory]
    [InlineData(GgufFileType.F16, 0.02f)]  // measured 0.0067
    [InlineData(GgufFileType.BF16, 0.15f)] // measured 0.049
    [InlineData(GgufFileType.Q8_0, 0.5f)]  // measured 0.18 (llama.cpp also rounds the activations to Q8_0)
    public void Reduced_precision_exports_stay_close_to_the_f32_engine(GgufFileType type, float tolerance)
    {
        var model = ModelLoader.Load(Model("llama-tied"));
        using var llama = LlamaCpp.Load(Export("llama-tied", "llama3-512", type));
        var ids = ModelFixtureTests.LoadReference("llama-tied").Inputs[0];
        var engine = model.Forward(ids, model.CreateCache(1, 32), LogitsMode.AllPositions);
        float diff = MaxDiff(llama.Logits(ids), engine, ids.Length, model.Config.VocabSize);
        Assert.True(diff < tolerance, $"{type}: max logit difference {diff} (tolerance {tolerance})");
        Assert.True(diff > 0, $"{type}: identical to f32, so the weights were not converted");
    }

    [Fact]
    public void An_adapter_is_merged_before_export()
    {
        string adapter = Path.Combine(Fixtures.Root, "lora", "llama-tied-all-linear");
        var merged = ModelLoader.Load(Model("llama-tied"));
        LoraModel.Load(merged, adapter).MergeIntoBase();
        var plain = ModelLoader.Load(Model("llama-tied"));
        var ids = ModelFixtureTests.LoadReference("llama-tied").Inputs[0];
        using var llama = LlamaCpp.Load(Export("llama-tied", "llama3-512", GgufFileType.F32, adapter));
        var got = llama.Logits(ids);
        int vocab = merged.Config.VocabSize;
        Assert.True(MaxDiff(got, merged.Forward(ids, merged.CreateCache(1, 32), LogitsMode.AllPositions), ids.Length, vocab) < 1e-3f);
        Assert.True(MaxDiff(got, plain.Forward(ids, plain.CreateCache(1, 32), LogitsMode.AllPositions), ids.Length, vocab) > 1e-3f,
            "the adapter changed nothing: this test would not see a missing merge");
    }

    [Theory]
    [InlineData("llama3-512")]
    [InlineData("qwen2-512")]
    [InlineData("sentencepiece-512")]
    public void Llama_cpp_tokenises_text_as_the_hf_tokenizer_does(string tokenizer)
    {
        string family = tokenizer == "qwen2-512" ? "qwen2-bf16" : tokenizer == "sentencepiece-512" ? "mistral" : "llama-tied";
        var hf = HfTokenizer.FromDirectory(Fixtures.Tokenizer(tokenizer));
        using var llama = LlamaCpp.Load(Export(family, tokenizer, GgufFileType.F32));
        foreach (var text in new[] { "Hello world", "The handbook says: 12345 days, not 7.", "  two  spaces\nand a newline", "naïve café" })
            Assert.Equal(hf.Encode(text, addSpecialTokens: true), llama.Tokenize(text, addBos: hf.AddsBos));
    }

    [Fact]
    public void Metadata_has_llama_cpp_key_names_and_the_tokenizer()
    {
        string path = Export("qwen2-bf16", "qwen2-512", GgufFileType.Q8_0);
        var gguf = GgufTestReader.Read(path);
        var m = gguf.Metadata;
        Assert.Equal("qwen2", m["general.architecture"]);
        Assert.Equal(7u, m["general.file_type"]);
        Assert.Equal(2u, m["qwen2.block_count"]);
        Assert.Equal(64u, m["qwen2.embedding_length"]);
        Assert.Equal(4u, m["qwen2.attention.head_count"]);
        Assert.Equal(2u, m["qwen2.attention.head_count_kv"]);
        Assert.Equal(1e6f, m["qwen2.rope.freq_base"]);
        Assert.Equal("gpt2", m["tokenizer.ggml.model"]);
        Assert.Equal("qwen2", m["tokenizer.ggml.pre"]);
        var hf = HfTokenizer.FromDirectory(Fixtures.Tokenizer("qwen2-512"));
        Assert.Equal(hf.ChatTemplate, m["tokenizer.chat_template"]);
        Assert.Equal((uint)hf.EosTokenId!.Value, m["tokenizer.ggml.eos_token_id"]);
        var tokens = (object[])m["tokenizer.ggml.tokens"];
        var types = (object[])m["tokenizer.ggml.token_type"];
        Assert.Equal(512, tokens.Length);
        Assert.Equal("<|im_end|>", tokens[2]);
        Assert.Equal(3, types[2]); // control
        Assert.Equal(1, types[300]); // normal
        Assert.Equal(253, ((object[])m["tokenizer.ggml.merges"]).Length);
        // Q8_0 matrices, f32 vectors, biases present, tied embeddings → no output.weight.
        Assert.Equal(8u, gguf.Tensors["blk.0.attn_q.weight"].Type);
        Assert.Equal(new long[] { 64, 64 }, gguf.Tensors["blk.0.attn_q.weight"].Dims);
        Assert.Equal(new long[] { 64, 512 }, gguf.Tensors["token_embd.weight"].Dims);
        Assert.Equal(0u, gguf.Tensors["blk.0.attn_norm.weight"].Type);
        Assert.True(gguf.Tensors.ContainsKey("blk.1.attn_k.bias"));
        Assert.False(gguf.Tensors.ContainsKey("output.weight"));
        Assert.Equal(2 + 2 * 12, gguf.Tensors.Count); // token_embd, output_norm; per layer 2 norms, 7 matrices, 3 biases
    }

    [Fact]
    public void Q8_0_blocks_follow_ggml_reference_quantisation()
    {
        var x = new float[64];
        for (int i = 0; i < 32; i++) x[i] = (i - 16) / 8f; // block 0: amax 2 → d = 2/127
        // block 1 all zeros → d = 0, q = 0
        var bytes = GgufQuant.Q8_0(x);
        Assert.Equal(68, bytes.Length);
        Assert.Equal((Half)(2f / 127), BitConverter.ToHalf(bytes, 0));
        Assert.Equal(-127, (sbyte)bytes[2]);  // −2 / d
        Assert.Equal(0, (sbyte)bytes[2 + 16]);
        Assert.Equal(8, (sbyte)bytes[2 + 17]); // 0.125 · 63.5 = 7.94 → 8
        Assert.All(bytes.Skip(34), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Llama_qk_permutation_interleaves_the_rotated_halves()
    {
        // one head of 4 rows (pairs (0,2) and (1,3) in HF's rotate-half layout), 1 column
        var permuted = GgufExport.PermuteRows([0, 1, 2, 3], 4, 1, heads: 1);
        Assert.Equal(new float[] { 0, 2, 1, 3 }, permuted);
    }

    [Fact]
    public void A_model_without_a_tokenizer_fails_with_one_clear_line()
    {
        var e = Assert.Throws<OpenBookException>(() => GgufExport.Write(Model("llama-tied"), Path.Combine(_dir, "x.gguf"), new GgufExportOptions()));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("--tokenizer", e.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "x.gguf")));
    }
}
