//! The light Uzbek stemmer (`chapar_search::uzbek`, rules in
//! `docs/uzbek-stemmer.md`): each rule, the minimum stem, words it must
//! leave alone, idempotence.

use std::path::PathBuf;

use chapar_search::analysis::fold;
use chapar_search::uzbek::{MIN_LETTERS, may_change, stem};
use proptest::prelude::*;

fn corpus(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus/uzbek")
        .join(name);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (see corpus/README.md)", p.display()))
}

/// `(word, expected stem)`, word given as typed (folded here).
fn check(cases: &[(&str, &str)]) {
    for (word, expected) in cases {
        let folded = fold(word);
        assert_eq!(stem(&folded), *expected, "{word}");
    }
}

// ---------------------------------------------------------------------------
// The rules, one by one.

#[test]
fn case_endings() {
    check(&[
        ("Toshkentgacha", "toshkent"), // -gacha, limit
        ("xorijdagi", "xorij"),        // -dagi, locative + relational -gi
        ("Yevropaning", "yevropa"),    // -ning, genitive
        ("raqamlashtirishning", "raqamlashtirish"),
        ("vazirlikdan", "vazirlik"),      // -dan, ablative
        ("diplomatiyani", "diplomatiya"), // -ni, accusative
        ("Yevropaga", "yevropa"),         // -ga, dative
        ("vazirlikka", "vazirlik"),       // -ka, dative after k
        ("Iroqqa", "iroq"),               // -qa, dative after q
        ("Yevropada", "yevropa"),         // -da, locative
    ]);
}

#[test]
fn possessive_endings() {
    check(&[
        ("kitobingiz", "kitob"),      // -ingiz, 2pl after a consonant
        ("bolangiz", "bola"),         // -ngiz, 2pl after a vowel
        ("mamlakatimiz", "mamlakat"), // -imiz, 1pl after a consonant
        ("bolamiz", "bola"),          // -miz, 1pl after a vowel
        ("darajasi", "daraja"),       // -si, 3rd person after a vowel
        ("tarixi", "tarix"),          // -i, 3rd person after a consonant
        ("obroʻsi", "obro"),          // oʻ is a vowel; the trailing ' goes
        ("bogʻi", "bog"),             // gʻ is a consonant
        ("mavqeʼi", "mavqe"),         // so is the tutuq belgisi
    ]);
}

#[test]
fn plural() {
    check(&[("xabarlar", "xabar"), ("vakolatxonalar", "vakolatxona")]);
}

#[test]
fn suffixes_stack_in_morphological_order() {
    check(&[
        ("fuqarolarimizga", "fuqaro"), // plural + 1pl + dative
        ("xabarlarni", "xabar"),       // plural + accusative
        ("hujjatlari", "hujjat"),      // plural + 3rd person (-lari)
        ("hujjatlarining", "hujjat"),  // ... + genitive
        ("diplomatiyasining", "diplomatiya"),
        ("ishini", "ish"),
        ("Oʻzbekistonning", "o'zbekiston"),
        ("vazirligimizda", "vazirlik"),
    ]);
}

#[test]
fn k_and_q_come_back_before_a_vowel_initial_possessive() {
    check(&[
        ("vazirligi", "vazirlik"),
        ("boshligʻi", "boshliq"),
        ("yaxlitligini", "yaxlitlik"),
        ("qishlogʻi", "qishloq"),
        ("yuragi", "yurak"),
        // One syllable: no alternation (togʻ, its `togʻi`).
        ("togʻi", "tog"),
        // -og: loanwords keep their g.
        ("dialogi", "dialog"),
        ("katalogi", "katalog"),
        // Not after a consonant-initial suffix.
        ("yuraklar", "yurak"),
    ]);
}

#[test]
fn a_stem_is_a_fixed_point() {
    // Stripping runs until no rule applies, so a word and its inflections
    // meet even when the bare word itself looks inflected: `belgi` (sign)
    // ends like a 3rd person possessive, and gives `belg` like `belgilar`,
    // `belgisi` gives `belg` too.
    check(&[
        ("belgi", "belg"),
        ("belgilar", "belg"),
        ("belgisi", "belg"),
        ("Kanada", "kana"),
        ("Kanadada", "kana"),
    ]);
}

#[test]
fn allomorphs_only_in_their_context() {
    check(&[
        // -ka only after k, -qa only after q.
        ("Amerika", "amerika"),
        ("Afrika", "afrika"),
        ("muzika", "muzika"),
        // -si only after a vowel, -i only after a consonant.
        ("kursi", "kurs"),
        // -miz and -ngiz only after a vowel, -imiz and -ingiz after a
        // consonant.
        ("semiz", "semiz"),
    ]);
}

#[test]
fn a_minimum_stem_is_kept() {
    assert_eq!(MIN_LETTERS, 3);
    check(&[
        ("uyda", "uyda"), // uy: two letters
        ("elga", "elga"),
        ("ishda", "ish"), // three letters: enough
        ("yilning", "yil"),
        ("togʻda", "tog"), // gʻ is one letter
        ("soʻzlar", "so'z"),
        ("qoʻlga", "qo'l"),
        ("Riga", "riga"),
        ("idi", "idi"),
    ]);
    // A vowel must remain.
    check(&[("srni", "srni")]);
}

#[test]
fn words_that_must_not_be_stemmed() {
    // Bare forms, and endings that look like no suffix.
    check(&[
        ("Yevropa", "yevropa"),
        ("diplomatiya", "diplomatiya"),
        ("raqamlashtirish", "raqamlashtirish"),
        ("Oʻzbekiston", "o'zbekiston"),
        ("vazirlik", "vazirlik"),
        ("elchixona", "elchixona"),
        ("milliy", "milliy"),
        ("xavfsiz", "xavfsiz"), // -siz (without) is derivational: kept
        ("elchi", "elch"),      // -chi is not stripped; -i is (a known cost)
        ("axborot", "axborot"),
    ]);
    // Not Uzbek: digits, accented Latin, other scripts, English -ing and
    // -m (the 1st and 2nd person singular possessives are not handled).
    for word in ["covid19", "café", "дом", "meeting", "them", "team", "seem"] {
        assert_eq!(stem(word), word, "{word}");
    }
}

#[test]
fn may_change_is_exact_enough() {
    // Whenever the stem differs, `may_change` said so.
    for word in corpus("axborot-almashinuvi-latin.txt")
        .split(|c: char| !c.is_alphabetic() && c != '\u{2bb}' && c != '\u{2bc}')
        .map(fold)
        .filter(|w| !w.is_empty())
    {
        if stem(&word) != word {
            assert!(may_change(&word), "{word}");
        }
    }
}

proptest! {
    #[test]
    fn idempotent_and_a_prefix_or_an_alternation(
        word in "[a-z']{0,16}|[a-z]{1,8}(lar|i|si|imiz|miz|ingiz|ngiz|ning|ni|ga|ka|qa|da|dan|dagi|gacha){1,4}"
    ) {
        // Folded forms never end with an apostrophe.
        prop_assume!(!word.ends_with('\''));
        let once = stem(&word).into_owned();
        prop_assert_eq!(stem(&once), once.as_str(), "{}", word);
        if stem(&word) != word.as_str() {
            prop_assert!(may_change(&word), "{}", word);
        }
        // The stem is a prefix of the word, but for the last letter when
        // g/gʻ went back to k/q.
        let body = once.strip_suffix(['k', 'q']).unwrap_or(&once);
        prop_assert!(word.starts_with(body), "{} -> {}", word, once);
    }
}
