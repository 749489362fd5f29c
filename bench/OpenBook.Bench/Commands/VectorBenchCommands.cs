using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OpenBook.Retrieval.Vectors;
using Spectre.Console;

namespace OpenBook.Bench.Commands;

using Cli = OpenBook.Cli.Cli;

/// <summary>
/// <c>openbook-bench vectors</c> (alias <c>ann</c>): OpenBook's HNSW side by side with hnswlib and FAISS IndexHNSWFlat
/// on the same seeded data, same M / efConstruction, swept over efSearch. The C# side generates the data, computes the
/// exact ground truth with <see cref="FlatIndex"/>, writes .fvecs/.ivecs files and runs <c>bench/vectors/ann_peers.py</c>.
/// </summary>
internal static class VectorBenchCommands
{
    private sealed record Dataset(string Name, int N, int Dim, VectorMetric Metric, Func<int, int, float[]> Make);

    /// <summary>One row of the side-by-side table (shape kept stable for scripts).</summary>
    /// <remarks>
    /// <c>Qps1Cpu</c> (queries per CPU second, one thread) and <c>BuildCpuSeconds</c> are the figures to compare on a
    /// shared machine: wall-clock figures there depend on what else runs.
    /// </remarks>
    internal sealed record Row(string Engine, [property: System.Text.Json.Serialization.JsonPropertyName("M")] int M, int EfConstruction, int EfSearch, double Recall10, double Qps1, double QpsAll,
        double BuildSeconds, double MemoryMB, double Qps1Cpu, double BuildCpuSeconds, double MappedMB = 0);

    /// <summary>
    /// An OpenBook index per storage: file size, open time, resident growth (f32: anonymous growth while building, the
    /// measure the peers use; bf16/int8: anonymous growth while reopened and searched, which reuses memory the f32 build
    /// freed, so it under-counts), file-backed pages of the mapping touched (codes copied out, float32 rows the re-rank
    /// read: page cache, evictable), and the bytes the index counts for its search (<see cref="HnswIndex.SearchMemoryBytes"/>).
    /// The openbook-bf16/int8 rows' memoryMB is that counted figure.
    /// </summary>
    internal sealed record StorageRow(string Storage, double FileMB, double OpenSeconds, double AnonMB, double MappedMB, double SearchIndexMB);

    /// <summary>Iso-recall comparison: per engine, the smallest swept efSearch reaching the target recall@10.</summary>
    internal sealed record IsoRow(double Target, string Engine, int EfSearch, double Recall10, double Qps1, double Qps1Cpu, double MemoryMB,
        double QpsCpuVsNative, double MemoryVsNative);

    /// <summary>Persistence figures (OpenBook only): file size, save time, open time with and without the checksum pass.</summary>
    internal sealed record PersistenceRow(double FileMB, double SaveSeconds, double OpenSeconds, double OpenNoChecksumSeconds);

    /// <summary>Filtered search quality and speed at one selectivity (OpenBook only).</summary>
    internal sealed record FilteredRow(double Selectivity, int EfSearch, string Mode, bool ExactScan, double Recall10, double Qps1, double Qps1Cpu);

    public static Command Build()
    {
        var dataset = new Option<string>("--dataset")
        {
            Description = "clustered: 100k × 384 sentence-embedding-like, cosine; scale: 1M × 128 clustered, L2",
            DefaultValueFactory = _ => "clustered",
        };
        dataset.AcceptOnlyFromAmong("clustered", "scale");
        var n = new Option<int?>("--n") { Description = "Number of indexed vectors (default: the dataset's size)" };
        var queries = new Option<int>("--queries") { Description = "Number of queries", DefaultValueFactory = _ => 1000 };
        var m = new Option<int>("--m") { Description = "HNSW M (links per node; layer 0 has 2·M)", DefaultValueFactory = _ => 16 };
        var efc = new Option<int>("--ef-construction") { Description = "HNSW efConstruction", DefaultValueFactory = _ => 200 };
        var ef = new Option<string>("--ef") { Description = "efSearch values, comma-separated", DefaultValueFactory = _ => "10,16,24,32,48,64,96,128,256" };
        var threads = new Option<int>("--threads") { Description = "Threads for building and the all-threads QPS (default: all cores)" };
        var quick = new Option<bool>("--quick") { Description = "Small run (20k vectors, 300 queries) to check the harness quickly" };
        var noPeers = new Option<bool>("--no-peers") { Description = "Skip hnswlib/FAISS (no Python needed)" };
        var peers = new Option<string?>("--peers-script") { Description = "Path of ann_peers.py (default: found under bench/vectors)" };
        var outDir = new Option<string?>("--out") { Description = "Folder for the .fvecs/.ivecs files (default: a temp folder, deleted afterwards)" };
        var storages = new Option<string>("--storage") { Description = "OpenBook vector storages to measure, comma-separated (f32, bf16, int8); bf16/int8 are saved from the f32-built graph and reopened", DefaultValueFactory = _ => "f32,bf16,int8" };
        var engines = new Option<string>("--peer-engines") { Description = "Peers to run: hnswlib-native, hnswlib, faiss (comma-separated)", DefaultValueFactory = _ => "hnswlib-native,hnswlib,faiss" };
        var noFiltered = new Option<bool>("--no-filtered") { Description = "Skip the filtered-search walk/scan table" };
        var cmd = new Command("vectors", "HNSW vs hnswlib and FAISS: build time, QPS, recall@10, memory")
        {
            dataset, n, queries, m, efc, ef, threads, quick, noPeers, peers, outDir, storages, engines, noFiltered,
        };
        cmd.Aliases.Add("ann");
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var console = Cli.Out(r);
            bool isQuick = r.GetValue(quick);
            var ds = r.GetValue(dataset) == "scale"
                ? new Dataset("synthetic-clustered-128-l2", 1_000_000, 128, VectorMetric.L2,
                    (count, seed) => new SyntheticVectors(128, clusters: 50, intrinsicDim: 32, noise: 0.08f, seed: 2).Generate(count, seed))
                : new Dataset("synthetic-clustered-384-cosine", 100_000, 384, VectorMetric.Cosine,
                    (count, seed) => new SyntheticVectors(384, clusters: 100, intrinsicDim: 16, seed: 1).Generate(count, seed));
            int count = r.GetValue(n) ?? (isQuick ? 20_000 : ds.N);
            int nq = isQuick ? Math.Min(300, r.GetValue(queries)) : r.GetValue(queries);
            int nThreads = r.GetValue(threads) is > 0 and var t ? t : Environment.ProcessorCount;
            int[] efs = ParseList(r.GetValue(ef)!);
            var opts = new HnswOptions { M = r.GetValue(m), EfConstruction = r.GetValue(efc), InitialCapacity = count };
            if (count < 100 || nq < 1) throw new OpenBookException("--n must be at least 100 and --queries at least 1.");
            var storageList = r.GetValue(storages)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(VectorStorageNames.Parse).Distinct().ToArray();
            var storageRows = new List<StorageRow>();
            string loadBefore = BenchEnvironment.LoadAverage();

            console.MarkupLine($"[grey]{ds.Name}: generating {count:N0} × {ds.Dim} vectors and {nq:N0} queries…[/]");
            float[] data = ds.Make(count, 11);
            float[] qs = ds.Make(nq, 12);
            console.MarkupLine("[grey]exact ground truth (FlatIndex)…[/]");
            int[][] gt = GroundTruth(data, qs, ds, 10);

            string dir = r.GetValue(outDir) ?? Path.Combine(Path.GetTempPath(), $"openbook-ann-{Environment.ProcessId}");
            bool tempDir = r.GetValue(outDir) is null;
            Directory.CreateDirectory(dir);
            var rows = new List<Row>();
            var filtered = new List<FilteredRow>();
            PersistenceRow? persistence = null;
            JsonElement? versions = null;
            try
            {
                WriteVecs(Path.Combine(dir, "base.fvecs"), data, ds.Dim);
                WriteVecs(Path.Combine(dir, "query.fvecs"), qs, ds.Dim);
                WriteVecs(Path.Combine(dir, "gt.ivecs"), gt.SelectMany(x => x).ToArray(), 10);

                console.MarkupLine($"[grey]openbook: building HNSW M={opts.M} efConstruction={opts.EfConstruction} on {nThreads} threads…[/]");
                var (index, buildSeconds, buildCpu, memoryMB) = BuildIndex(data, ds, opts, nThreads);
                using (index)
                {
                    if (storageList.Contains(VectorStorage.Float32))
                        foreach (int e in efs)
                        {
                            var (recall, qps1, qps1Cpu) = Measure(index, qs, gt, ds.Dim, e, null, out _);
                            double qpsAll = MeasureAll(index, qs, ds.Dim, e, nThreads);
                            rows.Add(new Row("openbook", opts.M, opts.EfConstruction, e, Math.Round(recall, 4), Math.Round(qps1, 1),
                                Math.Round(qpsAll, 1), Math.Round(buildSeconds, 3), Math.Round(memoryMB, 1), Math.Round(qps1Cpu, 1), Math.Round(buildCpu, 3)));
                            console.MarkupLine($"[grey]  ef={e}: recall@10 {recall:F4}, {qps1:N0} q/s (1 thread)[/]");
                        }
                    if (!r.GetValue(noFiltered))
                    {
                        console.MarkupLine("[grey]openbook: filtered search, 20 % … 0.5 % selectivity, walk vs scan…[/]");
                        filtered.AddRange(MeasureFiltered(index, data, qs, ds, efs));
                    }
                    console.MarkupLine("[grey]openbook: save and open…[/]");
                    persistence = MeasurePersistence(index, Path.Combine(dir, "openbook.obvec"));
                    storageRows.Add(new StorageRow("f32", persistence.FileMB, persistence.OpenSeconds, Math.Round(memoryMB, 1), 0, Math.Round(index.SearchMemoryBytes / 1048576.0, 1)));
                    foreach (var st in storageList.Where(x => x != VectorStorage.Float32))
                        index.Save(Path.Combine(dir, $"openbook-{st.Name()}.obvec"), 0, st);
                }
                foreach (var st in storageList.Where(x => x != VectorStorage.Float32))
                {
                    string file = Path.Combine(dir, $"openbook-{st.Name()}.obvec");
                    console.MarkupLine($"[grey]openbook-{st.Name()}: reopened from {new FileInfo(file).Length / 1048576.0:F0} MB, walking the codes, re-ranking from the mapped float32…[/]");
                    var (anon0, file0) = ResidentParts();
                    var sw = Stopwatch.StartNew();
                    using var qi = HnswIndex.Open(file);
                    double openSeconds = sw.Elapsed.TotalSeconds;
                    var measured = new List<(int Ef, double Recall, double Qps1, double Qps1Cpu, double QpsAll)>();
                    foreach (int e in efs)
                    {
                        var (recall, qps1, qps1Cpu) = Measure(qi, qs, gt, ds.Dim, e, null, out _);
                        double qpsAll = MeasureAll(qi, qs, ds.Dim, e, nThreads);
                        measured.Add((e, recall, qps1, qps1Cpu, qpsAll));
                        console.MarkupLine($"[grey]  ef={e}: recall@10 {recall:F4}, {qps1:N0} q/s (1 thread)[/]");
                    }
                    var (anon1, file1) = ResidentParts();
                    double anonMB = (anon1 - anon0) / 1048576.0, mappedMB = (file1 - file0) / 1048576.0;
                    foreach (var x in measured)
                        rows.Add(new Row($"openbook-{st.Name()}", opts.M, opts.EfConstruction, x.Ef, Math.Round(x.Recall, 4), Math.Round(x.Qps1, 1),
                            Math.Round(x.QpsAll, 1), Math.Round(buildSeconds, 3), Math.Round(qi.SearchMemoryBytes / 1048576.0, 1), Math.Round(x.Qps1Cpu, 1), Math.Round(buildCpu, 3), Math.Round(mappedMB, 1)));
                    storageRows.Add(new StorageRow(st.Name(), Math.Round(new FileInfo(file).Length / 1048576.0, 1), Math.Round(openSeconds, 3),
                        Math.Round(anonMB, 1), Math.Round(mappedMB, 1), Math.Round(qi.SearchMemoryBytes / 1048576.0, 1)));
                }

                if (!r.GetValue(noPeers))
                {
                    console.MarkupLine("[grey]peers: hnswlib native, Debian hnswlib and FAISS (bench/vectors/ann_peers.py)…[/]");
                    var peerJson = await RunPeersAsync(r.GetValue(peers), dir, ds, opts, efs, nThreads, r.GetValue(engines)!, ct);
                    foreach (var row in peerJson.GetProperty("rows").EnumerateArray())
                        rows.Add(row.Deserialize<Row>(Cli.JsonOptions)!);
                    versions = peerJson.GetProperty("versions").Clone();
                }
            }
            finally
            {
                if (tempDir) try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            }

            var load = new { before = loadBefore, after = BenchEnvironment.LoadAverage(), cores = Environment.ProcessorCount };
            var iso = IsoRecall(rows);
            if (r.GetValue(Cli.Json))
            {
                BenchEnvironment.WriteJson(new { dataset = ds.Name, n = count, dim = ds.Dim, queries = nq, metric = ds.Metric.ToString(), threads = nThreads, load, rows, iso, storage = storageRows, filtered, persistence, peerVersions = versions });
                return 0;
            }
            var table = new Table().AddColumns("engine", "M", "efC", "efSearch", "recall@10", "QPS 1 thr", "QPS/CPU s", $"QPS {nThreads} thr", "build s", "build CPU s", "memory MB", "mapped MB");
            foreach (var x in rows.OrderBy(x => x.Engine).ThenBy(x => x.EfSearch))
                table.AddRow(x.Engine, I(x.M), I(x.EfConstruction), I(x.EfSearch), x.Recall10.ToString("F4", CultureInfo.InvariantCulture),
                    x.Qps1.ToString("N0", CultureInfo.InvariantCulture), x.Qps1Cpu.ToString("N0", CultureInfo.InvariantCulture), x.QpsAll.ToString("N0", CultureInfo.InvariantCulture),
                    x.BuildSeconds.ToString("F1", CultureInfo.InvariantCulture), x.BuildCpuSeconds.ToString("F1", CultureInfo.InvariantCulture), x.MemoryMB.ToString("F0", CultureInfo.InvariantCulture), x.MappedMB.ToString("F0", CultureInfo.InvariantCulture));
            console.MarkupLine($"[bold]{ds.Name}[/]: n={count:N0}, dim={ds.Dim}, {nq} queries, load before/after: {loadBefore} / {load.after}");
            console.Write(table);
            var ft = new Table().AddColumns("selectivity", "efSearch", "mode", "exact scan", "recall@10", "QPS 1 thr", "QPS/CPU s");
            foreach (var f in filtered)
                ft.AddRow(f.Selectivity.ToString("P1", CultureInfo.InvariantCulture), I(f.EfSearch), f.Mode, f.ExactScan ? "yes" : "no",
                    f.Recall10.ToString("F4", CultureInfo.InvariantCulture), f.Qps1.ToString("N0", CultureInfo.InvariantCulture), f.Qps1Cpu.ToString("N0", CultureInfo.InvariantCulture));
            console.Write(ft);
            var it = new Table().AddColumns("recall@10 ≥", "engine", "efSearch", "recall@10", "QPS 1 thr", "QPS/CPU s", "memory MB", "QPS/CPU s vs native", "memory vs native");
            foreach (var x in iso)
                it.AddRow(x.Target.ToString("F2", CultureInfo.InvariantCulture), x.Engine, I(x.EfSearch), x.Recall10.ToString("F4", CultureInfo.InvariantCulture),
                    x.Qps1.ToString("N0", CultureInfo.InvariantCulture), x.Qps1Cpu.ToString("N0", CultureInfo.InvariantCulture), x.MemoryMB.ToString("F0", CultureInfo.InvariantCulture),
                    x.QpsCpuVsNative.ToString("F2", CultureInfo.InvariantCulture), x.MemoryVsNative.ToString("F2", CultureInfo.InvariantCulture));
            console.Write(it);
            foreach (var x in storageRows)
                console.MarkupLine(FormattableString.Invariant($"openbook-{x.Storage}: file {x.FileMB:F0} MB, open {x.OpenSeconds:F2} s, resident anonymous +{x.AnonMB:F0} MB, mapped float32 pages touched +{x.MappedMB:F0} MB, search index {x.SearchIndexMB:F0} MB"));
            if (persistence is { } pr)
                console.MarkupLine(FormattableString.Invariant($"index file {pr.FileMB:F0} MB: save {pr.SaveSeconds:F2} s, open {pr.OpenSeconds:F2} s ({pr.OpenNoChecksumSeconds:F2} s without the checksum pass)"));
            return 0;
        });
        return cmd;
    }

    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>Per target recall and engine, the smallest swept efSearch reaching it; ratios against hnswlib-native at its own smallest ef.</summary>
    internal static List<IsoRow> IsoRecall(IReadOnlyList<Row> rows)
    {
        var result = new List<IsoRow>();
        foreach (double target in new[] { 0.95, 0.99 })
        {
            var best = rows.GroupBy(x => x.Engine)
                .Select(g => g.Where(x => x.Recall10 >= target).OrderBy(x => x.EfSearch).FirstOrDefault())
                .OfType<Row>().ToList();
            var native = best.FirstOrDefault(x => x.Engine == "hnswlib-native");
            foreach (var x in best.OrderBy(x => x.Engine, StringComparer.Ordinal))
                result.Add(new IsoRow(target, x.Engine, x.EfSearch, x.Recall10, x.Qps1, x.Qps1Cpu, x.MemoryMB,
                    native is null ? 0 : Math.Round(x.Qps1Cpu / native.Qps1Cpu, 2),
                    native is null || native.MemoryMB <= 0 ? 0 : Math.Round(x.MemoryMB / native.MemoryMB, 2)));
        }
        return result;
    }

    /// <summary>Resident anonymous and file-backed bytes of this process (/proc/self/status RssAnon, RssFile), after a compacting GC.</summary>
    private static (long Anon, long File) ResidentParts()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        long anon = 0, file = 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = KiloBytes(line);
            else if (line.StartsWith("RssFile:", StringComparison.Ordinal)) file = KiloBytes(line);
        }
        return (anon, file);
        static long KiloBytes(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static int[] ParseList(string s)
    {
        try
        {
            var v = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            if (v.Length == 0 || v.Any(x => x < 1)) throw new FormatException();
            return v;
        }
        catch (FormatException) { throw new OpenBookException($"--ef: expected positive integers separated by commas, got '{s}'."); }
    }

    private static int[][] GroundTruth(float[] data, float[] qs, Dataset ds, int k)
    {
        int count = data.Length / ds.Dim;
        using var flat = new FlatIndex(ds.Dim, ds.Metric, count);
        for (int i = 0; i < count; i++) flat.Add(i, data.AsSpan(i * ds.Dim, ds.Dim));
        return flat.SearchBatch(qs, k).Select(h => h.Select(x => (int)x.Id).ToArray()).ToArray();
    }

    private static (HnswIndex Index, double Seconds, double CpuSeconds, double MemoryMB) BuildIndex(float[] data, Dataset ds, HnswOptions opts, int threads)
    {
        long before = ResidentBytes();
        var cpu = CpuSeconds();
        var sw = Stopwatch.StartNew();
        var index = new HnswIndex(ds.Dim, ds.Metric, opts);
        index.AddRange(Enumerable.Range(0, data.Length / ds.Dim).Select(i => (long)i).ToArray(), data, threads);
        double seconds = sw.Elapsed.TotalSeconds;
        double cpuSeconds = CpuSeconds() - cpu;
        return (index, seconds, cpuSeconds, (ResidentBytes() - before) / 1048576.0);
    }

    private static double CpuSeconds()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime.TotalSeconds;
    }

    /// <summary>Resident set after a full compacting collection, the same measure the Python side uses (VmRSS).</summary>
    private static long ResidentBytes()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    private const int Runs = 2; // best of two timed passes: the machine is shared

    private static (double Recall, double Qps1, double Qps1Cpu) Measure(HnswIndex index, float[] qs, int[][] gt, int dim, int ef, VectorFilter? filter, out bool fallback)
    {
        int nq = qs.Length / dim;
        var found = new IReadOnlyList<VectorHit>[nq];
        for (int i = 0; i < Math.Min(nq, 50); i++) index.Search(qs.AsSpan(i * dim, dim), 10, filter, ef); // warm-up (JIT, caches)
        double qps = 0, qpsCpu = 0;
        for (int run = 0; run < Runs; run++)
        {
            double cpu = CpuSeconds();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < nq; i++) found[i] = index.Search(qs.AsSpan(i * dim, dim), 10, filter, ef);
            qps = Math.Max(qps, nq / sw.Elapsed.TotalSeconds);
            qpsCpu = Math.Max(qpsCpu, nq / Math.Max(1e-9, CpuSeconds() - cpu));
        }
        fallback = filter?.Selectivity is { } sel && index.PrefersExactScan(sel, Math.Max(ef, 10));
        double hits = 0;
        for (int i = 0; i < nq; i++) hits += found[i].Count(h => gt[i].Contains((int)h.Id)) / (double)gt[i].Length;
        return (hits / nq, qps, qpsCpu);
    }

    private static double MeasureAll(HnswIndex index, float[] qs, int dim, int ef, int threads)
    {
        int saved = index.EfSearch;
        index.EfSearch = ef;
        double qps = 0;
        for (int run = 0; run < Runs; run++)
        {
            var sw = Stopwatch.StartNew();
            index.SearchBatch(qs, 10, null, threads);
            qps = Math.Max(qps, qs.Length / dim / sw.Elapsed.TotalSeconds);
        }
        index.EfSearch = saved;
        return qps;
    }

    /// <summary>
    /// Filtered search at several selectivities, three ways: graph walk forced, exact scan forced, and the index's own
    /// choice (its cost model) — the data the walk-or-scan threshold is chosen from.
    /// </summary>
    private static IEnumerable<FilteredRow> MeasureFiltered(HnswIndex index, float[] data, float[] qs, Dataset ds, int[] efs)
    {
        int count = data.Length / ds.Dim;
        var sub = qs.AsSpan(0, Math.Min(qs.Length, 200 * ds.Dim)).ToArray();
        int ef = efs.OrderBy(e => Math.Abs(e - 64)).First();
        using var flat = new FlatIndex(ds.Dim, ds.Metric, count);
        for (int i = 0; i < count; i++) flat.Add(i, data.AsSpan(i * ds.Dim, ds.Dim));
        var saved = index.ExactFallbackSelectivity;
        try
        {
            foreach (double sel in new[] { 0.20, 0.10, 0.05, 0.02, 0.01, 0.005 })
            {
                // every id passes with probability `sel`, decided by a hash (no correlation with clusters)
                ulong threshold = (ulong)(sel * ulong.MaxValue);
                var filter = new VectorFilter(id => Mix((ulong)id) < threshold, sel);
                int[][] gt = flat.SearchBatch(sub, 10, filter).Select(h => h.Select(x => (int)x.Id).ToArray()).ToArray();
                foreach (var (mode, setting) in new (string, double?)[] { ("walk", 0.0), ("scan", 2.0), ("auto", saved) })
                {
                    index.ExactFallbackSelectivity = setting;
                    var (recall, qps1, qps1Cpu) = Measure(index, sub, gt, ds.Dim, ef, filter, out bool scanned);
                    yield return new FilteredRow(sel, ef, mode, scanned, Math.Round(recall, 4), Math.Round(qps1, 1), Math.Round(qps1Cpu, 1));
                }
            }
        }
        finally { index.ExactFallbackSelectivity = saved; }
    }

    private static PersistenceRow MeasurePersistence(HnswIndex index, string path)
    {
        var sw = Stopwatch.StartNew();
        index.Save(path);
        double save = sw.Elapsed.TotalSeconds;
        sw.Restart();
        using (HnswIndex.Open(path)) { }
        double open = sw.Elapsed.TotalSeconds;
        sw.Restart();
        using (HnswIndex.Open(path, verifyChecksum: false)) { }
        double openFast = sw.Elapsed.TotalSeconds;
        double mb = new FileInfo(path).Length / 1048576.0;
        File.Delete(path);
        return new PersistenceRow(Math.Round(mb, 1), Math.Round(save, 3), Math.Round(open, 3), Math.Round(openFast, 3));
    }

    private static ulong Mix(ulong x)
    {
        x ^= x >> 33; x *= 0xff51afd7ed558ccdUL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53UL; x ^= x >> 33;
        return x;
    }

    private static void WriteVecs<T>(string path, T[] rows, int dim) where T : unmanaged
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using var w = new BinaryWriter(fs);
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows.AsSpan());
        int rowBytes = bytes.Length / (rows.Length / dim);
        for (int i = 0; i < rows.Length / dim; i++)
        {
            w.Write(dim);
            w.Write(bytes.Slice(i * rowBytes, rowBytes));
        }
    }

    private static async Task<JsonElement> RunPeersAsync(string? script, string dir, Dataset ds, HnswOptions opts, int[] efs, int threads, string engines, CancellationToken ct)
    {
        script ??= BenchEnvironment.PeerScript("vectors", "ann_peers.py") ?? throw new OpenBookException("bench/vectors/ann_peers.py not found; pass --peers-script or --no-peers.");
        if (!File.Exists(script)) throw new OpenBookException($"--peers-script: '{script}' does not exist.");
        var psi = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            script, "--dir", dir, "--metric", ds.Metric == VectorMetric.L2 ? "l2" : "ip", "--M", I(opts.M),
            "--efConstruction", I(opts.EfConstruction), "--ef", string.Join(',', efs), "--threads", I(threads), "--runs", I(Runs), "--engines", engines,
        }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new OpenBookException("Could not start /usr/bin/python3 for the ANN peers.");
        string stdout = await p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        if (p.ExitCode != 0) throw new OpenBookException($"{script} failed with exit code {p.ExitCode} (see its messages above).");
        try { return JsonDocument.Parse(stdout).RootElement.Clone(); }
        catch (JsonException ex) { throw new OpenBookException($"{script} printed invalid JSON: {ex.Message}"); }
    }
}
