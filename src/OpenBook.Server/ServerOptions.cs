using System.Text.Json;

namespace OpenBook.Server;

/// <summary>
/// How <c>openbook serve</c> runs. Read from an optional JSON file (same property names, camelCase), then from
/// <c>OPENBOOK_SERVE_*</c> environment variables (e.g. OPENBOOK_SERVE_URLS), then from command-line flags, each
/// overriding the one before.
/// </summary>
public sealed record ServerOptions
{
    /// <summary>Store directory.</summary>
    public string Store { get; init; } = ".openbook";
    /// <summary>Where to listen (default 127.0.0.1 only).</summary>
    public string Urls { get; init; } = "http://127.0.0.1:5170";
    /// <summary>Language model for <c>openbook-rag</c> (and for rewriting follow-ups); null: extractive answers only.</summary>
    public string? Model { get; init; }
    /// <summary>LoRA adapter directories served as extra models (<c>openbook-raft-NAME</c> or <c>openbook-ft-NAME</c>).</summary>
    public IReadOnlyList<string> Adapters { get; init; } = [];
    /// <summary>Embedding model spec (null: the one recorded on the store's collections, if any).</summary>
    public string? Embed { get; init; }
    /// <summary>Passages retrieved per question.</summary>
    public int K { get; init; } = 5;
    /// <summary>Longest model answer, in tokens.</summary>
    public int MaxTokens { get; init; } = 512;
    /// <summary>Requests per key per minute (0: unlimited).</summary>
    public int RateLimitPerMinute { get; init; } = 120;
    /// <summary>Largest request body (uploads included), in bytes.</summary>
    public long MaxRequestBytes { get; init; } = 32L << 20;
    /// <summary>Origins allowed by CORS (none: CORS off).</summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];
    /// <summary>Earlier conversation messages kept in the prompt (the answerer also trims them to its character budget).</summary>
    public int HistoryMessages { get; init; } = 12;
    /// <summary>"json" for one JSON object per log line, else plain text.</summary>
    public string LogFormat { get; init; } = "text";

    /// <summary>The options of <paramref name="jsonFile"/> (null: defaults), then the environment's OPENBOOK_SERVE_* values.</summary>
    public static ServerOptions Load(string? jsonFile, IDictionary<string, string?>? environment = null)
    {
        var options = new ServerOptions();
        if (jsonFile is not null)
        {
            if (!File.Exists(jsonFile)) throw new OpenBookException($"{jsonFile}: configuration file not found.");
            var info = new FileInfo(jsonFile);
            if (info.Length > 1 << 20) throw new OpenBookException($"{jsonFile}: configuration file is larger than 1 MB.");
            try
            {
                options = JsonSerializer.Deserialize<ServerOptions>(File.ReadAllText(jsonFile), new JsonSerializerOptions(JsonSerializerDefaults.Web) { UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow })
                          ?? options;
            }
            catch (JsonException e)
            {
                throw new OpenBookException($"{jsonFile}: line {(e.LineNumber ?? 0) + 1}: {e.Message.Split('.')[0]}.");
            }
        }
        environment ??= Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value);
        string? Env(string name) => environment.TryGetValue("OPENBOOK_SERVE_" + name, out var v) && !string.IsNullOrWhiteSpace(v) ? v : null;
        int? EnvInt(string name) => Env(name) is { } v ? int.TryParse(v, out var n) ? n : throw new OpenBookException($"OPENBOOK_SERVE_{name}: '{v}' is not a number.") : null;
        static string[] List(string v) => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return options with
        {
            Store = Env("STORE") ?? options.Store,
            Urls = Env("URLS") ?? options.Urls,
            Model = Env("MODEL") ?? options.Model,
            Embed = Env("EMBED") ?? options.Embed,
            Adapters = Env("ADAPTERS") is { } a ? List(a) : options.Adapters,
            CorsOrigins = Env("CORS_ORIGINS") is { } c ? List(c) : options.CorsOrigins,
            RateLimitPerMinute = EnvInt("RATE_LIMIT") ?? options.RateLimitPerMinute,
            K = EnvInt("K") ?? options.K,
            LogFormat = Env("LOG_FORMAT") ?? options.LogFormat,
        };
    }

    /// <summary>Throws on values that cannot work, naming the field.</summary>
    public void Validate()
    {
        if (K is < 1 or > 50) throw new OpenBookException($"k: {K} is outside 1..50.");
        if (MaxTokens is < 1 or > 8192) throw new OpenBookException($"maxTokens: {MaxTokens} is outside 1..8192.");
        if (RateLimitPerMinute < 0) throw new OpenBookException("rateLimitPerMinute: must be 0 (unlimited) or more.");
        if (MaxRequestBytes is < 1024) throw new OpenBookException("maxRequestBytes: must be at least 1024.");
        if (LogFormat is not ("text" or "json")) throw new OpenBookException($"logFormat: '{LogFormat}' is not text or json.");
        foreach (var url in Urls.Split(';', StringSplitOptions.RemoveEmptyEntries))
            if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                throw new OpenBookException($"urls: '{url}' is not an http(s) URL.");
    }
}
