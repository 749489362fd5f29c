using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.Formats.Gguf;

/// <summary>Weight precision of an exported GGUF file (llama.cpp's file types ALL_F32, MOSTLY_F16, MOSTLY_BF16, MOSTLY_Q8_0).</summary>
public enum GgufFileType
{
    /// <summary>Every tensor 32-bit float.</summary>
    F32,
    /// <summary>Matrices f16, vectors (norms, biases) f32.</summary>
    F16,
    /// <summary>Matrices bf16, vectors f32.</summary>
    BF16,
    /// <summary>Matrices Q8_0 (8.5 bits per weight), vectors f32.</summary>
    Q8_0,
}

/// <summary>Options of <see cref="GgufExport.Write(string, string, GgufExportOptions, IProgress{ValueTuple{int, int}}?, CancellationToken)"/>.</summary>
public sealed record GgufExportOptions
{
    /// <summary>Precision of the matrices.</summary>
    public GgufFileType Type { get; init; } = GgufFileType.F16;

    /// <summary>A LoRA adapter (PEFT directory) merged into the weights before writing, or null.</summary>
    public string? AdapterDirectory { get; init; }

    /// <summary>Where tokenizer.json lives when not in the model directory, or null.</summary>
    public string? TokenizerDirectory { get; init; }

    /// <summary><c>general.name</c> (default: the model directory's name).</summary>
    public string? Name { get; init; }
}

/// <summary>What <see cref="GgufExport"/> wrote.</summary>
/// <param name="Path">The GGUF file.</param>
/// <param name="Architecture">GGUF architecture (<c>general.architecture</c>): "llama" or "qwen2".</param>
/// <param name="Type">Precision of the matrices.</param>
/// <param name="Tensors">Tensors written.</param>
/// <param name="Bytes">File size.</param>
/// <param name="VocabSize">Tokens in the vocabulary.</param>
/// <param name="TokenizerModel"><c>tokenizer.ggml.model</c>: "gpt2" (byte-level BPE) or "llama" (SentencePiece-style).</param>
/// <param name="Warnings">What llama.cpp will not reproduce exactly (e.g. a sliding window it ignores).</param>
public sealed record GgufExportResult(string Path, string Architecture, GgufFileType Type, int Tensors, long Bytes, int VocabSize,
    string TokenizerModel, IReadOnlyList<string> Warnings);

/// <summary>
/// Writes a Llama, Mistral or Qwen2 model (optionally with a LoRA adapter merged in) as one GGUF file that llama.cpp,
/// Ollama and LM Studio load, with the metadata and tensor names llama.cpp's convert_hf_to_gguf.py writes:
/// <list type="bullet">
/// <item>Llama and Mistral become architecture "llama": q_proj / k_proj rows are permuted from HF's rotate-half RoPE
/// layout to the interleaved pairs llama.cpp rotates (as the converter does); Llama-3 RoPE scaling is written as the
/// <c>rope_freqs.weight</c> factor tensor.</item>
/// <item>Qwen2 becomes "qwen2" (NeoX RoPE, no permutation), with its q/k/v biases.</item>
/// <item>Vectors (norms, biases) stay f32; matrices take the requested type; a Q8_0 matrix whose rows are not a
/// multiple of 32 falls back to f16, as in the converter.</item>
/// </list>
/// </summary>
public static class GgufExport
{
    /// <summary>Exports the model in <paramref name="modelDirectory"/> to <paramref name="outputPath"/>.</summary>
    public static GgufExportResult Write(string modelDirectory, string outputPath, GgufExportOptions options,
        IProgress<(int Done, int Total)>? progress = null, CancellationToken ct = default)
    {
        var model = ModelLoader.Load(modelDirectory);
        if (options.AdapterDirectory is { } adapter) LoraModel.Load(model, adapter).MergeIntoBase();
        var vocab = GgufVocabulary.FromDirectory(options.TokenizerDirectory ?? modelDirectory, model.Config);
        string name = options.Name ?? new DirectoryInfo(Path.GetFullPath(modelDirectory)).Name;
        return Write(model, vocab, name, outputPath, options.Type, progress, ct);
    }

    /// <summary>Exports an in-memory model with a stand-in byte-level vocabulary (random-weight benchmark models).</summary>
    internal static GgufExportResult WriteWithPlaceholderVocabulary(LlamaForCausalLM model, string outputPath, GgufFileType type, string name) =>
        Write(model, GgufVocabulary.Placeholder(model.Config.VocabSize), name, outputPath, type, null, default);

    internal static GgufExportResult Write(LlamaForCausalLM model, GgufVocabulary vocab, string name, string outputPath, GgufFileType type,
        IProgress<(int Done, int Total)>? progress, CancellationToken ct)
    {
        var c = model.Config;
        var warnings = new List<string>();
        (string arch, bool permuteQk) = model switch
        {
            Qwen2ForCausalLM => ("qwen2", false),
            MistralForCausalLM => ("llama", true),
            _ when c.Architecture == LlamaForCausalLM.ArchitectureName => ("llama", true),
            _ => throw new OpenBookException($"config.json: architecture '{c.Architecture}' cannot be exported to GGUF (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)."),
        };
        if (model.AttentionWindow > 0 && model.AttentionWindow < c.MaxPositionEmbeddings)
            warnings.Add($"sliding_window {model.AttentionWindow}: llama.cpp's '{arch}' architecture attends to the whole context, so outputs differ beyond {model.AttentionWindow} tokens.");
        if (vocab.Tokens.Count != c.VocabSize)
            throw new OpenBookException($"GGUF export: {vocab.Tokens.Count} tokens for vocab_size {c.VocabSize}.");

        var w = new GgufWriter();
        w.Add("general.architecture", arch);
        w.Add("general.type", "model");
        w.Add("general.name", name);
        w.Add($"{arch}.vocab_size", (uint)c.VocabSize);
        w.Add($"{arch}.context_length", (uint)c.MaxPositionEmbeddings);
        w.Add($"{arch}.embedding_length", (uint)c.HiddenSize);
        w.Add($"{arch}.block_count", (uint)c.NumHiddenLayers);
        w.Add($"{arch}.feed_forward_length", (uint)c.IntermediateSize);
        w.Add($"{arch}.rope.dimension_count", (uint)c.HeadDim);
        w.Add($"{arch}.attention.head_count", (uint)c.NumAttentionHeads);
        w.Add($"{arch}.attention.head_count_kv", (uint)c.NumKeyValueHeads);
        if (c.HeadDim * c.NumAttentionHeads != c.HiddenSize)
        {
            w.Add($"{arch}.attention.key_length", (uint)c.HeadDim);
            w.Add($"{arch}.attention.value_length", (uint)c.HeadDim);
        }
        w.Add($"{arch}.rope.freq_base", (float)c.RopeTheta);
        w.Add($"{arch}.attention.layer_norm_rms_epsilon", (float)c.RmsNormEps);
        switch (c.RopeScaling?.Type)
        {
            case null or "default" or "llama3": break; // llama3: the rope_freqs tensor below
            case "linear":
                w.Add($"{arch}.rope.scaling.type", "linear");
                w.Add($"{arch}.rope.scaling.factor", (float)c.RopeScaling.Factor);
                break;
            default: throw new OpenBookException($"config.json: rope_scaling type '{c.RopeScaling.Type}' cannot be exported to GGUF.");
        }
        w.Add("general.file_type", type switch { GgufFileType.F32 => 0u, GgufFileType.F16 => 1u, GgufFileType.Q8_0 => 7u, GgufFileType.BF16 => 32u, _ => 0u });
        w.Add("general.quantization_version", 2u);
        vocab.WriteTo(w);

        var matrixType = type switch { GgufFileType.F32 => GgmlType.F32, GgufFileType.F16 => GgmlType.F16, GgufFileType.BF16 => GgmlType.BF16, _ => GgmlType.Q8_0 };
        void Vector(string gguf, float[] v) => w.AddTensor(new GgufTensor(gguf, [v.Length], GgmlType.F32, () => GgufQuant.F32(v)));
        void Matrix(string gguf, WeightMatrix m, int permuteHeads = 0)
        {
            var t = matrixType == GgmlType.Q8_0 && m.Cols % GgufQuant.Q8BlockSize != 0 ? GgmlType.F16 : matrixType;
            w.AddTensor(new GgufTensor(gguf, [m.Cols, m.Rows], t, () =>
            {
                var values = m.ToFloat();
                return GgufQuant.Encode(permuteHeads > 0 ? PermuteRows(values, m.Rows, m.Cols, permuteHeads) : values, t);
            }));
        }
        void Bias(string gguf, float[]? b, int permuteHeads = 0)
        {
            if (b is not null) Vector(gguf, permuteHeads > 0 ? PermuteRows(b, b.Length, 1, permuteHeads) : b);
        }

        Matrix("token_embd.weight", model.EmbedTokens);
        if (c.RopeScaling?.Type == "llama3") Vector("rope_freqs.weight", Llama3RopeFactors(c));
        foreach (var layer in model.Layers)
        {
            string p = $"blk.{layer.Index}.";
            int qHeads = permuteQk ? c.NumAttentionHeads : 0, kHeads = permuteQk ? c.NumKeyValueHeads : 0;
            Vector(p + "attn_norm.weight", layer.InputLayerNorm);
            Matrix(p + "attn_q.weight", layer.QProj.Weight, qHeads);
            Bias(p + "attn_q.bias", layer.QProj.Bias, qHeads);
            Matrix(p + "attn_k.weight", layer.KProj.Weight, kHeads);
            Bias(p + "attn_k.bias", layer.KProj.Bias, kHeads);
            Matrix(p + "attn_v.weight", layer.VProj.Weight);
            Bias(p + "attn_v.bias", layer.VProj.Bias);
            Matrix(p + "attn_output.weight", layer.OProj.Weight);
            Bias(p + "attn_output.bias", layer.OProj.Bias);
            Vector(p + "ffn_norm.weight", layer.PostAttentionLayerNorm);
            Matrix(p + "ffn_gate.weight", layer.GateProj.Weight);
            Matrix(p + "ffn_up.weight", layer.UpProj.Weight);
            Matrix(p + "ffn_down.weight", layer.DownProj.Weight);
        }
        Vector("output_norm.weight", model.Norm);
        if (!c.TieWordEmbeddings) Matrix("output.weight", model.LmHead.Weight);

        string full = Path.GetFullPath(outputPath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        long bytes = w.Write(full, progress, ct);
        return new GgufExportResult(full, arch, type, w.Tensors.Count, bytes, vocab.Tokens.Count, vocab.Model, warnings);
    }

    /// <summary>
    /// HF stores each head's q/k rows as [first halves of the rotated pairs; second halves] (rotate_half); llama.cpp's
    /// "llama" RoPE rotates adjacent pairs. Row h·d + 2j + s of the result is row h·d + s·d/2 + j of the input.
    /// </summary>
    internal static float[] PermuteRows(float[] values, int rows, int cols, int heads)
    {
        int d = rows / heads, half = d / 2;
        var result = new float[values.Length];
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < half; j++)
                for (int s = 0; s < 2; s++)
                    Array.Copy(values, (long)(h * d + s * half + j) * cols, result, (long)(h * d + 2 * j + s) * cols, cols);
        return result;
    }

    /// <summary>Llama-3 RoPE scaling as llama.cpp's per-frequency divisors: base frequency / scaled frequency.</summary>
    internal static float[] Llama3RopeFactors(ModelConfig c)
    {
        var scaled = new RotaryEmbedding(c.HeadDim, c.RopeTheta, c.RopeScaling).InverseFrequencies;
        var plain = new RotaryEmbedding(c.HeadDim, c.RopeTheta).InverseFrequencies;
        var factors = new float[scaled.Length];
        for (int i = 0; i < factors.Length; i++) factors[i] = plain[i] / scaled[i];
        return factors;
    }
}
