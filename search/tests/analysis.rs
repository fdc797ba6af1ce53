//! The analysis chain, rule by rule, on a UN speech and on the project's
//! parallel Uzbek fixture (Latin and Cyrillic script), all in the
//! repository's `corpus/` (see its README).

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use chapar_search::analysis::{
    self, ChaparTokenizer, MAX_STEMS, MAX_WORD_CHARS, Word, analyze, fold,
};
use proptest::prelude::*;
use tantivy::collector::DocSetCollector;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, STORED, Schema, TEXT, TextFieldIndexing, Value};
use tantivy::tokenizer::{TextAnalyzer, Token};
use tantivy::{Index, TantivyDocument, Term};

/// Every apostrophe form the chain unifies.
const APOSTROPHES: [char; 9] = [
    '\'', '\u{2018}', '\u{2019}', '`', '\u{02BB}', '\u{02BC}', '\u{00B4}', '\u{02B9}', '\u{2032}',
];

/// A file of the repository's `corpus/` directory.
fn corpus(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(path);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (see corpus/README.md)", path.display()))
}

/// The same text in both scripts, written for the project.
const LATIN: &str = "uzbek/axborot-almashinuvi-latin.txt";
const CYRILLIC: &str = "uzbek/axborot-almashinuvi-cyrillic.txt";

/// Whether `c` is a Cyrillic letter.
fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{04FF}').contains(&c)
}

fn folded(text: &str) -> Vec<String> {
    analyze(text).into_iter().map(|w| w.folded).collect()
}

/// Every token the tantivy stream emits: folded forms and stems.
fn tokens(text: &str) -> Vec<Token> {
    let mut analyzer = TextAnalyzer::from(ChaparTokenizer::default());
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while let Some(token) = stream.next() {
        tokens.push(token.clone());
    }
    tokens
}

fn token_texts(text: &str) -> HashSet<String> {
    tokens(text).into_iter().map(|t| t.text).collect()
}

// ---------------------------------------------------------------------------
// Transliteration.

#[test]
fn each_cyrillic_letter() {
    // Letters without a context rule, alone and capitalised.
    let table = [
        ("а", "a"),
        ("б", "b"),
        ("в", "v"),
        ("г", "g"),
        ("д", "d"),
        ("ё", "yo"),
        ("ж", "j"),
        ("з", "z"),
        ("и", "i"),
        ("й", "y"),
        ("к", "k"),
        ("л", "l"),
        ("м", "m"),
        ("н", "n"),
        ("о", "o"),
        ("п", "p"),
        ("р", "r"),
        ("с", "s"),
        ("т", "t"),
        ("у", "u"),
        ("ф", "f"),
        ("х", "x"),
        ("ч", "ch"),
        ("ш", "sh"),
        ("щ", "sh"),
        ("ы", "i"),
        ("э", "e"),
        ("ю", "yu"),
        ("я", "ya"),
        ("ў", "o'"),
        ("қ", "q"),
        ("ғ", "g'"),
        ("ҳ", "h"),
    ];
    for (cyrillic, latin) in table {
        // Inside a word, so that ў and ғ keep their apostrophe.
        assert_eq!(
            fold(&format!("а{cyrillic}а")),
            format!("a{latin}a"),
            "{cyrillic}"
        );
        let upper = cyrillic.to_uppercase();
        assert_eq!(fold(&format!("А{upper}А")), format!("a{latin}a"), "{upper}");
    }
    assert_eq!(fold("бь"), "b", "ь is dropped");
}

#[test]
fn words_from_the_brief() {
    assert_eq!(fold("Ўзбекистон"), "o'zbekiston");
    assert_eq!(fold("посольство"), "posolstvo");
    assert_eq!(folded("рақамли дипломатия"), ["raqamli", "diplomatiya"]);
    assert_eq!(fold("ҲАЁТ"), "hayot");
    assert_eq!(fold("ғалаба"), "g'alaba");
    assert_eq!(fold("Хрущёв"), "xrushyov");
    assert_eq!(fold("рыба"), "riba");
}

#[test]
fn ye_at_word_start_after_vowel_and_after_hard_or_soft_sign() {
    assert_eq!(fold("Европа"), "yevropa");
    assert_eq!(fold("ер"), "yer");
    assert_eq!(fold("поезд"), "poyezd");
    assert_eq!(fold("премьер"), "premyer");
    assert_eq!(fold("съезд"), "syezd");
    // After a consonant: e.
    assert_eq!(fold("тема"), "tema");
    assert_eq!(fold("Ўзбекистон"), "o'zbekiston");
}

#[test]
fn ts_after_vowel_s_elsewhere() {
    assert_eq!(fold("цирк"), "sirk");
    assert_eq!(fold("концерт"), "konsert");
    assert_eq!(fold("Франция"), "fransiya");
    assert_eq!(fold("лицей"), "litsey");
    assert_eq!(fold("милиция"), "militsiya");
    // After ь (not a vowel): s, as Uzbek writes Yelsin.
    assert_eq!(fold("Ельцин"), "yelsin");
}

#[test]
fn hard_sign() {
    // The tutuq belgisi.
    assert_eq!(fold("маъно"), "ma'no");
    assert_eq!(fold("санъат"), "san'at");
    assert_eq!(fold("маъюс"), "ma'yus");
    // Russian separating sign between a consonant and е ё ю я: nothing.
    assert_eq!(fold("объект"), "obyekt");
    // At either end: nothing.
    assert_eq!(fold("ъа"), "a");
    assert_eq!(fold("аъ"), "a");
    // A word of nothing but signs folds to nothing and is not indexed.
    assert_eq!(fold("ъ"), "");
    assert_eq!(folded("ъ ь а"), ["a"]);
}

#[test]
fn soft_sign_dropped() {
    assert_eq!(fold("посольство"), "posolstvo");
    assert_eq!(fold("компьютер"), "kompyuter");
    assert_eq!(fold("статья"), "statya");
}

#[test]
fn latin_input_only_lowercases_and_unifies_apostrophes() {
    assert_eq!(fold("O‘ZBEKISTON"), "o'zbekiston");
    assert_eq!(fold("TA’SIR"), "ta'sir");
    assert_eq!(fold("Diplomatiya"), "diplomatiya");
    assert_eq!(fold("shahar"), "shahar");
    assert_eq!(fold("choy"), "choy");
}

#[test]
fn word_final_g_apostrophe_matches_cyrillic() {
    // The tokenizer does not keep a trailing apostrophe, so the folded
    // Cyrillic form must not end with one either.
    assert_eq!(fold("тоғ"), "tog");
    assert_eq!(
        folded("tog‘ tog' Тоғ тоғда tog‘da"),
        ["tog", "tog", "tog", "tog'da", "tog'da"]
    );
}

// ---------------------------------------------------------------------------
// Apostrophes and combining marks.

#[test]
fn every_apostrophe_form_folds_to_ascii() {
    for a in APOSTROPHES {
        let text = format!("O{a}zbekiston");
        let words = analyze(&text);
        assert_eq!(words.len(), 1, "{text:?} is one word");
        assert_eq!(words[0].folded, "o'zbekiston", "{text:?}");
        assert_eq!((words[0].offset_from, words[0].offset_to), (0, text.len()));
        assert_eq!(fold(&format!("ma{a}no")), "ma'no");
    }
    assert_eq!(fold("Ўзбекистон"), fold("O‘zbekiston"));
}

#[test]
fn apostrophe_only_between_letters() {
    // Quotes around a word are not part of it.
    for a in APOSTROPHES {
        let text = format!("{a}so{a}z{a}");
        let words = analyze(&text);
        assert_eq!(words.len(), 1, "{text:?}");
        assert_eq!(words[0].folded, "so'z");
        assert_eq!(
            &text[words[0].offset_from..words[0].offset_to],
            format!("so{a}z")
        );
    }
    // Not after or before a digit, not doubled.
    assert_eq!(folded("1990's"), ["1990", "s"]);
    assert_eq!(folded("a'1"), ["a", "1"]);
    assert_eq!(folded("o''z"), ["o", "z"]);
    // English possessives stay one word.
    assert_eq!(folded("the embassy’s staff"), ["the", "embassy's", "staff"]);
}

#[test]
fn combining_marks_match_precomposed() {
    assert_eq!(fold("и\u{0306}од"), fold("йод"));
    assert_eq!(fold("И\u{0306}ОД"), "yod");
    assert_eq!(fold("у\u{0306}збек"), fold("ўзбек"));
    assert_eq!(fold("е\u{0308}лка"), fold("ёлка"));
    assert_eq!(fold("Е\u{0308}ЛКА"), "yolka");
    // Stress accents dropped.
    assert_eq!(fold("заме\u{0301}на"), fold("замена"));
    assert_eq!(fold("за\u{0300}мок"), fold("замок"));
    // Latin letters compose as NFC would.
    assert_eq!(fold("cafe\u{0301}"), fold("café"));
    assert_eq!(fold("Zu\u{0308}rich"), "zürich");
    // ŏ and ğ, typed for oʻ and gʻ, decomposed or not.
    assert_eq!(fold("Ŏzbekiston"), "o'zbekiston");
    assert_eq!(fold("O\u{0306}zbekiston"), "o'zbekiston");
    assert_eq!(fold("toğri"), "tog'ri");
    // A mark does not split the word, and offsets cover it.
    let text = "заме\u{0301}на и\u{0306}од";
    let words = analyze(text);
    assert_eq!(words.len(), 2);
    assert_eq!(
        &text[words[0].offset_from..words[0].offset_to],
        "заме\u{0301}на"
    );
    assert_eq!(
        &text[words[1].offset_from..words[1].offset_to],
        "и\u{0306}од"
    );
    // A mark with no letter before it is not a word.
    assert!(analyze("\u{0301} \u{0306}").is_empty());
}

// ---------------------------------------------------------------------------
// Tokens: offsets, positions, length, digits.

#[test]
fn offsets_point_at_the_original_words() {
    let text = "«Ўзбекистон» — O‘zbekiston, EMBASSY’S staff; 2021-yil 14-dekabr.";
    let words = analyze(text);
    let originals: Vec<&str> = words
        .iter()
        .map(|w| &text[w.offset_from..w.offset_to])
        .collect();
    assert_eq!(
        originals,
        [
            "Ўзбекистон",
            "O‘zbekiston",
            "EMBASSY’S",
            "staff",
            "2021",
            "yil",
            "14",
            "dekabr"
        ]
    );
    for word in &words {
        assert_eq!(word.folded, fold(&text[word.offset_from..word.offset_to]));
    }
}

#[test]
fn positions_one_per_word_stems_share_them() {
    let text = "Посольства and embassies of O‘zbekiston";
    let tokens = tokens(text);
    let summary: Vec<(usize, &str)> = tokens
        .iter()
        .map(|t| (t.position, t.text.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (0, "posolstva"),
            (0, "посольств"),
            (1, "and"),
            (2, "embassies"),
            (2, "embassi"),
            (3, "of"),
            (4, "o'zbekiston"),
        ]
    );
    // A stem has its word's offsets too.
    for pair in tokens.windows(2) {
        if pair[0].position == pair[1].position {
            assert_eq!(
                (pair[0].offset_from, pair[0].offset_to),
                (pair[1].offset_from, pair[1].offset_to)
            );
        }
    }
    let words = analyze(text);
    assert!(words.iter().enumerate().all(|(i, w)| w.position == i));
}

#[test]
fn long_words_dropped_keeping_their_place() {
    let longest = "x".repeat(MAX_WORD_CHARS);
    let too_long = "y".repeat(MAX_WORD_CHARS + 1);
    let cyrillic = "ж".repeat(MAX_WORD_CHARS); // 128 bytes, 64 characters
    let text = format!("alpha {too_long} beta {longest} {cyrillic}");
    let words: Vec<(usize, usize)> = analyze(&text)
        .iter()
        .map(|w| (w.position, w.folded.chars().count()))
        .collect();
    assert_eq!(
        words,
        [(0, 5), (2, 4), (3, MAX_WORD_CHARS), (4, MAX_WORD_CHARS)]
    );
}

#[test]
fn digits_are_words_without_stems() {
    let words = analyze("2021-yil 14-dekabr, COVID19 ²");
    let summary: Vec<(&str, usize)> = words
        .iter()
        .map(|w| (w.folded.as_str(), w.stems.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("2021", 0),
            ("yil", 0),
            ("14", 0),
            ("dekabr", 0),
            ("covid19", 0),
            ("²", 0),
        ]
    );
}

// ---------------------------------------------------------------------------
// Stems.

#[test]
fn russian_and_english_stems_shared() {
    let stems = |word: &str| {
        let words = analyze(word);
        assert_eq!(words.len(), 1);
        words[0].stems.clone()
    };
    // Russian stems stay in Cyrillic (ADR 0008, issue 14), even when the
    // stem is the word itself: `посольств` must meet `посольства`.
    assert_eq!(stems("посольства"), ["посольств"]);
    assert_eq!(stems("посольство"), ["посольств"]);
    assert_eq!(stems("посольств"), ["посольств"]);
    assert_eq!(stems("embassies"), ["embassi"]);
    assert_eq!(stems("embassy"), ["embassi"]);
    assert_eq!(stems("Embassy’s"), ["embassi"]);
    // Uzbek Cyrillic (ў қ ғ ҳ): only the Uzbek stem.
    assert_eq!(stems("ўзбекистонда"), ["o'zbekiston"]);
    assert_eq!(stems("ЎЗБЕКИСТОН"), Vec::<String>::new());
    // No stem for short words and words ending where no suffix ends; none
    // twice (English and Uzbek agree on `planning`).
    assert_eq!(stems("is"), Vec::<String>::new());
    assert_eq!(stems("with"), Vec::<String>::new());
    assert_eq!(stems("в"), Vec::<String>::new());
    assert_eq!(stems("planning"), ["plan"]);
    // The stream emits them: the tokens share one term.
    let a = token_texts("посольство");
    let b = token_texts("посольства");
    assert!(a.intersection(&b).any(|t| t == "посольств"));
    let a = token_texts("embassy");
    let b = token_texts("embassies");
    assert!(a.intersection(&b).any(|t| t == "embassi"));
}

#[test]
fn russian_stems_live_in_cyrillic_and_do_not_meet_english() {
    // Issue 14: transliterated, the Russian stem of the Uzbek `дипломатия`
    // was `diplomat`, the English word.
    let ru = token_texts("дипломатия");
    assert!(
        ru.contains("diplomatiya") && ru.contains("дипломат"),
        "{ru:?}"
    );
    let en = token_texts("diplomat diplomats diplomatic");
    assert!(ru.is_disjoint(&en), "{ru:?} {en:?}");
    // Russian inflections still meet each other through the Russian stem,
    // and the Latin spelling through the folded form.
    for other in ["дипломатии", "дипломатией"] {
        assert!(token_texts(other).contains("дипломат"), "{other}");
    }
    assert!(token_texts("diplomatiya").contains("diplomatiya"));
    // The namespace: a Russian stem is all Cyrillic; a folded form and a
    // Latin stem have no Russian letter.
    let text = format!("{} Посольства работают, дипломатов", corpus(CYRILLIC));
    for word in analyze(&text) {
        assert!(
            !word.folded.chars().any(is_russian_letter),
            "{}",
            word.folded
        );
        for stem in &word.stems {
            assert!(
                stem.chars().all(is_cyrillic) || !stem.chars().any(is_russian_letter),
                "{stem}"
            );
        }
    }
}

#[test]
fn an_uzbek_cyrillic_text_gets_no_russian_stems() {
    // The fixture is Uzbek: about one Cyrillic letter in twenty-one is
    // ў қ ғ ҳ, but two words in three have none of them, and the Russian
    // stemmer used to stem those (`давлатлар` would get `давлатл`).
    let uzbek = corpus(CYRILLIC);
    assert!(analysis::uzbek_cyrillic(&uzbek));
    let cyrillic_stems = |text: &str| -> Vec<String> {
        analyze(text)
            .into_iter()
            .flat_map(|w| w.stems)
            .filter(|s| s.chars().any(is_cyrillic))
            .collect()
    };
    assert_eq!(cyrillic_stems(&uzbek), Vec::<String>::new());
    // Its words still get their Uzbek stems, which meet the Latin text's.
    let latin = token_texts(&corpus(LATIN));
    let cyr = token_texts(&uzbek);
    for form in ["xabar", "vazirlik", "diplomatiya"] {
        assert!(cyr.contains(form) && latin.contains(form), "{form}");
    }

    // A Russian text keeps its Russian stems, even when it names
    // Ўзбекистон or Қозоғистон now and then.
    let russian = "Посольство Республики Ўзбекистон в Берлине сообщает, что переговоры \
                   о визовом упрощении продолжаются; делегации министерств иностранных \
                   дел обсудили транзит через Қозоғистон и торговые соглашения.";
    assert!(!analysis::uzbek_cyrillic(russian));
    let stems = cyrillic_stems(russian);
    assert!(stems.iter().any(|s| s == "посольств"), "{stems:?}");
    assert!(stems.iter().any(|s| s == "переговор"), "{stems:?}");
    // One Uzbek letter is not evidence enough (a title such as `Ҳисобот
    // о переговорах` stays word by word), nor is Latin text.
    assert!(!analysis::uzbek_cyrillic("Ҳисобот о переговорах"));
    assert!(!analysis::uzbek_cyrillic(&corpus(LATIN)));
    assert!(!analysis::uzbek_cyrillic(""));
    assert!(analysis::uzbek_cyrillic("Ҳукумат қарори"));
}

fn is_russian_letter(c: char) -> bool {
    matches!(c, 'а'..='я' | 'ё')
}

#[test]
fn stems_do_not_depend_on_what_came_before() {
    // The stem cache must never change a result: analyse a long text, then
    // each of its words alone.
    let text = corpus("ungd/GBR_78_2023.txt");
    let words = analyze(&text);
    assert!(words.len() > 1000);
    for word in words.iter().step_by(7) {
        let alone = analyze(&text[word.offset_from..word.offset_to]);
        assert_eq!(alone.len(), 1);
        assert_eq!(
            (&alone[0].folded, &alone[0].stems),
            (&word.folded, &word.stems)
        );
    }
}

// ---------------------------------------------------------------------------
// The parallel fixture.

#[test]
fn the_two_scripts_fold_to_the_same_words() {
    let latin = corpus(LATIN);
    let cyrillic = corpus(CYRILLIC);
    // Each file is in one script only, so a match across the two can only
    // come from transliteration, never from a shared spelling.
    assert!(!latin.chars().any(is_cyrillic), "{LATIN} has Cyrillic");
    assert!(
        !cyrillic.chars().any(|c| c.is_ascii_alphabetic()),
        "{CYRILLIC} has Latin"
    );
    let latin = folded(&latin);
    let cyrillic = folded(&cyrillic);
    assert!(latin.len() > 400, "{} words", latin.len());
    // Word for word: the transliteration of the fixture is exact and the
    // chain makes the two scripts (and every apostrophe form) one.
    for (n, (l, c)) in latin.iter().zip(&cyrillic).enumerate() {
        assert_eq!(l, c, "word {n}");
    }
    assert_eq!(latin.len(), cyrillic.len());
}

#[test]
fn raqamli_diplomatiya_in_both_scripts() {
    let latin = folded("raqamli diplomatiya");
    let cyrillic = folded("рақамли дипломатия");
    assert_eq!(latin, ["raqamli", "diplomatiya"]);
    assert_eq!(latin, cyrillic);
    for file in [LATIN, CYRILLIC] {
        let tokens = token_texts(&corpus(file));
        for key in &latin {
            assert!(tokens.contains(key), "{file} lacks {key}");
        }
        // And as a phrase: the two keys at consecutive positions.
        let words = analyze(&corpus(file));
        let phrases = words
            .windows(2)
            .filter(|w| w[0].folded == "raqamli" && w[1].folded == "diplomatiya")
            .count();
        assert!(phrases > 0, "{file} lacks the phrase");
    }
}

#[test]
fn o_zbekiston_spellings_fold_alike() {
    let spellings = [
        "O‘zbekiston",
        "O'zbekiston",
        "Oʻzbekiston",
        "O`zbekiston",
        "O’zbekiston",
        "Ўзбекистон",
        "ЎЗБЕКИСТОН",
    ];
    for spelling in spellings {
        assert_eq!(fold(spelling), "o'zbekiston", "{spelling}");
    }
    // Both fixture texts have the word (Latin with ʻ, ` and ’; Cyrillic
    // with ў), and neither yields a wrong key for it: ў is not u, and the
    // apostrophe does not split o from the rest.
    for file in [LATIN, CYRILLIC] {
        let tokens = token_texts(&corpus(file));
        assert!(tokens.contains("o'zbekiston"), "{file}");
        for wrong in ["uzbekiston", "ozbekiston", "zbekiston", "o"] {
            assert!(!tokens.contains(wrong), "{file} yields {wrong}");
        }
    }
}

#[test]
fn latin_fixture_uses_every_apostrophe_form_and_they_fold_alike() {
    let text = corpus(LATIN);
    let words = analyze(&text);
    let mut forms = BTreeSet::new();
    for word in &words {
        let original = &text[word.offset_from..word.offset_to];
        for a in original.chars().filter(|c| APOSTROPHES.contains(c)) {
            forms.insert(a);
            // Any other form in the same place folds to the same key.
            for other in APOSTROPHES {
                assert_eq!(fold(&original.replace(a, &other.to_string())), word.folded);
            }
        }
        assert!(
            !word
                .folded
                .contains(|c: char| c != '\'' && APOSTROPHES.contains(&c))
        );
    }
    // The forms Uzbek Latin is typed with: ʻ and ʼ (the official letters),
    // ‘ and ’ (typographic quotes), ' and ` (the keyboard).
    let typed: BTreeSet<char> = ['\'', '\u{2018}', '\u{2019}', '`', '\u{02BB}', '\u{02BC}'].into();
    assert_eq!(forms, typed);
    // Across the two scripts: ’ (Latin) and ъ (Cyrillic) meet in ta'sir;
    // ‘, ' and ʻ (Latin) and ў (Cyrillic) in o'z.
    let cyrillic = token_texts(&corpus(CYRILLIC));
    let latin: HashSet<String> = words.into_iter().map(|w| w.folded).collect();
    for key in ["ta'sir", "o'z"] {
        assert!(latin.contains(key) && cyrillic.contains(key), "{key}");
    }
}

// ---------------------------------------------------------------------------
// Through a real tantivy index.

#[test]
fn tantivy_index_finds_both_scripts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut schema = Schema::builder();
    let name = schema.add_text_field("name", STORED);
    let body = schema.add_text_field(
        "body",
        TEXT.set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analysis::TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let index = Index::create_in_dir(dir.path(), schema.build()).expect("index");
    analysis::register(index.tokenizers());
    let mut writer = index
        .writer_with_num_threads::<TantivyDocument>(1, 15_000_000)
        .expect("writer");
    let docs = [
        ("latin", corpus(LATIN)),
        ("cyrillic", corpus(CYRILLIC)),
        ("quote-2018", "O‘zbekiston Respublikasi".to_string()),
        ("modifier-02bb", "Oʻzbekiston elchixonasi".to_string()),
        ("ascii", "O'zbekiston".to_string()),
        ("backtick", "O`ZBEKISTON".to_string()),
        ("other", "embassy".to_string()),
    ];
    for (doc_name, text) in &docs {
        let mut doc = TantivyDocument::default();
        doc.add_text(name, doc_name);
        doc.add_text(body, text);
        writer.add_document(doc).expect("add");
    }
    writer.commit().expect("commit");
    let reader = index.reader().expect("reader");
    let searcher = reader.searcher();
    let found = |key: &str| -> BTreeSet<String> {
        let query = TermQuery::new(Term::from_field_text(body, key), IndexRecordOption::Basic);
        searcher
            .search(&query, &DocSetCollector)
            .expect("search")
            .into_iter()
            .map(|address| {
                let doc: TantivyDocument = searcher.doc(address).expect("doc");
                let value = doc.get_first(name).and_then(|v| v.as_str());
                value.expect("name").to_string()
            })
            .collect()
    };
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(found("diplomatiya"), set(&["latin", "cyrillic"]));
    assert_eq!(found(&fold("рақамли")), set(&["latin", "cyrillic"]));
    assert_eq!(
        found(&fold("Ўзбекистон")),
        set(&[
            "latin",
            "cyrillic",
            "quote-2018",
            "modifier-02bb",
            "ascii",
            "backtick"
        ])
    );
    // Stems are terms of the same field.
    assert_eq!(found("embassi"), set(&["other"]));
}

// ---------------------------------------------------------------------------
// Properties.

fn check_words(text: &str, words: &[Word]) {
    let mut last = None;
    for word in words {
        assert!(word.offset_from < word.offset_to && word.offset_to <= text.len());
        assert!(text.is_char_boundary(word.offset_from));
        assert!(text.is_char_boundary(word.offset_to));
        assert!(!word.folded.is_empty());
        assert!(!word.folded.starts_with('\'') && !word.folded.ends_with('\''));
        assert!(word.stems.len() <= MAX_STEMS);
        // Folded forms never hold a Russian letter: the Russian stems'
        // namespace (see `russian_stems_live_in_cyrillic_...`).
        assert!(!word.folded.chars().any(is_russian_letter));
        for (i, stem) in word.stems.iter().enumerate() {
            assert!(!stem.is_empty() && stem != &word.folded);
            assert!(!word.stems[..i].contains(stem), "{:?}", word.stems);
        }
        assert!(last.is_none_or(|p| word.position > p));
        last = Some(word.position);
    }
}

proptest! {
    #[test]
    fn never_panics_offsets_valid_keys_non_empty(text in "\\PC{0,64}") {
        check_words(&text, &analyze(&text));
        let _ = fold(&text);
    }

    #[test]
    fn mixed_scripts_and_marks(
        text in proptest::collection::vec(
            prop_oneof![
                "[a-zA-Z0-9]{1,8}",
                "[а-яА-ЯёЁўЎқҚғҒҳҲъь]{1,8}",
                Just("'".to_string()), Just("‘".to_string()), Just("ʻ".to_string()),
                Just("`".to_string()), Just("´".to_string()), Just("ʼ".to_string()),
                Just("\u{0306}".to_string()), Just("\u{0301}".to_string()), Just("\u{0308}".to_string()),
                Just(" ".to_string()), Just("-".to_string()), Just("İ".to_string()),
            ],
            0..24,
        ).prop_map(|parts| parts.concat())
    ) {
        let words = analyze(&text);
        check_words(&text, &words);
        // Folding a word's original text gives its key.
        for word in &words {
            prop_assert_eq!(&fold(&text[word.offset_from..word.offset_to]), &word.folded);
        }
    }
}
