using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenBook.Retrieval.Lexical;
using Spectre.Console;

namespace OpenBook.Bench.Commands;

using Cli = OpenBook.Cli.Cli;

/// <summary>
/// <c>openbook-bench bm25 [--chunks 100000] [--queries 1000]</c>: OpenBook's <see cref="Bm25Index"/> against Xapian
/// (BM25Weight) and SQLite FTS5 (bm25(), porter tokenizer) on the same synthetic chunks and queries: index build
/// time, single-thread query latency p50 / p95 and CPU per query, index size, and overlap@10 of the result lists
/// (the same ranking function on the same text should return the same chunks).
/// </summary>
internal static class Bm25PeerBenchCommands
{
    public static Command Build()
    {
        var chunks = new Option<int>("--chunks") { Description = "Chunks in the corpus", DefaultValueFactory = _ => 100_000 };
        var queries = new Option<int>("--queries") { Description = "Timed queries (2–5 words, OR)", DefaultValueFactory = _ => 1000 };
        var words = new Option<int>("--words") { Description = "Words per chunk", DefaultValueFactory = _ => 100 };
        var noPeers = new Option<bool>("--no-peers") { Description = "OpenBook only" };
        var quick = new Option<bool>("--quick") { Description = "10,000 chunks, 300 queries" };
        var keepStopWords = new Option<bool>("--keep-stop-words") { Description = "OpenBook indexes stop words too (as the peers do)" };
        var cmd = new Command("bm25", "BM25 vs Xapian and SQLite FTS5: build time, query p50/p95, overlap@10 on the same synthetic chunks")
        {
            chunks, queries, words, noPeers, quick, keepStopWords,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            int n = r.GetValue(quick) ? 10_000 : r.GetValue(chunks), q = r.GetValue(quick) ? 300 : r.GetValue(queries), w = r.GetValue(words);
            if (n < 10 || q < 1 || w < 1) throw new OpenBookException("--chunks must be at least 10, --queries and --words at least 1.");
            var log = r.GetValue(Cli.Quiet) || r.GetValue(Cli.Json) ? null : Cli.Out(r);
            var result = await RunAsync(n, q, w, !r.GetValue(noPeers), r.GetValue(keepStopWords), log, ct);
            if (r.GetValue(Cli.Json)) BenchEnvironment.WriteJson(result);
            else Print(Cli.Out(r), result);
            return 0;
        });
        return cmd;
    }

    private const int K = 10;

    private static async Task<JsonObject> RunAsync(int n, int queryCount, int words, bool peers, bool keepStopWords, IAnsiConsole? log, CancellationToken ct)
    {
        void Log(string m) => log?.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
        string dir = Path.Combine(Path.GetTempPath(), "openbook-bench-bm25", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            Log($"Generating {n:N0} chunks of {words} words…");
            var corpus = new SyntheticCorpus();
            var texts = Enumerable.Range(0, n).Select(i => corpus.Document(i, words)).ToArray();
            var queryCorpus = new SyntheticCorpus(seed: 7);
            var qs = Enumerable.Range(0, queryCount).Select(_ => queryCorpus.Query()).ToArray();
            await using (var f = new StreamWriter(Path.Combine(dir, "chunks.jsonl")))
                for (int i = 0; i < n; i++) await f.WriteLineAsync(JsonSerializer.Serialize(new { id = i, text = texts[i] }));
            await using (var f = new StreamWriter(Path.Combine(dir, "queries.jsonl")))
                foreach (var query in qs) await f.WriteLineAsync(JsonSerializer.Serialize(new { q = query }));

            var result = new JsonObject
            {
                ["chunks"] = n, ["wordsPerChunk"] = words, ["queries"] = queryCount, ["k"] = K, ["cores"] = Environment.ProcessorCount,
                ["corpusMB"] = Math.Round(texts.Sum(t => (long)t.Length) / 1e6, 1),
            };
            var engines = new JsonArray();
            Log("OpenBook: building…");
            string loadBefore = BenchEnvironment.LoadAverage();
            var (ours, oursTop) = OpenBook(texts, qs, dir, keepStopWords ? new TextAnalyzer(stem: true, removeStopWords: false) : TextAnalyzer.Default);
            ours["stopWords"] = keepStopWords ? "indexed" : "removed";
            if (Environment.GetEnvironmentVariable("OPENBOOK_BENCH_DUMP") is { } dumpDir)
            {
                File.WriteAllText(Path.Combine(dumpDir, "openbook.json"), JsonSerializer.Serialize(oursTop));
                File.Copy(Path.Combine(dir, "queries.jsonl"), Path.Combine(dumpDir, "queries.jsonl"), true);
                File.Copy(Path.Combine(dir, "chunks.jsonl"), Path.Combine(dumpDir, "chunks.jsonl"), true);
            }
            ours["loadAverage"] = loadBefore + " → " + BenchEnvironment.LoadAverage();
            engines.Add(ours);
            if (peers)
            {
                Log("Xapian and SQLite FTS5 (bench/bm25/bm25_peers.py)…");
                loadBefore = BenchEnvironment.LoadAverage();
                var peerJson = await RunPeersAsync(dir, ct);
                string load = loadBefore + " → " + BenchEnvironment.LoadAverage();
                long[][]? firstPeerTop = null;
                foreach (var e in peerJson["engines"]!.AsArray().OfType<JsonObject>())
                {
                    var top = e["top10"]!.AsArray().Select(l => l!.AsArray().Select(x => (long)x!).ToArray()).ToArray();
                    e.Remove("top10");
                    e["overlapAt10WithOpenBook"] = Math.Round(Overlap(oursTop, top), 4);
                    if (firstPeerTop is null) firstPeerTop = top;
                    else e["overlapAt10WithFirstPeer"] = Math.Round(Overlap(firstPeerTop, top), 4);
                    if (Environment.GetEnvironmentVariable("OPENBOOK_BENCH_DUMP") is { } dump)
                        File.WriteAllText(Path.Combine(dump, $"{e["engine"]}.json"), JsonSerializer.Serialize(top));
                    e["loadAverage"] = load;
                    engines.Add(e.DeepClone());
                }
                // OpenBook's queries again after the peers, so a change of machine load shows.
                var (again, _) = OpenBookQueries(_lastIndex!, qs);
                ours["p50MsSecondPass"] = again["p50Ms"]!.DeepClone();
                ours["p95MsSecondPass"] = again["p95Ms"]!.DeepClone();
            }
            result["engines"] = engines;
            _lastIndex = null;
            return result;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static Bm25Index? _lastIndex;

    private static (JsonObject Result, long[][] Top) OpenBook(string[] texts, string[] queries, string dir, TextAnalyzer analyzer)
    {
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        var index = new Bm25Index(analyzer: analyzer);
        index.AddRange(texts.Select((t, i) => ((long)i, (long)i, t)).ToArray());
        double build = watch.Elapsed.TotalSeconds, buildCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        string file = Path.Combine(dir, "bm25.idx");
        index.Save(file);
        _lastIndex = index;
        var (timing, top) = OpenBookQueries(index, queries);
        var result = new JsonObject
        {
            ["engine"] = "openbook", ["index"] = "Bm25Index (in memory, saved to bm25.idx)", ["buildSeconds"] = Math.Round(build, 3), ["buildCpuSeconds"] = Math.Round(buildCpu, 3),
            ["indexBytes"] = new FileInfo(file).Length, ["terms"] = index.TermCount,
        };
        foreach (var (key, value) in timing) result[key] = value!.DeepClone();
        return (result, top);
    }

    private static (JsonObject Timing, long[][] Top) OpenBookQueries(Bm25Index index, string[] queries)
    {
        foreach (var q in queries.Take(50)) index.Search(q, K); // warm-up (JIT tiering)
        var ms = new double[queries.Length];
        var top = new long[queries.Length][];
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        for (int i = 0; i < queries.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            var hits = index.Search(queries[i], K);
            ms[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            top[i] = hits.Select(h => h.ChunkId).ToArray();
        }
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds;
        var sorted = ms.Order().ToArray();
        double P(double p) => sorted[Math.Max(0, Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1))];
        return (new JsonObject
        {
            ["p50Ms"] = Math.Round(P(0.50), 3), ["p95Ms"] = Math.Round(P(0.95), 3), ["meanMs"] = Math.Round(ms.Average(), 3),
            ["cpuMsPerQuery"] = Math.Round(cpu / queries.Length, 3),
        }, top);
    }

    /// <summary>Mean over queries of |A ∩ B| / min(10, |A|, |B|) (queries where both return nothing count as 1).</summary>
    internal static double Overlap(long[][] a, long[][] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            int denominator = Math.Min(K, Math.Min(a[i].Length, b[i].Length));
            sum += denominator == 0 ? (a[i].Length == b[i].Length ? 1 : 0) : (double)a[i].Intersect(b[i]).Count() / denominator;
        }
        return sum / a.Length;
    }

    private static async Task<JsonObject> RunPeersAsync(string dir, CancellationToken ct)
    {
        string script = BenchEnvironment.PeerScript("bm25", "bm25_peers.py") ?? throw new OpenBookException("bench/bm25/bm25_peers.py not found beside the bench; pass --no-peers.");
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { script, "--dir", dir, "-k", K.ToString(System.Globalization.CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new OpenBookException("could not start /usr/bin/python3 for the BM25 peers.");
        string stdout = await p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        if (p.ExitCode != 0) throw new OpenBookException($"{script} failed with exit code {p.ExitCode} (see its messages above).");
        try { return JsonNode.Parse(stdout)!.AsObject(); }
        catch (JsonException ex) { throw new OpenBookException($"{script} printed invalid JSON: {ex.Message}"); }
    }

    private static void Print(IAnsiConsole console, JsonObject r)
    {
        console.MarkupLine($"[bold]openbook-bench bm25[/]: {r["chunks"]:N0} chunks × {r["wordsPerChunk"]} words ({r["corpusMB"]} MB), {r["queries"]} queries, k = {r["k"]}, {r["cores"]} cores");
        var t = new Table().AddColumns("engine", "build s (CPU s)", "index MB", "p50 ms", "p95 ms", "CPU ms/query", "overlap@10 with OpenBook", "load");
        foreach (var e in r["engines"]!.AsArray().OfType<JsonObject>())
            t.AddRow($"{e["engine"]} {e["version"]}", $"{e["buildSeconds"]} ({e["buildCpuSeconds"]})", $"{(long)e["indexBytes"]! / 1e6:0.0}",
                $"{e["p50Ms"]}{(e["p50MsSecondPass"] is { } s ? $" / {s}" : "")}", $"{e["p95Ms"]}{(e["p95MsSecondPass"] is { } s2 ? $" / {s2}" : "")}",
                $"{e["cpuMsPerQuery"]}", $"{e["overlapAt10WithOpenBook"]?.ToString() ?? "—"}", $"{e["loadAverage"]}");
        console.Write(t);
    }
}
