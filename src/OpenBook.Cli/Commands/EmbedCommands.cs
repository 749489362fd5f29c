using System.CommandLine;
using OpenBook.Embeddings;
using OpenBook.Onnx;

namespace OpenBook.Cli.Commands;

/// <summary>The JSON <c>openbook embed</c> prints.</summary>
/// <param name="Model">The spec the model was opened from.</param>
/// <param name="ModelId">Its cache id (model id and a fingerprint of the ONNX file).</param>
/// <param name="Kind">"query" or "passage" (which prefix an asymmetric model was given).</param>
/// <param name="Dimension">Vector length.</param>
/// <param name="Embeddings">One entry per input text, in input order.</param>
internal sealed record EmbedOutput(string Model, string ModelId, string Kind, int Dimension, IReadOnlyList<EmbeddedText> Embeddings);

/// <summary>One embedded text.</summary>
/// <param name="Text">The input text.</param>
/// <param name="Tokens">Tokens the encoder saw (prefix and special tokens included, after truncation); null for remote models.</param>
/// <param name="Vector">The embedding (L2-normalised when the model normalises).</param>
internal sealed record EmbeddedText(string Text, int? Tokens, float[] Vector);

/// <summary><c>openbook embed TEXT… | --file F [--query]</c>: vectors as JSON, for scripts and for checking a model.</summary>
internal static class EmbedCommands
{
    private const int MaxTexts = 10_000;

    public static Command Embed()
    {
        var texts = new Argument<string[]>("texts") { Description = "Texts to embed", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file", "-f") { Description = "Embed each non-empty line of this UTF-8 file" };
        var query = new Option<bool>("--query") { Description = "Embed as search queries (asymmetric models add their query prompt)" };
        var cmd = new Command("embed", $"Print embedding vectors as JSON (model: --embed, default {EmbeddingModels.DefaultIngestModel})")
        {
            texts, file, query, EmbeddingCli.Embed,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var inputs = new List<string>(r.GetValue(texts) ?? []);
            if (r.GetValue(file) is { } path)
            {
                if (!File.Exists(path)) throw new OpenBookException($"{path}: file not found.");
                if (new FileInfo(path).Length > 64L * 1024 * 1024) throw new OpenBookException($"{path}: larger than 64 MB; split it.");
                inputs.AddRange(File.ReadLines(path).Where(l => !string.IsNullOrWhiteSpace(l)));
            }
            if (inputs.Count == 0) throw new OpenBookException("Nothing to embed: pass TEXT arguments or --file F.");
            if (inputs.Count > MaxTexts) throw new OpenBookException($"{inputs.Count} texts: embed at most {MaxTexts} per call.");
            var spec = r.GetValue(EmbeddingCli.Embed) ?? EmbeddingModels.DefaultIngestModel;
            using var model = OpenBook.Runtime.Embedders.Open(spec);
            var kind = r.GetValue(query) ? EmbeddingInputKind.Query : EmbeddingInputKind.Passage;
            var vectors = await model.Generator.GenerateAsync(inputs, EmbeddingInput.WithKind(kind), ct);
            var onnx = model.Generator as OnnxSentenceEncoder;
            var output = new EmbedOutput(spec, model.CacheModelId, kind == EmbeddingInputKind.Query ? "query" : "passage", vectors[0].Vector.Length,
                inputs.Select((t, i) => new EmbeddedText(t, onnx?.Tokenize(t, kind).Length, vectors[i].Vector.ToArray())).ToList());
            Cli.WriteJson(output);
            return 0;
        });
        return cmd;
    }
}
