using System.CommandLine;

namespace OpenBook.Cli.Commands;

/// <summary>Every top-level command. Add one line per command group.</summary>
internal static class CommandRegistry
{
    public static IEnumerable<Command> All()
    {
        yield return IngestCommands.Ingest();
        yield return IngestCommands.Reembed();
        yield return CoreCommands.Search();
        yield return CoreCommands.Ask();
        yield return CoreCommands.Chat();
        yield return CoreCommands.Docs();
        yield return CoreCommands.Stats();
        yield return DemoCommands.Demo();
        yield return EmbedCommands.Embed();
        yield return EvalCommands.Eval();
        yield return AdviseCommands.Advise();
        yield return RaftCommands.Build();
        yield return FineTuneCommands.FineTune();
        yield return FineTuneCommands.Merge();
        yield return ExportCommands.Export();
        yield return PretrainCommands.Pretrain();
        yield return LabCommands.Lab();
        yield return ModelsCommands.Models();
        yield return DataCommands.Data();
        yield return ServeCommands.Serve();
        yield return ServeCommands.Keys();
    }
}
