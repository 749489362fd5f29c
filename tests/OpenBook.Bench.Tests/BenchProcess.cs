using System.Diagnostics;

namespace OpenBook.Bench.Tests;

/// <summary>Runs the built <c>openbook-bench</c> (openbook-bench.dll copied next to the tests) as a child process.</summary>
internal static class BenchProcess
{
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "openbook-bench.dll");

    public static Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args) => RunAsync(TimeSpan.FromMinutes(2), args);

    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(TimeSpan limit, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(DllPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment.Remove("OPENBOOK_STORE");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        await p.WaitForExitAsync(timeout.Token);
        return (p.ExitCode, await stdout, await stderr);
    }
}
