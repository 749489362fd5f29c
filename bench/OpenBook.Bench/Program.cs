using System.CommandLine;
using OpenBook.Bench.Commands;
using Cli = OpenBook.Cli.Cli;

var root = new RootCommand("openbook-bench: throughput, latency and memory of OpenBook's engines next to the peers users would pick instead (not tests).");
root.Options.Add(Cli.Store);
root.Options.Add(Cli.Json);
root.Options.Add(Cli.Quiet);
foreach (var command in BenchCommands.All())
    root.Subcommands.Add(command);

return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
