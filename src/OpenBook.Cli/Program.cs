using System.CommandLine;
using OpenBook.Cli;
using OpenBook.Cli.Commands;

var root = new RootCommand("OpenBook: adapt a language model to your own documents with RAG, fine-tuning or RAFT, and measure which wins.");
root.Options.Add(Cli.Store);
root.Options.Add(Cli.Json);
root.Options.Add(Cli.Quiet);

// One line per command group; each lives in Commands/<Name>Commands.cs.
foreach (var command in CommandRegistry.All())
    root.Subcommands.Add(command);

var parse = root.Parse(args);
// A command line that does not parse: one line (and {"error":…} with --json), not the help text.
if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
    return Cli.Fail(args.Contains("--json"), string.Join("; ", parse.Errors.Select(e => e.Message).Distinct()) + " (see --help)", 2);
return await parse.InvokeAsync().ConfigureAwait(false);
