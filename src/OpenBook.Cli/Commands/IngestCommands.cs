using System.CommandLine;
using System.Globalization;
using OpenBook.Ingestion;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook ingest</c>: files and folders into the store, with progress and a failure summary.</summary>
internal static class IngestCommands
{
    public static Command Ingest()
    {
        var paths = new Argument<string[]>("paths") { Description = "Files and directories (walked recursively)", Arity = ArgumentArity.OneOrMore };
        var collection = new Option<string>("--collection", "-c") { Description = "Collection to ingest into", DefaultValueFactory = _ => "default" };
        var tags = new Option<string[]>("--tags") { Description = "Tags for every ingested document (comma-separated)", AllowMultipleArgumentsPerToken = true };
        var acl = new Option<string[]>("--acl") { Description = "ACL groups allowed to see these documents (comma-separated). Without it, documents already in the store keep their ACL and new files are visible to everyone", AllowMultipleArgumentsPerToken = true };
        var aclClear = new Option<bool>("--acl-clear") { Description = "Make these documents visible to everyone (removes their ACL)" };
        var prune = new Option<bool>("--prune") { Description = "Remove documents of the collection whose files are gone (those --as-groups may modify, or all with --all-access)" };
        var include = new Option<string[]>("--include") { Description = "Only files matching these globs (e.g. \"**/*.md\")", AllowMultipleArgumentsPerToken = true };
        var exclude = new Option<string[]>("--exclude") { Description = "Skip files matching these globs (e.g. \"drafts/**\")", AllowMultipleArgumentsPerToken = true };
        var chunkTokens = new Option<int>("--chunk-tokens") { Description = "Chunk size in tokens", DefaultValueFactory = _ => ChunkingOptions.Default.ChunkTokens };
        var overlap = new Option<int>("--overlap") { Description = "Chunk overlap in tokens", DefaultValueFactory = _ => ChunkingOptions.Default.OverlapTokens };
        var textField = new Option<string>("--json-text-field") { Description = "JSON/JSONL field holding the text", DefaultValueFactory = _ => "text" };
        var idField = new Option<string?>("--json-id-field") { Description = "JSON/JSONL field holding a record id" };
        var followSymlinks = new Option<bool>("--follow-symlinks") { Description = "Also read files whose symbolic link points outside the ingested folders" };
        var maxFileMb = new Option<long>("--max-file-mb") { Description = "Largest file read, in MiB (larger ones are skipped with a note)", DefaultValueFactory = _ => InputLimits.Default.MaxFileBytes >> 20 };
        var maxArchiveMb = new Option<long>("--max-archive-mb") { Description = "Most MiB one archive (.docx) may expand to", DefaultValueFactory = _ => InputLimits.Default.MaxArchiveBytes >> 20 };
        var maxArchiveEntries = new Option<int>("--max-archive-entries") { Description = "Most entries in one archive (.docx)", DefaultValueFactory = _ => InputLimits.Default.MaxArchiveEntries };
        var maxNesting = new Option<int>("--max-nesting") { Description = "Deepest HTML element / Markdown list or quote nesting read", DefaultValueFactory = _ => InputLimits.Default.MaxNestingDepth };
        var csvMode = new Option<CsvMode>("--csv-mode") { Description = "CSV: one document per row or per file", DefaultValueFactory = _ => CsvMode.PerRow };

        var cmd = new Command("ingest", "Ingest files and directories (txt, md, html, pdf, docx, json/jsonl, csv) into the store")
        {
            paths, collection, tags, acl, aclClear, prune, CoreCommands.AsGroups, CoreCommands.AllAccess, include, exclude, chunkTokens, overlap, textField, idField, csvMode, followSymlinks, EmbeddingCli.Embed, EmbeddingCli.NoEmbed,
            EmbeddingCli.VectorStorage, maxFileMb, maxArchiveMb, maxArchiveEntries, maxNesting,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var options = new IngestOptions
            {
                Collection = r.GetValue(collection)!,
                Tags = CoreCommands.Split(r.GetValue(tags)),
                Acl = AclOption(r.GetValue(acl), r.GetValue(aclClear)),
                Prune = r.GetValue(prune),
                Scope = CoreCommands.Scope(r),
                Walk = new WalkOptions { Include = CoreCommands.Split(r.GetValue(include)) ?? [], Exclude = CoreCommands.Split(r.GetValue(exclude)) ?? [], FollowSymlinks = r.GetValue(followSymlinks) },
                Chunking = new ChunkingOptions { ChunkTokens = r.GetValue(chunkTokens), OverlapTokens = r.GetValue(overlap) },
                Loaders = new LoaderOptions
                {
                    Json = new JsonLoaderOptions { TextField = r.GetValue(textField)!, IdField = r.GetValue(idField) },
                    Csv = new CsvLoaderOptions { Mode = r.GetValue(csvMode) },
                    Limits = new InputLimits
                    {
                        MaxFileBytes = Mib(r.GetValue(maxFileMb), "--max-file-mb"), MaxArchiveBytes = Mib(r.GetValue(maxArchiveMb), "--max-archive-mb"),
                        MaxArchiveEntries = Positive(r.GetValue(maxArchiveEntries), "--max-archive-entries"), MaxNestingDepth = Positive(r.GetValue(maxNesting), "--max-nesting"),
                    },
                },
            };
            var spec = EmbeddingCli.IngestSpec(r, r.GetValue(Cli.Store)!, options.Collection);
            var embed = spec is not null;
            await using var opened = await EmbeddingCli.OpenAsync(r, ct, embed ? SearchMode.Vector : SearchMode.Lexical, mustExist: false, embedSpec: spec);
            var report = await RunWithProgress(r, opened.Book, r.GetValue(paths)!, options with { Embed = embed }, ct);
            Report(r, report);
            return report.AnythingIngested ? 0 : 1;
        });
        return cmd;
    }

    private static int Positive(int value, string flag) => value > 0 ? value : throw new OpenBookException($"{flag}: {value} is not a positive number.");

    private static long Mib(long value, string flag) =>
        value is > 0 and <= 1L << 20 ? value << 20 : throw new OpenBookException($"{flag}: {value} is not between 1 and 1048576 (MiB).");

    /// <summary>
    /// <c>--acl</c> / <c>--acl-clear</c>: null keeps each document's ACL, an empty list clears it. An <c>--acl</c> that
    /// names no group (<c>--acl ""</c>, <c>--acl ,</c>) is an error, never a silent "public".
    /// </summary>
    public static IReadOnlyList<string>? AclOption(string[]? values, bool clear)
    {
        var groups = CoreCommands.Split(values);
        if (values is { Length: > 0 } && groups is null)
            throw new OpenBookException("--acl: no group given (to make documents visible to everyone, use --acl-clear).");
        if (clear && groups is not null) throw new OpenBookException("--acl and --acl-clear: give one of them.");
        return clear ? [] : groups;
    }

    /// <summary>Runs an ingest, drawing files/MB/chunks-per-second bars on an interactive terminal.</summary>
    public static async Task<IngestReport> RunWithProgress(ParseResult r, Book book, IReadOnlyList<string> paths, IngestOptions options, CancellationToken ct)
    {
        if (!Cli.ShowProgress(r)) return await book.IngestAsync(paths, options, null, ct);
        IngestReport? report = null;
        await AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var files = ctx.AddTask("files", maxValue: 1);
                var bytes = ctx.AddTask("MB", maxValue: 1);
                var started = DateTime.UtcNow;
                var progress = new SyncProgress<IngestProgress>(p =>
                {
                    files.MaxValue = Math.Max(1, p.FilesTotal);
                    files.Value = p.FilesDone;
                    files.Description = $"files {p.FilesDone}/{p.FilesTotal}";
                    bytes.MaxValue = Math.Max(1, p.BytesTotal);
                    bytes.Value = p.BytesDone;
                    var seconds = Math.Max(1e-3, (DateTime.UtcNow - started).TotalSeconds);
                    bytes.Description = $"{p.BytesDone / 1e6:0.0}/{p.BytesTotal / 1e6:0.0} MB · {p.Chunks} chunks ({p.Chunks / seconds:0} chunks/s)";
                });
                ProgressTask? embedTask = null;
                var embedProgress = new SyncProgress<EmbedProgress>(p =>
                {
                    embedTask ??= ctx.AddTask("embedding", maxValue: 1);
                    embedTask.MaxValue = Math.Max(1, p.Total);
                    embedTask.Value = p.Done;
                    var seconds = Math.Max(1e-3, (DateTime.UtcNow - started).TotalSeconds);
                    embedTask.Description = $"embedding {p.Done}/{p.Total} chunks";
                });
                report = await book.IngestAsync(paths, options with { EmbedProgress = embedProgress }, progress, ct);
                files.Value = files.MaxValue;
                bytes.Value = bytes.MaxValue;
            });
        return report!;
    }

    /// <summary>Prints the summary of an ingest (JSON object with --json).</summary>
    public static void Report(ParseResult r, IngestReport report)
    {
        var seconds = Math.Max(1e-6, report.Elapsed.TotalSeconds);
        if (r.GetValue(Cli.Json))
        {
            Cli.WriteJson(ToJson(report));
            return;
        }
        var console = Cli.Out(r);
        console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"[bold]{report.Files}[/] files: [green]{report.Added} added[/], {report.Updated} updated, {report.Unchanged} unchanged, {report.Removed} removed; " +
            $"{report.Chunks} chunks written; {report.Bytes / 1e6:0.00} MB in {seconds:0.00} s ({report.Bytes / 1e6 / seconds:0.0} MB/s, {report.Chunks / seconds:0} chunks/s)"));
        if (report.Embedding is { } e)
            console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                $"embeddings: {e.Chunks} chunks needed vectors, {e.Computed} computed, {e.CacheHits} from the cache, {e.Elapsed.TotalSeconds:0.00} s ({(e.Computed / Math.Max(1e-6, e.Elapsed.TotalSeconds)):0} chunks/s)"));
        foreach (var s in report.Skipped)
            console.MarkupLine($"[grey]skipped[/] {Markup.Escape(s.Path)}: {Markup.Escape(s.Reason)}");
        foreach (var n in report.Notes)
            console.MarkupLine($"[yellow]note[/] {Markup.Escape(n.Path)}: {Markup.Escape(n.Reason)}");
        if (report.AclChanged > 0)
            console.MarkupLine($"[yellow]acl changed: {report.AclChanged} document(s)[/]");
        if (report.PruneDenied > 0)
            console.MarkupLine($"[yellow]{report.PruneDenied} document(s) whose files are gone were kept: removing them needs one of their groups (--as-groups) or --all-access[/]");
        if (report.SkippedRecords > 0)
            console.MarkupLine($"[yellow]{report.SkippedRecords} bad record(s) skipped; the rest of those files was ingested.[/]");
        foreach (var f in report.Failed)
            console.MarkupLine($"[red]failed[/] {Markup.Escape(f.Path)}: {Markup.Escape(f.Reason)}");
        if (report.Failed.Count > 0)
            console.MarkupLine($"[yellow]{report.Failed.Count} file(s) could not be ingested; the others were.[/]");
        if (!report.AnythingIngested)
            console.MarkupLine("[red]Nothing was ingested.[/]");
    }

    public static IngestJson ToJson(IngestReport report)
    {
        var seconds = Math.Max(1e-6, report.Elapsed.TotalSeconds);
        return new IngestJson(report.Files, report.Added, report.Updated, report.Unchanged, report.Removed, report.Chunks, report.Bytes, Math.Round(seconds, 3),
            Math.Round(report.Bytes / 1e6 / seconds, 3), Math.Round(report.Chunks / seconds, 1),
            report.Skipped.Select(s => new FileNoteJson(s.Path, s.Reason)).ToList(), report.Failed.Select(f => new FileNoteJson(f.Path, f.Reason)).ToList(),
            report.Notes.Select(n => new FileNoteJson(n.Path, n.Reason)).ToList(), report.SkippedRecords, report.AclChanged, report.PruneDenied,
            report.Embedding is { } e ? new EmbeddingJson(e.Chunks, e.Computed, e.CacheHits, Math.Round(e.Elapsed.TotalSeconds, 3)) : null);
    }

    public static Command Reembed()
    {
        var collection = new Option<string>("--collection", "-c") { Description = "Collection to switch", Required = true };
        var cmd = new Command("reembed", "Switch a collection to another embedding model and compute its vectors (cached vectors of that model are reused)")
        {
            collection, EmbeddingCli.Embed, EmbeddingCli.VectorStorage,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            if (r.GetValue(EmbeddingCli.Embed) is null) throw new OpenBookException("reembed needs --embed MODEL.");
            await using var opened = await EmbeddingCli.OpenAsync(r, ct, SearchMode.Vector);
            var report = await opened.Book.ReembedAsync(r.GetValue(collection)!, null, ct);
            if (r.GetValue(Cli.Json))
                Cli.WriteJson(new ReembedJson(r.GetValue(collection)!, r.GetValue(EmbeddingCli.Embed)!, report.Chunks, report.Computed, report.CacheHits, Math.Round(report.Elapsed.TotalSeconds, 3)));
            else
                Cli.Out(r).MarkupLine($"Collection [bold]{Markup.Escape(r.GetValue(collection)!)}[/] now uses [green]{Markup.Escape(r.GetValue(EmbeddingCli.Embed)!)}[/]: {report.Chunks} chunks, {report.Computed} vectors computed, {report.CacheHits} from the cache.");
            return 0;
        });
        return cmd;
    }
}
