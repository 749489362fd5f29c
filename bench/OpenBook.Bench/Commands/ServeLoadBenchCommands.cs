using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenBook.Runtime;
using OpenBook.Storage;
using Spectre.Console;

namespace OpenBook.Bench.Commands;

using Cli = OpenBook.Cli.Cli;

/// <summary>
/// <c>openbook-bench serve-load [--conversations 8] [--seconds 20] [--mode both]</c>: the chat server under load. For
/// each mode it makes a store from samples/handbook (hr/ under ACL hr), starts <c>openbook serve</c> as a child process
/// on 127.0.0.1 (a free port), and runs N concurrent conversations against <c>POST /v1/chat/completions</c> for T
/// seconds (and at most <c>--max-requests</c>): each conversation is a script of turns with follow-ups ("What is the
/// annual vacation entitlement in Berlin?" → "And in Boston?"), the history sent back as OpenAI clients do; even
/// conversations stream (time to first token is measured), odd ones do not. Meanwhile an admin key uploads synthetic
/// documents through <c>POST /api/documents</c> one job after another and polls the job until it is done. The store and
/// the uploads are embedded with <c>--embed</c> (minilm, as <c>openbook ingest</c> does by default; none: lexical only).
/// Modes: <c>extractive</c> (<c>openbook-extractive</c>) and <c>tiny</c> (<c>openbook-rag</c> with a randomly
/// initialised tiny Llama model from <see cref="ModelInit"/>: it measures the serving path, not answer quality; its
/// answers are capped at <c>--max-tokens</c>). Reports latency p50 / p95, time to first token, requests/s, errors,
/// ingestion jobs, and the server's peak RSS and CPU time, with the load average.
/// </summary>
internal static class ServeLoadBenchCommands
{
    /// <summary>The conversations: a first question, then follow-ups that only make sense with the history.</summary>
    internal static readonly string[][] Scripts =
    [
        ["What is the annual vacation entitlement in Berlin?", "And in Boston?", "And in Singapore?"],
        ["How many paid sick days do employees in Boston get?", "And in Singapore?"],
        ["Is an itemised receipt required for small expenses?", "And in Singapore?"],
        ["How do I connect to the VPN?", "What should I do if it does not connect?"],
        ["How large is the personal learning budget?", "And in the United States?"],
        ["How many unused vacation days can I carry over in Berlin?", "And in Boston?"],
        ["How long is parental leave?", "Can it be split?"],
        ["What are the rules for passwords and MFA?", "What if I lose my phone?"],
    ];

    public static Command Build()
    {
        var conversations = new Option<int>("--conversations", "-n") { Description = "Concurrent conversations", DefaultValueFactory = _ => 8 };
        var seconds = new Option<double>("--seconds", "-t") { Description = "Seconds of load per mode", DefaultValueFactory = _ => 20 };
        var maxRequests = new Option<int>("--max-requests") { Description = "Stop a mode after this many chat requests", DefaultValueFactory = _ => 5000 };
        var mode = new Option<string>("--mode") { Description = "extractive, tiny (a random tiny local model) or both", DefaultValueFactory = _ => "both" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Longest model answer in tiny mode, in tokens", DefaultValueFactory = _ => 32 };
        var noIngest = new Option<bool>("--no-ingest") { Description = "No upload/ingestion job during the load" };
        var files = new Option<int>("--upload-files") { Description = "Documents per upload job", DefaultValueFactory = _ => 3 };
        var embed = new Option<string>("--embed") { Description = "Embedding model of the store and the uploads (as openbook ingest embeds by default), or none: lexical retrieval only", DefaultValueFactory = _ => "minilm" };
        var timeout = new Option<double>("--request-timeout") { Description = "Seconds before one request counts as an error", DefaultValueFactory = _ => 120 };
        var cmd = new Command("serve-load", "The chat server under N concurrent conversations for T seconds with an ingestion job running: latency p50/p95, time to first token, requests/s, errors, memory")
        {
            conversations, seconds, maxRequests, mode, maxTokens, noIngest, files, embed, timeout,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var config = new LoadConfig(r.GetValue(conversations), r.GetValue(seconds), r.GetValue(maxRequests), r.GetValue(maxTokens), !r.GetValue(noIngest),
                r.GetValue(files), TimeSpan.FromSeconds(r.GetValue(timeout)), r.GetValue(embed) is "none" or "" ? null : r.GetValue(embed));
            if (config.Conversations is < 1 or > 256) throw new OpenBookException("--conversations: 1 to 256.");
            if (config.Seconds is <= 0 or > 3600) throw new OpenBookException("--seconds: more than 0, at most 3600.");
            if (config.MaxRequests < 1 || config.MaxTokens is < 1 or > 8192 || config.UploadFiles is < 1 or > 100 || config.RequestTimeout <= TimeSpan.Zero)
                throw new OpenBookException("--max-requests, --max-tokens (≤ 8192), --upload-files (≤ 100) and --request-timeout must be positive.");
            string[] modes = r.GetValue(mode) switch
            {
                "both" => ["extractive", "tiny"],
                "extractive" => ["extractive"],
                "tiny" => ["tiny"],
                var m => throw new OpenBookException($"--mode: '{m}' is not extractive, tiny or both."),
            };
            var log = r.GetValue(Cli.Quiet) || r.GetValue(Cli.Json) ? null : Cli.Out(r);
            var result = new JsonObject
            {
                ["conversations"] = config.Conversations, ["seconds"] = config.Seconds, ["maxRequests"] = config.MaxRequests, ["maxTokens"] = config.MaxTokens,
                ["ingestion"] = config.Ingest, ["embed"] = config.Embed ?? "none", ["cores"] = Environment.ProcessorCount,
            };
            var results = new JsonArray();
            foreach (var m in modes) results.Add(await RunModeAsync(m, config, log, ct));
            result["modes"] = results;
            if (r.GetValue(Cli.Json)) BenchEnvironment.WriteJson(result);
            else Print(Cli.Out(r), result);
            return results.OfType<JsonObject>().All(x => (int)x["errors"]! == 0) ? 0 : 1;
        });
        return cmd;
    }

    internal sealed record LoadConfig(int Conversations, double Seconds, int MaxRequests, int MaxTokens, bool Ingest, int UploadFiles, TimeSpan RequestTimeout, string? Embed);

    /// <summary>The sample handbook copied beside the bench assembly (see the csproj).</summary>
    private static string Samples => Path.Combine(AppContext.BaseDirectory, "samples", "handbook");

    private static async Task<JsonObject> RunModeAsync(string mode, LoadConfig config, IAnsiConsole? log, CancellationToken ct)
    {
        void Log(string m) => log?.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
        var root = Path.Combine(Path.GetTempPath(), "openbook-bench-serve", Guid.NewGuid().ToString("N"));
        var store = Path.Combine(root, "store");
        Directory.CreateDirectory(root);
        try
        {
            if (!Directory.Exists(Path.Combine(Samples, "hr"))) throw new OpenBookException($"{Samples}: the sample handbook is missing (it is copied beside openbook-bench.dll at build time).");
            Log($"{mode}: making a store from samples/handbook (embeddings: {config.Embed ?? "none"})…");
            string userKey, adminKey;
            string? modelDir = null;
            await using (var session = await BookSession.OpenAsync(store, new BookSessionOptions { Embed = config.Embed }, ct))
            {
                var book = session.Book;
                var embedding = config.Embed is not null;
                await book.IngestAsync([Path.Combine(Samples, "hr")], new IngestOptions { Collection = "hr", Acl = ["hr"], Embed = embedding }, cancellationToken: ct);
                var rest = Directory.EnumerateDirectories(Samples).Where(d => Path.GetFileName(d) != "hr").Order(StringComparer.Ordinal).ToList();
                await book.IngestAsync(rest, new IngestOptions { Collection = "general", Embed = embedding }, cancellationToken: ct);
                var keys = new ApiKeyStore(book.Store);
                userKey = keys.Add("load", ["hr"], admin: false).Key;
                adminKey = keys.Add("ingest", ["hr"], admin: true).Key;
                if (mode == "tiny")
                {
                    modelDir = Path.Combine(root, "tiny-model");
                    Log($"{mode}: a random tiny model (ModelInit, tokenizer trained on the store)…");
                    await ModelInit.CreateAsync(new ModelInitRequest { OutputDirectory = modelDir, Shape = InitShape.Tiny }, book, ct);
                }
            }
            List<string> serveArgs = ["serve", "--store", store, "--urls", "http://127.0.0.1:0", "--rate-limit", "0", "--json"];
            if (modelDir is not null) serveArgs.AddRange(["--model", modelDir, "--max-tokens", config.MaxTokens.ToString(CultureInfo.InvariantCulture)]);
            Log($"{mode}: starting openbook {string.Join(' ', serveArgs)}…");
            await using var server = await ServerProcess.StartAsync(serveArgs, ct);
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1024, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
            using var http = new HttpClient(handler) { BaseAddress = server.Url, Timeout = Timeout.InfiniteTimeSpan };
            await WaitReadyAsync(http, ct);
            var model = mode == "tiny" ? "openbook-rag" : "openbook-extractive";

            // One streamed and one plain request first (JIT, first model load), not counted.
            var warm = new Conversation(-1, http, userKey, model, config.RequestTimeout);
            await warm.TurnAsync(Scripts[0][0], stream: true, ct);
            await warm.TurnAsync(Scripts[0][1], stream: false, ct);

            Log($"{mode}: {config.Conversations} conversations for {config.Seconds} s{(config.Ingest ? ", with uploads" : "")}…");
            var loadBefore = BenchEnvironment.LoadAverage();
            var cpuBefore = server.CpuSeconds();
            var samples = new List<Sample>();
            var stopAt = Stopwatch.StartNew();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            stop.CancelAfter(TimeSpan.FromSeconds(config.Seconds));
            var issued = 0;
            var ingest = new Ingestor(http, adminKey, config.UploadFiles);
            var ingestTask = config.Ingest ? ingest.RunAsync(stop.Token, ct) : Task.CompletedTask;
            var memory = server.SampleMemoryAsync(stop.Token);
            var workers = Enumerable.Range(0, config.Conversations).Select(i => Task.Run(async () =>
            {
                var mine = new List<Sample>();
                for (var script = i; !stop.IsCancellationRequested; script += config.Conversations)
                {
                    var c = new Conversation(i, http, userKey, model, config.RequestTimeout);
                    foreach (var question in Scripts[script % Scripts.Length])
                    {
                        if (stop.IsCancellationRequested || Interlocked.Increment(ref issued) > config.MaxRequests) return mine;
                        mine.Add(await c.TurnAsync(question, stream: i % 2 == 0, ct));
                    }
                }
                return mine;
            }, ct)).ToList();
            foreach (var w in workers) samples.AddRange(await w);
            var elapsed = stopAt.Elapsed.TotalSeconds;
            await stop.CancelAsync();
            await ingestTask;
            var peakSampledRss = await memory;
            var loadAfter = BenchEnvironment.LoadAverage();
            var cpu = server.CpuSeconds() - cpuBefore;
            var (hwm, rss) = server.Memory();
            var exit = await server.StopAsync();
            var serverLog = server.Log;

            var ok = samples.Where(s => s.Error is null).ToList();
            var streamed = ok.Where(s => s.Stream).ToList();
            var plain = ok.Where(s => !s.Stream).ToList();
            var errors = samples.Where(s => s.Error is not null).ToList();
            return new JsonObject
            {
                ["mode"] = mode, ["model"] = model,
                ["requests"] = samples.Count, ["errors"] = errors.Count + ingest.Errors.Count,
                ["chatErrors"] = errors.Count,
                ["errorSamples"] = new JsonArray([.. errors.Select(e => (JsonNode)e.Error!).Concat(ingest.Errors.Select(e => (JsonNode)e)).Take(5)]),
                ["elapsedSeconds"] = Math.Round(elapsed, 2),
                ["requestsPerSecond"] = Math.Round(ok.Count / elapsed, 2),
                ["latencyMs"] = Stats(ok.Select(s => s.TotalMs)),
                ["streaming"] = new JsonObject { ["requests"] = streamed.Count, ["latencyMs"] = Stats(streamed.Select(s => s.TotalMs)), ["firstTokenMs"] = Stats(streamed.Select(s => s.FirstTokenMs)) },
                ["nonStreaming"] = new JsonObject { ["requests"] = plain.Count, ["latencyMs"] = Stats(plain.Select(s => s.TotalMs)) },
                ["followUps"] = ok.Count(s => s.FollowUp),
                ["followUpsRewritten"] = ok.Count(s => s.FollowUp && s.Rewrite is not null and not "none"),
                ["answersWithCitations"] = ok.Count(s => s.Citations > 0),
                ["ingest"] = new JsonObject
                {
                    ["uploads"] = ingest.Uploads, ["jobsDone"] = ingest.Done, ["jobsFailed"] = ingest.Failed, ["documentsAdded"] = ingest.DocumentsAdded,
                    ["errors"] = ingest.Errors.Count, ["jobMs"] = Stats(ingest.JobMs),
                },
                ["server"] = new JsonObject
                {
                    ["peakRssMB"] = Math.Round(Math.Max(hwm, peakSampledRss) / 1048576.0, 1), ["finalRssMB"] = Math.Round(rss / 1048576.0, 1),
                    ["cpuSeconds"] = Math.Round(cpu, 2), ["exitCode"] = exit,
                },
                ["loadAverage"] = loadBefore + " → " + loadAfter,
                ["serverLogTail"] = errors.Count + ingest.Errors.Count > 0 || exit != 0 ? serverLog[Math.Max(0, serverLog.Length - 2000)..] : null,
            };
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static async Task WaitReadyAsync(HttpClient http, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var res = await http.GetAsync("/ready", ct);
                if (res.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            if (sw.Elapsed > TimeSpan.FromSeconds(60)) throw new OpenBookException("the server did not become ready within 60 s.");
            await Task.Delay(100, ct);
        }
    }

    private static JsonObject Stats(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) return new JsonObject { ["count"] = 0 };
        double P(double q) => v[Math.Clamp((int)Math.Ceiling(q * v.Length) - 1, 0, v.Length - 1)];
        return new JsonObject
        {
            ["count"] = v.Length, ["p50"] = Math.Round(P(0.50), 1), ["p95"] = Math.Round(P(0.95), 1), ["max"] = Math.Round(v[^1], 1), ["mean"] = Math.Round(v.Average(), 1),
        };
    }

    /// <summary>One chat request's outcome.</summary>
    private sealed record Sample(bool Stream, bool FollowUp, double TotalMs, double FirstTokenMs, int Citations, string? Rewrite, string? Error);

    /// <summary>A conversation as an OpenAI client keeps it: the messages so far, sent with each new question.</summary>
    private sealed class Conversation(int index, HttpClient http, string key, string model, TimeSpan timeout)
    {
        private readonly JsonArray _messages = [];

        public async Task<Sample> TurnAsync(string question, bool stream, CancellationToken ct)
        {
            var followUp = _messages.Count > 0;
            _messages.Add(new JsonObject { ["role"] = "user", ["content"] = question });
            var body = new JsonObject { ["model"] = model, ["messages"] = _messages.DeepClone(), ["stream"] = stream };
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(timeout);
            var sw = Stopwatch.StartNew();
            double first = double.NaN;
            Sample Fail(string why)
            {
                _messages.RemoveAt(_messages.Count - 1);
                return new Sample(stream, followUp, sw.Elapsed.TotalMilliseconds, double.NaN, 0, null, $"conversation {index}, '{question}': {why}");
            }
            try
            {
                using var res = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
                if (!res.IsSuccessStatusCode) return Fail($"HTTP {(int)res.StatusCode} {Truncate(await res.Content.ReadAsStringAsync(cts.Token))}");
                string text;
                JsonNode? citations, extra;
                if (!stream)
                {
                    var json = JsonNode.Parse(await res.Content.ReadAsStringAsync(cts.Token))!;
                    text = json["choices"]?[0]?["message"]?["content"]?.GetValue<string>() ?? throw new FormatException("no choices[0].message.content");
                    citations = json["citations"];
                    extra = json["openbook"];
                    first = sw.Elapsed.TotalMilliseconds;
                }
                else
                {
                    var sb = new StringBuilder();
                    citations = extra = null;
                    var done = false;
                    using var reader = new StreamReader(await res.Content.ReadAsStreamAsync(cts.Token));
                    while (await reader.ReadLineAsync(cts.Token) is { } line)
                    {
                        if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                        var data = line["data: ".Length..];
                        if (data == "[DONE]")
                        {
                            done = true;
                            break;
                        }
                        var chunk = JsonNode.Parse(data)!;
                        if (chunk["choices"]?[0]?["delta"]?["content"]?.GetValue<string>() is { Length: > 0 } delta)
                        {
                            if (double.IsNaN(first)) first = sw.Elapsed.TotalMilliseconds;
                            sb.Append(delta);
                        }
                        if (chunk["citations"] is { } c) citations = c;
                        if (chunk["openbook"] is { } o) extra = o;
                    }
                    if (!done) return Fail("the stream ended without data: [DONE]");
                    if (extra is null) return Fail("the stream's last chunk had no openbook field");
                    text = sb.ToString();
                    if (double.IsNaN(first)) first = sw.Elapsed.TotalMilliseconds;
                }
                var total = sw.Elapsed.TotalMilliseconds;
                _messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = text });
                return new Sample(stream, followUp, total, first, citations is JsonArray a ? a.Count : 0, extra?["rewrite"]?.GetValue<string>(), null);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return Fail($"no answer within {timeout.TotalSeconds:0} s");
            }
            catch (Exception e) when (e is HttpRequestException or IOException or JsonException or FormatException or InvalidOperationException)
            {
                return Fail($"{e.GetType().Name}: {e.Message}");
            }
        }
    }

    private static string Truncate(string s) => s.Length > 300 ? s[..300] + "…" : s;

    /// <summary>Uploads synthetic documents through the native API, one job after another, until stopped; waits for the last job.</summary>
    private sealed class Ingestor(HttpClient http, string adminKey, int filesPerJob)
    {
        private readonly SyntheticCorpus _corpus = new(vocabularySize: 5000, seed: 11);
        private int _next;

        public int Uploads { get; private set; }
        public int Done { get; private set; }
        public int Failed { get; private set; }
        public int DocumentsAdded { get; private set; }
        public List<double> JobMs { get; } = [];
        public List<string> Errors { get; } = [];

        /// <summary>Starts jobs until <paramref name="stop"/>; a job started before then is still awaited (within <paramref name="ct"/> and 120 s).</summary>
        public async Task RunAsync(CancellationToken stop, CancellationToken ct)
        {
            while (!stop.IsCancellationRequested && Errors.Count < 5)
            {
                try
                {
                    await OneJobAsync(ct);
                }
                catch (Exception e) when (e is HttpRequestException or IOException or JsonException or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    Errors.Add($"ingestion: {e.GetType().Name}: {e.Message}");
                }
            }
        }

        private async Task OneJobAsync(CancellationToken ct)
        {
            var sw = Stopwatch.StartNew();
            using var form = new MultipartFormDataContent();
            form.Add(new StringContent("loadtest"), "collection");
            form.Add(new StringContent("load"), "tags");
            for (var i = 0; i < filesPerJob; i++)
            {
                var n = _next++;
                form.Add(new StringContent(_corpus.Document(n, 600), Encoding.UTF8, "text/markdown"), "files", $"load-{n:D5}.md");
            }
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/documents") { Content = form };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
            using var res = await http.SendAsync(request, ct);
            var text = await res.Content.ReadAsStringAsync(ct);
            if ((int)res.StatusCode != 202)
            {
                Errors.Add($"upload: HTTP {(int)res.StatusCode} {Truncate(text)}");
                return;
            }
            Uploads++;
            var id = JsonNode.Parse(text)!["id"]!.GetValue<string>();
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(120));
            while (true)
            {
                await Task.Delay(100, deadline.Token);
                using var poll = new HttpRequestMessage(HttpMethod.Get, $"/api/jobs/{id}");
                poll.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
                using var pr = await http.SendAsync(poll, deadline.Token);
                var job = JsonNode.Parse(await pr.Content.ReadAsStringAsync(deadline.Token))!;
                if (!pr.IsSuccessStatusCode)
                {
                    Errors.Add($"job {id}: HTTP {(int)pr.StatusCode} {Truncate(job.ToJsonString())}");
                    return;
                }
                switch (job["status"]?.GetValue<string>())
                {
                    case "done":
                        Done++;
                        DocumentsAdded += job["report"]?["added"]?.GetValue<int>() ?? 0;
                        JobMs.Add(sw.Elapsed.TotalMilliseconds);
                        return;
                    case "failed":
                        Failed++;
                        Errors.Add($"job {id} failed: {job["error"]}");
                        return;
                }
            }
        }
    }

    /// <summary><c>openbook serve</c> (OpenBook.Cli.dll beside the bench) as a child process.</summary>
    private sealed class ServerProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _stderr;

        private ServerProcess(Process process, StringBuilder stderr, Uri url)
        {
            _process = process;
            _stderr = stderr;
            Url = url;
        }

        public Uri Url { get; }

        /// <summary>The server's log (stderr), up to 64 kB.</summary>
        public string Log
        {
            get { lock (_stderr) return _stderr.ToString(); }
        }

        public static async Task<ServerProcess> StartAsync(IEnumerable<string> args, CancellationToken ct)
        {
            var cli = Path.Combine(AppContext.BaseDirectory, "OpenBook.Cli.dll");
            if (!File.Exists(cli)) throw new OpenBookException($"{cli}: the openbook CLI is missing beside openbook-bench.dll.");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(cli);
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.Environment["NO_COLOR"] = "1";
            psi.Environment.Remove("OPENBOOK_STORE");
            foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("OPENBOOK_SERVE_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(name);
            var p = Process.Start(psi) ?? throw new OpenBookException("could not start the server.");
            var stderr = new StringBuilder();
            p.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (stderr) if (stderr.Length < 64_000) stderr.AppendLine(e.Data);
            };
            p.BeginErrorReadLine();
            using var startup = CancellationTokenSource.CreateLinkedTokenSource(ct);
            startup.CancelAfter(TimeSpan.FromMinutes(2));
            try
            {
                // serve --json prints {"urls":[…],"models":[…]} once Kestrel listens (port 0: the port it got).
                while (await p.StandardOutput.ReadLineAsync(startup.Token) is { } line)
                {
                    if (!line.TrimStart().StartsWith('{')) continue;
                    if (JsonNode.Parse(line)?["urls"]?[0]?.GetValue<string>() is not { } url) continue;
                    // The rest of stdout is the server's log lines.
                    _ = Task.Run(async () =>
                    {
                        while (await p.StandardOutput.ReadLineAsync(CancellationToken.None) is { } l)
                            lock (stderr) if (stderr.Length < 64_000) stderr.AppendLine(l);
                    }, CancellationToken.None);
                    return new ServerProcess(p, stderr, new Uri(url));
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await p.WaitForExitAsync(CancellationToken.None);
            string why;
            lock (stderr) why = stderr.ToString().Trim();
            p.Dispose();
            throw new OpenBookException($"the server did not start: {Truncate(why)}");
        }

        /// <summary>User + system CPU seconds of the server (from /proc; 0 where there is none).</summary>
        public double CpuSeconds()
        {
            try
            {
                _process.Refresh();
                return _process.TotalProcessorTime.TotalSeconds;
            }
            catch (InvalidOperationException) { return 0; }
        }

        /// <summary>Peak (VmHWM) and current (VmRSS) resident set, in bytes, from /proc/PID/status.</summary>
        public (long Peak, long Current) Memory()
        {
            try
            {
                long Field(string[] lines, string name) =>
                    lines.FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal)) is { } l
                        ? long.Parse(l[name.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024
                        : 0;
                var status = File.ReadAllLines($"/proc/{_process.Id}/status");
                return (Field(status, "VmHWM:"), Field(status, "VmRSS:"));
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            _process.Refresh();
            return (_process.PeakWorkingSet64, _process.WorkingSet64);
        }

        /// <summary>Samples the resident set every 200 ms until <paramref name="stop"/>; the largest value seen.</summary>
        public async Task<long> SampleMemoryAsync(CancellationToken stop)
        {
            long peak = 0;
            while (!stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, Memory().Current);
                try { await Task.Delay(200, stop); } catch (OperationCanceledException) { }
            }
            return peak;
        }

        /// <summary>SIGTERM (graceful shutdown), then the exit code; killed after 30 s.</summary>
        public async Task<int> StopAsync()
        {
            if (_process.HasExited) return _process.ExitCode;
            try
            {
                using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false });
                if (kill is not null) await kill.WaitForExitAsync();
            }
            catch (System.ComponentModel.Win32Exception) { _process.Kill(entireProcessTree: true); }
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try { await _process.WaitForExitAsync(wait.Token); }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None);
            }
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                await _process.WaitForExitAsync(CancellationToken.None);
            }
            _process.Dispose();
        }
    }

    private static void Print(IAnsiConsole console, JsonObject r)
    {
        console.MarkupLine($"[bold]openbook-bench serve-load[/]: {r["conversations"]} concurrent conversations × {r["seconds"]} s per mode, ingestion {(r["ingestion"]!.GetValue<bool>() ? "running" : "off")}, embeddings {r["embed"]}, {r["cores"]} cores");
        var modes = r["modes"]!.AsArray().OfType<JsonObject>().ToList();
        var t = new Table().AddColumn("");
        foreach (var m in modes) t.AddColumn($"{m["mode"]} ({m["model"]})");
        string PP(JsonNode? s) => s?["count"]?.GetValue<int>() is > 0 ? $"{s["p50"]} / {s["p95"]}" : "—";
        void Row(string name, Func<JsonObject, string> value) => t.AddRow([name, .. modes.Select(m => Markup.Escape(value(m)))]);
        Row("chat requests (errors)", m => $"{m["requests"]} ({m["chatErrors"]})");
        Row("requests/s", m => $"{m["requestsPerSecond"]}");
        Row("latency p50 / p95 ms", m => PP(m["latencyMs"]));
        Row("streamed: latency p50 / p95 ms", m => PP(m["streaming"]!["latencyMs"]));
        Row("streamed: first token p50 / p95 ms", m => PP(m["streaming"]!["firstTokenMs"]));
        Row("not streamed: latency p50 / p95 ms", m => PP(m["nonStreaming"]!["latencyMs"]));
        Row("follow-ups (rewritten)", m => $"{m["followUps"]} ({m["followUpsRewritten"]})");
        Row("ingestion jobs done / failed (docs)", m => $"{m["ingest"]!["jobsDone"]} / {m["ingest"]!["jobsFailed"]} ({m["ingest"]!["documentsAdded"]})");
        Row("ingestion job p50 / p95 ms", m => PP(m["ingest"]!["jobMs"]));
        Row("errors in all", m => $"{m["errors"]}");
        Row("server peak RSS MB", m => $"{m["server"]!["peakRssMB"]}");
        Row("server CPU s", m => $"{m["server"]!["cpuSeconds"]}");
        Row("server exit code", m => $"{m["server"]!["exitCode"]}");
        Row("load average", m => $"{m["loadAverage"]}");
        console.Write(t);
        foreach (var m in modes)
            foreach (var e in m["errorSamples"]!.AsArray())
                console.MarkupLine($"[red]{Markup.Escape(e!.ToString())}[/]");
    }
}
