using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Hub;
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
        var cmd = new Command("list", "List the built-in encoders and the models in the local Hugging Face cache");
        Cli.SetHandler(cmd, (r, _) =>
        {
            var options = HubOptions.FromEnvironment();
            var models = HubCache.List(options.CacheDir);
            var builtIn = OpenBook.Onnx.BuiltInEncoders.All.Select(e =>
            {
                var dir = OpenBook.Onnx.BuiltInEncoders.DirectoryOf(e);
                return new
                {
                    name = e.Name, hubId = e.HubId, package = $"{e.PackageId} {e.PackageVersion}", available = OpenBook.Onnx.BuiltInEncoders.IsAvailable(e),
                    path = Directory.Exists(dir) ? dir : null,
                    int8 = File.Exists(Path.Combine(dir, "onnx", "model_quantized.onnx")),
                };
            }).ToList();
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new
                {
                    cache = options.CacheDir,
                    models = models.Select(m => new { id = m.Id, path = m.Path, refs = m.Refs, snapshots = m.Snapshots, sizeBytes = m.SizeBytes }),
                    builtIn,
                });
                return Task.FromResult(0);
            }
            var console = Cli.Out(r);
            var encoders = new Table().AddColumns("Built-in encoder", "Hub id", "From package", "Materialised");
            foreach (var e in builtIn)
                encoders.AddRow(e.name, e.hubId, e.package + (e.available ? "" : " (not referenced)"),
                    Markup.Escape(e.path is null ? "no (on first use)" : e.path + (e.int8 ? " (+int8)" : "")));
            console.Write(encoders);
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

    /// <summary>ChatML without a default system prompt, for tokenizers trained by <c>models init</c>.</summary>
    internal const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// <summary>Shapes for <c>models init</c>: small enough to train on a laptop CPU in minutes.</summary>
    private static readonly Dictionary<string, (int Hidden, int Inter, int Layers, int Heads, int KvHeads)> InitShapes = new()
    {
        ["tiny"] = (64, 192, 2, 4, 2),
        ["small"] = (256, 768, 4, 8, 4),
        ["base"] = (512, 1536, 8, 8, 4),
    };

    private static Command Init()
    {
        var output = new Option<string>("--out") { Description = "Directory to create", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Copy tokenizer.json + tokenizer_config.json from this model directory or Hub id (must have a chat template)" };
        var vocab = new Option<int>("--vocab") { Description = "Without --tokenizer: train a byte-level BPE tokenizer of this size on the store's chunks", DefaultValueFactory = _ => 2048 };
        var shape = new Option<string>("--shape") { Description = "tiny (64 hidden, 2 layers), small (256, 4), base (512, 8)", DefaultValueFactory = _ => "tiny" };
        var seed = new Option<int>("--seed") { Description = "Random seed of the weights", DefaultValueFactory = _ => 1 };
        var cmd = new Command("init", "Create a randomly initialised Llama-architecture model directory (HF layout) with a tokenizer — to smoke-test " +
                                       "fine-tuning, RAFT and eval pipelines offline, or as the start of a closed-world lab model")
        {
            output, tokenizer, vocab, shape, seed,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var dir = r.GetValue(output)!;
            if (!InitShapes.TryGetValue(r.GetValue(shape)!, out var sh))
                throw new OpenBookException($"--shape: unknown shape '{r.GetValue(shape)}' (known: {string.Join(", ", InitShapes.Keys)}).");
            if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
                throw new OpenBookException($"--out {dir}: the directory exists and is not empty.");
            Directory.CreateDirectory(dir);
            string source;
            if (r.GetValue(tokenizer) is { } tokSpec)
            {
                var tokDir = ModelLocator.Resolve(tokSpec, HubOptions.FromEnvironment());
                foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
                    if (File.Exists(Path.Combine(tokDir, name))) File.Copy(Path.Combine(tokDir, name), Path.Combine(dir, name));
                source = tokDir;
            }
            else
            {
                await using var book = await CoreCommands.OpenBook(r, ct);
                var texts = book.Store.AllChunks().Select(c => c.Text).ToList();
                if (texts.Count == 0) throw new OpenBookException($"The store {book.Directory} is empty: ingest documents first, or pass --tokenizer DIR.");
                var trained = global::OpenBook.Models.Formats.Tokenization.BpeTrainer.Train(texts, new global::OpenBook.Models.Formats.Tokenization.BpeTrainerOptions
                {
                    VocabSize = r.GetValue(vocab), SpecialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                });
                File.WriteAllText(Path.Combine(dir, "tokenizer.json"), trained.ToTokenizerJson());
                File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), trained.ToTokenizerConfigJson("<|im_start|>", "<|im_end|>", "<|im_end|>", ChatMlTemplate));
                source = $"{texts.Count} chunks of {book.Directory}";
            }
            var tok = HfTokenizer.FromDirectory(dir);
            if (tok.ChatTemplate is null) throw new OpenBookException($"{source}: the tokenizer has no chat template (tokenizer_config.json chat_template).");
            var config = new global::OpenBook.Models.Formats.ModelConfig
            {
                Architecture = "LlamaForCausalLM", HiddenSize = sh.Hidden, IntermediateSize = sh.Inter, NumHiddenLayers = sh.Layers,
                NumAttentionHeads = sh.Heads, NumKeyValueHeads = sh.KvHeads, HeadDim = sh.Hidden / sh.Heads, VocabSize = tok.VocabSize,
                TieWordEmbeddings = true, MaxPositionEmbeddings = 4096, RopeTheta = 10000, RmsNormEps = 1e-5,
                BosTokenId = tok.BosTokenId, EosTokenIds = tok.EosTokenId is { } e ? [e] : [],
            };
            var model = global::OpenBook.Models.Architectures.ModelLoader.Create(config, new global::OpenBook.Models.Architectures.RandomWeightSource(r.GetValue(seed)));
            File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJson());
            global::OpenBook.Models.Formats.SafetensorsWriter.WriteCheckpoint(dir, global::OpenBook.Models.FineTuning.Export.MergedModelExport.Tensors(model, bf16: false));
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new { path = dir, parameters = config.ParameterCount(), vocab = tok.VocabSize, tokenizer = source });
                return 0;
            }
            Cli.Out(r).MarkupLine($"wrote [green]{Markup.Escape(dir)}[/]: {config.ParameterCount() / 1e6:F2}M parameters (random), vocabulary {tok.VocabSize} ({Markup.Escape(source)})");
            return 0;
        });
        return cmd;
    }
}
