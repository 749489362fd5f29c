using Google.Protobuf;
using Onnx;

namespace OpenBook.Onnx;

/// <summary>What <see cref="OnnxInt8Quantizer.Quantize"/> did.</summary>
/// <param name="MatMuls">MatMul nodes rewritten to int8.</param>
/// <param name="QuantizedWeights">Weights now stored as int8.</param>
/// <param name="InputBytes">Size of the fp32 graph.</param>
/// <param name="OutputBytes">Size of the int8 graph.</param>
public sealed record QuantizeReport(int MatMuls, long QuantizedWeights, long InputBytes, long OutputBytes);

/// <summary>
/// Dynamic int8 quantisation of a transformer's linear layers, done by editing the ONNX protobuf (ONNX Runtime ships no
/// quantisation tool for .NET). Every <c>MatMul(X, W)</c> whose <c>W</c> is a 2-D fp32 initializer becomes ONNX
/// Runtime's <c>com.microsoft.DynamicQuantizeMatMul(X, W_q, scale, zero_point)</c>:
/// <list type="bullet">
/// <item>weights: symmetric, per output column — <c>scale[j] = max_k |W[k, j]| / 127</c>, <c>W_q = round(W / scale)</c>
/// in int8, zero point 0;</item>
/// <item>activations: quantised by the operator at run time, per tensor, to uint8 (asymmetric, min/max of the batch),
/// so the u8×s8 product runs on the VNNI/AVX2 integer kernels and is rescaled to fp32 afterwards.</item>
/// </list>
/// Everything else (embeddings, LayerNorm, softmax, GELU, biases) stays fp32. The result is deterministic for a
/// given input graph. This is the scheme of onnxruntime.quantization.quantize_dynamic with per-channel weights.
/// </summary>
public static class OnnxInt8Quantizer
{
    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>Quantises <paramref name="inputPath"/> into <paramref name="outputPath"/>.</summary>
    /// <param name="inputPath">fp32 ONNX graph.</param>
    /// <param name="outputPath">Where the int8 graph is written.</param>
    /// <param name="minWeights">Smaller weight matrices stay fp32 (their int8 kernels cost more than they save).</param>
    public static QuantizeReport Quantize(string inputPath, string outputPath, int minWeights = 4096)
    {
        ModelProto model;
        try
        {
            using var input = File.OpenRead(inputPath);
            model = ModelProto.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OpenBookException($"'{inputPath}' is not a valid ONNX model: {e.Message}", e);
        }
        var graph = model.Graph ?? throw new OpenBookException($"'{inputPath}' has no graph.");
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var uses = graph.Node.SelectMany(n => n.Input).GroupBy(n => n).ToDictionary(g => g.Key, g => g.Count());

        int matMuls = 0;
        long weights = 0;
        foreach (var node in graph.Node)
        {
            if (node.OpType != "MatMul" || node.Domain is { Length: > 0 } || node.Input.Count != 2) continue;
            if (!initializers.TryGetValue(node.Input[1], out var w) || w.Dims.Count != 2 || w.DataType != (int)TensorProto.Types.DataType.Float) continue;
            if (uses[w.Name] != 1 || w.Dims[0] * w.Dims[1] < minWeights) continue;

            var (q, scale) = QuantizeColumns(ReadFloats(w), (int)w.Dims[0], (int)w.Dims[1]);
            var qName = w.Name + "_quantized";
            var scaleName = w.Name + "_scale";
            var zeroName = w.Name + "_zero_point";
            graph.Initializer.Add(Tensor(qName, [w.Dims[0], w.Dims[1]], TensorProto.Types.DataType.Int8, (byte[])(Array)q));
            graph.Initializer.Add(Tensor(scaleName, [w.Dims[1]], TensorProto.Types.DataType.Float, FloatBytes(scale)));
            graph.Initializer.Add(Tensor(zeroName, [w.Dims[1]], TensorProto.Types.DataType.Int8, new byte[w.Dims[1]]));
            graph.Initializer.Remove(w);
            var stale = graph.Input.FirstOrDefault(i => i.Name == w.Name); // IR < 4 lists initializers as inputs
            if (stale is not null) graph.Input.Remove(stale);

            var x = node.Input[0];
            node.Input.Clear();
            node.Input.Add([x, qName, scaleName, zeroName]);
            node.OpType = "DynamicQuantizeMatMul";
            node.Domain = MicrosoftDomain;
            matMuls++;
            weights += q.Length;
        }
        if (matMuls == 0) throw new OpenBookException($"'{inputPath}': no MatMul with a constant 2-D fp32 weight to quantise.");
        if (!model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        model.ProducerName = "openbook-int8";

        using (var output = File.Create(outputPath)) model.WriteTo(output);
        return new QuantizeReport(matMuls, weights, new FileInfo(inputPath).Length, new FileInfo(outputPath).Length);
    }

    /// <summary>Symmetric per-column int8: <c>W[k, j] ≈ q[k, j] · scale[j]</c>, |q| ≤ 127.</summary>
    internal static (sbyte[] Q, float[] Scale) QuantizeColumns(float[] w, int rows, int cols)
    {
        var scale = new float[cols];
        for (int k = 0; k < rows; k++)
            for (int j = 0; j < cols; j++)
                scale[j] = MathF.Max(scale[j], MathF.Abs(w[k * cols + j]));
        for (int j = 0; j < cols; j++) scale[j] = scale[j] > 0 ? scale[j] / 127f : 1f;
        var q = new sbyte[w.Length];
        for (int k = 0; k < rows; k++)
            for (int j = 0; j < cols; j++)
                q[k * cols + j] = (sbyte)Math.Clamp(MathF.Round(w[k * cols + j] / scale[j], MidpointRounding.ToEven), -127, 127);
        return (q, scale);
    }

    private static float[] ReadFloats(TensorProto t)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
            throw new OpenBookException($"Initializer '{t.Name}' is stored in an external file; quantise a self-contained ONNX graph.");
        if (t.RawData.Length > 0)
        {
            var raw = t.RawData.Span;
            var values = new float[raw.Length / 4];
            for (int i = 0; i < values.Length; i++) values[i] = BitConverter.ToSingle(raw.Slice(i * 4, 4)); // ONNX raw data is little-endian
            return values;
        }
        return [.. t.FloatData];
    }

    private static byte[] FloatBytes(float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 4, 4), values[i]);
        return bytes;
    }

    private static TensorProto Tensor(string name, long[] dims, TensorProto.Types.DataType type, byte[] raw)
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        t.Dims.Add(dims);
        return t;
    }
}
