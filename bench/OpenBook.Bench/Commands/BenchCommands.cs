using System.CommandLine;

namespace OpenBook.Bench.Commands;

/// <summary><c>openbook-bench …</c>: throughput and latency benchmarks. Each area adds its verb here.</summary>
internal static partial class BenchCommands
{
    public static IEnumerable<Command> All()
    {
        yield return CoreBenchCommands.Ingest();
        yield return CoreBenchCommands.Search();
        yield return Bm25PeerBenchCommands.Build();
        yield return VectorBenchCommands.Build();
        yield return EmbedBenchCommands.Build();
        yield return TokenizerBenchCommands.Tokenizer();
        yield return LlmBenchCommands.Build();
        yield return LlamaCppBenchCommands.Build();
        yield return TrainBenchCommands.Build();
        yield return ServeLoadBenchCommands.Build();
    }
}
