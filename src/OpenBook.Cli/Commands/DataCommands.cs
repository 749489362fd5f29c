using System.CommandLine;
using System.Globalization;
using OpenBook.Models.FineTuning.Datasets;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Hub;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook data validate</c>: checks a fine-tuning dataset line by line and prints its statistics.</summary>
internal static class DataCommands
{
    /// <summary>Issues printed per list in human output (all of them are in --json).</summary>
    private const int MaxListed = 100;

    public static Command Data()
    {
        var data = new Command("data", "Fine-tuning datasets (OpenAI chat JSONL, prompt/completion, instruction, CSV)");
        data.Subcommands.Add(Validate());
        return data;
    }

    private static Command Validate()
    {
        var file = new Argument<string>("file") { Description = "Dataset file (.jsonl, .csv, .tsv)" };
        var model = new Option<string?>("--model") { Description = "Model directory or cached Hub id whose tokenizer and chat template give token counts" };
        var maxLength = new Option<int>("--max-length") { Description = "Training sequence length (longer examples are reported as truncated)", DefaultValueFactory = _ => 2048 };
        var epochs = new Option<int>("--epochs") { Description = "Epochs, for total training tokens", DefaultValueFactory = _ => 3 };
        var format = new Option<string>("--format") { Description = "auto, chat, prompt-completion, instruction or csv", DefaultValueFactory = _ => "auto" };
        var columns = new Option<string?>("--columns") { Description = "CSV column mapping, e.g. user=question,assistant=answer,system=sys" };
        var split = new Option<double?>("--split") { Description = "Write a validation split of this fraction (e.g. 0.1) as FILE.train.jsonl / FILE.val.jsonl; duplicates stay on one side" };
        var splitDir = new Option<string?>("--split-dir") { Description = "Directory for the split files (default: next to FILE)" };
        var seed = new Option<int>("--seed") { Description = "Seed of the split", DefaultValueFactory = _ => 42 };
        var cmd = new Command("validate", "Report every bad line (with its line number) and the dataset's statistics; exit code 1 when any line is invalid")
        {
            file, model, maxLength, epochs, format, columns, split, splitDir, seed,
        };
        Cli.SetHandler(cmd, (r, _) =>
        {
            var path = r.GetValue(file)!;
            if (!File.Exists(path)) throw new OpenBookException($"{path}: dataset file not found");
            var fmt = TrainingData.ParseFormat(r.GetValue(format)!);
            var options = new ValidationOptions
            {
                Tokenizer = r.GetValue(model) is { } spec ? HfTokenizer.FromDirectory(ModelLocator.Resolve(spec, HubOptions.FromEnvironment())) : null,
                MaxLength = r.GetValue(maxLength),
                Epochs = r.GetValue(epochs),
                Format = fmt,
                Columns = r.GetValue(columns) is { } c ? CsvColumns.Parse(c) : null,
            };
            ValidationReport report = null!;
            if (Cli.ShowProgress(r) && options.Tokenizer is not null)
                AnsiConsole.Progress().AutoClear(true)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("tokenizing", maxValue: 1);
                        report = DatasetValidator.Validate(path, options with
                        {
                            Progress = new SyncProgress<(int Done, int Total)>(x => { task.MaxValue = Math.Max(1, x.Total); task.Value = x.Done; }),
                        });
                    });
            else report = DatasetValidator.Validate(path, options);
            SplitResult? splitResult = null;
            if (r.GetValue(split) is { } fraction)
            {
                var stem = Path.GetFileNameWithoutExtension(path);
                var dir = r.GetValue(splitDir) ?? Path.GetDirectoryName(Path.GetFullPath(path))!;
                splitResult = DatasetSplitter.Split(report.Data, fraction, r.GetValue(seed),
                    Path.Combine(dir, stem + ".train.jsonl"), Path.Combine(dir, stem + ".val.jsonl"));
            }
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new ValidateJson(report.Valid, report.Errors, report.Warnings, report.Stats, splitResult is null ? null
                    : new SplitJson(new SplitPartJson(splitResult.TrainPath, splitResult.TrainExamples), new SplitPartJson(splitResult.ValidationPath, splitResult.ValidationExamples))));
            }
            else Print(Cli.Out(r), path, report, splitResult);
            return Task.FromResult(report.Valid ? 0 : 1);
        });
        return cmd;
    }

    private static void Print(IAnsiConsole console, string path, ValidationReport report, SplitResult? split)
    {
        var s = report.Stats;
        static string N(long? v) => v?.ToString("N0", CultureInfo.InvariantCulture) ?? "–";
        static string L(LengthStats? l) => l is null ? "–" : string.Create(CultureInfo.InvariantCulture, $"{l.Min} / {l.Median:0.#} / {l.P95} / {l.Max}");
        var table = new Table().Border(TableBorder.Rounded).AddColumn("statistic").AddColumn(new TableColumn("value").RightAligned());
        table.Title = new TableTitle(Markup.Escape(path));
        table.AddRow("format", s.Format);
        table.AddRow("examples (valid)", N(s.Examples));
        table.AddRow("invalid lines", s.InvalidLines > 0 ? $"[red]{s.InvalidLines}[/]" : "0");
        table.AddRow("messages system / user / assistant", $"{s.Roles.System} / {s.Roles.User} / {s.Roles.Assistant}");
        if (s.UntrainedAssistantMessages > 0) table.AddRow("assistant messages with weight 0", N(s.UntrainedAssistantMessages));
        table.AddRow("duplicates", s.Duplicates > 0 ? $"[yellow]{s.Duplicates}[/]" : "0");
        if (s.ConflictingAnswers > 0) table.AddRow("same prompt, different answer", $"[yellow]{s.ConflictingAnswers}[/]");
        table.AddRow("characters per example min / median / p95 / max", L(s.CharactersPerExample));
        if (s.Tokenized)
        {
            table.AddRow("tokens per example min / median / p95 / max", L(s.TokensPerExample));
            table.AddRow($"truncated at --max-length {s.MaxLength}", s.Truncated > 0 ? $"[yellow]{s.Truncated}[/]" : "0");
            table.AddRow("tokens per epoch (after truncation)", N(s.TotalTokens));
            table.AddRow("target (assistant) tokens per epoch", N(s.TargetTokens));
            table.AddRow($"training tokens × {s.Epochs} epochs", N(s.TrainingTokens));
        }
        console.Write(table);
        if (s.Note is not null) console.MarkupLine($"[grey]{Markup.Escape(s.Note)}[/]");
        List("error", "red", report.Errors);
        List("warning", "yellow", report.Warnings);
        if (split is not null)
            console.MarkupLine($"split: [green]{Markup.Escape(split.TrainPath)}[/] ({split.TrainExamples} examples), [green]{Markup.Escape(split.ValidationPath)}[/] ({split.ValidationExamples} examples)");
        console.MarkupLine(report.Valid
            ? "[green]valid[/]" + (report.Warnings.Count > 0 ? $" ({report.Warnings.Count} warnings)" : "")
            : $"[red]invalid[/]: {report.Errors.Count} errors on {s.InvalidLines} lines");

        void List(string kind, string colour, IReadOnlyList<DatasetIssue> issues)
        {
            foreach (var issue in issues.Take(MaxListed))
                console.MarkupLine($"[{colour}]{kind}[/] {Markup.Escape(issue.ToString())}");
            if (issues.Count > MaxListed) console.MarkupLine($"[{colour}]… {issues.Count - MaxListed} more {kind}s[/] (all of them with --json)");
        }
    }
}
