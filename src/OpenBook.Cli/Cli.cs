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

    public static readonly JsonSerializerOptions JsonOptions = OpenBook.Runtime.Reports.OpenBookJson.Options;

    /// <summary>Console for human output: stderr when --json is set, so stdout stays pure JSON.</summary>
    public static IAnsiConsole Out(ParseResult r) => r.GetValue(Json) ? ErrConsole : AnsiConsole.Console;

    public static readonly IAnsiConsole ErrConsole = CreateErrConsole();

    private static IAnsiConsole CreateErrConsole()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        // Not a terminal (a log, a pipe): no hard wrapping at 80 columns.
        if (Console.IsErrorRedirected) console.Profile.Width = 100_000;
        return console;
    }

    /// <summary>Text from documents or models for Spectre markup: control and escape sequences removed, markup escaped.</summary>
    public static string Safe(string text) => Markup.Escape(StripControl(text));

    /// <summary>
    /// Removes terminal control sequences (ESC/CSI/OSC sequences, C0/C1 controls other than tab and newline, bidi
    /// overrides) from untrusted text before it reaches a terminal.
    /// </summary>
    public static string StripControl(string text) => OpenBook.Ingestion.TerminalText.Strip(text);

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
            catch (Exception ex) when (ex is OpenBookException or Models.OpenBookException or IOException or UnauthorizedAccessException or FormatException
                                           or InvalidDataException or ArgumentException)
            {
                return Fail(r.GetValue(Json), ex.Message);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Never a stack trace for the user; OPENBOOK_DEBUG=1 shows it.
                if (Environment.GetEnvironmentVariable("OPENBOOK_DEBUG") == "1") Console.Error.WriteLine(ex);
                return Fail(r.GetValue(Json), $"internal error ({ex.GetType().Name}): {ex.Message}", 70);
            }
        });

    /// <summary>
    /// One clear line on stderr (never wrapped), and with --json <c>{"error":…}</c> as the only stdout document.
    /// Exit codes: 1 for a failed command, 2 for a command line that does not parse, 70 for an internal error.
    /// </summary>
    public static int Fail(bool json, string message, int code = 1)
    {
        var line = StripControl(message).ReplaceLineEndings(" ");
        if (json) WriteJson(new ErrorJson(line));
        Console.Error.WriteLine("error: " + line);
        return code;
    }

    /// <summary>Prints a warning line on stderr (never wrapped).</summary>
    public static void Warn(string message) => Console.Error.WriteLine("warning: " + StripControl(message).ReplaceLineEndings(" "));

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
