using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OpenBook.Runtime;
using OpenBook.Storage;

namespace OpenBook.Server;

/// <summary>
/// Uploaded documents are ingested one job at a time in the background, with the semantics of <c>openbook ingest</c>
/// (unchanged files skipped, changed ones replaced atomically, corrupt ones reported while the rest go on). A job is
/// recorded only once its files are on disk, and the files wait in <c>uploads/incoming/JOB</c> until the job moves
/// them to <c>uploads/COLLECTION/</c> (their stable path, so a re-upload updates the document); a server killed at
/// any point re-runs its unfinished jobs at start, and what was committed is skipped as unchanged.
/// </summary>
internal sealed partial class IngestQueue(BookSession session, IngestJobStore jobs, ILogger<IngestQueue> log) : IAsyncDisposable
{
    /// <summary>Most files in one upload.</summary>
    public const int MaxFiles = 200;

    private readonly Channel<string> _queue = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private Task? _worker;

    public string UploadRoot => Path.Combine(session.Book.Directory, "uploads");

    /// <summary>Starts the worker and queues the jobs a previous run left unfinished.</summary>
    public void Start()
    {
        foreach (var job in jobs.Unfinished())
        {
            log.LogInformation("Resuming ingestion job {Job} ({Status}, {Files} files)", job.Id, job.Status, job.Files.Count);
            _queue.Writer.TryWrite(job.Id);
        }
        _worker = Task.Run(() => RunAsync(_stop.Token));
    }

    /// <summary>Whether <paramref name="name"/> can be a collection (and so a directory) name.</summary>
    public static bool ValidCollection(string name) => CollectionName().IsMatch(name);

    /// <summary>
    /// A safe file name for an uploaded file: its last path segment, without control characters; null when nothing is left.
    /// </summary>
    public static string? SafeFileName(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return null;
        var last = name.Replace('\\', '/').Split('/').Last().Trim();
        last = new string(last.Where(c => !char.IsControl(c)).ToArray());
        return last is "" or "." or ".." || last.Length > 200 ? null : last;
    }

    /// <summary>Creates a job for files already saved under <paramref name="incoming"/> and queues it.</summary>
    public IngestJobRecord Enqueue(long owner, string id, string collection, IReadOnlyList<string> tags, IReadOnlyList<string> acl, string incoming, IReadOnlyList<string> files)
    {
        var job = jobs.Create(owner, collection, tags, acl, incoming, files, id);
        _queue.Writer.TryWrite(job.Id);
        return job;
    }

    private async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var id in _queue.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                if (jobs.Get(id) is not { } job || job.Status is "done" or "failed") continue;
                await RunJobAsync(job, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    private async Task RunJobAsync(IngestJobRecord job, CancellationToken ct)
    {
        jobs.SetStatus(job.Id, "running");
        log.LogInformation("Ingestion job {Job}: {Files} files into {Collection}", job.Id, job.Files.Count, job.Collection);
        try
        {
            var target = Path.Combine(UploadRoot, job.Collection);
            Directory.CreateDirectory(target);
            var paths = new List<string>();
            foreach (var name in job.Files)
            {
                var from = Path.Combine(job.Directory, name);
                var to = Path.Combine(target, name);
                if (File.Exists(from)) File.Move(from, to, overwrite: true);
                if (File.Exists(to)) paths.Add(to);
            }
            var report = await session.Book.IngestAsync(paths, new IngestOptions
            {
                Collection = job.Collection, Tags = job.Tags.Count > 0 ? job.Tags : null, Acl = job.Acl.Count > 0 ? job.Acl : null, Embed = session.Embeddings is not null, Parallelism = 1,
            }, null, ct).ConfigureAwait(false);
            session.Book.SaveIndexes();
            var json = JsonSerializer.Serialize(new JobReportJson(report.Files, report.Added, report.Updated, report.Unchanged, report.Chunks, report.Bytes,
                (long)report.Elapsed.TotalMilliseconds, [.. report.Failed.Select(JobFile)], [.. report.Skipped.Select(JobFile)]), JsonSerializerOptions.Web);
            var ok = report.AnythingIngested || report.Failed.Count == 0 && report.Skipped.Count == 0;
            jobs.SetStatus(job.Id, ok ? "done" : "failed", json, ok ? null : "nothing could be ingested: " + string.Join("; ", report.Failed.Concat(report.Skipped).Select(f => $"{Path.GetFileName(f.Path)}: {f.Reason}")));
            log.LogInformation("Ingestion job {Job} {Status}: {Added} added, {Updated} updated, {Unchanged} unchanged, {Failed} failed",
                job.Id, ok ? "done" : "failed", report.Added, report.Updated, report.Unchanged, report.Failed.Count);
            TryDelete(job.Directory);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            log.LogInformation("Ingestion job {Job} interrupted by shutdown; it resumes at the next start", job.Id);
        }
        catch (Exception e) when (e is OpenBookException or IOException or UnauthorizedAccessException)
        {
            jobs.SetStatus(job.Id, "failed", error: e.Message);
            log.LogWarning("Ingestion job {Job} failed: {Error}", job.Id, e.Message);
        }
    }

    private static JobFileJson JobFile(IngestFailure f) => new(Path.GetFileName(f.Path), f.Reason);

    private static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private int _disposed;

    /// <summary>Stops the worker (an interrupted job stays "running" and resumes at the next start). Idempotent: the host disposes it too.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _queue.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_worker is not null) await _worker.ConfigureAwait(false);
        _stop.Dispose();
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex CollectionName();
}
