using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace OpenBook.Models.FineTuning.Lora;

/// <summary>
/// A LoRA configuration with Hugging Face PEFT's meaning (<c>LoraConfig</c>): rank r, lora_alpha, lora_dropout,
/// target_modules (module-name suffixes such as <c>q_proj</c>, or <c>all-linear</c>), use_rslora.
/// The adapter adds <c>ΔW = scaling · B·A</c> with scaling = alpha / r (rsLoRA: alpha / √r).
/// </summary>
public sealed record LoraConfig
{
    /// <summary>The seven projections of a Llama-family decoder layer (PEFT's <c>all-linear</c> without lm_head).</summary>
    public static readonly IReadOnlyList<string> AllLinear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>Rank r of A [r, in] and B [out, r].</summary>
    public int Rank { get; init; } = 16;
    /// <summary>lora_alpha.</summary>
    public double Alpha { get; init; } = 32;
    /// <summary>Dropout applied to the adapter's input while training.</summary>
    public double Dropout { get; init; } = 0.05;
    /// <summary>Module-name suffixes the adapter wraps (e.g. <c>q_proj</c>).</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = AllLinear;
    /// <summary>A regular expression over full module names (PEFT's string form of target_modules), instead of suffixes.</summary>
    public string? TargetPattern { get; init; }
    /// <summary>Rank-stabilised LoRA: scaling = alpha / √r.</summary>
    public bool UseRsLora { get; init; }
    /// <summary>base_model_name_or_path written into adapter_config.json.</summary>
    public string? BaseModel { get; init; }

    /// <summary>The factor applied to B·A.</summary>
    public float Scaling => (float)(UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank);

    /// <summary>Checks ranges; throws <see cref="OpenBookException"/> naming the bad field.</summary>
    public LoraConfig Validate()
    {
        if (Rank < 1) throw new OpenBookException($"LoRA rank must be ≥ 1 (got {Rank}).");
        if (Alpha <= 0) throw new OpenBookException($"lora_alpha must be > 0 (got {Alpha}).");
        if (Dropout is < 0 or >= 1) throw new OpenBookException($"lora_dropout must be in [0, 1) (got {Dropout}).");
        if (TargetPattern is null && TargetModules.Count == 0) throw new OpenBookException("LoRA target_modules is empty.");
        return this;
    }

    /// <summary>
    /// Parses a <c>--targets</c> value: <c>all-linear</c>, or a comma list of <c>q,k,v,o,gate,up,down</c> with or
    /// without the <c>_proj</c> suffix.
    /// </summary>
    public static IReadOnlyList<string> ParseTargets(string text)
    {
        if (text.Trim().Equals("all-linear", StringComparison.OrdinalIgnoreCase) || text.Trim() == "all") return AllLinear;
        var list = new List<string>();
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var name = raw.EndsWith("_proj", StringComparison.Ordinal) ? raw : raw + "_proj";
            if (!AllLinear.Contains(name))
                throw new OpenBookException($"--targets: unknown module '{raw}' (known: q, k, v, o, gate, up, down, or all-linear).");
            if (!list.Contains(name)) list.Add(name);
        }
        if (list.Count == 0) throw new OpenBookException("--targets: no module named.");
        return list;
    }

    /// <summary>Whether the linear layer with full name <paramref name="module"/> (e.g. <c>model.layers.0.self_attn.q_proj</c>) is adapted.</summary>
    public bool Targets(string module)
    {
        if (TargetPattern is not null) return Regex.IsMatch(module, "^(?:" + TargetPattern + ")$");
        foreach (var t in TargetModules)
            if (module == t || module.EndsWith("." + t, StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>adapter_config.json as PEFT's <c>save_pretrained</c> writes it.</summary>
    public string ToPeftJson()
    {
        var o = new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = BaseModel,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["lora_alpha"] = Alpha,
            ["lora_dropout"] = Dropout,
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = Rank,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["target_modules"] = TargetPattern is not null ? JsonValue.Create(TargetPattern) : new JsonArray(TargetModules.Select(t => (JsonNode?)t).ToArray()),
            ["task_type"] = "CAUSAL_LM",
            ["use_dora"] = false,
            ["use_rslora"] = UseRsLora,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Reads a PEFT adapter_config.json; features this engine does not implement are reported, not ignored.</summary>
    public static LoraConfig FromPeftJson(string json, string source)
    {
        JsonObject o;
        try { o = JsonNode.Parse(json)?.AsObject() ?? throw new OpenBookException($"{source}: empty JSON."); }
        catch (JsonException e) { throw new OpenBookException($"{source}: invalid JSON ({e.Message})."); }
        string? Str(string k) => o[k] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        double Num(string k, double d) => o[k] is JsonValue v && v.TryGetValue<double>(out var x) ? x : d;
        bool Flag(string k) => o[k] is JsonValue v && v.TryGetValue<bool>(out var b) && b;
        if (Str("peft_type") is { } type && !type.Equals("LORA", StringComparison.OrdinalIgnoreCase))
            throw new OpenBookException($"{source}: peft_type '{type}' is not supported (only LORA).");
        if (Flag("use_dora")) throw new OpenBookException($"{source}: use_dora = true is not supported.");
        if (Flag("fan_in_fan_out")) throw new OpenBookException($"{source}: fan_in_fan_out = true is not supported (Llama-family layers are nn.Linear).");
        if (Str("bias") is { } bias && bias != "none") throw new OpenBookException($"{source}: bias = '{bias}' is not supported (only 'none').");
        if (o["rank_pattern"] is JsonObject rp && rp.Count > 0 || o["alpha_pattern"] is JsonObject ap && ap.Count > 0)
            throw new OpenBookException($"{source}: rank_pattern / alpha_pattern are not supported.");
        if (o["modules_to_save"] is JsonArray { Count: > 0 })
            throw new OpenBookException($"{source}: modules_to_save is not supported.");
        var r = (int)Num("r", 0);
        var targets = o["target_modules"];
        IReadOnlyList<string> list = [];
        string? pattern = null;
        if (targets is JsonArray arr) list = arr.Select(t => t?.GetValue<string>() ?? "").Where(t => t != "").ToList();
        else if (targets is JsonValue tv && tv.TryGetValue<string>(out var ts))
        {
            if (ts == "all-linear") list = AllLinear;
            else pattern = ts;
        }
        else throw new OpenBookException($"{source}: target_modules is missing.");
        var config = new LoraConfig
        {
            Rank = r, Alpha = Num("lora_alpha", r), Dropout = Num("lora_dropout", 0), TargetModules = list, TargetPattern = pattern,
            UseRsLora = Flag("use_rslora"), BaseModel = Str("base_model_name_or_path"),
        };
        try { return config.Validate(); }
        catch (OpenBookException e) { throw new OpenBookException($"{source}: {e.Message}"); }
    }
}
