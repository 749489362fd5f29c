using Microsoft.ML.OnnxRuntime;

namespace OpenBook.Onnx;

/// <summary>ONNX Runtime threading for one model.</summary>
public sealed record OnnxThreading
{
    /// <summary>Threads inside one operator (0 = ONNX Runtime's default: one per physical core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads running independent operators in parallel (1 = sequential execution, best for BERT).</summary>
    public int InterOpThreads { get; init; } = 1;

    /// <summary>
    /// Let idle intra-op threads spin between operators (ONNX Runtime's own default). OpenBook's default is off: the
    /// threads sleep, which costs little on an idle machine and saves a third of the CPU time of an ingest on one
    /// shared with other work (int8 MiniLM on the handbook, 2 threads: 53-61 vs 40-47 chunks per CPU-second).
    /// </summary>
    public bool AllowSpinning { get; init; }
}

/// <summary>
/// One BERT-style ONNX graph: feeds padded <c>input_ids</c>, <c>attention_mask</c> and (when the graph has it)
/// <c>token_type_ids</c>, as int64 or int32 as the graph declares, and returns one float output.
/// <see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string})"/>
/// is thread-safe, so one runner serves concurrent callers.
/// </summary>
internal sealed class OnnxModelRunner : IDisposable
{
    private static readonly string[] KnownInputs = ["input_ids", "attention_mask", "token_type_ids"];

    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private readonly bool _int32Inputs;

    public OnnxModelRunner(string modelPath, OnnxThreading threading, IReadOnlyList<string> preferredOutputs)
    {
        ModelPath = modelPath;
        try
        {
            using var options = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                ExecutionMode = threading.InterOpThreads > 1 ? ExecutionMode.ORT_PARALLEL : ExecutionMode.ORT_SEQUENTIAL,
                IntraOpNumThreads = threading.IntraOpThreads,
                InterOpNumThreads = threading.InterOpThreads,
            };
            if (!threading.AllowSpinning) options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            _session = new InferenceSession(modelPath, options);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new OpenBookException($"Cannot load ONNX model '{modelPath}': {ex.Message}", ex);
        }

        _inputNames = [.. _session.InputMetadata.Keys];
        foreach (var name in _inputNames)
            if (!KnownInputs.Contains(name))
            {
                _session.Dispose();
                throw new OpenBookException($"ONNX model '{modelPath}' has input '{name}'; a BERT encoder takes only {string.Join(", ", KnownInputs)}.");
            }
        if (!_inputNames.Contains("input_ids"))
        {
            _session.Dispose();
            throw new OpenBookException($"ONNX model '{modelPath}' has no 'input_ids' input (inputs: {string.Join(", ", _inputNames)}).");
        }
        _int32Inputs = _session.InputMetadata["input_ids"].ElementType == typeof(int);
        HasTokenTypes = _inputNames.Contains("token_type_ids");
        OutputName = preferredOutputs.FirstOrDefault(_session.OutputMetadata.ContainsKey) ?? _session.OutputMetadata.Keys.First();
    }

    public string ModelPath { get; }

    public string OutputName { get; }

    public bool HasTokenTypes { get; }

    /// <summary>Runs a batch padded to its longest sequence; returns the output values and shape.</summary>
    /// <param name="ids">Token ids of each sequence (with special tokens).</param>
    /// <param name="typeIds">Token types per sequence (null: all 0).</param>
    public (float[] Values, long[] Shape, int SequenceLength) Run(IReadOnlyList<int[]> ids, IReadOnlyList<int[]>? typeIds = null)
    {
        int batch = ids.Count, seq = ids.Max(x => x.Length);
        var shape = new long[] { batch, seq };
        var inputIds = new long[batch * seq];
        var mask = new long[batch * seq];
        var types = new long[batch * seq];
        for (int b = 0; b < batch; b++)
        {
            var row = ids[b];
            for (int t = 0; t < row.Length; t++)
            {
                inputIds[b * seq + t] = row[t];
                mask[b * seq + t] = 1;
                if (typeIds is not null) types[b * seq + t] = typeIds[b][t];
            }
        }

        var values = new List<OrtValue>(_inputNames.Length);
        try
        {
            foreach (var name in _inputNames)
            {
                var data = name switch { "input_ids" => inputIds, "attention_mask" => mask, _ => types };
                values.Add(_int32Inputs
                    ? OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(data, v => (int)v), shape)
                    : OrtValue.CreateTensorValueFromMemory(data, shape));
            }
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, _inputNames, values, [OutputName]);
            var output = outputs[0];
            return (output.GetTensorDataAsSpan<float>().ToArray(), output.GetTensorTypeAndShape().Shape, seq);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new OpenBookException($"ONNX model '{ModelPath}' failed on a batch of {batch}×{seq} tokens: {ex.Message}", ex);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();
}
