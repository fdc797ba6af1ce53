//! A light Uzbek stemmer: strips the inflectional suffixes of nouns (case,
//! possessive, plural) and one relational suffix (`-dagi`) from a *folded*
//! word (see [`crate::analysis::fold`]: lowercase Uzbek Latin, `'` for the
//! oʻ, gʻ and the tutuq belgisi), so that it is the same function of a word
//! written in Latin or in Cyrillic script.
//!
//! `Yevropada`, `Yevropaning`, `Европага` all give `yevropa`;
//! `raqamlashtirishning` gives `raqamlashtirish`; `fuqarolarimizga` gives
//! `fuqaro`; `vazirligi` gives `vazirlik`.
//!
//! Rules, their sources and what is deliberately not handled:
//! `docs/uzbek-stemmer.md`. In short:
//!
//! - Suffixes are stripped from the end one at a time, the first rule of
//!   [`RULES`] that applies (case endings, then possessive, then plural:
//!   the morphological order read from the outside in), until none
//!   applies. Running to a fixed point makes the stemmer idempotent:
//!   `stem(stem(w)) == stem(w)`.
//! - A rule applies only if at least [`MIN_LETTERS`] letters, one of them a
//!   vowel, remain (`oʻ`, `gʻ` count as one letter), so short words are
//!   left alone (`uyda` stays, `ishda` gives `ish`).
//! - After a vowel-initial possessive (`-i`, `-imiz`, `-ingiz`) the stem's
//!   final `g`/`gʻ` goes back to `k`/`q` in words of more than one
//!   syllable (`vazirligi` → `vazirlik`, `qishlogʻi` → `qishloq`), except
//!   `-og` (`dialogi` → `dialog`).
//! - A trailing apostrophe is dropped, as the tokenizer drops it (`togʻda`
//!   → `tog`, like `togʻ`).
//!
//! Pure and deterministic; allocates only when the alternation rewrites
//! the last letter.

use std::borrow::Cow;

/// Letters that must remain after a suffix is stripped.
pub const MIN_LETTERS: usize = 3;

/// What must come right before a suffix for it to be stripped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum After {
    /// Anything.
    Any,
    /// A vowel (`a e i o u oʻ`): the allomorph of vowel-final stems.
    Vowel,
    /// A consonant: the allomorph of consonant-final stems.
    Consonant,
    /// The letter `k` (`-ka`, dative after `k`).
    K,
    /// The letter `q` (`-qa`, dative after `q`).
    Q,
}

/// One suffix rule.
struct Rule {
    suffix: &'static str,
    after: After,
    /// A vowel-initial possessive: the `g`/`gʻ` → `k`/`q` alternation may
    /// apply to what remains.
    alternates: bool,
}

const fn rule(suffix: &'static str, after: After) -> Rule {
    Rule {
        suffix,
        after,
        alternates: false,
    }
}

const fn vowel_initial(suffix: &'static str) -> Rule {
    Rule {
        suffix,
        after: After::Consonant,
        alternates: true,
    }
}

/// The rules, tried in this order at each step (the first that applies
/// wins). Longer suffixes come before the shorter ones they end with.
const RULES: [Rule; 16] = [
    // Case (kelishik) and the relational -dagi (locative + -gi).
    rule("gacha", After::Any), // limit: Toshkentgacha
    rule("dagi", After::Any),  // xorijdagi
    rule("ning", After::Any),  // genitive: Yevropaning
    rule("dan", After::Any),   // ablative: vazirlikdan
    rule("ni", After::Any),    // accusative: diplomatiyani
    rule("ga", After::Any),    // dative: Yevropaga
    rule("ka", After::K),      // dative after k: vazirlikka
    rule("qa", After::Q),      // dative after q: Iroqqa
    rule("da", After::Any),    // locative: Yevropada
    // Possessive (egalik), plural persons and the third person.
    vowel_initial("ingiz"),     // 2pl after a consonant: kitobingiz
    rule("ngiz", After::Vowel), // 2pl after a vowel: bolangiz
    vowel_initial("imiz"),      // 1pl after a consonant: mamlakatimiz
    rule("miz", After::Vowel),  // 1pl after a vowel: bolamiz
    rule("si", After::Vowel),   // 3rd after a vowel: darajasi
    vowel_initial("i"),         // 3rd after a consonant: tarixi
    // Plural.
    rule("lar", After::Any), // xabarlar
];

/// The Uzbek stem of `folded`, a word as [`crate::analysis::fold`] gives
/// it. Words with anything but the letters `a`–`z` and `'` are returned
/// as they are (digits, other scripts, accented Latin: not Uzbek).
pub fn stem(folded: &str) -> Cow<'_, str> {
    let bytes = folded.as_bytes();
    if !may_change(folded) || !bytes.iter().all(|&b| b.is_ascii_lowercase() || b == b'\'') {
        return Cow::Borrowed(folded);
    }
    let mut end = trimmed(bytes, bytes.len());
    loop {
        let word = &bytes[..end];
        let Some(rule) = RULES.iter().find(|r| applies(r, word)) else {
            break;
        };
        end -= rule.suffix.len();
        if let Some((keep, letter)) = alternation(&bytes[..end]).filter(|_| rule.alternates) {
            // The stem now ends in k or q, which no suffix ends with: a
            // fixed point.
            let mut out = String::with_capacity(keep + 1);
            out.push_str(&folded[..keep]);
            out.push(letter);
            return Cow::Owned(out);
        }
        end = trimmed(bytes, end);
    }
    Cow::Borrowed(&folded[..end])
}

/// Whether [`stem`] can change `folded` at all: it is long enough and ends
/// like a suffix of [`RULES`] (or with an apostrophe). A byte or two
/// compared, for the analyzer's fast path: most English words (`-ing`,
/// `-tion`, `-er`, `-s`) are answered here.
pub fn may_change(folded: &str) -> bool {
    let b = folded.as_bytes();
    if b.len() <= MIN_LETTERS {
        return false;
    }
    // Slice patterns: byte compares, no call.
    matches!(
        b,
        [.., b'\'' | b'i']
            // -ga -ka -qa -da, and -gacha.
            | [.., b'g' | b'k' | b'q' | b'd' | b'h', b'a']
            | [.., b'd', b'a', b'n']
            | [.., b'n', b'i', b'n', b'g']
            | [.., b'l', b'a', b'r']
            | [.., b'i', b'z']
    )
}

/// `end` moved back over trailing apostrophes.
fn trimmed(bytes: &[u8], mut end: usize) -> usize {
    while end > 0 && bytes[end - 1] == b'\'' {
        end -= 1;
    }
    end
}

fn applies(rule: &Rule, word: &[u8]) -> bool {
    let Some(rest) = word.strip_suffix(rule.suffix.as_bytes()) else {
        return false;
    };
    let letters = rest.iter().filter(|&&b| b != b'\'').count();
    if letters < MIN_LETTERS || !rest.iter().copied().any(is_vowel) {
        return false;
    }
    match rule.after {
        After::Any => true,
        After::Vowel => ends_with_vowel(rest),
        // gʻ and the tutuq belgisi (`mavqe'i`) are consonants.
        After::Consonant => !ends_with_vowel(rest),
        After::K => rest.last() == Some(&b'k'),
        After::Q => rest.last() == Some(&b'q'),
    }
}

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// Whether the last letter of `word` is a vowel (`oʻ`, written `o'`, is).
fn ends_with_vowel(word: &[u8]) -> bool {
    match word {
        [.., b'o', b'\''] => true,
        [.., b'\''] => false,
        [.., last] => is_vowel(*last),
        [] => false,
    }
}

/// The k/q ~ g/gʻ alternation before a vowel-initial suffix, undone:
/// `vazirlig` → `vazirlik`, `qishlog'` → `qishloq`. Only in words of more
/// than one syllable (`tog'i` keeps `tog'`), and not after `o` for `g`
/// (`dialog`, `katalog`: loanwords). Returns the length to keep and the
/// letter to put after it.
fn alternation(word: &[u8]) -> Option<(usize, char)> {
    let syllables = word.iter().copied().filter(|&b| is_vowel(b)).count();
    if syllables < 2 {
        return None;
    }
    match word {
        [.., b'g', b'\''] => Some((word.len() - 2, 'q')),
        [.., v, b'g'] if is_vowel(*v) && *v != b'o' => Some((word.len() - 1, 'k')),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_ordered_longest_first_among_shared_endings() {
        // A rule must not hide a longer one it is a suffix of.
        for (i, a) in RULES.iter().enumerate() {
            for b in &RULES[i + 1..] {
                assert!(
                    !(b.suffix.ends_with(a.suffix) && b.suffix.len() > a.suffix.len()),
                    "{} before {}",
                    a.suffix,
                    b.suffix
                );
            }
        }
    }

    #[test]
    fn may_change_covers_every_rule() {
        for r in &RULES {
            let base = match r.after {
                After::Any | After::Consonant => "kitob",
                After::Vowel => "bola",
                After::K => "yurak",
                After::Q => "iroq",
            };
            let word = format!("{base}{}", r.suffix);
            assert!(may_change(&word), "{word}");
            assert_ne!(stem(&word), word);
        }
        for word in ["meeting", "nation", "member", "states", "with"] {
            assert!(!may_change(word), "{word}");
        }
    }
}
