namespace OpenBook.Models.Hub;

/// <summary>
/// Where and how to reach the Hugging Face Hub and its local cache. <see cref="FromEnvironment()"/> honours the
/// same variables as huggingface_hub: <c>HF_ENDPOINT</c>, <c>HF_TOKEN</c> (or the token file under
/// <c>HF_HOME</c>), <c>HF_HOME</c>, <c>HF_HUB_CACHE</c> and <c>HF_HUB_OFFLINE</c>.
/// </summary>
public sealed record HubOptions
{
    /// <summary>Hub base URL (default https://huggingface.co).</summary>
    public string Endpoint { get; init; } = "https://huggingface.co";

    /// <summary>Access token for gated/private repositories, or null.</summary>
    public string? Token { get; init; }

    /// <summary>The hub cache directory (<c>HF_HOME/hub</c>), holding <c>models--org--name</c> folders.</summary>
    public string CacheDir { get; init; } = DefaultCacheDir(Environment.GetEnvironmentVariable);

    /// <summary>No network access: only the local cache is used.</summary>
    public bool Offline { get; init; }

    /// <summary>Per-request timeout for metadata calls; downloads use <see cref="DownloadStallTimeout"/>.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A download is retried (resuming) when no byte arrives for this long.</summary>
    public TimeSpan DownloadStallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Attempts per file before giving up (each attempt resumes where the last stopped).</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>Options from the process environment.</summary>
    public static HubOptions FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>Options from an environment lookup (testable).</summary>
    public static HubOptions FromEnvironment(Func<string, string?> env)
    {
        var home = HfHome(env);
        var token = NonEmpty(env("HF_TOKEN")) ?? NonEmpty(env("HUGGING_FACE_HUB_TOKEN"));
        var tokenFile = NonEmpty(env("HF_TOKEN_PATH")) ?? Path.Combine(home, "token");
        if (token is null && File.Exists(tokenFile)) token = NonEmpty(File.ReadAllText(tokenFile).Trim());
        return new HubOptions
        {
            Endpoint = (NonEmpty(env("HF_ENDPOINT")) ?? "https://huggingface.co").TrimEnd('/'),
            Token = token,
            CacheDir = DefaultCacheDir(env),
            Offline = IsTrue(env("HF_HUB_OFFLINE")) || IsTrue(env("TRANSFORMERS_OFFLINE")),
        };
    }

    private static string HfHome(Func<string, string?> env) =>
        NonEmpty(env("HF_HOME")) ?? Path.Combine(
            NonEmpty(env("XDG_CACHE_HOME")) ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
            "huggingface");

    private static string DefaultCacheDir(Func<string, string?> env) =>
        NonEmpty(env("HF_HUB_CACHE")) ?? NonEmpty(env("HUGGINGFACE_HUB_CACHE")) ?? Path.Combine(HfHome(env), "hub");

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    private static bool IsTrue(string? s) => s?.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";
}
