using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OpenBook.Models.Kernels;

/// <summary>Whether a matrix operand is used as stored or transposed.</summary>
public enum Transpose
{
    /// <summary>Use the matrix as stored (row-major).</summary>
    No,
    /// <summary>Use the transpose of the stored (row-major) matrix.</summary>
    Yes,
}

/// <summary>
/// Single-precision general matrix multiply: <c>C = alpha·op(A)·op(B) + beta·C</c>, all matrices row-major.
/// Blocked and packed in the GotoBLAS style (A panels of <see cref="MR"/> rows, B panels of <see cref="NR"/>
/// columns, K blocked by <see cref="KC"/>), with a Vector512 FMA micro-kernel (Vector256 and scalar fallbacks)
/// and M blocks spread over threads. <see cref="ReferenceKernels.Sgemm"/> is the scalar definition tests compare to.
/// </summary>
public static unsafe class Sgemm
{
    /// <summary>Rows of C computed by one micro-kernel call.</summary>
    public const int MR = 8;
    /// <summary>Columns of C computed by one micro-kernel call (two 16-float vectors).</summary>
    public const int NR = 32;
    /// <summary>K block: one packed B sliver (KC×NR floats) stays in L1/L2 while an A block streams past it.</summary>
    public const int KC = 256;
    /// <summary>M block: one packed A block (MC×KC floats) per thread stays in L2.</summary>
    public const int MC = 96;
    /// <summary>N chunk: one task's packed B block (KC×NC floats, 1 MiB) stays in L2/L3 while its M blocks pass over it.</summary>
    public const int NC = 1024;

    /// <summary>
    /// <c>C[m×n] = alpha·op(A)·op(B) + beta·C</c>. op(A) is m×k, op(B) is k×n. Leading dimensions are the row
    /// strides of the arrays as stored (for a transposed operand, the stride of the stored k×m or n×k array).
    /// </summary>
    public static void Multiply(Transpose transA, Transpose transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc,
        float alpha = 1f, float beta = 0f)
    {
        CheckSizes(transA, m, k, a.Length, lda, "A");
        CheckSizes(transB, k, n, b.Length, ldb, "B");
        if (m > 0 && (ldc < n || c.Length < (long)(m - 1) * ldc + n)) throw new ArgumentException("C is too small for m×n with ldc.");
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
        {
            var bs = new PanelSource(transB == Transpose.Yes ? PanelKind.F32Rows : PanelKind.F32Cols, pb, ldb);
            Run(transA, m, n, k, pa, lda, bs, pc, ldc, alpha, beta);
        }
    }

    /// <summary>Convenience for the common layout: <c>C = A·Bᵀ</c> (A m×k, B n×k, C m×n, all dense).</summary>
    public static void MultiplyNT(int m, int n, int k, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, float beta = 0f) =>
        Multiply(Transpose.No, Transpose.Yes, m, n, k, a, k, b, k, c, n, 1f, beta);

    internal static void CheckSizes(Transpose t, int rows, int cols, int length, int ld, string name)
    {
        if (rows < 0 || cols < 0) throw new ArgumentException($"{name}: negative size.");
        int storedRows = t == Transpose.No ? rows : cols, storedCols = t == Transpose.No ? cols : rows;
        if (storedRows == 0 || storedCols == 0) return;
        if (ld < storedCols) throw new ArgumentException($"{name}: leading dimension {ld} < {storedCols}.");
        if (length < (long)(storedRows - 1) * ld + storedCols) throw new ArgumentException($"{name} is too small for its size and leading dimension.");
    }

    /// <summary>How B (the N side) is stored; packing widens/dequantizes it to fp32 panels on the fly.</summary>
    internal enum PanelKind
    {
        /// <summary>fp32 k×n row-major: column j of op(B) is strided.</summary>
        F32Cols,
        /// <summary>fp32 n×k row-major (op(B) = stored transposed, i.e. weights [out, in]).</summary>
        F32Rows,
        /// <summary>bf16 n×k row-major weights.</summary>
        Bf16Rows,
        /// <summary>int8 n×k row-major weights with one fp32 scale per row.</summary>
        Int8Rows,
        /// <summary>NF4 n×k row-major weights (<see cref="Kernels.Nf4.Quantized"/>).</summary>
        Nf4Rows,
        /// <summary>bf16 k×n row-major weights used as stored (op(B) = W, e.g. the input gradient dy·W).</summary>
        Bf16Cols,
        /// <summary>int8 k×n row-major weights with one fp32 scale per stored row (= per k index), used as stored.</summary>
        Int8Cols,
        /// <summary>NF4 k×n row-major weights used as stored.</summary>
        Nf4Cols,
    }

    /// <summary>Where packing reads B: raw storage (<paramref name="data"/>, row stride <paramref name="ld"/>) and, for int8, per-row scales; for NF4 the quantised tensor (row stride <paramref name="ld"/> in elements).</summary>
    internal readonly struct PanelSource(PanelKind kind, void* data, int ld, float* scales = null, Nf4.Quantized? nf4 = null)
    {
        public readonly PanelKind Kind = kind;
        public readonly void* Data = data;
        public readonly int Ld = ld;
        public readonly float* Scales = scales;
        public readonly Nf4.Quantized? Nf4 = nf4;

        /// <summary>An NF4 source (no pinned pointer needed: packing pins the codes itself).</summary>
        public static PanelSource FromNf4(PanelKind kind, Nf4.Quantized q, int ld) => new(kind, null, ld, null, q);

        /// <summary>True when op(B) is B as stored (k×n): panel rows are contiguous runs of a stored row.</summary>
        public bool ColumnPanels => Kind is PanelKind.F32Cols or PanelKind.Bf16Cols or PanelKind.Int8Cols or PanelKind.Nf4Cols;
    }

    /// <summary>
    /// Computes C = alpha·op(A)·B' + beta·C where B' comes from a packed-panel source. The (M blocks × N panels)
    /// grid is cut into a few tasks (along M first, then N), run in one parallel region. Each task loops as BLIS:
    /// N chunks of <see cref="NC"/> columns, K blocks of <see cref="KC"/> (packing its own B panels once per K
    /// block), then its M blocks of <see cref="MC"/> rows (packing A) through the micro-kernel.
    /// </summary>
    internal static void Run(Transpose transA, int m, int n, int k, float* a, int lda, PanelSource bs, float* c, int ldc, float alpha, float beta)
    {
        if (k == 0)
        {
            ScaleC(m, n, c, ldc, beta);
            return;
        }
        int mBlocks = (m + MC - 1) / MC, nPanels = (n + NR - 1) / NR;
        long flops = 2L * m * n * k;
        // Two tasks per thread let a thread that was not preempted pick up the slack of one that was.
        int tasks = flops < 4_000_000 || KernelThreads.Max == 1 ? 1 : 2 * KernelThreads.Max;
        // Enough N parts that the task count reaches the target (3 M blocks × 2 N parts, not 3 tasks on 2 threads).
        int mParts = Math.Min(mBlocks, tasks), nParts = Math.Min(nPanels, (tasks + mParts - 1) / mParts);
        nint aPtr = (nint)a, cPtr = (nint)c;
        void Task(int t)
        {
            int mp = t / nParts, np = t % nParts;
            RunTask(mBlocks * mp / mParts, mBlocks * (mp + 1) / mParts, nPanels * np / nParts, nPanels * (np + 1) / nParts,
                transA, m, n, k, (float*)aPtr, lda, bs, (float*)cPtr, ldc, alpha, beta);
        }
        if (mParts * nParts == 1) Task(0);
        else ParallelRanges.For(mParts * nParts, Task);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunTask(int mb0, int mb1, int panel0, int panel1, Transpose transA, int m, int n, int k,
        float* a, int lda, PanelSource bs, float* c, int ldc, float alpha, float beta)
    {
        if (mb0 >= mb1 || panel0 >= panel1) return;
        const int panelsPerChunk = NC / NR;
        float[] packedB = System.Buffers.ArrayPool<float>.Shared.Rent(Math.Min(panelsPerChunk, panel1 - panel0) * NR * Math.Min(KC, k));
        try
        {
            fixed (float* bPacked = packedB)
                for (int chunk = panel0; chunk < panel1; chunk += panelsPerChunk)
                {
                    int count = Math.Min(panelsPerChunk, panel1 - chunk), jc0 = chunk * NR, nc = Math.Min(count * NR, n - jc0);
                    for (int pc = 0; pc < k; pc += KC)
                    {
                        int kc = Math.Min(KC, k - pc);
                        PackB(bs, pc, kc, jc0, 0, count, n, bPacked);
                        for (int mb = mb0; mb < mb1; mb++)
                            ComputeBlock(mb, 0, count, transA, m, jc0, nc, kc, pc, a, lda, bPacked, c, ldc, alpha, pc == 0 ? beta : 1f);
                    }
                }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(packedB);
        }
    }

    private static void ScaleC(int m, int n, float* c, int ldc, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    /// <summary>M block <paramref name="mb"/> against packed B panels p0..p1 of the N block starting at column <paramref name="jc0"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ComputeBlock(int mb, int p0, int p1, Transpose transA, int m, int jc0, int nc, int kc, int pc,
        float* a, int lda, float* bPacked, float* c, int ldc, float alpha, float beta)
    {
        if (p0 >= p1) return;
        float[] aBuf = System.Buffers.ArrayPool<float>.Shared.Rent(MC * KC);
        float* tile = stackalloc float[MR * NR];
        try
        {
            fixed (float* aPacked = aBuf)
            {
                int ic = mb * MC, mc = Math.Min(MC, m - ic);
                PackA(transA, a, lda, ic, mc, pc, kc, aPacked);
                for (int jp = p0; jp < p1; jp++)
                {
                    int jc = jc0 + jp * NR, nr = Math.Min(NR, jc0 + nc - jc);
                    float* bp = bPacked + (long)jp * NR * kc;
                    for (int ir = 0; ir < mc; ir += MR)
                    {
                        int mr = Math.Min(MR, mc - ir);
                        float* ap = aPacked + (long)ir * kc;
                        float* cp = c + (long)(ic + ir) * ldc + jc;
                        if (mr == MR && nr == NR) MicroKernel(kc, ap, bp, cp, ldc, alpha, beta);
                        else
                        {
                            MicroKernel(kc, ap, bp, tile, NR, alpha, 0f);
                            for (int i = 0; i < mr; i++)
                                for (int j = 0; j < nr; j++)
                                {
                                    float* dst = cp + (long)i * ldc + j;
                                    *dst = beta == 0f ? tile[i * NR + j] : beta * *dst + tile[i * NR + j];
                                }
                        }
                    }
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(aBuf);
        }
    }

    /// <summary>Packs rows ic..ic+mc of op(A), columns pc..pc+kc, into MR-row panels: panel[p][kk][r], zero padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(Transpose transA, float* a, int lda, int ic, int mc, int pc, int kc, float* dst)
    {
        for (int ir = 0; ir < mc; ir += MR)
        {
            int mr = Math.Min(MR, mc - ir);
            float* panel = dst + (long)ir * kc;
            if (transA == Transpose.No)
            {
                for (int r = 0; r < MR; r++)
                {
                    float* d = panel + r;
                    if (r < mr)
                    {
                        float* src = a + (long)(ic + ir + r) * lda + pc;
                        for (int kk = 0; kk < kc; kk++) d[kk * MR] = src[kk];
                    }
                    else for (int kk = 0; kk < kc; kk++) d[kk * MR] = 0f;
                }
            }
            else
            {
                // op(A)[i, kk] = A[kk, i]: rows of stored A are contiguous along i.
                for (int kk = 0; kk < kc; kk++)
                {
                    float* src = a + (long)(pc + kk) * lda + ic + ir;
                    float* d = panel + kk * MR;
                    int r = 0;
                    for (; r < mr; r++) d[r] = src[r];
                    for (; r < MR; r++) d[r] = 0f;
                }
            }
        }
    }

    /// <summary>
    /// Packs NR-column panels p0..p1 of op(B) (columns jc0 + p·NR …, rows pc..pc+kc) as panel[p][kk][j], zero padded.
    /// Row-stored weights are transposed on the way, widening bf16 and dequantizing int8.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(PanelSource bs, int pc, int kc, int jc0, int p0, int p1, int n, float* dst)
    {
        float** rows = stackalloc float*[NR];
        float[]? scratchArray = bs.ColumnPanels || bs.Kind == PanelKind.F32Rows ? null : System.Buffers.ArrayPool<float>.Shared.Rent(NR * KC);
        fixed (float* scratch = scratchArray)
        for (int p = p0; p < p1; p++)
        {
            int jc = jc0 + p * NR, nr = Math.Min(NR, n - jc);
            float* panel = dst + (long)p * NR * kc;
            if (bs.ColumnPanels)
            {
                for (int kk = 0; kk < kc; kk++) PackColumnRun(bs, pc + kk, jc, nr, panel + kk * NR);
                continue;
            }
            // Row-stored weights [n, k]: column j of op(B) is row jc+j of the storage. Gather NR row pointers (widening
            // bf16/int8 rows into a scratch block first), then write the panel sequentially, kk-major.
            for (int j = 0; j < nr; j++)
            {
                long row = jc + j;
                switch (bs.Kind)
                {
                    case PanelKind.F32Rows:
                        rows[j] = (float*)bs.Data + row * bs.Ld + pc;
                        break;
                    case PanelKind.Bf16Rows:
                        rows[j] = scratch + j * KC;
                        Bf16.ToFloat(new ReadOnlySpan<ushort>((ushort*)bs.Data + row * bs.Ld + pc, kc), new Span<float>(rows[j], kc));
                        break;
                    case PanelKind.Nf4Rows:
                        rows[j] = scratch + j * KC;
                        Nf4.Dequantize(bs.Nf4!, row * bs.Ld + pc, rows[j], kc);
                        break;
                    default:
                        rows[j] = scratch + j * KC;
                        Int8Weights.Dequantize(new ReadOnlySpan<sbyte>((sbyte*)bs.Data + row * bs.Ld + pc, kc), bs.Scales[row], new Span<float>(rows[j], kc));
                        break;
                }
            }
            if (nr == NR)
            {
                int kk = 0;
                if (Avx.IsSupported)
                    for (; kk <= kc - 8; kk += 8)
                        for (int g = 0; g < NR; g += 8) Transpose8x8(rows + g, kk, panel + kk * NR + g, NR);
                for (; kk < kc; kk++)
                {
                    float* d = panel + kk * NR;
                    for (int j = 0; j < NR; j++) d[j] = rows[j][kk];
                }
            }
            else
                for (int kk = 0; kk < kc; kk++)
                {
                    float* d = panel + kk * NR;
                    int j = 0;
                    for (; j < nr; j++) d[j] = rows[j][kk];
                    for (; j < NR; j++) d[j] = 0f;
                }
        }
        if (scratchArray is not null) System.Buffers.ArrayPool<float>.Shared.Return(scratchArray);
    }

    /// <summary>
    /// One row of a column panel: elements <c>B[row, jc..jc+nr)</c> of a k×n stored B, widened/dequantised to fp32 and
    /// zero padded to <see cref="NR"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PackColumnRun(PanelSource bs, int row, int jc, int nr, float* d)
    {
        long offset = (long)row * bs.Ld + jc;
        switch (bs.Kind)
        {
            case PanelKind.F32Cols:
                Buffer.MemoryCopy((float*)bs.Data + offset, d, nr * sizeof(float), nr * sizeof(float));
                break;
            case PanelKind.Bf16Cols:
            {
                ushort* src = (ushort*)bs.Data + offset;
                if (nr == NR && Vector512.IsHardwareAccelerated)
                {
                    var v = Vector512.Load(src);
                    Vector512.ShiftLeft(Vector512.WidenLower(v), 16).AsSingle().Store(d);
                    Vector512.ShiftLeft(Vector512.WidenUpper(v), 16).AsSingle().Store(d + 16);
                }
                else Bf16.ToFloat(new ReadOnlySpan<ushort>(src, nr), new Span<float>(d, nr));
                break;
            }
            case PanelKind.Int8Cols:
            {
                sbyte* src = (sbyte*)bs.Data + offset;
                float scale = bs.Scales[row];
                if (nr == NR && Avx512F.IsSupported)
                {
                    var s = Vector512.Create(scale);
                    (Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(src))) * s).Store(d);
                    (Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(src + 16))) * s).Store(d + 16);
                }
                else Int8Weights.Dequantize(new ReadOnlySpan<sbyte>(src, nr), scale, new Span<float>(d, nr));
                break;
            }
            default:
                Nf4.Dequantize(bs.Nf4!, offset, d, nr);
                break;
        }
        for (int j = nr; j < NR; j++) d[j] = 0f;
    }

    /// <summary>
    /// Writes the 8×8 block <c>rows[0..7][kk..kk+7]</c> transposed: element (r, i) goes to <c>dst[i·stride + r]</c>
    /// (unpack / shuffle / 128-bit permute, the classic AVX transpose).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float** rows, int kk, float* dst, int stride)
    {
        var r0 = Avx.LoadVector256(rows[0] + kk); var r1 = Avx.LoadVector256(rows[1] + kk);
        var r2 = Avx.LoadVector256(rows[2] + kk); var r3 = Avx.LoadVector256(rows[3] + kk);
        var r4 = Avx.LoadVector256(rows[4] + kk); var r5 = Avx.LoadVector256(rows[5] + kk);
        var r6 = Avx.LoadVector256(rows[6] + kk); var r7 = Avx.LoadVector256(rows[7] + kk);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + stride, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2 * stride, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3 * stride, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4 * stride, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5 * stride, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6 * stride, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7 * stride, Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>C[MR×NR] (row stride ldc) = alpha·Apanel·Bpanel + beta·C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel(int kc, float* ap, float* bp, float* c, int ldc, float alpha, float beta)
    {
        if (Vector512.IsHardwareAccelerated) MicroKernel512(kc, ap, bp, c, ldc, alpha, beta);
        else if (Vector256.IsHardwareAccelerated) MicroKernel256(kc, ap, bp, c, ldc, alpha, beta);
        else MicroKernelScalar(kc, ap, bp, c, ldc, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel512(int kc, float* ap, float* bp, float* c, int ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int kk = 0; kk < kc; kk++)
        {
            var b0 = Vector512.Load(bp);
            var b1 = Vector512.Load(bp + 16);
            Vector512<float> a;
            a = Vector512.Create(ap[0]); c00 = Vector512.FusedMultiplyAdd(a, b0, c00); c01 = Vector512.FusedMultiplyAdd(a, b1, c01);
            a = Vector512.Create(ap[1]); c10 = Vector512.FusedMultiplyAdd(a, b0, c10); c11 = Vector512.FusedMultiplyAdd(a, b1, c11);
            a = Vector512.Create(ap[2]); c20 = Vector512.FusedMultiplyAdd(a, b0, c20); c21 = Vector512.FusedMultiplyAdd(a, b1, c21);
            a = Vector512.Create(ap[3]); c30 = Vector512.FusedMultiplyAdd(a, b0, c30); c31 = Vector512.FusedMultiplyAdd(a, b1, c31);
            a = Vector512.Create(ap[4]); c40 = Vector512.FusedMultiplyAdd(a, b0, c40); c41 = Vector512.FusedMultiplyAdd(a, b1, c41);
            a = Vector512.Create(ap[5]); c50 = Vector512.FusedMultiplyAdd(a, b0, c50); c51 = Vector512.FusedMultiplyAdd(a, b1, c51);
            a = Vector512.Create(ap[6]); c60 = Vector512.FusedMultiplyAdd(a, b0, c60); c61 = Vector512.FusedMultiplyAdd(a, b1, c61);
            a = Vector512.Create(ap[7]); c70 = Vector512.FusedMultiplyAdd(a, b0, c70); c71 = Vector512.FusedMultiplyAdd(a, b1, c71);
            ap += MR;
            bp += NR;
        }
        Store512(c, c00, c01, alpha, beta); c += ldc;
        Store512(c, c10, c11, alpha, beta); c += ldc;
        Store512(c, c20, c21, alpha, beta); c += ldc;
        Store512(c, c30, c31, alpha, beta); c += ldc;
        Store512(c, c40, c41, alpha, beta); c += ldc;
        Store512(c, c50, c51, alpha, beta); c += ldc;
        Store512(c, c60, c61, alpha, beta); c += ldc;
        Store512(c, c70, c71, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> v0, Vector512<float> v1, float alpha, float beta)
    {
        if (alpha != 1f) { v0 *= alpha; v1 *= alpha; }
        if (beta != 0f)
        {
            v0 = Vector512.FusedMultiplyAdd(Vector512.Load(c), Vector512.Create(beta), v0);
            v1 = Vector512.FusedMultiplyAdd(Vector512.Load(c + 16), Vector512.Create(beta), v1);
        }
        v0.Store(c);
        v1.Store(c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel256(int kc, float* ap, float* bp, float* c, int ldc, float alpha, float beta)
    {
        // 8 rows × 32 columns as 4 Vector256 per row would need 32 accumulators (more than 16 YMM registers);
        // process the tile as two 8×16 halves instead.
        for (int half = 0; half < 2; half++)
        {
            float* b = bp + half * 16;
            float* a = ap;
            Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
            Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
            for (int kk = 0; kk < kc; kk++)
            {
                var b0 = Vector256.Load(b);
                var b1 = Vector256.Load(b + 8);
                Vector256<float> x;
                x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
                x = Vector256.Create(a[6]); c60 = Vector256.FusedMultiplyAdd(x, b0, c60); c61 = Vector256.FusedMultiplyAdd(x, b1, c61);
                x = Vector256.Create(a[7]); c70 = Vector256.FusedMultiplyAdd(x, b0, c70); c71 = Vector256.FusedMultiplyAdd(x, b1, c71);
                a += MR;
                b += NR;
            }
            float* cc = c + half * 16;
            Store256(cc, c00, c01, alpha, beta); cc += ldc;
            Store256(cc, c10, c11, alpha, beta); cc += ldc;
            Store256(cc, c20, c21, alpha, beta); cc += ldc;
            Store256(cc, c30, c31, alpha, beta); cc += ldc;
            Store256(cc, c40, c41, alpha, beta); cc += ldc;
            Store256(cc, c50, c51, alpha, beta); cc += ldc;
            Store256(cc, c60, c61, alpha, beta); cc += ldc;
            Store256(cc, c70, c71, alpha, beta);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, Vector256<float> v0, Vector256<float> v1, float alpha, float beta)
    {
        if (alpha != 1f) { v0 *= alpha; v1 *= alpha; }
        if (beta != 0f)
        {
            v0 = Vector256.FusedMultiplyAdd(Vector256.Load(c), Vector256.Create(beta), v0);
            v1 = Vector256.FusedMultiplyAdd(Vector256.Load(c + 8), Vector256.Create(beta), v1);
        }
        v0.Store(c);
        v1.Store(c + 8);
    }

    private static void MicroKernelScalar(int kc, float* ap, float* bp, float* c, int ldc, float alpha, float beta)
    {
        Span<float> acc = stackalloc float[MR * NR];
        for (int kk = 0; kk < kc; kk++)
            for (int i = 0; i < MR; i++)
            {
                float av = ap[kk * MR + i];
                for (int j = 0; j < NR; j++) acc[i * NR + j] = MathF.FusedMultiplyAdd(av, bp[kk * NR + j], acc[i * NR + j]);
            }
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
            {
                float* dst = c + (long)i * ldc + j;
                float v = alpha * acc[i * NR + j];
                *dst = beta == 0f ? v : beta * *dst + v;
            }
    }
}
