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

return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
