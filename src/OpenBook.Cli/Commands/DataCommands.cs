using System.CommandLine;
using OpenBook.Models.FineTuning.Datasets;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Hub;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook data validate</c>: check a fine-tuning data file line by line, report statistics, optionally split it.</summary>
internal static class DataCommands
{
    public static Command Build()
    {
        var data = new Command("data", "Fine-tuning datasets");
        data.Subcommands.Add(Validate());
        return data;
    }

    internal static DatasetFormat ParseFormat(string text) => text.ToLowerInvariant() switch
    {
        "auto" => DatasetFormat.Auto,
        "chat" or "openai" => DatasetFormat.Chat,
        "prompt-completion" or "completion" => DatasetFormat.PromptCompletion,
        "instruction" or "alpaca" => DatasetFormat.Instruction,
        "csv" => DatasetFormat.Csv,
        _ => throw new OpenBookException($"--format: unknown format '{text}' (auto, chat, prompt-completion, instruction, csv)."),
    };

    internal static CsvColumns? ParseColumns(string? text) => text is null ? null : CsvColumns.Parse(text);

    private static Command Validate()
    {
        var file = new Argument<string>("file") { Description = "Data file: chat JSONL, prompt/completion JSONL, instruction JSONL or CSV/TSV" };
        var model = new Option<string?>("--model") { Description = "Model directory or cached Hub id whose tokenizer and chat template give token statistics" };
        var maxLength = new Option<int>("--max-length") { Description = "Sequence length the run will use", DefaultValueFactory = _ => 2048 };
        var epochs = new Option<int>("--epochs") { Description = "Epochs, for the total training tokens", DefaultValueFactory = _ => 3 };
        var format = new Option<string>("--format") { Description = "auto, chat, prompt-completion, instruction or csv", DefaultValueFactory = _ => "auto" };
        var columns = new Option<string?>("--columns") { Description = "CSV columns: user=…,assistant=…[,system=…]" };
        var split = new Option<double?>("--split") { Description = "Write a validation split of this fraction (FILE.train.jsonl, FILE.val.jsonl)" };
        var seed = new Option<int>("--seed") { Description = "Seed of the split", DefaultValueFactory = _ => 42 };
        var cmd = new Command("validate", "Report every invalid line (with its line number), duplicates, over-length examples and token statistics; exit 1 when a line is invalid")
        {
            file, model, maxLength, epochs, format, columns, split, seed,
        };
        Cli.SetHandler(cmd, (r, _) =>
        {
            var path = r.GetValue(file)!;
            HfTokenizer? tokenizer = null;
            if (r.GetValue(model) is { } spec)
            {
                tokenizer = HfTokenizer.FromDirectory(ModelLocator.Resolve(spec, HubOptions.FromEnvironment()));
                if (tokenizer.ChatTemplate is null) throw new OpenBookException($"--model {spec}: the tokenizer has no chat template.");
            }
            var report = DatasetValidator.Validate(path, new ValidationOptions
            {
                Tokenizer = tokenizer, MaxLength = r.GetValue(maxLength), Epochs = r.GetValue(epochs), Format = ParseFormat(r.GetValue(format)!), Columns = ParseColumns(r.GetValue(columns)),
            });
            object? splitResult = null;
            if (r.GetValue(split) is { } fraction && report.Examples.Count > 0)
            {
                var stem = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileNameWithoutExtension(path));
                var (train, val) = DatasetSplitter.Split(report.Examples, fraction, r.GetValue(seed), stem + ".train.jsonl", stem + ".val.jsonl");
                splitResult = new { train = stem + ".train.jsonl", validation = stem + ".val.jsonl", trainExamples = train, validationExamples = val };
            }
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new
                {
                    valid = report.Valid,
                    errors = report.Errors.Select(e => new { line = e.Line, message = e.Message }),
                    warnings = report.Warnings.Select(e => new { line = e.Line, message = e.Message }),
                    stats = report.Stats,
                    split = splitResult,
                });
                return Task.FromResult(report.Valid ? 0 : 1);
            }
            var console = Cli.Out(r);
            var s = report.Stats;
            var table = new Table().AddColumns("statistic", "value");
            table.AddRow("format", s.Format);
            table.AddRow("valid examples", s.Examples.ToString("N0"));
            table.AddRow("messages", Markup.Escape(string.Join(", ", s.Messages.Select(kv => $"{kv.Key} {kv.Value}"))));
            table.AddRow("characters per example (min/median/p95/max)", $"{s.CharactersPerExample.Min}/{s.CharactersPerExample.Median}/{s.CharactersPerExample.P95}/{s.CharactersPerExample.Max}");
            if (s.TokensPerExample is { } t)
            {
                table.AddRow("tokens per example (min/median/p95/max)", $"{t.Min}/{t.Median}/{t.P95}/{t.Max}");
                table.AddRow("assistant (target) tokens", $"{s.TargetTokens:N0}");
                table.AddRow($"training tokens ({s.Epochs} epochs)", $"{s.TrainingTokens:N0}");
                table.AddRow($"truncated at {s.MaxLength}", $"{s.Truncated}");
            }
            else table.AddRow("tokens", "[grey]pass --model to count tokens with the model's tokenizer and chat template[/]");
            table.AddRow("duplicates", $"{s.Duplicates}");
            console.Write(table);
            foreach (var e in report.Errors) console.MarkupLine($"[red]{Markup.Escape(path)}:{e.Line}: {Markup.Escape(e.Message)}[/]");
            foreach (var w in report.Warnings) console.MarkupLine($"[yellow]{Markup.Escape(path)}:{w.Line}: {Markup.Escape(w.Message)}[/]");
            if (splitResult is not null) console.MarkupLine($"split written: {Markup.Escape(System.Text.Json.JsonSerializer.Serialize(splitResult))}");
            console.MarkupLine(report.Valid ? "[green]valid[/]" : $"[red]{report.Errors.Count} invalid line(s)[/]");
            return Task.FromResult(report.Valid ? 0 : 1);
        });
        return cmd;
    }
}
