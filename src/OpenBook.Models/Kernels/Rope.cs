using System.Runtime.CompilerServices;

namespace OpenBook.Models.Kernels;

/// <summary>rope_scaling block of config.json: how <see cref="RotaryEmbedding"/> stretches its frequencies.</summary>
public sealed record RopeScaling
{
    /// <summary>"linear", "llama3", … (HF key rope_type, or the older key type).</summary>
    public string Type { get; init; } = "default";
    /// <summary>Scaling factor.</summary>
    public double Factor { get; init; } = 1;
    /// <summary>llama3: low_freq_factor.</summary>
    public double? LowFreqFactor { get; init; }
    /// <summary>llama3: high_freq_factor.</summary>
    public double? HighFreqFactor { get; init; }
    /// <summary>llama3: original_max_position_embeddings.</summary>
    public double? OriginalMaxPositionEmbeddings { get; init; }
}

/// <summary>
/// Rotary position embedding in the Hugging Face "rotate_half" layout: dimension i pairs with i + d/2.
/// Inverse frequencies follow HF (<c>1 / theta^(2i/d)</c> in fp32), optionally rescaled by rope_scaling
/// ("linear" or "llama3"). Cos/sin tables are computed once per position and cached.
/// </summary>
public sealed class RotaryEmbedding
{
    private readonly float[] _invFreq;
    private readonly float _positionScale;
    private float[] _cos = [];
    private float[] _sin = [];
    private int _cachedPositions;
    private readonly Lock _gate = new();

    /// <summary>Rotated dimensions per head.</summary>
    public int HeadDim { get; }

    /// <summary>The (possibly rescaled) inverse frequencies, length HeadDim/2.</summary>
    public ReadOnlySpan<float> InverseFrequencies => _invFreq;

    /// <summary>Builds the embedding for a head size, base theta and optional scaling.</summary>
    public RotaryEmbedding(int headDim, double theta, RopeScaling? scaling = null)
    {
        if (headDim % 2 != 0) throw new ArgumentException("RoPE head dimension must be even.");
        HeadDim = headDim;
        int half = headDim / 2;
        _invFreq = new float[half];
        for (int i = 0; i < half; i++)
        {
            // torch: base ** (arange(0, d, 2).float() / d) in fp32, then 1.0 / that.
            float exponent = (float)(2 * i) / headDim;
            float pow = (float)Math.Pow(theta, exponent);
            _invFreq[i] = 1f / pow;
        }
        _positionScale = 1f;
        switch (scaling?.Type)
        {
            case null or "default": break;
            case "linear": _positionScale = 1f / (float)scaling.Factor; break;
            case "llama3": ApplyLlama3(_invFreq, scaling); break;
            default: throw new OpenBookException($"rope_scaling type '{scaling.Type}' is not supported (supported: default, linear, llama3).");
        }
    }

    private static void ApplyLlama3(float[] invFreq, RopeScaling s)
    {
        double factor = s.Factor, low = s.LowFreqFactor ?? 1, high = s.HighFreqFactor ?? 4;
        double oldContext = s.OriginalMaxPositionEmbeddings ?? 8192;
        double lowWavelen = oldContext / low, highWavelen = oldContext / high;
        for (int i = 0; i < invFreq.Length; i++)
        {
            double f = invFreq[i];
            double wavelen = 2 * Math.PI / f;
            if (wavelen < highWavelen) continue; // high frequency: unchanged
            if (wavelen > lowWavelen) { invFreq[i] = (float)(f / factor); continue; }
            double smooth = (oldContext / wavelen - low) / (high - low);
            invFreq[i] = (float)((1 - smooth) * f / factor + smooth * f);
        }
    }

    private void EnsurePositions(int count)
    {
        if (count <= Volatile.Read(ref _cachedPositions)) return;
        lock (_gate)
        {
            if (count <= _cachedPositions) return;
            int n = Math.Max(count, Math.Max(64, _cachedPositions * 2));
            int half = HeadDim / 2;
            var cos = new float[n * half];
            var sin = new float[n * half];
            for (int p = 0; p < n; p++)
                for (int i = 0; i < half; i++)
                {
                    float angle = (p * _positionScale) * _invFreq[i]; // fp32 product, as torch's outer product
                    cos[p * half + i] = (float)Math.Cos(angle);
                    sin[p * half + i] = (float)Math.Sin(angle);
                }
            _cos = cos;
            _sin = sin;
            Volatile.Write(ref _cachedPositions, n);
        }
    }

    /// <summary>Rotates <paramref name="heads"/> consecutive head vectors of one token at <paramref name="position"/> in place.</summary>
    public void Apply(Span<float> x, int heads, int position) => Rotate(x, heads, position, 1f);

    /// <summary>
    /// The transpose (= inverse) of <see cref="Apply"/>: rotates by the negative angle. It is the backward pass of
    /// RoPE: the gradient of a rotated vector is rotated back.
    /// </summary>
    public void ApplyInverse(Span<float> x, int heads, int position) => Rotate(x, heads, position, -1f);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Rotate(Span<float> x, int heads, int position, float direction)
    {
        EnsurePositions(position + 1);
        int half = HeadDim / 2;
        var cos = _cos.AsSpan(position * half, half);
        var sin = _sin.AsSpan(position * half, half);
        for (int h = 0; h < heads; h++)
        {
            var v = x.Slice(h * HeadDim, HeadDim);
            for (int i = 0; i < half; i++)
            {
                float a = v[i], b = v[i + half], s = direction * sin[i];
                v[i] = a * cos[i] - b * s;
                v[i + half] = b * cos[i] + a * s;
            }
        }
    }
}
