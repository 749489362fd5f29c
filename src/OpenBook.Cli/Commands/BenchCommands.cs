using System.CommandLine;

namespace OpenBook.Cli.Commands;

/// <summary><c>openbook bench …</c>: throughput and latency benchmarks. Each area adds its subcommand here.</summary>
internal static partial class BenchCommands
{
    public static Command Build()
    {
        var bench = new Command("bench", "Benchmarks (speed and memory figures; not tests)");
        foreach (var sub in Subcommands())
            bench.Subcommands.Add(sub);
        return bench;
    }

    private static IEnumerable<Command> Subcommands()
    {
        yield return CoreBenchCommands.Ingest();
        yield return CoreBenchCommands.Search();
        yield return VectorBenchCommands.Build();
        yield return EmbedBenchCommands.Build();
        yield return TokenizerBenchCommands.Tokenizer();
        yield return LlmBenchCommands.Build();
        yield return TrainBenchCommands.Build();
    }
}
