using OpenBook.Retrieval.Lexical;

namespace OpenBook.Tests.Lexical;

public class PorterStemmerTests
{
    // Pairs from Porter's paper and the reference vocabulary/output files.
    [Theory]
    [InlineData("caresses", "caress")] [InlineData("ponies", "poni")] [InlineData("ties", "ti")] [InlineData("caress", "caress")]
    [InlineData("cats", "cat")] [InlineData("feed", "feed")] [InlineData("agreed", "agre")] [InlineData("plastered", "plaster")]
    [InlineData("bled", "bled")] [InlineData("motoring", "motor")] [InlineData("sing", "sing")] [InlineData("conflated", "conflat")]
    [InlineData("troubled", "troubl")] [InlineData("sized", "size")] [InlineData("hopping", "hop")] [InlineData("tanned", "tan")]
    [InlineData("falling", "fall")] [InlineData("hissing", "hiss")] [InlineData("fizzed", "fizz")] [InlineData("failing", "fail")]
    [InlineData("filing", "file")] [InlineData("happy", "happi")] [InlineData("sky", "sky")] [InlineData("relational", "relat")]
    [InlineData("conditional", "condit")] [InlineData("rational", "ration")] [InlineData("valenci", "valenc")] [InlineData("digitizer", "digit")]
    [InlineData("conformabli", "conform")] [InlineData("radicalli", "radic")] [InlineData("differentli", "differ")] [InlineData("vileli", "vile")]
    [InlineData("analogousli", "analog")] [InlineData("vietnamization", "vietnam")] [InlineData("predication", "predic")]
    [InlineData("operator", "oper")] [InlineData("feudalism", "feudal")] [InlineData("decisiveness", "decis")] [InlineData("hopefulness", "hope")]
    [InlineData("callousness", "callous")] [InlineData("formaliti", "formal")] [InlineData("sensitiviti", "sensit")] [InlineData("sensibiliti", "sensibl")]
    [InlineData("triplicate", "triplic")] [InlineData("formative", "form")] [InlineData("formalize", "formal")] [InlineData("electriciti", "electr")]
    [InlineData("electrical", "electr")] [InlineData("hopeful", "hope")] [InlineData("goodness", "good")] [InlineData("revival", "reviv")]
    [InlineData("allowance", "allow")] [InlineData("inference", "infer")] [InlineData("airliner", "airlin")] [InlineData("gyroscopic", "gyroscop")]
    [InlineData("adjustable", "adjust")] [InlineData("defensible", "defens")] [InlineData("irritant", "irrit")] [InlineData("replacement", "replac")]
    [InlineData("adjustment", "adjust")] [InlineData("dependent", "depend")] [InlineData("adoption", "adopt")] [InlineData("homologou", "homolog")]
    [InlineData("communism", "commun")] [InlineData("activate", "activ")] [InlineData("angulariti", "angular")] [InlineData("homologous", "homolog")]
    [InlineData("effective", "effect")] [InlineData("bowdlerize", "bowdler")] [InlineData("probate", "probat")] [InlineData("rate", "rate")]
    [InlineData("cease", "ceas")] [InlineData("controll", "control")] [InlineData("roll", "roll")] [InlineData("generalizations", "gener")]
    [InlineData("vacation", "vacat")] [InlineData("vacations", "vacat")] [InlineData("reimbursement", "reimburs")]
    public void Stems_like_the_reference(string word, string stem) => Assert.Equal(stem, PorterStemmer.Stem(word));

    [Fact]
    public void Leaves_non_ascii_and_short_words_alone()
    {
        Assert.Equal("straße", PorterStemmer.Stem("straße"));
        Assert.Equal("is", PorterStemmer.Stem("is"));
        Assert.Equal("v2", PorterStemmer.Stem("v2"));
    }
}
