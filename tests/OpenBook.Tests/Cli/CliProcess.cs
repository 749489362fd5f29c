using System.Diagnostics;

namespace OpenBook.Tests.Cli;

/// <summary>Runs the real <c>openbook</c> CLI (OpenBook.Cli.dll copied next to the tests) as a child process.</summary>
internal static class CliProcess
{
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "OpenBook.Cli.dll");

    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(DllPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment.Remove("OPENBOOK_STORE");
        // Built-in encoders materialise here once per machine (hash-checked on every open), not in the user's cache.
        if (Environment.GetEnvironmentVariable("OPENBOOK_MODELS") is null)
            psi.Environment["OPENBOOK_MODELS"] = Path.Combine(Path.GetTempPath(), "openbook-tests-models");
        return psi;
    }

    public static Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args) => RunAsync(null, args);

    /// <summary>Runs the CLI with extra environment variables.</summary>
    public static Task<(int Code, string Stdout, string Stderr)> RunAsync(IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        RunWithInputAsync(environment, null, args);

    /// <summary>Runs the CLI in <paramref name="workingDirectory"/> (for relative paths in the arguments).</summary>
    public static Task<(int Code, string Stdout, string Stderr)> RunInAsync(string workingDirectory, params string[] args) =>
        RunWithInputAsync(null, null, args, workingDirectory);

    /// <summary>Runs the CLI with extra environment variables and text on its standard input.</summary>
    public static Task<(int Code, string Stdout, string Stderr)> RunWithInputAsync(IReadOnlyDictionary<string, string>? environment, string? input, params string[] args) =>
        RunWithInputAsync(environment, input, args, null);

    private static async Task<(int Code, string Stdout, string Stderr)> RunWithInputAsync(IReadOnlyDictionary<string, string>? environment, string? input, string[] args,
        string? workingDirectory)
    {
        var psi = StartInfo(args);
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        psi.RedirectStandardInput = input is not null;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) psi.Environment[key] = value;
        using var p = Process.Start(psi)!;
        if (input is not null)
        {
            await p.StandardInput.WriteAsync(input);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(timeout.Token);
        return (p.ExitCode, await stdout, await stderr);
    }
}
