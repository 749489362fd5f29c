using OpenBook.Models.Architectures;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.Formats;
using OpenBook.Models.Tensors;

namespace OpenBook.Models.FineTuning.Export;

/// <summary>
/// Writes a base model with a LoRA adapter merged in (<c>W + scaling·B·A</c>) as a Hugging Face model directory:
/// safetensors (sharded above 5 GB) with the checkpoint's names, and every non-weight file of the base directory
/// (config.json, generation_config.json, tokenizer files) copied. The base is re-read from disk in its stored precision
/// (not the NF4 copy a QLoRA run trained on), so the merge loses nothing; bf16 checkpoints are written as bf16.
/// </summary>
public static class MergedModelExport
{
    /// <summary>Merges <paramref name="adapterDirectory"/> into the model in <paramref name="baseDirectory"/> and writes it to <paramref name="outputDirectory"/>.</summary>
    public static IReadOnlyList<string> Write(string baseDirectory, string adapterDirectory, string outputDirectory)
    {
        var model = ModelLoader.Load(baseDirectory);
        var lora = LoraModel.Load(model, adapterDirectory);
        lora.MergeIntoBase();
        bool bf16 = model.Config.TorchDtype is "bfloat16" or "float16";
        var tensors = Tensors(model, bf16);
        var tmp = outputDirectory.TrimEnd(Path.DirectorySeparatorChar) + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        SafetensorsWriter.WriteCheckpoint(tmp, tensors);
        foreach (var file in Directory.EnumerateFiles(baseDirectory))
        {
            var name = Path.GetFileName(file);
            if (name.EndsWith(".safetensors", StringComparison.Ordinal) || name == SafetensorsCheckpoint.IndexFileName || name.EndsWith(".bin", StringComparison.Ordinal)) continue;
            File.Copy(file, Path.Combine(tmp, name), overwrite: true);
        }
        if (Directory.Exists(outputDirectory)) Directory.Delete(outputDirectory, true);
        Directory.Move(tmp, outputDirectory);
        return Directory.EnumerateFiles(outputDirectory).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Every parameter of <paramref name="model"/> under its HF checkpoint name.</summary>
    public static IReadOnlyList<SafetensorsTensor> Tensors(LlamaForCausalLM model, bool bf16)
    {
        var list = new List<SafetensorsTensor>();
        void Add(string name, float[] values, params long[] shape) =>
            list.Add(bf16 ? SafetensorsTensor.BF16(name, values, shape) : SafetensorsTensor.F32(name, values, shape));
        void Matrix(string name, WeightMatrix w) => Add(name, w.ToFloat(), w.Rows, w.Cols);
        Matrix("model.embed_tokens.weight", model.EmbedTokens);
        foreach (var layer in model.Layers)
        {
            string p = $"model.layers.{layer.Index}.";
            Add(p + "input_layernorm.weight", layer.InputLayerNorm, layer.InputLayerNorm.Length);
            Add(p + "post_attention_layernorm.weight", layer.PostAttentionLayerNorm, layer.PostAttentionLayerNorm.Length);
            foreach (var l in layer.Linears())
            {
                Matrix(l.Name + ".weight", l.Weight);
                if (l.Bias is { } b) Add(l.Name + ".bias", b, b.Length);
            }
        }
        Add("model.norm.weight", model.Norm, model.Norm.Length);
        if (!model.Config.TieWordEmbeddings) Matrix("lm_head.weight", model.LmHead.Weight);
        return list;
    }
}
