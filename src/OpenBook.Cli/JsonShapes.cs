using OpenBook.Storage;

namespace OpenBook.Cli;

/// <summary>A document in <c>docs list --json</c> and <c>docs show --json</c>.</summary>
internal sealed record DocumentJson(long Id, string Collection, string Source, string Path, string? Title, int Chunks, long Bytes, IReadOnlyList<string> Tags,
    IReadOnlyList<string> Acl, string Hash, DateTimeOffset Updated)
{
    public static DocumentJson Of(DocumentRecord d) => new(d.Id, d.Collection, d.DisplayPath, d.SourceKey, d.Title, d.ChunkCount, d.Size, d.Tags, d.Acl, d.ContentHash, d.UpdatedAt);
}

/// <summary><c>docs list --json</c>; <c>Scope</c> says whose documents were listed.</summary>
internal sealed record DocumentListJson(IReadOnlyList<DocumentJson> Documents, string Scope);

/// <summary>A chunk in <c>docs show --json</c> (the id as a string: JavaScript loses 64-bit integers).</summary>
internal sealed record ChunkJson(string Id, int Index, int? Page, IReadOnlyList<string> Headings, int Tokens, string Text)
{
    public static ChunkJson Of(ChunkRecord c) => new(c.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), c.Index, c.Page, c.Headings, c.TokenCount, c.Text);
}

/// <summary><c>docs show --json</c>.</summary>
internal sealed record DocumentShowJson(DocumentJson Document, IReadOnlyList<ChunkJson> Chunks);

/// <summary><c>docs remove --json</c>.</summary>
internal sealed record RemovedJson(long Removed, string Source);

/// <summary>The BM25 index in <c>stats --json</c>.</summary>
internal sealed record LexicalIndexJson(int Chunks, int Terms, string? Status);

/// <summary><c>stats --json</c>: counts of what the caller may read (<c>Scope</c>), the store's size and index state.</summary>
internal sealed record StatsJson(string Store, int SchemaVersion, int CollectionCount, int Documents, int Chunks, long SourceBytes, long TextChars, long Tokens,
    long DatabaseBytes, long Sequence, LexicalIndexJson LexicalIndex, IReadOnlyList<CollectionStats> Collections, string Scope);

/// <summary>Every failure with <c>--json</c>: the only document on stdout.</summary>
internal sealed record ErrorJson(string Error);

/// <summary>A skipped or failed file in <c>ingest --json</c>.</summary>
internal sealed record FileNoteJson(string Path, string Reason);

/// <summary>The embedding step of an ingest.</summary>
internal sealed record EmbeddingJson(long Chunks, long Computed, long CacheHits, double Seconds);

/// <summary><c>ingest --json</c> (also the <c>ingest</c> part of <c>demo --json</c>).</summary>
internal sealed record IngestJson(int Files, int Added, int Updated, int Unchanged, int Removed, int Chunks, long Bytes, double Seconds, double MbPerSecond,
    double ChunksPerSecond, IReadOnlyList<FileNoteJson> Skipped, IReadOnlyList<FileNoteJson> Failed, IReadOnlyList<FileNoteJson> Notes, int SkippedRecords,
    int AclChanged, int PruneDenied, EmbeddingJson? Embedding);

/// <summary><c>reembed --json</c>.</summary>
internal sealed record ReembedJson(string Collection, string Model, long Chunks, long Computed, long CacheHits, double Seconds);

/// <summary>Retrieval quality over the sample questions in <c>demo --json</c>.</summary>
internal sealed record RetrievalJson(int Questions, double HitAt1, double HitAt5, double PassageHitAt5, double Mrr, double P50Ms);

/// <summary>One retrieval mode's figures in <c>demo --json</c>.</summary>
internal sealed record RetrievalByModeJson(string Mode, RetrievalJson Result);

/// <summary>A citation in <c>demo --json</c>.</summary>
internal sealed record DemoCitationJson(int N, string Source, int? Page);

/// <summary>A sample answer in <c>demo --json</c>.</summary>
internal sealed record DemoAnswerJson(string Id, string Question, string? Expected, string Answer, bool Found, string Mode, IReadOnlyList<DemoCitationJson> Citations);

/// <summary><c>demo --json</c>.</summary>
internal sealed record DemoJson(IngestJson Ingest, IReadOnlyList<DemoAnswerJson> Answers, RetrievalJson Retrieval, IReadOnlyList<RetrievalByModeJson> RetrievalByMode, string? Store,
    string? EmbedModel = null);

/// <summary>The corpus figures <c>advise</c> used.</summary>
internal sealed record CorpusJson(int Collections, int Documents, int Chunks, long Tokens, double ObservedDays, int Added30, int Updated30, int Removed30,
    int ChangesTotal, double ChangesPerWeek, double ChangedShare30);

/// <summary>A mode's distractor-sweep evidence in <c>advise --json</c>.</summary>
internal sealed record SweepEvidenceJson(int K0, double Contained0, int K1, double Contained1);

/// <summary>The evaluation results <c>advise</c> used.</summary>
internal sealed record EvalEvidenceJson(string Path, IReadOnlyDictionary<string, double> Contained, IReadOnlyDictionary<string, double> RecallAtK,
    IReadOnlyDictionary<string, SweepEvidenceJson> Sweep);

/// <summary>The constraints <c>advise</c> was given.</summary>
internal sealed record AdviceFlagsJson(string? Budget, bool LatencyCritical, bool StyleCritical);

/// <summary>Everything <c>advise</c> based its recommendation on.</summary>
internal sealed record AdviceInputsJson(CorpusJson Corpus, EvalEvidenceJson? Eval, AdviceFlagsJson Flags);

/// <summary><c>advise --json</c>.</summary>
internal sealed record AdviceJson(string Recommendation, IReadOnlyList<string> Reasons, AdviceInputsJson Inputs);

/// <summary>One side of a <c>data validate --split</c>.</summary>
internal sealed record SplitPartJson(string Path, int Examples);

/// <summary>The files <c>data validate --split</c> wrote.</summary>
internal sealed record SplitJson(SplitPartJson Train, SplitPartJson Val);

/// <summary><c>data validate --json</c>.</summary>
internal sealed record ValidateJson(bool Valid, IReadOnlyList<Models.FineTuning.Datasets.DatasetIssue> Errors, IReadOnlyList<Models.FineTuning.Datasets.DatasetIssue> Warnings,
    Models.FineTuning.Datasets.DatasetStats Stats, [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] SplitJson? Split);

/// <summary><c>models pull --json</c>.</summary>
internal sealed record PullJson(string Id, string Commit, string Path, IReadOnlyList<string> Downloaded, IReadOnlyList<string> Reused, long BytesDownloaded, bool FromCacheOnly);

/// <summary>A model in the Hugging Face cache (<c>models list --json</c>).</summary>
internal sealed record CachedModelJson(string Id, string Path, IReadOnlyDictionary<string, string> Refs, IReadOnlyList<string> Snapshots, long SizeBytes);

/// <summary><c>models list --json</c>.</summary>
internal sealed record ModelListJson(string Cache, IReadOnlyList<CachedModelJson> Models, IReadOnlyList<BuiltInEncoderJson> BuiltIn);

/// <summary>A built-in encoder in <c>models list --json</c>: where it comes from and whether it is materialised (Path null: not yet).</summary>
internal sealed record BuiltInEncoderJson(string Name, string HubId, string Package, bool Available, string? Path, bool Int8);

/// <summary>A file of a model directory (<c>models show --json</c>).</summary>
internal sealed record ModelFileJson(string Name, long Bytes);

/// <summary>A model's tokenizer in <c>models show --json</c>.</summary>
internal sealed record TokenizerJson(int VocabSize, string? Bos, string? Eos, string? Pad, bool AddsBos, bool ChatTemplate);

/// <summary><c>models show --json</c>: files, the main config.json fields and the tokenizer.</summary>
internal sealed record ModelShowJson(string Path, IReadOnlyList<ModelFileJson> Files, IReadOnlyDictionary<string, string> Config, TokenizerJson? Tokenizer);

/// <summary><c>openbook lab world --json</c>: where the world was written and its sizes.</summary>
internal sealed record LabWorldJson(string Directory, int Seed, int Entities, int PublicDocuments, int HeldOutDocuments, int PrivateDocuments, int ChangedDocuments,
    int PublicQuestions, int HeldOutQuestions, int PrivateQuestions, int ChangedQuestions, int Files)
{
    /// <summary>Documents of the reading-drill company.</summary>
    public int DrillDocuments { get; init; }
    /// <summary>Questions about the reading-drill company.</summary>
    public int DrillQuestions { get; init; }
}

/// <summary><c>openbook lab pretrain --json</c>: the model, its training run, the corpus mix and the reading score per number of distractors.</summary>
internal sealed record LabPretrainJson(string Model, long Parameters, int Steps, double? FinalLoss, double? EvalLoss, long Tokens, long CorpusTokens, double Seconds,
    double TokensPerSecond, IReadOnlyDictionary<string, int> Corpus, IReadOnlyDictionary<string, double> ReadingExactMatch, int ReadingQuestions, string? ReadingReport);

/// <summary><c>openbook lab run --json</c>: every mode's row, the sweep, freshness, training cost, the advice and the report files.</summary>
internal sealed record LabRunJson(string Directory, double Seconds, IReadOnlyList<OpenBook.Runtime.Lab.LabRow> Rows,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Sweep, IReadOnlyDictionary<string, double> Freshness,
    IReadOnlyList<OpenBook.Runtime.Lab.LabTraining> Training, string Recommendation, IReadOnlyList<string> Reasons, IReadOnlyList<string> Files);
