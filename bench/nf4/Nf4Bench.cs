#:project ../../src/OpenBook.Models
// Frozen-weight kernels for LoRA/QLoRA training: dy·W (WeightMatrix.Multiply, the input gradient) and x·Wᵀ
// (MultiplyTransposed) in fp32/bf16/int8/nf4 at training batch sizes, dequantise-first alternative, NF4 memory.
// Run: dotnet run -c Release bench/nf4/Nf4Bench.cs [--quick]     (record `uptime` alongside: the figures move with load)
using System.Diagnostics;
using OpenBook.Models.Kernels;
using OpenBook.Models.Tensors;

bool quick = args.Contains("--quick");
if (args.Contains("--map")) { Console.WriteLine(string.Join(" ", Nf4.AbsmaxCode.Select(v => ((double)v).ToString("R")))); return; }
int reps = quick ? 7 : 25;
var rng = new Random(1);
float[] Rand(long n, float std) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * std; return a; }

double Best(Action body)
{
    for (int i = 0; i < 3; i++) body(); // warm-up / JIT tiering
    var t = new double[reps]; // best of reps: on a shared, loaded machine the minimum is the least disturbed run
    for (int i = 0; i < reps; i++) { var sw = Stopwatch.StartNew(); body(); t[i] = sw.Elapsed.TotalSeconds; }
    return t.Min();
}

Console.WriteLine($"threads {KernelThreads.Max}, AVX-512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}");
Console.WriteLine("shape(out×in)  m    format  dy·W GFLOP/s  x·Wᵀ GFLOP/s  dequant-first dy·W GFLOP/s (dequant ms + fp32 ms)");
foreach (var (rows, cols) in new[] { (576, 1536), (1536, 576) })
{
    var dense = Rand((long)rows * cols, 0.05f);
    var f32 = WeightMatrix.FromF32(dense, rows, cols);
    foreach (int m in new[] { 256, 512 })
    {
        var dy = Rand((long)m * rows, 1f); var dx = new float[(long)m * cols];
        var x = Rand((long)m * cols, 1f); var y = new float[(long)m * rows];
        double flops = 2.0 * m * rows * cols;
        double f32Seconds = Best(() => f32.Multiply(dy, m, dx));
        foreach (var format in Enum.GetValues<WeightFormat>())
        {
            var w = f32.ConvertTo(format);
            double back = format == WeightFormat.F32 ? f32Seconds : Best(() => w.Multiply(dy, m, dx));
            double fwd = Best(() => w.MultiplyTransposed(x, m, y));
            string alt = "";
            if (format == WeightFormat.Nf4)
            {
                // The alternative: dequantise W into an fp32 scratch (single thread here), then the fp32 SGEMM.
                var q = Nf4.Quantize(dense);
                var scratch = new float[dense.Length];
                double deq = Best(() => Nf4.Dequantize(q, 0, scratch));
                alt = $"{flops / (deq + f32Seconds) / 1e9,8:F1} ({deq * 1e3:F2} + {f32Seconds * 1e3:F2})";
            }
            Console.WriteLine($"{rows}×{cols,-8} {m,4} {format,-6} {flops / back / 1e9,12:F1} {flops / fwd / 1e9,13:F1}  {alt}");
        }
    }
}

// Decode-sized x·Wᵀ (m = 1, the weight-streaming kernel): weight bytes read per second.
Console.WriteLine("decode x·Wᵀ, m=1, 1536×576 (gate/up): GB/s of stored weights (µs per call)");
{
    var f32 = WeightMatrix.FromF32(Rand(1536L * 576, 0.05f), 1536, 576);
    var x = Rand(576, 1f); var y = new float[1536];
    foreach (var format in Enum.GetValues<WeightFormat>())
    {
        var w = f32.ConvertTo(format);
        double s = Best(() => { for (int i = 0; i < 10; i++) w.MultiplyTransposed(x, 1, y); }) / 10;
        Console.WriteLine($"  {format,-5} {w.ByteSize / s / 1e9,7:F1} GB/s ({s * 1e6:F0} µs)");
    }
}

// NF4 frozen-weight memory for the SmolLM2-135M decoder projections (30 layers; q,k,v,o,gate,up,down).
int hidden = 576, inter = 1536, kv = 192, layers = 30;
var shapes = new[] { (hidden, hidden), (kv, hidden), (kv, hidden), (hidden, hidden), (inter, hidden), (inter, hidden), (hidden, inter) };
long fp32Bytes = 0, nf4Bytes = 0;
foreach (var (r, c) in shapes)
{
    long b = WeightMatrix.FromF32(Rand((long)r * c, 0.02f), r, c).ConvertTo(WeightFormat.Nf4).ByteSize;
    fp32Bytes += layers * 4L * r * c; nf4Bytes += layers * b;
}
Console.WriteLine($"smollm2-135m decoder linears: fp32 {fp32Bytes / 1e6:F1} MB, nf4 {nf4Bytes / 1e6:F2} MB, ratio {(double)nf4Bytes / fp32Bytes:F4}");
