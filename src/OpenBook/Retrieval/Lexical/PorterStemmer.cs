namespace OpenBook.Retrieval.Lexical;

/// <summary>
/// The Porter (1980) suffix-stripping stemmer for English, as specified in "An algorithm for suffix stripping"
/// (steps 1a–5b). Operates on lower-case ASCII words; other words are returned unchanged.
/// </summary>
public static class PorterStemmer
{
    /// <summary>Stems one lower-case word.</summary>
    public static string Stem(string word)
    {
        if (word.Length <= 2) return word;
        foreach (var c in word)
            if (c is < 'a' or > 'z') return word;
        var s = new State(word);
        s.Step1a(); s.Step1b(); s.Step1c(); s.Step2(); s.Step3(); s.Step4(); s.Step5a(); s.Step5b();
        return s.ToString();
    }

    private sealed class State(string word)
    {
        private readonly char[] _b = word.ToCharArray();
        private int _k = word.Length - 1; // end of the current word (inclusive)
        private int _j;                  // end of the stem when a suffix matched

        public override string ToString() => new(_b, 0, _k + 1);

        private bool IsConsonant(int i) => _b[i] switch
        {
            'a' or 'e' or 'i' or 'o' or 'u' => false,
            'y' => i == 0 || !IsConsonant(i - 1),
            _ => true,
        };

        /// <summary>m(): the number of VC sequences in b[0.._j].</summary>
        private int Measure()
        {
            int n = 0, i = 0;
            while (true) { if (i > _j) return n; if (!IsConsonant(i)) break; i++; }
            i++;
            while (true)
            {
                while (true) { if (i > _j) return n; if (IsConsonant(i)) break; i++; }
                i++; n++;
                while (true) { if (i > _j) return n; if (!IsConsonant(i)) break; i++; }
                i++;
            }
        }

        private bool VowelInStem()
        {
            for (var i = 0; i <= _j; i++) if (!IsConsonant(i)) return true;
            return false;
        }

        private bool DoubleConsonant(int i) => i >= 1 && _b[i] == _b[i - 1] && IsConsonant(i);

        /// <summary>cvc(i): consonant-vowel-consonant ending at i, the last not w, x or y.</summary>
        private bool Cvc(int i)
        {
            if (i < 2 || !IsConsonant(i) || IsConsonant(i - 1) || !IsConsonant(i - 2)) return false;
            return _b[i] is not ('w' or 'x' or 'y');
        }

        private bool Ends(string s)
        {
            var l = s.Length;
            if (l > _k + 1) return false;
            for (var i = 0; i < l; i++) if (_b[_k - l + 1 + i] != s[i]) return false;
            _j = _k - l;
            return true;
        }

        private void SetTo(string s)
        {
            for (var i = 0; i < s.Length; i++) _b[_j + 1 + i] = s[i];
            _k = _j + s.Length;
        }

        private void ReplaceIfMeasured(string s) { if (Measure() > 0) SetTo(s); }

        public void Step1a()
        {
            if (_b[_k] != 's') return;
            if (Ends("sses")) _k -= 2;
            else if (Ends("ies")) SetTo("i");
            else if (_k >= 1 && _b[_k - 1] != 's') _k--;
        }

        public void Step1b()
        {
            if (Ends("eed")) { if (Measure() > 0) _k--; return; }
            if (!((Ends("ed") || Ends("ing")) && VowelInStem())) return;
            _k = _j;
            if (Ends("at")) SetTo("ate");
            else if (Ends("bl")) SetTo("ble");
            else if (Ends("iz")) SetTo("ize");
            else if (DoubleConsonant(_k))
            {
                if (_b[_k] is not ('l' or 's' or 'z')) _k--;
            }
            else
            {
                _j = _k;
                if (Measure() == 1 && Cvc(_k)) SetTo("e");
            }
        }

        public void Step1c()
        {
            if (Ends("y") && VowelInStem()) _b[_k] = 'i';
        }

        private static readonly (string Suffix, string Replacement)[] Step2Rules =
        [
            ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
            ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"),
            ("ization", "ize"), ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"),
            ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"), ("logi", "log"),
        ];

        private static readonly (string Suffix, string Replacement)[] Step3Rules =
        [
            ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", ""),
        ];

        private static readonly string[] Step4Suffixes =
        [
            "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism", "ate",
            "iti", "ous", "ive", "ize",
        ];

        public void Step2() => ApplyRules(Step2Rules);
        public void Step3() => ApplyRules(Step3Rules);

        private void ApplyRules((string Suffix, string Replacement)[] rules)
        {
            if (_k == 0) return;
            foreach (var (suffix, replacement) in rules)
                if (Ends(suffix)) { ReplaceIfMeasured(replacement); return; }
        }

        public void Step4()
        {
            if (_k == 0) return;
            // Longest match first among suffixes sharing an ending ("ement" before "ment" before "ent").
            string? matched = null;
            foreach (var suffix in Step4Suffixes)
                if (Ends(suffix) && (matched is null || suffix.Length > matched.Length)) matched = suffix;
            if (matched is null) return;
            Ends(matched);
            if (matched == "ion" && !(_j >= 0 && _b[_j] is 's' or 't')) return;
            if (Measure() > 1) _k = _j;
        }

        public void Step5a()
        {
            _j = _k;
            if (_b[_k] != 'e') return;
            _j = _k - 1;
            var m = Measure();
            if (m > 1 || (m == 1 && !Cvc(_k - 1))) _k--;
        }

        public void Step5b()
        {
            _j = _k;
            if (_b[_k] == 'l' && DoubleConsonant(_k) && Measure() > 1) _k--;
        }
    }
}
