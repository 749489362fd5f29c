using System.Diagnostics;
using OpenBook.Ingestion;


using OpenBook.Storage;

namespace OpenBook;

/// <summary>Options for <see cref="Book.IngestAsync"/>.</summary>
public sealed record IngestOptions
{
    /// <summary>Collection the documents go to.</summary>
    public string Collection { get; init; } = "default";
    /// <summary>
    /// Tags of every ingested document, replacing earlier tags of those documents. Null (the default): documents already
    /// in the store keep theirs, new ones (also new records of a known file) take those of their file's other documents.
    /// </summary>
    public IReadOnlyList<string>? Tags { get; init; }
    /// <summary>
    /// ACL groups of every ingested document. Null (the default): documents already in the store keep their ACL, and new
    /// records of a file already in the store take the ACL of its other documents, so a restricted file's new rows stay
    /// restricted; other new documents are visible to everyone. An empty list makes the documents public on purpose.
    /// Changes are counted in <see cref="IngestReport.AclChanged"/>. Blank group names are an error.
    /// </summary>
    public IReadOnlyList<string>? Acl { get; init; }
    /// <summary>
    /// Remove documents of the collection whose source files no longer exist — those <see cref="Scope"/> may modify
    /// (<see cref="Book.CanModify"/>); the others are kept and counted in <see cref="IngestReport.PruneDenied"/>.
    /// </summary>
    public bool Prune { get; init; }
    /// <summary>The caller's access scope for destructive changes (<see cref="Prune"/>). Default: public documents only, which may remove nothing.</summary>
    public AccessScope Scope { get; init; } = AccessScope.Public;
    /// <summary>Which files to take from directories.</summary>
    public WalkOptions Walk { get; init; } = new();
    /// <summary>Loader settings (JSON text field, CSV mode…).</summary>
    public LoaderOptions Loaders { get; init; } = LoaderOptions.Default;
    /// <summary>Chunk size and overlap.</summary>
    public ChunkingOptions Chunking { get; init; } = ChunkingOptions.Default;
    /// <summary>After ingesting, give every chunk of the collection a vector with the book's embedding model (<see cref="BookOptions.Embeddings"/>).</summary>
    public bool Embed { get; init; }
    /// <summary>Progress of the embedding step.</summary>
    public IProgress<EmbedProgress>? EmbedProgress { get; init; }
    /// <summary>Files loaded and chunked in parallel (writes stay sequential, one transaction per document).</summary>
    public int Parallelism { get; init; } = Environment.ProcessorCount;
}

/// <summary>Progress of an ingest run.</summary>
public readonly record struct IngestProgress(int FilesDone, int FilesTotal, long BytesDone, long BytesTotal, int Chunks, string? CurrentFile);

/// <summary>A file that could not be ingested.</summary>
public sealed record IngestFailure(string Path, string Reason);

/// <summary>What an ingest run did.</summary>
public sealed record IngestReport
{
    /// <summary>Files examined (loadable ones).</summary>
    public int Files { get; init; }
    /// <summary>Documents added.</summary>
    public int Added { get; init; }
    /// <summary>Documents replaced because their file changed.</summary>
    public int Updated { get; init; }
    /// <summary>Files skipped because their content hash was unchanged.</summary>
    public int Unchanged { get; init; }
    /// <summary>Documents removed (changed multi-record files, or --prune).</summary>
    public int Removed { get; init; }
    /// <summary>Chunks written.</summary>
    public int Chunks { get; init; }
    /// <summary>Bytes of source files read.</summary>
    public long Bytes { get; init; }
    /// <summary>Wall time.</summary>
    public TimeSpan Elapsed { get; init; }
    /// <summary>Files of unknown type, with the reason.</summary>
    public IReadOnlyList<IngestFailure> Skipped { get; init; } = [];
    /// <summary>Files that failed to load (corrupt, encrypted…), with the reason.</summary>
    public IReadOnlyList<IngestFailure> Failed { get; init; } = [];
    /// <summary>
    /// Notes on files that were ingested with a problem: invalid UTF-8 replaced, a document without text, a bad
    /// record skipped (with its line).
    /// </summary>
    public IReadOnlyList<IngestFailure> Notes { get; init; } = [];
    /// <summary>Documents already in the store whose ACL this run changed (an explicit <see cref="IngestOptions.Acl"/> that differs).</summary>
    public int AclChanged { get; init; }
    /// <summary>Documents whose files are gone that <see cref="IngestOptions.Prune"/> kept because the scope may not remove them.</summary>
    public int PruneDenied { get; init; }
    /// <summary>Records of multi-record files (JSON lines, CSV rows) skipped because they were bad (each one is in <see cref="Notes"/>).</summary>
    public int SkippedRecords { get; init; }
    /// <summary>Time spent reading, parsing and chunking files, summed over worker threads.</summary>
    public TimeSpan LoadTime { get; init; }
    /// <summary>Time spent writing documents and chunks to the store.</summary>
    public TimeSpan StoreTime { get; init; }
    /// <summary>Time spent updating and saving the BM25 index.</summary>
    public TimeSpan IndexTime { get; init; }
    /// <summary>The embedding step, when <see cref="IngestOptions.Embed"/> was set.</summary>
    public EmbedReport? Embedding { get; init; }
    /// <summary>True when at least one file is in the store after the run (added, updated or unchanged).</summary>
    public bool AnythingIngested => Added + Updated + Unchanged > 0;
}

public sealed partial class Book
{
    /// <summary>
    /// Ingests files and directories: loads, chunks and stores each document in one transaction; unchanged files
    /// (same SHA-256) are skipped; changed files are replaced; with <see cref="IngestOptions.Prune"/> documents whose
    /// files are gone are removed. Corrupt files are reported in <see cref="IngestReport.Failed"/> and the run goes on.
    /// </summary>
    public async Task<IngestReport> IngestAsync(IEnumerable<string> paths, IngestOptions? options = null, IProgress<IngestProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new IngestOptions();
        options.Chunking.Validate();
        options.Loaders.Limits.Validate();
        ValidateGroups(options.Acl, "ACL");
        ValidateGroups(options.Tags, "tag");
        if (options.Embed) CheckEmbeddingModel(options.Collection);
        IngestReport report;
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            report = await Task.Run(() => Ingest(paths.ToList(), options, progress, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeGate.Release();
        }
        if (!options.Embed || !report.AnythingIngested) return report;
        return report with { Embedding = await EmbedAsync(options.Collection, options.EmbedProgress, cancellationToken).ConfigureAwait(false) };
    }

    private static void ValidateGroups(IReadOnlyList<string>? names, string what)
    {
        if (names is null) return;
        foreach (var n in names)
            if (string.IsNullOrWhiteSpace(n) || n.Trim() != n || n.Contains(','))
                throw new OpenBookException($"invalid {what} name '{n}': names must be non-blank, without surrounding spaces or commas.");
    }

    private sealed record Prepared(SourceFile File, long Size, string Hash, DateTimeOffset Modified, IReadOnlyList<(LoadedDocument Doc, IReadOnlyList<Chunk> Chunks)>? Docs,
        string? Error, bool Unchanged)
    {
        /// <summary>Not loaded on purpose (binary content): reported with the skipped files.</summary>
        public string? Skip { get; init; }
        /// <summary>Problems that did not stop the file (see <see cref="IngestReport.Notes"/>).</summary>
        public IReadOnlyList<string> Notes { get; init; } = [];
        public int SkippedRecords { get; init; }
    }

    private IngestReport Ingest(List<string> paths, IngestOptions options, IProgress<IngestProgress>? progress, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var registry = LoaderRegistry.CreateDefault();
        var chunker = new Chunker(options.Chunking);
        var all = new SourceWalker(registry, options.Walk).Walk(paths).ToList();
        var files = all.Where(f => f.IsLoadable).ToList();
        var skipped = all.Where(f => !f.IsLoadable).Select(f => new IngestFailure(f.SourcePath, f.SkipReason ?? "unsupported")).ToList();
        var sizes = files.Select(f => new FileInfo(f.FullPath).Length).ToList();
        long bytesTotal = sizes.Sum(), bytesDone = 0;
        int added = 0, updated = 0, unchanged = 0, removed = 0, chunksWritten = 0, done = 0, aclChanged = 0, pruneDenied = 0;
        var failed = new List<IngestFailure>();
        var notes = new List<IngestFailure>();
        int skippedRecords = 0;
        // New files of a collection whose documents have ACLs become public when no ACL is given: say so per file.
        var restrictedCollection = options.Acl is null && Store.ListDocuments(options.Collection).Any(d => d.Acl.Count > 0);
        progress?.Report(new IngestProgress(0, files.Count, 0, bytesTotal, 0, null));

        long loadTicks = 0;
        var storeWatch = new Stopwatch();
        Prepared Prepare(SourceFile f)
        {
            var started = Stopwatch.GetTimestamp();
            try { return PrepareCore(f); }
            finally { Interlocked.Add(ref loadTicks, Stopwatch.GetTimestamp() - started); }
        }

        Prepared PrepareCore(SourceFile f)
        {
            ct.ThrowIfCancellationRequested();
            byte[] bytes;
            FileInfo info;
            try
            {
                info = new FileInfo(f.FullPath);
                bytes = UntrustedFile.ReadAllBytes(f.FullPath, f.SourcePath, options.Loaders.Limits);
            }
            catch (DocumentLoadException e)
            {
                return new Prepared(f, 0, "", default, null, e.Reason, false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return new Prepared(f, 0, "", default, null, $"cannot read file ({e.GetType().Name}: {e.Message})", false);
            }
            var hash = DocumentStore.Hash(bytes);
            var modified = new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero);
            var existing = Store.DocumentsOfFile(options.Collection, f.FullPath);
            if (existing.Count > 0 && existing.All(d => d.ContentHash == hash))
                return new Prepared(f, bytes.Length, hash, modified, null, null, true);
            var notes = new List<string>();
            if (f.Loader is not IBinaryDocumentLoader)
            {
                var text = TextContent.Inspect(bytes, options.Loaders.Limits.MaxInvalidUtf8Share);
                if (text.IsBinary) return new Prepared(f, bytes.Length, hash, modified, null, null, false) { Skip = text.BinaryReason };
                if (text.InvalidUtf8Bytes > 0)
                    notes.Add($"{text.InvalidUtf8Bytes} invalid UTF-8 byte(s), the first at offset {text.FirstInvalidOffset}; replaced with U+FFFD");
            }
            int skippedRecords = 0;
            var loaderOptions = options.Loaders with
            {
                RecordSkipped = e =>
                {
                    skippedRecords++;
                    notes.Add($"skipped bad record: {e.Reason}");
                },
                Noted = notes.Add,
            };
            try
            {
                var docs = f.Loader!.Load(f.SourcePath, new MemoryStream(bytes, writable: false), loaderOptions)
                    .Select(d => (d, chunker.Split(d)))
                    .ToList();
                foreach (var (doc, chunks) in docs)
                    if (chunks.Count == 0)
                        notes.Add(doc.RecordKey is null ? "no text found in the document" : $"{doc.RecordKey}: no text found in the record");
                if (docs.Count == 0 && skippedRecords == 0) notes.Add("no text found in the document");
                return new Prepared(f, bytes.Length, hash, modified, docs, null, false) { Notes = notes, SkippedRecords = skippedRecords };
            }
            catch (DocumentLoadException e)
            {
                return new Prepared(f, bytes.Length, hash, modified, null, e.Reason, false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A loader bug, a library failure on odd input, or memory exhausted by this one file: report it, keep going.
                return new Prepared(f, bytes.Length, hash, modified, null, $"{e.GetType().Name}: {e.Message}", false);
            }
        }

        var prepared = files
            .AsParallel().AsOrdered()
            .WithDegreeOfParallelism(Math.Max(1, options.Parallelism))
            .WithMergeOptions(ParallelMergeOptions.NotBuffered)
            .WithCancellation(ct)
            .Select(Prepare);

        foreach (var p in prepared)
        {
            storeWatch.Start();
            var existing = Store.DocumentsOfFile(options.Collection, p.File.FullPath);
            foreach (var note in p.Notes) notes.Add(new IngestFailure(p.File.SourcePath, note));
            skippedRecords += p.SkippedRecords;
            if (p.Skip is not null)
            {
                skipped.Add(new IngestFailure(p.File.SourcePath, p.Skip));
            }
            else if (p.Error is not null)
            {
                failed.Add(new IngestFailure(p.File.SourcePath, p.Error));
            }
            else if (p.Unchanged)
            {
                foreach (var d in existing)
                {
                    var (tags, acl) = MetadataFor(d.SourceKey, existing, options);
                    if (!d.Tags.SequenceEqual(tags) || !d.Acl.SequenceEqual(acl))
                        Store.UpdateMetadata(d.Id, tags, acl);
                    if (!d.Acl.SequenceEqual(acl)) aclChanged++;
                    Store.RecordUnchanged(options.Collection, d.SourceKey, p.Hash);
                }
                unchanged++;
            }
            else
            {
                var keys = new HashSet<string>(StringComparer.Ordinal);
                foreach (var (doc, chunks) in p.Docs!)
                {
                    ct.ThrowIfCancellationRequested();
                    var key = doc.RecordKey is null ? p.File.FullPath : $"{p.File.FullPath}#{doc.RecordKey}";
                    var display = doc.RecordKey is null ? p.File.SourcePath : $"{p.File.SourcePath}#{doc.RecordKey}";
                    keys.Add(key);
                    var before = existing.FirstOrDefault(e => e.SourceKey == key);
                    var (tags, acl) = MetadataFor(key, existing, options);
                    if (before is not null && !before.Acl.SequenceEqual(acl)) aclChanged++;
                    Store.ReplaceDocument(
                        new DocumentWrite(options.Collection, key, p.File.FullPath, display, doc.Title, p.Hash, p.Size, p.Modified, tags, acl),
                        chunks.Select(c => new ChunkWrite(c.Index, c.Text, c.Page, c.Headings, c.CharStart, c.CharEnd, c.TokenCount)).ToList());
                    if (before is not null) updated++; else added++;

                    chunksWritten += chunks.Count;
                }
                if (existing.Count == 0 && restrictedCollection && keys.Count > 0)
                    notes.Add(new IngestFailure(p.File.SourcePath, $"new file is visible to everyone (no ACL given) while other documents of collection '{options.Collection}' have an ACL"));
                foreach (var stale in existing.Where(e => !keys.Contains(e.SourceKey)))
                    if (Store.RemoveDocument(stale.Id)) removed++;
            }
            storeWatch.Stop();
            bytesDone += p.Size;
            done++;
            progress?.Report(new IngestProgress(done, files.Count, bytesDone, bytesTotal, chunksWritten, p.File.SourcePath));
        }

        if (options.Prune)
            foreach (var d in Store.ListDocuments(options.Collection).Where(d => !File.Exists(d.Path)))
            {
                if (!CanModify(d, options.Scope)) pruneDenied++;
                else if (Store.RemoveDocument(d.Id)) removed++;
            }

        var indexWatch = Stopwatch.StartNew();
        LexicalIndex();
        SaveIndexes();
        indexWatch.Stop();
        return new IngestReport
        {
            LoadTime = Stopwatch.GetElapsedTime(0, loadTicks), StoreTime = storeWatch.Elapsed, IndexTime = indexWatch.Elapsed,
            Files = files.Count, Added = added, Updated = updated, Unchanged = unchanged, Removed = removed, Chunks = chunksWritten, Bytes = bytesDone,
            Elapsed = sw.Elapsed, Skipped = skipped, Failed = failed, Notes = notes, SkippedRecords = skippedRecords,
            AclChanged = aclChanged, PruneDenied = pruneDenied,
        };
    }

    /// <summary>
    /// Tags and ACL a document of a file gets: the explicit options, else what the document had, else what the file's
    /// other documents have (new records of a restricted file stay restricted), else none.
    /// </summary>
    private static (IReadOnlyList<string> Tags, IReadOnlyList<string> Acl) MetadataFor(string key, IReadOnlyList<DocumentRecord> existing, IngestOptions options)
    {
        var same = existing.FirstOrDefault(e => e.SourceKey == key) ?? existing.FirstOrDefault();
        return (options.Tags ?? same?.Tags ?? [], options.Acl ?? same?.Acl ?? []);
    }
}
