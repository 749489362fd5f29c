#:project ../../src/OpenBook.Models
// Frozen-weight kernels for LoRA/QLoRA training: dy·W (WeightMatrix.Multiply, the input gradient) and x·Wᵀ
// (MultiplyTransposed) in fp32/bf16/int8/nf4 at training batch sizes, the dequantise-first alternative for NF4 dy·W,
// decode-sized x·Wᵀ, and the NF4 memory of the SmolLM2-135M decoder projections.
// Run: dotnet run -c Release bench/nf4/Nf4Bench.cs [--quick] [--threads N]   (record `uptime` alongside)
// Every case of one shape runs once per round, round after round, and keeps its best time: on a shared, loaded machine
// the minimum is the least disturbed run, and interleaving exposes all cases to the same load.
using System.Diagnostics;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;

bool quick = args.Contains("--quick");
if (args.Contains("--map")) { Console.WriteLine(string.Join(" ", Nf4.AbsmaxCode.Select(v => ((double)v).ToString("R")))); return; }
int rounds = quick ? 8 : 30;
int threadsAt = Array.IndexOf(args, "--threads");
if (threadsAt >= 0) KernelThreads.Max = int.Parse(args[threadsAt + 1]);
var rng = new Random(1);
float[] Rand(long n, float std) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * std; return a; }

double[] BestOf(params Action[] cases)
{
    var best = Enumerable.Repeat(double.MaxValue, cases.Length).ToArray();
    for (int round = -2; round < rounds; round++) // two warm-up rounds (JIT tiering)
        for (int c = 0; c < cases.Length; c++)
        {
            var sw = Stopwatch.StartNew();
            cases[c]();
            if (round >= 0) best[c] = Math.Min(best[c], sw.Elapsed.TotalSeconds);
        }
    return best;
}

var formats = Enum.GetValues<WeightFormat>();
Console.WriteLine($"threads {KernelThreads.Max}, AVX-512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}, best of {rounds} rounds");
Console.WriteLine("W (out×in)    m    format  dy·W GFLOP/s  x·Wᵀ GFLOP/s");
foreach (var (rows, cols) in new[] { (576, 1536), (1536, 576) })
{
    var dense = Rand((long)rows * cols, 0.05f);
    var matrices = formats.Select(f => WeightMatrix.FromF32(dense, rows, cols).ConvertTo(f)).ToArray();
    var q = Nf4.Quantize(dense);
    var scratch = new float[dense.Length];
    foreach (int m in new[] { 256, 512 })
    {
        var dy = Rand((long)m * rows, 1f); var dx = new float[(long)m * cols];
        var x = Rand((long)m * cols, 1f); var y = new float[(long)m * rows];
        var cases = new List<Action>();
        foreach (var w in matrices) { cases.Add(() => w.Multiply(dy, m, dx)); cases.Add(() => w.MultiplyTransposed(x, m, y)); }
        // The alternative for NF4 dy·W: dequantise W into an fp32 scratch (one thread), then the fp32 SGEMM.
        cases.Add(() => { Nf4.Dequantize(q, 0, scratch); Sgemm.Multiply(Transpose.No, Transpose.No, m, cols, rows, dy, rows, scratch, cols, dx, cols); });
        cases.Add(() => Nf4.Dequantize(q, 0, scratch));
        var t = BestOf([.. cases]);
        double flops = 2.0 * m * rows * cols;
        for (int f = 0; f < formats.Length; f++)
            Console.WriteLine($"{rows}×{cols,-8} {m,4} {formats[f],-6} {flops / t[2 * f] / 1e9,12:F1} {flops / t[2 * f + 1] / 1e9,13:F1}");
        Console.WriteLine($"{rows}×{cols,-8} {m,4} nf4 dequantise-first dy·W {flops / t[^2] / 1e9:F1} GFLOP/s (of which dequantising W: {t[^1] * 1e3:F3} ms)");
    }
}

// Decode-sized x·Wᵀ (m = 1, the weight-streaming kernel): stored weight bytes read per second.
Console.WriteLine("decode x·Wᵀ, m=1, W 1536×576 (gate/up):");
{
    var dense = Rand(1536L * 576, 0.05f);
    var matrices = formats.Select(f => WeightMatrix.FromF32(dense, 1536, 576).ConvertTo(f)).ToArray();
    var x = Rand(576, 1f); var y = new float[1536];
    var t = BestOf([.. matrices.Select(w => (Action)(() => { for (int i = 0; i < 10; i++) w.MultiplyTransposed(x, 1, y); }))]);
    for (int f = 0; f < formats.Length; f++)
        Console.WriteLine($"  {formats[f],-5} {t[f] / 10 * 1e6,6:F1} µs per call, {matrices[f].ByteSize / (t[f] / 10) / 1e9,6:F1} GB/s of stored weights");
}

// NF4 frozen-weight memory for the SmolLM2-135M decoder projections (30 layers; q,k,v,o,gate,up,down).
int hidden = 576, inter = 1536, kv = 192, layers = 30;
long fp32Bytes = 0, nf4Bytes = 0;
foreach (var (r, c) in new[] { (hidden, hidden), (kv, hidden), (kv, hidden), (hidden, hidden), (inter, hidden), (inter, hidden), (hidden, inter) })
{
    fp32Bytes += layers * 4L * r * c;
    nf4Bytes += layers * WeightMatrix.FromF32(Rand((long)r * c, 0.02f), r, c).ConvertTo(WeightFormat.Nf4).ByteSize;
}
Console.WriteLine($"smollm2-135m decoder linears: fp32 {fp32Bytes / 1e6:F1} MB, nf4 {nf4Bytes / 1e6:F2} MB, ratio {(double)nf4Bytes / fp32Bytes:F4}");
