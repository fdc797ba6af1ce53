//! Folding: when two spellings are the same for a reader. Lowercase,
//! every apostrophe form made one, decomposed letters composed, and
//! Cyrillic transliterated to Uzbek Latin (1995 alphabet), so that
//! `Ўзбекистон` and `Oʻzbekiston` give one key, `o'zbekiston`.
//!
//! Search folds every word with it (`chapar_search::analysis`, ADR 0008)
//! and the wiki every title ([`crate::wiki::title`]): a title matches the
//! way a word does.

/// The folded form of `text`: lowercase, apostrophes unified, Cyrillic
/// transliterated, apostrophes at either end removed (a tokenizer never
/// keeps them in a word). Other characters, spaces and punctuation
/// included, are only lowercased.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
        if out.contains('`') {
            out = out.replace('`', "'");
        }
    } else {
        let mut lower = String::with_capacity(text.len());
        let mut cyrillic = false;
        lowercase(text, &mut lower, |c| {
            cyrillic |= ('\u{0400}'..='\u{04FF}').contains(&c)
        });
        if cyrillic {
            transliterate(&lower, &mut out);
        } else {
            out = lower;
        }
    }
    trim_apostrophes(&mut out);
    out
}

/// Characters written for the Uzbek modifier letter (`oʻ`, `gʻ`) and the
/// tutuq belgisi (`maʼno`), and the ones people type instead.
#[inline]
pub fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '`'
            | '\u{00B4}' // ´ acute accent
            | '\u{02B9}' // ʹ modifier letter prime
            | '\u{02BB}' // ʻ modifier letter turned comma (official oʻ, gʻ)
            | '\u{02BC}' // ʼ modifier letter apostrophe (official tutuq)
            | '\u{2018}' // ‘
            | '\u{2019}' // ’
            | '\u{2032}' // ′ prime
    )
}

/// Combining marks that we meet on Latin and Cyrillic letters.
#[inline]
pub fn is_combining_mark(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{0483}'..='\u{0489}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

/// Removes apostrophes at either end: the tokenizer keeps apostrophes only
/// between letters, so a folded form must not start or end with one (else
/// Cyrillic `тоғ` → `tog'` would miss Latin `togʻ`, tokenized as `tog`).
pub fn trim_apostrophes(s: &mut String) {
    if !(s.starts_with('\'') || s.ends_with('\'')) {
        return;
    }
    while s.ends_with('\'') {
        s.pop();
    }
    let lead = s.len() - s.trim_start_matches('\'').len();
    if lead > 0 {
        s.drain(..lead);
    }
}

/// Pushes one `'`, never two in a row (`ъ` next to an apostrophe, or two
/// apostrophe characters, would give `''`).
fn push_apostrophe(out: &mut String) {
    if !out.ends_with('\'') {
        out.push('\'');
    }
}

/// Lowercases `word` into `out`, composing or dropping combining marks and
/// unifying apostrophes (every form becomes one ASCII `'`); `note` sees
/// each character written (search uses it to tell the scripts apart).
pub fn lowercase(word: &str, out: &mut String, mut note: impl FnMut(char)) {
    for c in word.chars() {
        let lower = match c {
            _ if is_apostrophe(c) => {
                push_apostrophe(out);
                continue;
            }
            _ if is_combining_mark(c) => {
                compose(out, c);
                continue;
            }
            'A'..='Z' => c.to_ascii_lowercase(),
            // Russian and Uzbek letters without a table look-up.
            'А'..='Я' => char::from_u32(u32::from(c) + 0x20).unwrap_or(c),
            'Ѐ'..='Џ' => char::from_u32(u32::from(c) + 0x50).unwrap_or(c),
            'а'..='џ' => c,
            _ if c.is_lowercase() || !c.is_alphabetic() => c,
            _ => {
                let mut lowers = c.to_lowercase();
                match (lowers.next(), lowers.next()) {
                    (Some(l), None) => l,
                    // İ → i + U+0307 and the like: push them one by one, so
                    // that the mark goes through `compose`.
                    (first, second) => {
                        for l in first.into_iter().chain(second).chain(lowers) {
                            if is_combining_mark(l) {
                                compose(out, l);
                            } else {
                                note(l);
                                out.push(l);
                            }
                        }
                        continue;
                    }
                }
            }
        };
        match lower {
            // Stress marks precomposed on Cyrillic letters.
            'ѐ' => out.push('е'),
            'ѝ' => out.push('и'),
            // ŏ and ğ are how Uzbek is often typed when ʻ is not at hand.
            'ŏ' => out.push_str("o'"),
            'ğ' => out.push_str("g'"),
            _ => out.push(lower),
        }
        note(lower);
    }
}

/// Applies combining `mark` to the last character of `out`: composes the
/// letters our languages need, drops the mark otherwise (stress accents on
/// Cyrillic, and marks we have no precomposed letter for).
fn compose(out: &mut String, mark: char) {
    let Some(base) = out.chars().next_back() else {
        return;
    };
    let composed = match (base, mark) {
        // Breve: Cyrillic й ў; Latin ŏ ğ written for oʻ gʻ.
        ('и', '\u{0306}') => 'й',
        ('у', '\u{0306}') => 'ў',
        ('o' | 'g', '\u{0306}') => {
            out.push('\'');
            return;
        }
        ('a', '\u{0306}') => 'ă',
        // Diaeresis.
        ('е', '\u{0308}') => 'ё',
        ('a', '\u{0308}') => 'ä',
        ('e', '\u{0308}') => 'ë',
        ('i', '\u{0308}') => 'ï',
        ('o', '\u{0308}') => 'ö',
        ('u', '\u{0308}') => 'ü',
        ('y', '\u{0308}') => 'ÿ',
        // Acute.
        ('a', '\u{0301}') => 'á',
        ('e', '\u{0301}') => 'é',
        ('i', '\u{0301}') => 'í',
        ('o', '\u{0301}') => 'ó',
        ('u', '\u{0301}') => 'ú',
        ('y', '\u{0301}') => 'ý',
        ('c', '\u{0301}') => 'ć',
        ('n', '\u{0301}') => 'ń',
        ('s', '\u{0301}') => 'ś',
        ('z', '\u{0301}') => 'ź',
        // Grave.
        ('a', '\u{0300}') => 'à',
        ('e', '\u{0300}') => 'è',
        ('i', '\u{0300}') => 'ì',
        ('o', '\u{0300}') => 'ò',
        ('u', '\u{0300}') => 'ù',
        // Circumflex.
        ('a', '\u{0302}') => 'â',
        ('e', '\u{0302}') => 'ê',
        ('i', '\u{0302}') => 'î',
        ('o', '\u{0302}') => 'ô',
        ('u', '\u{0302}') => 'û',
        // Tilde.
        ('a', '\u{0303}') => 'ã',
        ('n', '\u{0303}') => 'ñ',
        ('o', '\u{0303}') => 'õ',
        // Ring.
        ('a', '\u{030A}') => 'å',
        ('u', '\u{030A}') => 'ů',
        // Caron.
        ('c', '\u{030C}') => 'č',
        ('s', '\u{030C}') => 'š',
        ('z', '\u{030C}') => 'ž',
        ('e', '\u{030C}') => 'ě',
        ('r', '\u{030C}') => 'ř',
        ('n', '\u{030C}') => 'ň',
        // Cedilla.
        ('c', '\u{0327}') => 'ç',
        ('s', '\u{0327}') => 'ş',
        _ => return,
    };
    out.pop();
    out.push(composed);
}

/// Cyrillic and Latin vowels, for the context rules of `е` and `ц`.
fn is_vowel(c: char) -> bool {
    matches!(
        c,
        'а' | 'е'
            | 'ё'
            | 'и'
            | 'о'
            | 'у'
            | 'ў'
            | 'ы'
            | 'э'
            | 'ю'
            | 'я'
            | 'a'
            | 'e'
            | 'i'
            | 'o'
            | 'u'
    )
}

/// Lowercase Cyrillic to Uzbek Latin, 1995 alphabet. Characters of
/// other scripts pass through. Departures from the official rules are
/// marked (and explained in ADR 0008).
pub fn transliterate(lower: &str, out: &mut String) {
    out.reserve(lower.len());
    let mut prev: Option<char> = None;
    let mut chars = lower.chars().peekable();
    while let Some(c) = chars.next() {
        let latin: &str = match c {
            'а' => "a",
            'б' => "b",
            'в' => "v",
            'г' => "g",
            'д' => "d",
            // `ye` at the start of a word and after a vowel, ъ or ь.
            'е' if prev.is_none_or(|p| is_vowel(p) || matches!(p, 'ъ' | 'ь' | '\'')) => "ye",
            'е' => "e",
            'ё' => "yo",
            'ж' => "j",
            'з' => "z",
            'и' => "i",
            'й' => "y",
            'к' => "k",
            'л' => "l",
            'м' => "m",
            'н' => "n",
            'о' => "o",
            'п' => "p",
            'р' => "r",
            'с' => "s",
            'т' => "t",
            'у' => "u",
            'ф' => "f",
            'х' => "x",
            // Official: `ts` after a vowel, `s` at the start of a word and
            // after a consonant (sirk, konsert, litsey).
            'ц' if prev.is_some_and(is_vowel) => "ts",
            'ц' => "s",
            'ч' => "ch",
            'ш' => "sh",
            // Not in the Uzbek alphabet; Uzbek spelling of Russian words
            // with щ uses `sh`.
            'щ' => "sh",
            'ъ' => {
                match (prev, chars.peek()) {
                    // Departure: nothing at either end of a word (so no
                    // apostrophe a Latin word could not have), and nothing
                    // for the Russian separating ъ between a consonant and
                    // е ё ю я: объект → obyekt, as Uzbek Latin writes it.
                    (None, _) | (_, None) => {}
                    (Some(p), Some(n))
                        if !is_vowel(p) && p != '\'' && matches!(n, 'е' | 'ё' | 'ю' | 'я') => {}
                    // The tutuq belgisi: маъно → ma'no, санъат → san'at.
                    _ => push_apostrophe(out),
                }
                prev = Some(c);
                continue;
            }
            'ь' => "",
            'ы' => "i",
            'э' => "e",
            'ю' => "yu",
            'я' => "ya",
            'ў' => "o'",
            'қ' => "q",
            'ғ' => "g'",
            'ҳ' => "h",
            '\'' => {
                push_apostrophe(out);
                prev = Some(c);
                continue;
            }
            _ => {
                out.push(c);
                prev = Some(c);
                continue;
            }
        };
        out.push_str(latin);
        prev = Some(c);
    }
}
