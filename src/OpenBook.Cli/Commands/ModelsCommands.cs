using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Hub;
using OpenBook.Runtime;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook models pull|list|show</c>: Hugging Face Hub downloads into the shared HF cache.</summary>
internal static class ModelsCommands
{
    public static Command Models()
    {
        var cmd = new Command("models", "Download and inspect models (Hugging Face Hub cache: HF_HOME/hub; honours HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE)");
        cmd.Subcommands.Add(Pull());
        cmd.Subcommands.Add(List());
        cmd.Subcommands.Add(Show());
        cmd.Subcommands.Add(Init());
        return cmd;
    }

    private static Command Pull()
    {
        var id = new Argument<string>("id") { Description = "Hub model id, e.g. HuggingFaceTB/SmolLM2-360M-Instruct" };
        var revision = new Option<string>("--revision") { Description = "Branch, tag or commit", DefaultValueFactory = _ => "main" };
        var include = new Option<string[]>("--include")
        {
            Description = $"Glob of files to fetch (repeatable; default: {string.Join(" ", HubClient.DefaultInclude)})",
            AllowMultipleArgumentsPerToken = true,
        };
        var cmd = new Command("pull", "Download a model from the Hugging Face Hub (resumable, verified, reusing cached files)") { id, revision, include };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var patterns = r.GetValue(include) is { Length: > 0 } p ? p : null;
            using var client = new HubClient(HubOptions.FromEnvironment());
            HubDownloadResult result;
            if (Cli.ShowProgress(r))
            {
                result = await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                    .StartAsync(async ctx =>
                    {
                        var tasks = new Dictionary<string, ProgressTask>();
                        var progress = new SyncProgress<HubDownloadProgress>(p =>
                        {
                            if (!tasks.TryGetValue(p.File, out var t))
                                tasks[p.File] = t = ctx.AddTask(Markup.Escape(p.File), maxValue: Math.Max(1, p.TotalBytes));
                            t.Value = p.BytesDone;
                        });
                        return await client.PullAsync(r.GetValue(id)!, r.GetValue(revision)!, patterns, progress, ct);
                    });
            }
            else result = await client.PullAsync(r.GetValue(id)!, r.GetValue(revision)!, patterns, null, ct);

            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new
                {
                    id = r.GetValue(id), commit = result.Commit, path = result.SnapshotDir, downloaded = result.Downloaded,
                    reused = result.Reused, bytesDownloaded = result.BytesDownloaded, fromCacheOnly = result.FromCacheOnly,
                });
                return 0;
            }
            var console = Cli.Out(r);
            if (result.FromCacheOnly) console.MarkupLine("[yellow]Hub not used (offline or unreachable); serving the cached snapshot.[/]");
            console.MarkupLine($"{Markup.Escape(r.GetValue(id)!)} @ {result.Commit[..Math.Min(12, result.Commit.Length)]}: " +
                               $"{result.Downloaded.Count} downloaded ({Size(result.BytesDownloaded)}), {result.Reused.Count} already cached");
            console.MarkupLine($"[green]{Markup.Escape(result.SnapshotDir)}[/]");
            return 0;
        });
        return cmd;
    }

    private static Command List()
    {
        var cmd = new Command("list", "List models in the local Hugging Face cache");
        Cli.SetHandler(cmd, (r, _) =>
        {
            var options = HubOptions.FromEnvironment();
            var models = HubCache.List(options.CacheDir);
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new
                {
                    cache = options.CacheDir,
                    models = models.Select(m => new { id = m.Id, path = m.Path, refs = m.Refs, snapshots = m.Snapshots, sizeBytes = m.SizeBytes }),
                });
                return Task.FromResult(0);
            }
            var console = Cli.Out(r);
            if (models.Count == 0)
            {
                console.MarkupLine($"No models in {Markup.Escape(options.CacheDir)}. Download one with [bold]openbook models pull ORG/NAME[/].");
                return Task.FromResult(0);
            }
            var table = new Table().AddColumns("Model", "Revisions", "Size", "Path");
            foreach (var m in models)
                table.AddRow(Markup.Escape(m.Id), Markup.Escape(string.Join(", ", m.Refs.Keys.DefaultIfEmpty(m.Snapshots.FirstOrDefault() ?? "-"))),
                    Size(m.SizeBytes), Markup.Escape(m.Path));
            console.Write(table);
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static Command Show()
    {
        var id = new Argument<string>("model") { Description = "Hub model id (cached) or model directory" };
        var revision = new Option<string>("--revision") { Description = "Branch, tag or commit", DefaultValueFactory = _ => "main" };
        var cmd = new Command("show", "Show a model's files, configuration and tokenizer") { id, revision };
        Cli.SetHandler(cmd, (r, _) =>
        {
            var dir = ModelLocator.Resolve(r.GetValue(id)!, HubOptions.FromEnvironment(), r.GetValue(revision)!);
            var files = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
                .Select(f => (Name: Path.GetRelativePath(dir, f).Replace('\\', '/'), Bytes: new FileInfo(f).Length))
                .OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
            var config = ReadConfig(Path.Combine(dir, "config.json"));
            HfTokenizer? tok = File.Exists(Path.Combine(dir, "tokenizer.json")) ? HfTokenizer.FromDirectory(dir) : null;
            var tokenizer = tok is null ? null : new
            {
                vocabSize = tok.VocabSize, bos = tok.BosToken, eos = tok.EosToken, pad = tok.PadToken,
                addsBos = tok.AddsBos, chatTemplate = tok.ChatTemplate is not null,
            };
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new { path = dir, files = files.Select(f => new { name = f.Name, bytes = f.Bytes }), config, tokenizer });
                return Task.FromResult(0);
            }
            var console = Cli.Out(r);
            console.MarkupLine($"[bold]{Markup.Escape(dir)}[/]");
            var table = new Table().AddColumns("File", "Size");
            foreach (var f in files) table.AddRow(Markup.Escape(f.Name), Size(f.Bytes));
            console.Write(table);
            foreach (var (k, v) in config) console.MarkupLine($"  {Markup.Escape(k)}: {Markup.Escape(v)}");
            if (tokenizer is not null)
                console.MarkupLine($"  tokenizer: {tokenizer.vocabSize} ids, bos={Markup.Escape(tokenizer.bos ?? "-")}, eos={Markup.Escape(tokenizer.eos ?? "-")}, " +
                                   $"chat template: {(tokenizer.chatTemplate ? "yes" : "no")}");
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static readonly string[] ConfigKeys =
    [
        "architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "vocab_size", "max_position_embeddings", "rope_theta", "tie_word_embeddings", "torch_dtype",
    ];

    private static Dictionary<string, string> ReadConfig(string path)
    {
        var result = new Dictionary<string, string>();
        if (!File.Exists(path)) return result;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            foreach (var key in ConfigKeys)
                if (doc.RootElement.TryGetProperty(key, out var v))
                    result[key] = v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText();
        }
        catch (JsonException ex)
        {
            throw new OpenBookException($"{path}: invalid JSON at line {ex.LineNumber + 1}: {ex.Message}", ex);
        }
        return result;
    }

    private static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes + " B",
    };

    /// <summary>IProgress that calls back synchronously (Spectre's progress context is not thread-safe).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        private readonly Lock _gate = new();

        public void Report(T value)
        {
            lock (_gate) report(value);
        }
    }

    private static Command Init()
    {
        var output = new Option<string>("--out") { Description = "Directory to create", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Copy tokenizer.json + tokenizer_config.json from this model directory or Hub id (must have a chat template)" };
        var vocab = new Option<int>("--vocab") { Description = "Without --tokenizer: train a byte-level BPE tokenizer of this size on the store's chunks (those --as-groups may read)", DefaultValueFactory = _ => 2048 };
        var shape = new Option<InitShape>("--shape") { Description = "tiny (64 hidden, 2 layers), small (256, 4), base (512, 8)", DefaultValueFactory = _ => InitShape.Tiny };
        var seed = new Option<int>("--seed") { Description = "Random seed of the weights", DefaultValueFactory = _ => 1 };
        var cmd = new Command("init", "Create a randomly initialised Llama-architecture model directory (HF layout) with a tokenizer — to smoke-test " +
                                       "fine-tuning, RAFT and eval pipelines offline, or as the start of a closed-world lab model")
        {
            output, tokenizer, vocab, shape, seed, CoreCommands.AsGroups, CoreCommands.AllAccess,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var request = new ModelInitRequest
            {
                OutputDirectory = r.GetValue(output)!, Shape = r.GetValue(shape), Tokenizer = r.GetValue(tokenizer), VocabSize = r.GetValue(vocab),
                Seed = r.GetValue(seed), Scope = CoreCommands.Scope(r),
            };
            ModelInitResult result;
            if (request.Tokenizer is not null) result = await ModelInit.CreateAsync(request, null, ct);
            else
            {
                await using var book = await CoreCommands.OpenBook(r, ct);
                result = await ModelInit.CreateAsync(request, book, ct);
            }
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(result);
                return 0;
            }
            Cli.Out(r).MarkupLine($"wrote [green]{Markup.Escape(result.Path)}[/]: {result.Parameters / 1e6:F2}M parameters (random), vocabulary {result.Vocab} ({Markup.Escape(result.Tokenizer)}; read as {Markup.Escape(request.Scope.ToString())})");
            return 0;
        });
        return cmd;
    }
}
