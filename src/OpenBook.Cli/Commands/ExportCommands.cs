using System.CommandLine;
using OpenBook.Models.Formats.Gguf;
using OpenBook.Models.Hub;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook export gguf</c>: a model (plus adapter) as one GGUF file for llama.cpp / Ollama / LM Studio.</summary>
internal static class ExportCommands
{
    public static Command Export()
    {
        var export = new Command("export", "Write a model in another runtime's format");
        export.Subcommands.Add(Gguf());
        return export;
    }

    private static Command Gguf()
    {
        var model = new Option<string>("--model") { Description = "Model directory or cached Hub id (Llama, Mistral, Qwen2)", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "LoRA adapter directory merged into the weights first" };
        var type = new Option<GgufFileType>("--type") { Description = "Matrix precision: f32, f16, bf16 or q8_0 (norms and biases stay f32)", DefaultValueFactory = _ => GgufFileType.F16 };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Directory with tokenizer.json when the model directory has none" };
        var output = new Option<string>("--out") { Description = "GGUF file to write", Required = true };
        var cmd = new Command("gguf", "Export to GGUF (llama.cpp, Ollama): tensors, hyper-parameters, tokenizer and chat template as llama.cpp's converter writes them")
        {
            model, adapter, type, tokenizer, output,
        };
        Cli.SetHandler(cmd, (r, ct) =>
        {
            var dir = ModelLocator.Resolve(r.GetValue(model)!, HubOptions.FromEnvironment());
            var options = new GgufExportOptions { Type = r.GetValue(type), AdapterDirectory = r.GetValue(adapter), TokenizerDirectory = r.GetValue(tokenizer) };
            GgufExportResult result = null!;
            if (Cli.ShowProgress(r))
                AnsiConsole.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("tensors");
                        result = GgufExport.Write(dir, r.GetValue(output)!, options, new SyncProgress<(int Done, int Total)>(p =>
                        {
                            task.MaxValue = p.Total;
                            task.Value = p.Done;
                        }), ct);
                    });
            else result = GgufExport.Write(dir, r.GetValue(output)!, options, null, ct);
            if (r.GetValue(Cli.Json)) Cli.WriteJson(GgufExportJson.From(result));
            else
            {
                var console = Cli.Out(r);
                console.MarkupLine($"wrote [green]{Markup.Escape(result.Path)}[/]: {result.Architecture}, {result.Type}, {result.Tensors} tensors, " +
                                   $"{result.Bytes / 1e6:0.0} MB, {result.VocabSize} tokens ({result.TokenizerModel} tokenizer)");
                foreach (var w in result.Warnings) console.MarkupLine($"[yellow]note:[/] {Markup.Escape(w)}");
            }
            return Task.FromResult(0);
        });
        return cmd;
    }
}

/// <summary><c>openbook export gguf --json</c>: <c>{"path","architecture","type":"f32|f16|bf16|q8_0","tensors","bytes","vocabSize","tokenizerModel","warnings":[…]}</c>.</summary>
internal sealed record GgufExportJson(string Path, string Architecture, string Type, int Tensors, long Bytes, int VocabSize, string TokenizerModel, IReadOnlyList<string> Warnings)
{
    public static GgufExportJson From(GgufExportResult r) =>
        new(r.Path, r.Architecture, r.Type.ToString().ToLowerInvariant(), r.Tensors, r.Bytes, r.VocabSize, r.TokenizerModel, r.Warnings);
}
