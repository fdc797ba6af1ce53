//! The MediaWiki XML reader and writer: the real (truncated) Vietnamese
//! export of the corpus, generated dumps with many revisions, damage,
//! hostile limits, the round trip, and validation of what is written
//! against MediaWiki's own schema.

use std::io::{BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use chapar_wiki::mediawiki::{
    Contributor, DumpError, DumpReader, EXPORT_NAMESPACE_0_11, Limits, Page, Revision,
    SchemaVersion, SiteInfo, SkipReason, Skipped, format_timestamp, parse_timestamp, write_export,
};
use chapar_wiki::wikitext::redirect_target;
use proptest::prelude::*;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus/mediawiki")
        .join(name)
}

fn corpus_bytes() -> Vec<u8> {
    std::fs::read(corpus("viwiki-export-0.10.xml")).expect("the corpus export is in the repository")
}

/// Everything a reader yields: the pages with the position after each, the
/// errors, and the final position.
struct Read_ {
    pages: Vec<(Page, u64)>,
    errors: Vec<DumpError>,
    end: u64,
}

fn read_all<R: std::io::BufRead>(mut reader: DumpReader<R>) -> Read_ {
    let mut out = Read_ {
        pages: Vec::new(),
        errors: Vec::new(),
        end: 0,
    };
    let mut last = reader.position();
    // A reader always ends; the bound only turns a bug into a failure.
    for _ in 0..1_000_000 {
        let Some(item) = reader.next() else {
            out.end = reader.position();
            assert!(reader.next().is_none(), "the reader is fused");
            return out;
        };
        let pos = reader.position();
        assert!(pos >= last, "position went back from {last} to {pos}");
        last = pos;
        match item {
            Ok(page) => out.pages.push((page, pos)),
            Err(e) => out.errors.push(e),
        }
    }
    panic!("the reader did not end");
}

fn read_bytes(bytes: &[u8]) -> Result<Read_, DumpError> {
    Ok(read_all(DumpReader::new(bytes)?))
}

fn titles(r: &Read_) -> Vec<&str> {
    r.pages.iter().map(|(p, _)| p.title.as_str()).collect()
}

const CORPUS_TITLES: [&str; 10] = [
    "Alexandre De Rhodes",
    "Trang Chính",
    "Internet Society",
    "ISOC Vietnam",
    "Tiếng Việt",
    "Ohio",
    "Ca Li",
    "California",
    "Wikipedia:Nhật trình tải lên",
    "Thụy Điển",
];

// ---------------------------------------------------------------------------
// The corpus file
// ---------------------------------------------------------------------------

#[test]
fn the_corpus_export_yields_its_ten_complete_pages_and_reports_the_cut() {
    let bytes = corpus_bytes();
    let reader = DumpReader::new(BufReader::new(Cursor::new(&bytes))).expect("opens");
    assert_eq!(reader.version(), &SchemaVersion::V0_10);
    assert_eq!(reader.version().as_str(), "0.10");
    assert!(reader.version().warning().is_none());
    assert_eq!(reader.lang(), "vi");
    let site = reader.siteinfo().expect("siteinfo").clone();
    assert_eq!(site.sitename, "Wikipedia");
    assert_eq!(site.dbname, "viwiki");
    assert_eq!(site.generator, "MediaWiki 1.41.0-wmf.24");
    assert_eq!(site.case, "first-letter");
    assert_eq!(site.lang, "vi");
    assert_eq!(site.namespaces.len(), 28);
    assert!(
        site.namespaces
            .contains(&(14, "Thể loại".to_string(), "first-letter".to_string()))
    );
    assert!(
        site.namespaces
            .contains(&(0, String::new(), "first-letter".to_string()))
    );

    let r = read_all(reader);
    assert_eq!(titles(&r), CORPUS_TITLES);
    assert_eq!(r.end, bytes.len() as u64, "the whole file was consumed");

    // The cut: one error, the last item, at the end of the file, with no
    // page lost (the file ends right after a </page>).
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    let cut = &r.errors[0];
    assert!(
        matches!(cut, DumpError::Truncated { offset, page: None } if *offset == bytes.len() as u64)
    );
    assert!(cut.ends_reading());
    assert_eq!(cut.offset(), Some(339_516));
    let msg = cut.to_string();
    assert!(
        msg.contains("339516") && msg.contains("cut short") && msg.contains("every complete page"),
        "{msg}"
    );

    // Redirects: the three the export flags, the same as their texts say.
    let redirects: Vec<(&str, &str)> = r
        .pages
        .iter()
        .filter_map(|(p, _)| p.redirect.as_deref().map(|t| (p.title.as_str(), t)))
        .collect();
    assert_eq!(
        redirects,
        [
            ("Alexandre De Rhodes", "Alexandre de Rhodes"),
            ("ISOC Vietnam", "Internet Society"),
            ("Ca Li", "California"),
        ]
    );
    for (page, _) in &r.pages {
        assert_eq!(page.revisions.len(), 1);
        assert_eq!(
            redirect_target(&page.revisions[0].text),
            page.redirect,
            "{}",
            page.title
        );
    }

    // One page in full.
    let (first, _) = &r.pages[0];
    assert_eq!((first.ns, first.id), (0, Some(1)));
    assert_eq!(
        first.revisions[0],
        Revision {
            id: Some(25_321_654),
            parent_id: Some(28_636),
            timestamp: "2016-10-06T15:39:14Z".into(),
            timestamp_ms: Some(1_475_768_354_000),
            contributor: Contributor::User {
                name: "Hugopako".into(),
                id: Some(309_098),
            },
            comment: None,
            minor: true,
            model: Some("wikitext".into()),
            format: Some("text/x-wiki".into()),
            text: "#đổi [[Alexandre de Rhodes]]".into(),
            sha1: Some("9xki5icc67bbadzv4zj9bayx2e90q0l".into()),
        }
    );
    let ca_li = &r.pages[6].0.revisions[0];
    assert_eq!(
        ca_li.comment.as_deref(),
        Some("Startup: redirect to \"California\"")
    );
    assert!(!ca_li.minor);
    assert_eq!(ca_li.parent_id, None);
    // Every page's text is as long as its <text bytes="..."> says.
    for (page, _) in &r.pages {
        let rev = &page.revisions[0];
        let declared = declared_bytes(&bytes, rev.id.expect("id"));
        assert_eq!(rev.text.len(), declared, "{}", page.title);
    }
}

/// The `bytes` attribute of revision `id`'s `<text>` in the raw file.
fn declared_bytes(file: &[u8], id: u64) -> usize {
    let s = std::str::from_utf8(file).expect("UTF-8");
    let at = s.find(&format!("<id>{id}</id>")).expect("revision id");
    let text = at + s[at..].find("<text bytes=\"").expect("text") + 13;
    s[text..text + s[text..].find('"').expect("quote")]
        .parse()
        .expect("number")
}

#[test]
fn a_cut_inside_a_page_names_the_page_and_its_offset() {
    let bytes = corpus_bytes();
    let s = std::str::from_utf8(&bytes).expect("UTF-8");
    let page_start = s
        .find("<title>Thụy Điển</title>")
        .and_then(|t| s[..t].rfind("<page>"))
        .expect("page");
    // Cut in the middle of its text.
    let cut = page_start + 5000;
    let r = read_bytes(&bytes[..cut]).expect("opens");
    assert_eq!(titles(&r), CORPUS_TITLES[..9]);
    let [
        DumpError::Truncated {
            offset,
            page: Some(skipped),
        },
    ] = r.errors.as_slice()
    else {
        panic!("{:?}", r.errors);
    };
    assert_eq!(*offset, cut as u64);
    assert_eq!(
        skipped,
        &Skipped {
            title: Some("Thụy Điển".into()),
            offset: page_start as u64,
            complete_revisions: 0,
        }
    );
    let msg = r.errors[0].to_string();
    assert!(
        msg.contains(&format!("ends at byte {cut}"))
            && msg.contains("\"Thụy Điển\"")
            && msg.contains("was not imported"),
        "{msg}"
    );
    assert_eq!(r.end, cut as u64);
}

// ---------------------------------------------------------------------------
// Generated dumps
// ---------------------------------------------------------------------------

const TEXTS: [&str; 6] = [
    "Oʻzbekiston Respublikasi Tashqi ishlar vazirligi: raqamli diplomatiya va axborot almashinuvi.",
    "Ўзбекистон Республикаси Ташқи ишлар вазирлиги: рақамли дипломатия ва ахборот алмашинуви.",
    "Министерство иностранных дел: цифровая дипломатия и обмен информацией с посольствами.",
    "The ministry's <b>cables</b> & notes: a < b, c > d, ]]> and <![CDATA[ are text here.",
    "== Tarix ==\n'''Toshkent''' — [[Poytaxt|poytaxt]].\r\nCRLF\tand a tab; &amp; stays &amp;.",
    "",
];

fn site() -> SiteInfo {
    SiteInfo {
        lang: "uz".into(),
        sitename: "Chapar".into(),
        dbname: "chapar".into(),
        base: "https://wiki.example.invalid/wiki/Bosh_sahifa".into(),
        generator: "chapar".into(),
        case: "first-letter".into(),
        namespaces: vec![
            (0, String::new(), "first-letter".into()),
            (14, "Turkum".into(), "first-letter".into()),
        ],
    }
}

/// `pages` pages of `revisions` revisions each, in every shape a revision
/// can take.
fn generated(pages: u64, revisions: u64) -> Vec<Page> {
    let base_ms = parse_timestamp("2024-01-31T12:00:00Z").expect("valid");
    (0..pages)
        .map(|p| Page {
            title: match p % 4 {
                0 => format!("Sahifa {p}"),
                1 => format!("Страница {p}"),
                2 => format!("Turkum:Страница & <{p}>"),
                _ => format!("Page \"{p}\" ]]>"),
            },
            ns: if p % 4 == 2 { 14 } else { 0 },
            id: Some(p + 1),
            redirect: (p % 10 == 9).then(|| format!("Sahifa {}", p - 1)),
            revisions: (0..revisions)
                .map(|r| {
                    let id = 1000 + p * revisions + r;
                    let ms = base_ms + (p * revisions + r) as i64 * 61_001;
                    Revision {
                        id: Some(id),
                        parent_id: (r > 0).then(|| id - 1),
                        timestamp: format_timestamp(ms).expect("in range"),
                        timestamp_ms: Some(ms),
                        contributor: match r % 4 {
                            0 => Contributor::User {
                                name: format!("Aziz {r}"),
                                id: Some(r + 7),
                            },
                            1 => Contributor::User {
                                name: "Импортированный".into(),
                                id: None,
                            },
                            2 => Contributor::Ip(format!("10.0.0.{r}")),
                            _ => Contributor::Deleted,
                        },
                        comment: match r % 3 {
                            0 => None,
                            1 => Some(format!("tahrir {r}: <&> ]]>")),
                            _ => Some(String::new()),
                        },
                        minor: r % 2 == 1,
                        model: Some("wikitext".into()),
                        format: Some("text/x-wiki".into()),
                        text: if p % 10 == 9 && r + 1 == revisions {
                            format!("#REDIRECT [[Sahifa {}]]", p - 1)
                        } else {
                            format!(
                                "{} ({p}/{r})",
                                TEXTS[((p + r) % TEXTS.len() as u64) as usize]
                            )
                        },
                        sha1: (r % 2 == 0).then(|| format!("{:031}", id)),
                    }
                })
                .collect(),
        })
        .collect()
}

fn export(pages: &[Page]) -> Vec<u8> {
    let mut out = Vec::new();
    write_export(&mut out, &site(), pages).expect("writes");
    out
}

#[test]
fn a_dump_of_fifty_pages_of_twenty_revisions_comes_back_whole() {
    let pages = generated(50, 20);
    let xml = export(&pages);
    let reader = DumpReader::new(BufReader::new(Cursor::new(&xml))).expect("opens");
    assert_eq!(reader.version(), &SchemaVersion::V0_11);
    assert_eq!(reader.siteinfo(), Some(&site()));
    let r = read_all(reader);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let read: Vec<Page> = r.pages.into_iter().map(|(p, _)| p).collect();
    assert_eq!(read.len(), 50);
    assert_eq!(read.iter().map(|p| p.revisions.len()).sum::<usize>(), 1000);
    // Field by field first, for a readable failure, then whole.
    for (got, want) in read.iter().zip(&pages) {
        assert_eq!(got.title, want.title);
        for (g, w) in got.revisions.iter().zip(&want.revisions) {
            assert_eq!(g.text, w.text, "{} rev {:?}", want.title, w.id);
        }
    }
    assert_eq!(read, pages);
    assert_eq!(r.end, xml.len() as u64);
}

#[test]
fn a_text_with_carriage_returns_and_tabs_survives_the_round_trip() {
    let mut pages = generated(1, 1);
    pages[0].revisions[0].text = "a\r\nb\rc\n\td  \u{2028}e".into();
    pages[0].revisions[0].comment = Some("tab\there".into());
    let r = read_bytes(&export(&pages)).expect("opens");
    assert_eq!(r.pages[0].0, pages[0]);
}

// ---------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------

#[test]
fn position_grows_and_ends_at_the_size_of_a_complete_file() {
    let mut xml = export(&generated(7, 3));
    // Whitespace and a comment after the root are part of a complete file.
    xml.extend_from_slice(b"\n<!-- end of dump -->\n\n");
    let mut reader =
        DumpReader::new(BufReader::with_capacity(64, Cursor::new(&xml))).expect("opens");
    let mut positions = vec![reader.position()];
    while let Some(item) = reader.next() {
        item.expect("a sound file");
        positions.push(reader.position());
    }
    positions.push(reader.position());
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "{positions:?}");
    assert!(
        positions[1] < positions[positions.len() - 2],
        "progress is gradual: {positions:?}"
    );
    assert_eq!(reader.position(), xml.len() as u64);
}

// ---------------------------------------------------------------------------
// Hostile limits
// ---------------------------------------------------------------------------

fn wrap(pages: &str) -> String {
    format!(
        "<mediawiki xmlns=\"{EXPORT_NAMESPACE_0_11}\" version=\"0.11\" xml:lang=\"en\">\n{pages}</mediawiki>\n"
    )
}

fn page_xml(title: &str, id: u64, texts: &[&str]) -> String {
    let mut s =
        format!("  <page>\n    <title>{title}</title>\n    <ns>0</ns>\n    <id>{id}</id>\n");
    for (k, text) in texts.iter().enumerate() {
        s.push_str(&format!(
            "    <revision><id>{}</id><timestamp>2024-01-01T00:00:00Z</timestamp>\
             <contributor><ip>10.0.0.1</ip></contributor><model>wikitext</model>\
             <format>text/x-wiki</format><text xml:space=\"preserve\">{text}</text></revision>\n",
            id * 100 + k as u64
        ));
    }
    s.push_str("  </page>\n");
    s
}

#[test]
fn an_over_long_title_skips_its_page_with_the_reason() {
    let title = "Ж".repeat(300); // 600 bytes, over chapar's 512.
    let xml = wrap(
        &(page_xml("Before", 1, &["a"])
            + &page_xml(&title, 2, &["b"])
            + &page_xml("After", 3, &["c"])),
    );
    let r = read_bytes(xml.as_bytes()).expect("opens");
    assert_eq!(titles(&r), ["Before", "After"]);
    let [DumpError::PageSkipped { page, reason }] = r.errors.as_slice() else {
        panic!("{:?}", r.errors);
    };
    assert_eq!(
        *reason,
        SkipReason::TitleTooLong {
            bytes: 600,
            limit: chapar_proto::wiki::MAX_TITLE
        }
    );
    assert_eq!(
        page.offset as usize,
        xml.find("<page>\n    <title>Ж").expect("page")
    );
    let preview = page.title.as_deref().expect("a preview of the title");
    assert!(
        preview.len() < 210 && preview.starts_with("ЖЖЖ"),
        "{preview}"
    );
    let msg = r.errors[0].to_string();
    assert!(
        msg.contains("600 bytes") && msg.contains("limit of 512") && msg.contains("rename"),
        "{msg}"
    );
    assert!(!r.errors[0].ends_reading());
}

#[test]
fn a_revision_over_four_mebibytes_is_skipped_and_its_page_kept() {
    let max = chapar_proto::wiki::MAX_BODY;
    let big = "x".repeat(max + 1);
    let xml = wrap(&(page_xml("Big", 1, &["first", &big, "third"]) + &page_xml("Next", 2, &["n"])));
    let r = read_bytes(xml.as_bytes()).expect("opens");
    assert_eq!(titles(&r), ["Big", "Next"]);
    let texts: Vec<&str> = r.pages[0]
        .0
        .revisions
        .iter()
        .map(|rev| rev.text.as_str())
        .collect();
    assert_eq!(texts, ["first", "third"]);
    let [
        DumpError::RevisionSkipped {
            title,
            revision,
            reason,
            ..
        },
    ] = r.errors.as_slice()
    else {
        panic!("{:?}", r.errors);
    };
    assert_eq!((title.as_str(), *revision), ("Big", Some(101)));
    assert_eq!(
        *reason,
        SkipReason::TextTooLong {
            bytes: max as u64 + 1,
            limit: max
        }
    );
    let msg = r.errors[0].to_string();
    assert!(
        msg.contains("4194305 bytes") && msg.contains("split"),
        "{msg}"
    );
}

#[test]
fn a_text_far_over_the_limits_skips_its_page_unread() {
    // With small limits a text of 1 MiB is far over what one XML token
    // may hold: the page is skipped, reading goes on at the next page.
    let limits = Limits {
        max_title: 100,
        max_text: 1000,
        max_field: 100,
        max_page_bytes: 1 << 20,
    };
    let big = "y".repeat(1 << 20);
    let xml = wrap(&(page_xml("Huge", 1, &["ok", &big]) + &page_xml("Next", 2, &["n"])));
    let r = read_all(DumpReader::with_limits(xml.as_bytes(), limits).expect("opens"));
    assert_eq!(titles(&r), ["Next"]);
    let [
        DumpError::PageSkipped {
            page,
            reason: SkipReason::TokenTooLarge { limit },
        },
    ] = r.errors.as_slice()
    else {
        panic!("{:?}", r.errors);
    };
    assert_eq!(page.title.as_deref(), Some("Huge"));
    assert_eq!(page.complete_revisions, 1);
    assert!(*limit < 1 << 20);
    // Many revisions under every limit, together over the page's.
    let limits = Limits {
        max_page_bytes: 10_000,
        ..limits
    };
    let texts: Vec<String> = (0..30).map(|_| "z".repeat(900)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let xml = wrap(&(page_xml("Long history", 1, &refs) + &page_xml("Next", 2, &["n"])));
    let r = read_all(DumpReader::with_limits(xml.as_bytes(), limits).expect("opens"));
    assert_eq!(titles(&r), ["Next"]);
    assert!(
        matches!(
            &r.errors[..],
            [DumpError::PageSkipped {
                reason: SkipReason::PageTooLarge { limit: 10_000, .. },
                ..
            }]
        ),
        "{:?}",
        r.errors
    );
}

// ---------------------------------------------------------------------------
// Not an export, versions, odd files
// ---------------------------------------------------------------------------

#[test]
fn what_is_not_a_readable_export_is_refused_before_any_page() {
    let err = |s: &str| {
        DumpReader::new(s.as_bytes())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(err("<html><body/></html>").contains("root element is <html>"));
    assert!(err("").contains("not a MediaWiki XML export"));
    assert!(err("just text").contains("not a MediaWiki XML export"));
    assert!(err("<mediawiki version=\"0.7\" xml:lang=\"en\">").contains("older than 0.8"));
    assert!(
        err("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><mediawiki version=\"0.10\">")
            .contains("iconv")
    );
    let newer =
        DumpReader::new("<mediawiki version=\"0.12\" xml:lang=\"en\"></mediawiki>".as_bytes())
            .expect("opens");
    assert_eq!(newer.version(), &SchemaVersion::Unknown("0.12".into()));
    assert!(
        newer
            .version()
            .warning()
            .is_some_and(|w| w.contains("0.12"))
    );
    let from_ns = DumpReader::new(
        "<mediawiki xmlns=\"http://www.mediawiki.org/xml/export-0.8/\" xml:lang=\"en\"/>"
            .as_bytes(),
    )
    .expect("opens");
    assert_eq!(from_ns.version(), &SchemaVersion::V0_8);
}

#[test]
fn damage_in_one_page_costs_that_page_only() {
    let good = page_xml("One", 1, &["a"]);
    let broken = page_xml("Two", 2, &["b"]).replace("</text>", "</txet>");
    let bad_id = page_xml("Three", 3, &["c"]).replace("<id>300</id>", "<id>x</id>");
    let xml = wrap(&(good + &broken + &bad_id + &page_xml("Four", 4, &["d"])));
    let r = read_bytes(xml.as_bytes()).expect("opens");
    assert_eq!(titles(&r), ["One", "Three", "Four"]);
    assert!(
        r.pages[1].0.revisions.is_empty(),
        "revision 300 had no valid id"
    );
    assert!(
        matches!(&r.errors[0], DumpError::Malformed { page: Some(Skipped { title: Some(t), .. }), .. } if t == "Two"),
        "{:?}",
        r.errors
    );
    assert!(r.errors[0].to_string().contains("xmllint --noout"));
    assert!(
        matches!(
            &r.errors[1],
            DumpError::RevisionSkipped {
                reason: SkipReason::Invalid { .. },
                revision: None,
                ..
            }
        ),
        "{:?}",
        r.errors
    );
    assert_eq!(r.errors.len(), 2);
    assert_eq!(r.end, xml.len() as u64);
}

#[test]
fn an_old_redirect_flag_takes_its_target_from_the_text() {
    let xml = wrap(
        &page_xml("Old", 1, &["#REDIRECT [[New_Page#Part]]"])
            .replace("<id>1</id>\n", "<id>1</id>\n    <redirect />\n"),
    );
    let r = read_bytes(xml.as_bytes()).expect("opens");
    assert_eq!(r.pages[0].0.redirect.as_deref(), Some("New Page#Part"));
}

// ---------------------------------------------------------------------------
// Damage, at random
// ---------------------------------------------------------------------------

/// The pages of an undamaged file and the offset each ends at.
fn reference(bytes: &[u8]) -> Vec<(Page, u64)> {
    let r = read_bytes(bytes).expect("opens");
    r.pages
}

/// Reads damaged bytes; the pages that end before `damage` must come out
/// first and equal.
fn check_damaged(damaged: &[u8], reference: &[(Page, u64)], damage: u64) {
    let before: Vec<&Page> = reference
        .iter()
        .filter(|(_, end)| *end <= damage)
        .map(|(p, _)| p)
        .collect();
    match read_bytes(damaged) {
        Ok(r) => {
            assert!(
                r.pages.len() >= before.len(),
                "lost pages before byte {damage}"
            );
            for (k, want) in before.iter().enumerate() {
                assert_eq!(
                    &r.pages[k].0, *want,
                    "page {k} before the damage at {damage}"
                );
            }
            assert!(r.end <= damaged.len() as u64);
        }
        Err(e) => {
            assert!(
                before.is_empty(),
                "no page read, yet {} end before byte {damage}: {e}",
                before.len()
            );
            assert!(e.ends_reading());
        }
    }
}

fn small_dump() -> Vec<u8> {
    export(&generated(12, 3))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_truncated_corpus_keeps_its_complete_pages(cut in 0.0f64..1.0) {
        let bytes = corpus_bytes();
        let reference = reference(&bytes);
        let cut = ((bytes.len() as f64) * cut) as usize;
        check_damaged(&bytes[..cut], &reference, cut as u64);
        if let Ok(r) = read_bytes(&bytes[..cut]) {
            // Cut short: the last item says so, at the cut.
            let last = r.errors.last().expect("the cut is reported");
            prop_assert!(matches!(last, DumpError::Truncated { offset, .. } if *offset == cut as u64), "{last:?}");
        }
    }

    #[test]
    fn a_truncated_dump_keeps_its_complete_pages(cut in 0.0f64..1.0) {
        let bytes = small_dump();
        let reference = reference(&bytes);
        let cut = ((bytes.len() as f64) * cut) as usize;
        check_damaged(&bytes[..cut], &reference, cut as u64);
    }

    #[test]
    fn a_corrupted_corpus_keeps_its_pages_before_the_damage(
        at in 0.0f64..1.0,
        garbage in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let mut bytes = corpus_bytes();
        let reference = reference(&bytes);
        let at = ((bytes.len() - garbage.len()) as f64 * at) as usize;
        bytes[at..at + garbage.len()].copy_from_slice(&garbage);
        check_damaged(&bytes, &reference, at as u64);
    }

    #[test]
    fn a_corrupted_dump_keeps_its_pages_before_the_damage(
        at in 0.0f64..1.0,
        garbage in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let mut bytes = small_dump();
        let reference = reference(&bytes);
        let at = ((bytes.len() - garbage.len()) as f64 * at) as usize;
        bytes[at..at + garbage.len()].copy_from_slice(&garbage);
        check_damaged(&bytes, &reference, at as u64);
    }

    #[test]
    fn markup_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("<page>"), Just("</page>"), Just("<title>T</title>"), Just("<revision>"), Just("</revision>"),
        Just("<text>"), Just("</text>"), Just("<id>1</id>"), Just("&amp;"), Just("&bogus;"), Just("<![CDATA[x]]>"),
        Just("</mediawiki>"), Just("<mediawiki version=\"0.10\">"), Just("<siteinfo>"), Just("</siteinfo>"),
        Just("<!--"), Just("-->"), Just("<"), Just(">"), Just("\u{FF}"), Just("<page"), Just(" "), Just("x"),
    ], 0..60)) {
        let body: String = parts.concat();
        let xml = format!("<mediawiki version=\"0.10\" xml:lang=\"en\">{body}");
        if let Ok(r) = read_bytes(xml.as_bytes()) {
            prop_assert!(r.end <= xml.len() as u64);
        }
    }
}

// ---------------------------------------------------------------------------
// The round trip
// ---------------------------------------------------------------------------

fn title_strategy() -> impl Strategy<Value = String> {
    "\\PC{1,40}".prop_filter("a title is not blank", |t| !t.trim().is_empty())
}

fn revision_strategy() -> impl Strategy<Value = Revision> {
    (
        proptest::option::of(1u64..1_000_000),
        -62_135_596_800_000i64..253_402_300_799_999,
        prop_oneof![
            ("\\PC{0,20}", proptest::option::of(0u64..1000))
                .prop_map(|(name, id)| Contributor::User { name, id }),
            "[0-9a-f:.]{1,39}".prop_map(Contributor::Ip),
            Just(Contributor::Deleted),
        ],
        proptest::option::of("\\PC{0,40}"),
        any::<bool>(),
        prop_oneof![
            Just("wikitext"),
            Just("css"),
            Just("json"),
            Just("flow-board")
        ],
        "\\PC{0,300}",
        proptest::option::of("[0-9a-z]{31}"),
    )
        .prop_map(
            |(parent_id, ms, contributor, comment, minor, model, text, sha1)| Revision {
                id: None,
                parent_id,
                timestamp: format_timestamp(ms).expect("in range"),
                timestamp_ms: Some(ms),
                contributor,
                comment,
                minor,
                model: Some(model.to_string()),
                format: Some(
                    if model == "wikitext" {
                        "text/x-wiki"
                    } else {
                        "text/plain"
                    }
                    .to_string(),
                ),
                text,
                sha1,
            },
        )
}

fn pages_strategy() -> impl Strategy<Value = Vec<Page>> {
    proptest::collection::vec(
        (
            title_strategy(),
            0i32..3000,
            proptest::option::of(title_strategy()),
            proptest::collection::vec(revision_strategy(), 0..4),
        ),
        0..6,
    )
    .prop_map(|pages| {
        let mut next_rev = 1;
        pages
            .into_iter()
            .enumerate()
            .map(|(k, (title, ns, redirect, mut revisions))| {
                for rev in &mut revisions {
                    rev.id = Some(next_rev);
                    next_rev += 1;
                }
                Page {
                    title,
                    ns,
                    id: Some(k as u64 + 1),
                    redirect,
                    revisions,
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn reading_what_was_written_gives_the_same_pages(pages in pages_strategy(), sitename in "\\PC{0,20}") {
        let site = SiteInfo { sitename, ..site() };
        let mut xml = Vec::new();
        write_export(&mut xml, &site, &pages).expect("writes");
        let reader = DumpReader::new(xml.as_slice()).expect("opens");
        prop_assert_eq!(reader.siteinfo(), Some(&site));
        let r = read_all(reader);
        prop_assert!(r.errors.is_empty(), "{:?}", r.errors);
        let read: Vec<Page> = r.pages.into_iter().map(|(p, _)| p).collect();
        prop_assert_eq!(read, pages);
        prop_assert_eq!(r.end, xml.len() as u64);
    }
}

#[test]
fn what_cannot_be_written_valid_is_refused_with_the_reason() {
    let refuse = |f: &dyn Fn(&mut Page)| {
        let mut pages = generated(1, 1);
        f(&mut pages[0]);
        let err = write_export(Vec::new(), &site(), &pages).expect_err("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        err.to_string()
    };
    assert!(refuse(&|p| p.id = None).contains("number the pages"));
    assert!(refuse(&|p| p.title = " ".into()).contains("title is empty"));
    assert!(
        refuse(&|p| p.revisions[0].timestamp = "yesterday".into()).contains("2024-01-31T12:00:00Z")
    );
    assert!(refuse(&|p| p.revisions[0].text = "bell \u{7}".into()).contains("U+0007"));
    assert!(refuse(&|p| p.revisions[0].model = Some("wiki text".into())).contains("content model"));
    assert!(refuse(&|p| p.redirect = Some(String::new())).contains("redirect target is empty"));
    for base in ["http://a/%zz", "http://a/[x]", "http://a/#x#y"] {
        let site = SiteInfo {
            base: base.into(),
            ..site()
        };
        let err = write_export(Vec::new(), &site, &generated(1, 1)).expect_err("refused");
        assert!(err.to_string().contains("percent-encode"), "{err}");
    }
    let ipv6 = SiteInfo {
        base: "http://[::1]:8080/wiki/Bosh_sahifa?a=%41#top".into(),
        ..site()
    };
    let mut out = Vec::new();
    write_export(&mut out, &ipv6, &generated(1, 1)).expect("a valid URL");
    let (ok, messages) = xmllint(&out);
    assert!(ok, "{messages}");
    let mut twice = generated(2, 1);
    twice[1].id = twice[0].id;
    assert!(write_export(Vec::new(), &site(), &twice).is_err());
}

// ---------------------------------------------------------------------------
// Validation against MediaWiki's schema
// ---------------------------------------------------------------------------

/// Validates `xml` with `xmllint` against `export-0.11.xsd`, offline: the
/// schema's import of the W3C `xml.xsd` is resolved through the catalog to
/// the copy in the corpus. Fails, never skips, when xmllint is missing.
fn xmllint(xml: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("export.xml");
    std::fs::write(&file, xml).expect("write");
    let output = Command::new("xmllint")
        .arg("--nonet")
        .arg("--noout")
        .arg("--schema")
        .arg(corpus("export-0.11.xsd"))
        .arg(&file)
        .env("XML_CATALOG_FILES", corpus("catalog.xml"))
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "xmllint is not installed, and the export must be checked against MediaWiki's schema: \
             install it with `apt-get install -y libxml2-utils` (Debian/Ubuntu; the package that \
             provides xmllint elsewhere)"
        ),
        Err(e) => panic!("running xmllint failed: {e}"),
    };
    let messages = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), messages)
}

#[test]
fn the_export_is_valid_against_mediawikis_schema() {
    let xml = export(&generated(50, 20));
    let (ok, messages) = xmllint(&xml);
    assert!(ok, "export-0.11.xsd rejects the export:\n{messages}");
    assert!(
        !messages.contains("network") && !messages.contains("failed to load"),
        "{messages}"
    );
    // Also a site with nothing optional, and a page without revisions.
    let bare = Page {
        title: "Yolgʻiz".into(),
        ns: 0,
        id: Some(1),
        redirect: None,
        revisions: Vec::new(),
    };
    let mut out = Vec::new();
    write_export(&mut out, &SiteInfo::default(), [&bare]).expect("writes");
    let (ok, messages) = xmllint(&out);
    assert!(ok, "{messages}");
    // The validator does check: a revision without its required <model>
    // is refused.
    let broken = String::from_utf8(xml)
        .expect("UTF-8")
        .replacen("<model>wikitext</model>", "", 1);
    let (ok, messages) = xmllint(broken.as_bytes());
    assert!(!ok && messages.contains("model"), "{messages}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn random_exports_are_valid_against_the_schema(pages in pages_strategy()) {
        let mut xml = Vec::new();
        write_export(&mut xml, &site(), &pages).expect("writes");
        let (ok, messages) = xmllint(&xml);
        prop_assert!(ok, "{}", messages);
    }
}

/// A stream of `n` bytes that never holds them all.
#[test]
fn a_reader_over_a_stream_reads_it_in_step() {
    let head = wrap(&page_xml("S", 1, &["s"])).replace("</mediawiki>\n", "");
    let input = Cursor::new(head.into_bytes())
        .chain(std::io::repeat(b' ').take(1 << 20))
        .chain(Cursor::new(b"</mediawiki>"));
    let r = read_all(DumpReader::new(BufReader::new(input)).expect("opens"));
    assert_eq!(titles(&r), ["S"]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}
