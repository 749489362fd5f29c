using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using OpenBook.Models.Kernels;

namespace OpenBook.Models.Tensors;

/// <summary>How a weight matrix is stored in memory.</summary>
public enum WeightFormat
{
    /// <summary>32-bit floats.</summary>
    F32,
    /// <summary>bfloat16, widened to fp32 on the fly (half the bytes of fp32).</summary>
    Bf16,
    /// <summary>int8 with one fp32 scale per row (output channel), weight-only (a quarter of the bytes of fp32).</summary>
    Int8,
    /// <summary>4-bit NormalFloat, blockwise absmax (64) with double-quantised absmax (QLoRA's frozen-weight format, ~0.13× fp32).</summary>
    Nf4,
}

/// <summary>
/// A row-major [Rows, Cols] weight matrix in PyTorch <c>nn.Linear</c> layout (rows = output features,
/// cols = input features), stored as fp32, bf16, int8+scales or NF4 (<see cref="Nf4"/>). <see cref="MultiplyTransposed"/>
/// computes <c>y = x·Wᵀ</c>: a weight-streaming GEMV kernel for a few rows of x (decode) and the packed SGEMM (with
/// bf16/int8/NF4 widened while packing) for many rows (prefill). <see cref="Multiply"/> computes <c>dy·W</c>, the input
/// gradient of a frozen linear layer, through the same SGEMM with W used as stored.
/// </summary>
public sealed unsafe class WeightMatrix
{
    /// <summary>Rows at or below which the weight-streaming kernel is used instead of SGEMM.</summary>
    public const int SmallBatchRows = 8;

    private readonly float[]? _f32;
    private readonly ushort[]? _bf16;
    private readonly sbyte[]? _int8;
    private readonly float[]? _scales;
    private readonly Nf4.Quantized? _nf4;

    /// <summary>Output features.</summary>
    public int Rows { get; }
    /// <summary>Input features.</summary>
    public int Cols { get; }
    /// <summary>Storage format.</summary>
    public WeightFormat Format { get; }

    private WeightMatrix(int rows, int cols, WeightFormat format, float[]? f32, ushort[]? bf16, sbyte[]? int8, float[]? scales, Nf4.Quantized? nf4 = null)
    {
        Rows = rows; Cols = cols; Format = format; _f32 = f32; _bf16 = bf16; _int8 = int8; _scales = scales; _nf4 = nf4;
    }

    /// <summary>Wraps fp32 data (not copied).</summary>
    public static WeightMatrix FromF32(float[] data, int rows, int cols)
    {
        if (data.Length != (long)rows * cols) throw new ArgumentException($"Expected {rows}×{cols} values, got {data.Length}.");
        return new(rows, cols, WeightFormat.F32, data, null, null, null);
    }

    /// <summary>Wraps bf16 bit patterns (not copied).</summary>
    public static WeightMatrix FromBf16(ushort[] data, int rows, int cols)
    {
        if (data.Length != (long)rows * cols) throw new ArgumentException($"Expected {rows}×{cols} values, got {data.Length}.");
        return new(rows, cols, WeightFormat.Bf16, null, data, null, null);
    }

    /// <summary>Wraps int8 values with per-row scales (not copied).</summary>
    public static WeightMatrix FromInt8(sbyte[] data, float[] scales, int rows, int cols)
    {
        if (data.Length != (long)rows * cols || scales.Length != rows) throw new ArgumentException($"Expected {rows}×{cols} values and {rows} scales.");
        return new(rows, cols, WeightFormat.Int8, null, null, data, scales);
    }

    /// <summary>Converts to another storage format (bf16 rounds to nearest even; int8 quantizes per row).</summary>
    public WeightMatrix ConvertTo(WeightFormat format)
    {
        if (format == Format) return this;
        var f = ToFloat();
        return format switch
        {
            WeightFormat.F32 => FromF32(f, Rows, Cols),
            WeightFormat.Bf16 => FromBf16(ToBf16Array(f), Rows, Cols),
            WeightFormat.Nf4 => new(Rows, Cols, WeightFormat.Nf4, null, null, null, null, Nf4.Quantize(f)),
            _ => QuantizeInt8(f),
        };
    }

    private WeightMatrix QuantizeInt8(float[] f)
    {
        var (q, s) = Int8Weights.Quantize(f, Rows, Cols);
        return FromInt8(q, s, Rows, Cols);
    }

    private static ushort[] ToBf16Array(float[] f)
    {
        var b = new ushort[f.Length];
        Bf16.FromFloat(f, b);
        return b;
    }

    /// <summary>Bytes the weights occupy (what one decode step must stream from memory).</summary>
    public long ByteSize => Format switch
    {
        WeightFormat.F32 => (long)Rows * Cols * 4,
        WeightFormat.Bf16 => (long)Rows * Cols * 2,
        WeightFormat.Nf4 => _nf4!.ByteSize,
        _ => (long)Rows * Cols + Rows * 4L,
    };

    /// <summary>The fp32 data when stored as fp32 (for training code that updates weights in place); otherwise null.</summary>
    public float[]? F32Data => _f32;

    /// <summary>A dense fp32 copy (or the array itself for fp32 storage).</summary>
    public float[] ToFloat()
    {
        if (_f32 != null) return _f32;
        var f = new float[(long)Rows * Cols];
        if (_bf16 != null) Bf16.ToFloat(_bf16, f);
        else if (_nf4 != null) Nf4.Dequantize(_nf4, 0, f);
        else
            for (int r = 0; r < Rows; r++)
                Int8Weights.Dequantize(_int8.AsSpan(r * Cols, Cols), _scales![r], f.AsSpan(r * Cols, Cols));
        return f;
    }

    /// <summary>Row <paramref name="row"/> widened to fp32 (used for embedding lookups).</summary>
    public void ReadRow(int row, Span<float> dst)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        switch (Format)
        {
            case WeightFormat.F32: _f32.AsSpan(row * Cols, Cols).CopyTo(dst); break;
            case WeightFormat.Bf16: Bf16.ToFloat(_bf16.AsSpan(row * Cols, Cols), dst); break;
            case WeightFormat.Nf4: Nf4.Dequantize(_nf4!, (long)row * Cols, dst[..Cols]); break;
            default: Int8Weights.Dequantize(_int8.AsSpan(row * Cols, Cols), _scales![row], dst); break;
        }
    }

    /// <summary>
    /// <c>y[m, Rows] = x[m, Cols]·Wᵀ + beta·y</c>. Few rows of x (≤ <see cref="SmallBatchRows"/>) stream each
    /// weight row once for all of them; more rows go through the packed, blocked SGEMM.
    /// </summary>
    public void MultiplyTransposed(ReadOnlySpan<float> x, int m, Span<float> y, float beta = 0f)
    {
        if (x.Length < (long)m * Cols) throw new ArgumentException($"x holds {x.Length} values, need {m}×{Cols}.");
        if (y.Length < (long)m * Rows) throw new ArgumentException($"y holds {y.Length} values, need {m}×{Rows}.");
        if (m == 0) return;
        fixed (float* px = x, py = y)
        {
            if (m <= SmallBatchRows) StreamingMultiply(px, m, py, beta);
            else PackedMultiply(asStored: false, m, px, py, beta);
        }
    }

    /// <summary>
    /// <c>dx[m, Cols] = dy[m, Rows]·W + beta·dx</c>: the input gradient of <c>y = x·Wᵀ</c> (the weight itself is frozen).
    /// Runs the packed SGEMM with W used as stored (k = Rows); bf16/int8/NF4 panels are widened/dequantised while packing,
    /// so no fp32 copy of W is ever made.
    /// </summary>
    public void Multiply(ReadOnlySpan<float> dy, int m, Span<float> dx, float beta = 0f)
    {
        if (dy.Length < (long)m * Rows) throw new ArgumentException($"dy holds {dy.Length} values, need {m}×{Rows}.");
        if (dx.Length < (long)m * Cols) throw new ArgumentException($"dx holds {dx.Length} values, need {m}×{Cols}.");
        if (m == 0) return;
        fixed (float* pdy = dy, pdx = dx) PackedMultiply(asStored: true, m, pdy, pdx, beta);
    }

    /// <summary>
    /// The packed SGEMM with this matrix as B, widened/dequantised while packing: <c>c = a·Wᵀ + beta·c</c> (row panels) or,
    /// <paramref name="asStored"/>, <c>c = a·W + beta·c</c> (column panels).
    /// </summary>
    private void PackedMultiply(bool asStored, int m, float* a, float* c, float beta)
    {
        fixed (float* f = _f32)
        fixed (ushort* h = _bf16)
        fixed (sbyte* q = _int8)
        fixed (float* s = _scales)
        {
            var source = Format switch
            {
                WeightFormat.F32 => new Sgemm.PanelSource(asStored ? Sgemm.PanelKind.F32Cols : Sgemm.PanelKind.F32Rows, f, Cols),
                WeightFormat.Bf16 => new Sgemm.PanelSource(asStored ? Sgemm.PanelKind.Bf16Cols : Sgemm.PanelKind.Bf16Rows, h, Cols),
                WeightFormat.Nf4 => Sgemm.PanelSource.FromNf4(asStored ? Sgemm.PanelKind.Nf4Cols : Sgemm.PanelKind.Nf4Rows, _nf4!, Cols),
                _ => new Sgemm.PanelSource(asStored ? Sgemm.PanelKind.Int8Cols : Sgemm.PanelKind.Int8Rows, q, Cols, s),
            };
            if (asStored) Sgemm.Run(Transpose.No, m, Cols, Rows, a, Rows, source, c, Cols, 1f, beta);
            else Sgemm.Run(Transpose.No, m, Rows, Cols, a, Cols, source, c, Rows, 1f, beta);
        }
    }

    private void StreamingMultiply(float* x, int m, float* y, float beta)
    {
        int rowsPerChunk = RowsPerChunk;
        int chunks = (Rows + rowsPerChunk - 1) / rowsPerChunk;
        nint xp = (nint)x, yp = (nint)y;
        ParallelRanges.For(chunks, c =>
        {
            int r0 = c * rowsPerChunk, r1 = Math.Min(Rows, r0 + rowsPerChunk);
            StreamRows(r0, r1, (float*)xp, m, (float*)yp, beta);
        }, work: StreamCost + (long)m * StreamCost / 8);
    }

    /// <summary>
    /// Work of one streaming pass for the parallel threshold: the bytes read, except for NF4, whose decode (about as costly
    /// as reading fp32) dominates its 0.5 byte per weight.
    /// </summary>
    private long StreamCost => Format == WeightFormat.Nf4 ? 4L * Rows * Cols : ByteSize;

    /// <summary>~64 KB of weights per work item keeps scheduling overhead small relative to the memory traffic.</summary>
    private int RowsPerChunk => Math.Max(16, (int)(65536 / Math.Max(1, ByteSize / Rows)));

    /// <summary>
    /// Several products of the same input, <c>outputs[i] = x·matrices[i]ᵀ</c> (e.g. q/k/v or gate/up projections).
    /// For decode-sized inputs all weight rows are streamed in one parallel pass (one barrier instead of one per
    /// matrix); larger inputs run one SGEMM per matrix.
    /// </summary>
    public static void MultiplyTransposedMany(float[] x, int m, IReadOnlyList<WeightMatrix> matrices, IReadOnlyList<float[]> outputs)
    {
        if (matrices.Count != outputs.Count) throw new ArgumentException("One output per matrix.");
        if (m > SmallBatchRows || matrices.Count == 1)
        {
            for (int i = 0; i < matrices.Count; i++) matrices[i].MultiplyTransposed(x, m, outputs[i]);
            return;
        }
        var chunks = new List<(int Matrix, int R0, int R1)>();
        for (int i = 0; i < matrices.Count; i++)
        {
            var w = matrices[i];
            if (w.Cols != matrices[0].Cols || x.Length < (long)m * w.Cols || outputs[i].Length < (long)m * w.Rows)
                throw new ArgumentException($"Matrix {i}: shapes of x, W [{w.Rows}, {w.Cols}] and y do not agree.");
            for (int r0 = 0; r0 < w.Rows; r0 += w.RowsPerChunk) chunks.Add((i, r0, Math.Min(w.Rows, r0 + w.RowsPerChunk)));
        }
        long bytes = matrices.Sum(w => w.StreamCost);
        ParallelRanges.For(chunks.Count, c =>
        {
            var (i, r0, r1) = chunks[c];
            fixed (float* px = x, py = outputs[i]) matrices[i].StreamRows(r0, r1, px, m, py, 0f);
        }, work: bytes + m * bytes / 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void StreamRows(int r0, int r1, float* x, int m, float* y, float beta)
    {
        int cols = Cols, rows = Rows;
        // NF4 rows are decoded once into a scratch row (L1-resident) and then dotted with every row of x.
        float[]? rowBuffer = _nf4 is null ? null : System.Buffers.ArrayPool<float>.Shared.Rent(cols);
        try
        {
            fixed (float* f = _f32, decoded = rowBuffer)
            fixed (ushort* h = _bf16)
            fixed (sbyte* q = _int8)
            {
                for (int r = r0; r < r1; r++)
                {
                    if (_nf4 is not null) Nf4.Dequantize(_nf4, (long)r * cols, decoded, cols);
                    for (int i = 0; i < m; i++)
                    {
                        float* xi = x + (long)i * cols;
                        float v = Format switch
                        {
                            WeightFormat.F32 => Dot(xi, f + (long)r * cols, cols),
                            WeightFormat.Bf16 => Bf16.Dot(xi, h + (long)r * cols, cols),
                            WeightFormat.Nf4 => Dot(xi, decoded, cols),
                            _ => Int8Weights.Dot(xi, q + (long)r * cols, cols) * _scales![r],
                        };
                        float* dst = y + (long)i * rows + r;
                        *dst = beta == 0f ? v : beta * *dst + v;
                    }
                }
            }
        }
        finally
        {
            if (rowBuffer is not null) System.Buffers.ArrayPool<float>.Shared.Return(rowBuffer);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* a, float* b, int n)
    {
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            Vector512<float> acc0 = default, acc1 = default;
            int i = 0;
            for (; i <= n - 32; i += 32)
            {
                acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), acc1);
            }
            float s = Vector512.Sum(acc0 + acc1);
            for (; i < n; i++) s += a[i] * b[i];
            return s;
        }
        return TensorPrimitives.Dot(new ReadOnlySpan<float>(a, n), new ReadOnlySpan<float>(b, n));
    }
}
