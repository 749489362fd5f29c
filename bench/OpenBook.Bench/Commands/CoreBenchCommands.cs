using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using OpenBook.Bench;
using OpenBook.Retrieval;
using Spectre.Console;

namespace OpenBook.Bench.Commands;

using Cli = OpenBook.Cli.Cli;

/// <summary><c>openbook-bench ingest</c> and <c>openbook-bench search</c> on a synthetic corpus scaled to N chunks.</summary>
internal static class CoreBenchCommands
{
    private const int Collections = 10;
    private const int WordsPerDocument = 4000;
    private const double WordsPerChunk = 104; // measured: synthetic words average ~2 approximate tokens at the default 256-token chunks

    private static Option<int> ChunksOption() => new("--chunks") { Description = "Approximate corpus size in chunks", DefaultValueFactory = _ => 100_000 };
    private static Option<bool> QuickOption() => new("--quick") { Description = "Small run (10k chunks, fewer queries) for a fast check" };

    public static Command Ingest()
    {
        var chunks = ChunksOption();
        var quick = QuickOption();
        var cmd = new Command("ingest", "Ingest throughput (MB/s, chunks/s) on a synthetic Markdown corpus") { chunks, quick };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var target = r.GetValue(quick) ? 10_000 : r.GetValue(chunks);
            var root = Path.Combine(Path.GetTempPath(), "openbook-bench", "ingest-" + Guid.NewGuid().ToString("n")[..8]);
            try
            {
                var (files, bytes, genSeconds) = Generate(Path.Combine(root, "docs"), target);
                Cli.Out(r).MarkupLine($"Generated {files} files, {bytes / 1e6:0.0} MB in {genSeconds:0.0} s. Ingesting…");
                await using var book = await Book.OpenAsync(Path.Combine(root, "store"), cancellationToken: ct);
                // One ingest call over the whole folder, as a user would run it.
                var first = await IngestAll(book, Path.Combine(root, "docs"), ct, oneCollection: true);
                var again = await IngestAll(book, Path.Combine(root, "docs"), ct, oneCollection: true);
                var peak = Process.GetCurrentProcess().PeakWorkingSet64;
                var result = new
                {
                    files, bytes, chunks = first.Chunks,
                    seconds = Math.Round(first.Seconds, 2),
                    mbPerSecond = Math.Round(bytes / 1e6 / first.Seconds, 2),
                    chunksPerSecond = Math.Round(first.Chunks / first.Seconds, 0),
                    loadAndChunkCpuSeconds = Math.Round(first.Load, 2), storeSeconds = Math.Round(first.Store, 2), indexSeconds = Math.Round(first.Index, 2),
                    unchangedRescanSeconds = Math.Round(again.Seconds, 2),
                    peakWorkingSetMb = Math.Round(peak / 1e6, 0),
                    cores = Environment.ProcessorCount,
                };
                if (r.GetValue(Cli.Json)) Cli.WriteJson(result);
                else
                {
                    var t = new Table().AddColumns("metric", "value");
                    t.AddRow("corpus", $"{files} files, {bytes / 1e6:0.0} MB, {first.Chunks} chunks");
                    t.AddRow("ingest (load + chunk + SQLite + BM25 + save)", $"{first.Seconds:0.00} s");
                    t.AddRow("  of which: load + chunk (CPU, all threads)", $"{first.Load:0.00} s");
                    t.AddRow("  of which: SQLite writes", $"{first.Store:0.00} s");
                    t.AddRow("  of which: BM25 update + save", $"{first.Index:0.00} s");
                    t.AddRow("throughput", $"{result.mbPerSecond:0.00} MB/s, {result.chunksPerSecond:0} chunks/s");
                    t.AddRow("re-ingest, nothing changed", $"{again.Seconds:0.00} s");
                    t.AddRow("peak working set", $"{result.peakWorkingSetMb:0} MB");
                    t.AddRow("cores", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture));
                    Cli.Out(r).Write(t);
                }
                return 0;
            }
            finally { Cli.TryDeleteDirectory(root); }
        });
        return cmd;
    }

    public static Command Search()
    {
        var chunks = ChunksOption();
        var quick = QuickOption();
        var queries = new Option<int>("--queries") { Description = "Queries to time", DefaultValueFactory = _ => 2000 };
        var k = new Option<int>("-k") { Description = "Results per query", DefaultValueFactory = _ => 10 };
        var cmd = new Command("search", "BM25 query latency (p50/p95/p99) on a synthetic corpus, unfiltered and filtered") { chunks, quick, queries, k };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var target = r.GetValue(quick) ? 10_000 : r.GetValue(chunks);
            var n = r.GetValue(quick) ? 300 : r.GetValue(queries);
            var root = Path.Combine(Path.GetTempPath(), "openbook-bench", $"search-{target}");
            await using var book = await PrepareStore(r, root, target, ct);
            var sw = Stopwatch.StartNew();
            var index = book.LexicalIndex();
            var loadSeconds = sw.Elapsed.TotalSeconds;
            var corpus = new SyntheticCorpus(seed: 7);
            var qs = Enumerable.Range(0, n).Select(_ => corpus.Query()).ToList();
            foreach (var q in qs.Take(50)) await book.SearchAsync(q, r.GetValue(k), cancellationToken: ct); // warm-up
            var plain = await Time(book, qs, new SearchOptions { K = r.GetValue(k) }, ct);
            var filtered = await Time(book, qs, new SearchOptions { K = r.GetValue(k), Filter = new SearchFilter { Collections = ["c3"] } }, ct);
            var parallel = ParallelQps(book, qs, r.GetValue(k));
            var result = new
            {
                chunks = index.Count, terms = index.TermCount, queries = n, k = r.GetValue(k), indexLoadSeconds = Math.Round(loadSeconds, 3),
                unfiltered = plain, filtered10Percent = filtered,
                parallelQps = Math.Round(parallel, 0), threads = Environment.ProcessorCount,
                managedHeapMb = Math.Round(GC.GetTotalMemory(false) / 1e6, 0),
            };
            if (r.GetValue(Cli.Json)) Cli.WriteJson(result);
            else
            {
                var t = new Table().AddColumns("", "p50 ms", "p95 ms", "p99 ms", "mean ms", "QPS (1 thread)");
                foreach (var (name, s) in new[] { ("all chunks", plain), ("collection filter (10%)", filtered) })
                    t.AddRow(name, F(s.P50), F(s.P95), F(s.P99), F(s.Mean), F(1000 / s.Mean, "0"));
                var console = Cli.Out(r);
                console.MarkupLine($"BM25 over {index.Count:N0} chunks, {index.TermCount:N0} terms; {n} queries of 2–5 words, k={r.GetValue(k)}; index loaded in {loadSeconds:0.00} s");
                console.Write(t);
                console.MarkupLine($"{parallel:0} QPS with {Environment.ProcessorCount} threads; managed heap {result.managedHeapMb} MB");
            }
            return 0;
        });
        return cmd;
    }

    private static string F(double v, string format = "0.000") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Latency summary in milliseconds.</summary>
    public sealed record Latency(double P50, double P95, double P99, double Mean);

    private static async Task<Latency> Time(Book book, List<string> queries, SearchOptions options, CancellationToken ct)
    {
        var ms = new List<double>(queries.Count);
        foreach (var q in queries)
        {
            var sw = Stopwatch.StartNew();
            await book.SearchAsync(q, options, ct);
            ms.Add(sw.Elapsed.TotalMilliseconds);
        }
        ms.Sort();
        double P(double p) => ms[Math.Min(ms.Count - 1, (int)Math.Ceiling(p * ms.Count) - 1)];
        return new Latency(Math.Round(P(0.50), 3), Math.Round(P(0.95), 3), Math.Round(P(0.99), 3), Math.Round(ms.Average(), 3));
    }

    private static double ParallelQps(Book book, List<string> queries, int k)
    {
        var sw = Stopwatch.StartNew();
        Parallel.ForEach(queries, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            q => book.SearchAsync(q, k).GetAwaiter().GetResult());
        return queries.Count / sw.Elapsed.TotalSeconds;
    }

    /// <summary>Reuses a benchmark store of the right size under the temp folder, or builds it.</summary>
    private static async Task<Book> PrepareStore(ParseResult r, string root, int target, CancellationToken ct)
    {
        var storeDir = Path.Combine(root, "store");
        var ready = Path.Combine(root, "ready");
        if (File.Exists(ready)) return await Book.OpenAsync(storeDir, cancellationToken: ct);
        Cli.TryDeleteDirectory(root);
        var (files, bytes, _) = Generate(Path.Combine(root, "docs"), target);
        Cli.Out(r).MarkupLine($"Building the benchmark store: {files} files, {bytes / 1e6:0.0} MB (kept in {Markup.Escape(root)} for later runs)…");
        await using (var book = await Book.OpenAsync(storeDir, cancellationToken: ct))
            await IngestAll(book, Path.Combine(root, "docs"), ct);
        Directory.Delete(Path.Combine(root, "docs"), recursive: true);
        await File.WriteAllTextAsync(ready, DateTime.UtcNow.ToString("O"), ct);
        return await Book.OpenAsync(storeDir, cancellationToken: ct); // reopened, so the index load below is measured
    }

    private static (int Files, long Bytes, double Seconds) Generate(string dir, int targetChunks)
    {
        var sw = Stopwatch.StartNew();
        var corpus = new SyntheticCorpus();
        var files = (int)Math.Ceiling(targetChunks * WordsPerChunk / WordsPerDocument);
        long bytes = 0;
        for (var i = 0; i < files; i++)
        {
            var folder = Path.Combine(dir, $"c{i % Collections}");
            Directory.CreateDirectory(folder);
            var text = corpus.Document(i, WordsPerDocument);
            var path = Path.Combine(folder, $"doc{i:000000}.md");
            File.WriteAllText(path, text);
            bytes += new FileInfo(path).Length;
        }
        return (files, bytes, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Ingests the generated folders: all at once into one collection, or each into its own collection (c0…c9).</summary>
    private static async Task<(int Chunks, double Seconds, double Load, double Store, double Index)> IngestAll(Book book, string docs, CancellationToken ct,
        bool oneCollection = false)
    {
        var sw = Stopwatch.StartNew();
        var chunks = 0;
        double load = 0, store = 0, index = 0;
        var runs = oneCollection ? [(docs, "bench")] : Enumerable.Range(0, Collections).Select(c => (Path.Combine(docs, $"c{c}"), $"c{c}")).ToArray();
        foreach (var (folder, collection) in runs)
        {
            if (!Directory.Exists(folder)) continue;
            var report = await book.IngestAsync([folder], new IngestOptions { Collection = collection }, null, ct);
            chunks += report.Chunks;
            load += report.LoadTime.TotalSeconds;
            store += report.StoreTime.TotalSeconds;
            index += report.IndexTime.TotalSeconds;
        }
        return (chunks, sw.Elapsed.TotalSeconds, load, store, index);
    }

}
