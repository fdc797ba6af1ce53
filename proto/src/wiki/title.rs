//! Titles: which titles name the same page, and the id of a new page.
//!
//! A person types a title, never an id. Two titles name the same page when
//! their [`key`]s are equal: Unicode NFC, then folded as search folds a
//! word ([`crate::fold`]: case, apostrophe forms, Cyrillic to Uzbek
//! Latin), with `_` read as a space and runs of white space as one. So
//! `Consular handbook`, `consular_handbook` and `CONSULAR  HANDBOOK` are one
//! page, and `Ўзбекистон ҳақида` is the page `Oʻzbekiston haqida`; titles
//! are otherwise exact (`Visa policy` and `Visa policies` are two pages).
//!
//! A new page's id is derived from its title's key ([`page_id`]), not drawn
//! at random: two missions that create the same title while cut off from
//! each other create *one* page with two first revisions, which the
//! history rule ([`super::history`]) shows as one page with both texts,
//! merged, flagged as in conflict until an editor resolves it. Nothing is
//! lost and every node shows the same outcome. A page keeps its id when it
//! is renamed, so a later page created under a renamed page's old title
//! takes the next id of that key (`generation` 1, 2, ...).

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use super::revision::MAX_TITLE;
use crate::types::PageId;

/// Why a title cannot name a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    /// Nothing but white space.
    #[error("a page title cannot be empty")]
    Empty,
    /// Over [`MAX_TITLE`] bytes.
    #[error("a page title has at most {MAX_TITLE} bytes; this one has {0}")]
    TooLong(usize),
    /// A character links and the wiki syntax reserve.
    #[error("a page title cannot contain {0:?} (reserved by the link syntax: # < > [ ] {{ }} |)")]
    Reserved(char),
    /// A control character (a line break, a tab, ...).
    #[error("a page title cannot contain control characters (found U+{0:04X})")]
    Control(u32),
}

/// Checks that `title` can name a page: not empty, at most [`MAX_TITLE`]
/// bytes, none of the characters the link syntax reserves (as MediaWiki
/// forbids them in titles), no control character.
pub fn check(title: &str) -> Result<(), TitleError> {
    if title.trim().is_empty() {
        return Err(TitleError::Empty);
    }
    if title.len() > MAX_TITLE {
        return Err(TitleError::TooLong(title.len()));
    }
    if let Some(c) = title
        .chars()
        .find(|c| matches!(c, '#' | '<' | '>' | '[' | ']' | '{' | '}' | '|'))
    {
        return Err(TitleError::Reserved(c));
    }
    if let Some(c) = title.chars().find(|c| c.is_control()) {
        return Err(TitleError::Control(u32::from(c)));
    }
    Ok(())
}

/// The title as it should be stored and shown: NFC, `_` as a space, white
/// space runs as one space, trimmed. The case and script are the author's.
pub fn display(title: &str) -> String {
    collapse(&title.nfc().collect::<String>())
}

/// The key titles are matched by (see the module docs).
pub fn key(title: &str) -> String {
    collapse(&crate::fold::fold(&display(title)))
}

fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| c == '_' || c.is_whitespace()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The id of a page created under a title whose [`key`] is `key`.
/// `generation` is 0 for the first page of that key; a page created under a
/// title that a renamed page once had takes the lowest generation whose id
/// no page holds.
pub fn page_id(key: &str, generation: u32) -> PageId {
    let mut h = Sha256::new();
    h.update(b"chapar wiki page\0");
    h.update(generation.to_be_bytes());
    h.update(key.as_bytes());
    let digest = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    PageId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_spaces_underscores_and_script_do_not_matter() {
        let k = key("Consular handbook");
        for same in [
            "consular handbook",
            "CONSULAR  HANDBOOK",
            "Consular_handbook",
            "  Consular\thandbook ",
        ] {
            assert_eq!(key(same), k, "{same}");
        }
        assert_ne!(key("Consular handbooks"), k);
        // Cyrillic and Latin twins are one page; every apostrophe form too.
        assert_eq!(key("Ўзбекистон ҳақида"), key("Oʻzbekiston haqida"));
        assert_eq!(key("O'zbekiston haqida"), key("O‘zbekiston haqida"));
        // Russian is transliterated like any Cyrillic: a Russian title and
        // its Latin transliteration are one page.
        assert_eq!(key("Посольство"), key("posolstvo"));
    }

    #[test]
    fn unicode_normalization_makes_composed_and_decomposed_one() {
        // `й` as one code point and as `и` + combining breve.
        assert_eq!(key("Май"), key("Ма\u{0438}\u{0306}"));
        assert_eq!(display("Ма\u{0438}\u{0306}"), "Май");
        assert_eq!(display(" Visa_policy  2026 "), "Visa policy 2026");
    }

    #[test]
    fn ids_follow_the_key_and_the_generation() {
        assert_eq!(
            page_id(&key("Consular handbook"), 0),
            page_id(&key("consular_handbook"), 0)
        );
        assert_ne!(
            page_id(&key("Consular handbook"), 0),
            page_id(&key("Consular handbook"), 1)
        );
        assert_ne!(page_id(&key("a"), 0), page_id(&key("b"), 0));
    }

    #[test]
    fn reserved_and_control_characters_are_refused() {
        assert_eq!(check("  "), Err(TitleError::Empty));
        assert_eq!(check("a|b"), Err(TitleError::Reserved('|')));
        assert_eq!(check("a[[b"), Err(TitleError::Reserved('[')));
        assert_eq!(check("a\nb"), Err(TitleError::Control(10)));
        assert_eq!(
            check(&"x".repeat(MAX_TITLE + 1)),
            Err(TitleError::TooLong(MAX_TITLE + 1))
        );
        assert_eq!(check("Oʻzbekiston: tashqi siyosat (2026)"), Ok(()));
    }
}
