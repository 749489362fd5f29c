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
        var acl = new Option<string[]>("--acl") { Description = "ACL groups allowed to see these documents (comma-separated); default: everyone", AllowMultipleArgumentsPerToken = true };
        var prune = new Option<bool>("--prune") { Description = "Remove documents of the collection whose files are gone" };
        var include = new Option<string[]>("--include") { Description = "Only files matching these globs (e.g. \"**/*.md\")", AllowMultipleArgumentsPerToken = true };
        var exclude = new Option<string[]>("--exclude") { Description = "Skip files matching these globs (e.g. \"drafts/**\")", AllowMultipleArgumentsPerToken = true };
        var chunkTokens = new Option<int>("--chunk-tokens") { Description = "Chunk size in tokens", DefaultValueFactory = _ => ChunkingOptions.Default.ChunkTokens };
        var overlap = new Option<int>("--overlap") { Description = "Chunk overlap in tokens", DefaultValueFactory = _ => ChunkingOptions.Default.OverlapTokens };
        var textField = new Option<string>("--json-text-field") { Description = "JSON/JSONL field holding the text", DefaultValueFactory = _ => "text" };
        var idField = new Option<string?>("--json-id-field") { Description = "JSON/JSONL field holding a record id" };
        var followSymlinks = new Option<bool>("--follow-symlinks") { Description = "Also read files whose symbolic link points outside the ingested folders" };
        var csvMode = new Option<CsvMode>("--csv-mode") { Description = "CSV: one document per row or per file", DefaultValueFactory = _ => CsvMode.PerRow };

        var cmd = new Command("ingest", "Ingest files and directories (txt, md, html, pdf, docx, json/jsonl, csv) into the store")
        {
            paths, collection, tags, acl, prune, include, exclude, chunkTokens, overlap, textField, idField, csvMode, followSymlinks, EmbeddingCli.Embed, EmbeddingCli.NoEmbed, EmbeddingCli.VectorStorage,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var options = new IngestOptions
            {
                Collection = r.GetValue(collection)!,
                Tags = CoreCommands.Split(r.GetValue(tags)) ?? [],
                Acl = CoreCommands.Split(r.GetValue(acl)) ?? [],
                Prune = r.GetValue(prune),
                Walk = new WalkOptions { Include = CoreCommands.Split(r.GetValue(include)) ?? [], Exclude = CoreCommands.Split(r.GetValue(exclude)) ?? [], FollowSymlinks = r.GetValue(followSymlinks) },
                Chunking = new ChunkingOptions { ChunkTokens = r.GetValue(chunkTokens), OverlapTokens = r.GetValue(overlap) },
                Loaders = new LoaderOptions
                {
                    Json = new JsonLoaderOptions { TextField = r.GetValue(textField)!, IdField = r.GetValue(idField) },
                    Csv = new CsvLoaderOptions { Mode = r.GetValue(csvMode) },
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
            report.Notes.Select(n => new FileNoteJson(n.Path, n.Reason)).ToList(), report.SkippedRecords,
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
