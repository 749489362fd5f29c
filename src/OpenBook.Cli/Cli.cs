using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using OpenBook;
using Spectre.Console;

namespace OpenBook.Cli;

/// <summary>Options shared by every command, and helpers for output and errors. Command files use these.</summary>
internal static class Cli
{
    public static readonly Option<string> Store = new("--store")
    {
        Description = "Store directory (SQLite + indexes)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OPENBOOK_STORE") ?? ".openbook",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print machine-readable JSON on stdout instead of text",
        Recursive = true,
    };

    public static readonly Option<bool> Quiet = new("--quiet", "-q")
    {
        Description = "No progress output",
        Recursive = true,
    };

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Console for human output: stderr when --json is set, so stdout stays pure JSON.</summary>
    public static IAnsiConsole Out(ParseResult r) => r.GetValue(Json) ? ErrConsole : AnsiConsole.Console;

    public static readonly IAnsiConsole ErrConsole = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(Console.Error),
    });

    public static void WriteJson<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, JsonOptions));

    /// <summary>True when progress bars should be drawn (not --quiet, not --json, and an interactive terminal).</summary>
    public static bool ShowProgress(ParseResult r) =>
        !r.GetValue(Quiet) && !r.GetValue(Json) && !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>
    /// Wraps a command body: user errors (<see cref="OpenBookException"/>) become one clear line on stderr and a
    /// non-zero exit code (and <c>{"error":…}</c> with --json); cancellation exits 130.
    /// </summary>
    public static void SetHandler(Command command, Func<ParseResult, CancellationToken, Task<int>> body) =>
        command.SetAction(async (r, ct) =>
        {
            try
            {
                return await body(r, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Console.Error.WriteLine("Cancelled.");
                return 130;
            }
            catch (Exception ex) when (ex is OpenBookException or IOException or UnauthorizedAccessException or FormatException or InvalidDataException)
            {
                return Fail(r, ex.Message, ex is OpenBookException obe ? obe.ExitCode : 1);
            }
        });

    public static int Fail(ParseResult r, string message, int code = 1)
    {
        if (r.GetValue(Json)) WriteJson(new { error = message });
        ErrConsole.MarkupLine($"[red]error:[/] {Markup.Escape(message)}");
        return code;
    }

    /// <summary>Deletes a temporary directory (closing pooled SQLite connections first); failures are ignored.</summary>
    public static void TryDeleteDirectory(string directory)
    {
        try
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>IProgress that calls back synchronously on the reporting thread (Spectre's progress tasks are thread-safe).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
