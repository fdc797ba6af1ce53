//! The query language: every syntax rule with the exact tree it gives, the
//! lenient readings, the limits, and properties over arbitrary input (never
//! panics, never too deep, `Display` round-trips).

use chapar_search::query::{
    FilterField, MAX_NESTING, MAX_QUERY_BYTES, MAX_TERMS, Query, QueryError, parse,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Tree builders

fn w(text: &str) -> Query {
    Query::Word {
        text: text.to_owned(),
        prefix: false,
    }
}

fn pre(text: &str) -> Query {
    Query::Word {
        text: text.to_owned(),
        prefix: true,
    }
}

fn ph(text: &str) -> Query {
    Query::Phrase(text.to_owned())
}

fn filter(field: FilterField, value: &str) -> Query {
    Query::Filter {
        field,
        value: value.to_owned(),
    }
}

fn and(items: Vec<Query>) -> Query {
    Query::And(items)
}

fn or(items: Vec<Query>) -> Query {
    Query::Or(items)
}

fn not(query: Query) -> Query {
    Query::Not(Box::new(query))
}

/// Everything except `query`: what a lone exclusion parses to.
fn except(query: Query) -> Query {
    and(vec![Query::All, not(query)])
}

#[track_caller]
fn check(input: &str, expected: Query) {
    assert_eq!(parse(input), Ok(expected), "parsing {input:?}");
}

// ---------------------------------------------------------------------------
// Words and AND

#[test]
fn empty_or_blank_input_is_all() {
    for input in ["", " ", "   ", "\t\n", "\u{a0}\u{3000}"] {
        check(input, Query::All);
    }
}

#[test]
fn single_word() {
    check("diplomacy", w("diplomacy"));
    check("  diplomacy  ", w("diplomacy"));
}

#[test]
fn whitespace_separated_words_are_anded() {
    check("digital diplomacy", and(vec![w("digital"), w("diplomacy")]));
    check("a\tb\nc", and(vec![w("a"), w("b"), w("c")]));
    // Unicode whitespace separates too (no-break space, ideographic space).
    check("a\u{a0}b\u{3000}c", and(vec![w("a"), w("b"), w("c")]));
}

#[test]
fn lowercase_keywords_are_ordinary_words() {
    check("war or peace", and(vec![w("war"), w("or"), w("peace")]));
    check(
        "salt and pepper",
        and(vec![w("salt"), w("and"), w("pepper")]),
    );
    check("not yet", and(vec![w("not"), w("yet")]));
    check("Or Not And", and(vec![w("Or"), w("Not"), w("And")]));
}

#[test]
fn uppercase_and_makes_the_words_beside_it_required() {
    let req = |t: &str| Query::Phrase(t.into());
    // Side by side, words are a question (any may match); `AND` makes the
    // plain words on both sides required (one-word phrases).
    check("a AND b", and(vec![req("a"), req("b")]));
    check("a AND b c", and(vec![req("a"), req("b"), w("c")]));
    check("AND", Query::All);
    check("AND a AND", req("a"));
    check("a AND OR b", or(vec![req("a"), w("b")]));
    // Not inside a group (words side by side in parentheses join the
    // question around them), nor a prefix.
    check("a AND (b c)", and(vec![req("a"), w("b"), w("c")]));
    check(
        "dipl* AND b",
        and(vec![
            Query::Word {
                text: "dipl".into(),
                prefix: true,
            },
            req("b"),
        ]),
    );
}

// ---------------------------------------------------------------------------
// OR and precedence

#[test]
fn or_keyword_and_pipe_make_a_disjunction() {
    check("a OR b", or(vec![w("a"), w("b")]));
    check("a | b", or(vec![w("a"), w("b")]));
    check("a|b", or(vec![w("a"), w("b")]));
    check("a OR b | c", or(vec![w("a"), w("b"), w("c")]));
}

#[test]
fn and_binds_tighter_than_or() {
    check("a b OR c", or(vec![and(vec![w("a"), w("b")]), w("c")]));
    check("a OR b c", or(vec![w("a"), and(vec![w("b"), w("c")])]));
    check(
        "a b | c d",
        or(vec![and(vec![w("a"), w("b")]), and(vec![w("c"), w("d")])]),
    );
    check("a (b OR c)", and(vec![w("a"), or(vec![w("b"), w("c")])]));
    check(
        "(a OR b) (c OR d)",
        and(vec![or(vec![w("a"), w("b")]), or(vec![w("c"), w("d")])]),
    );
}

#[test]
fn dangling_or_is_dropped() {
    check("OR", Query::All);
    check("a OR", w("a"));
    check("OR a", w("a"));
    check("a OR OR b", or(vec![w("a"), w("b")]));
    check("a || b", or(vec![w("a"), w("b")]));
    check("| a |", w("a"));
}

// ---------------------------------------------------------------------------
// Exclusion

#[test]
fn minus_excludes() {
    check("report -draft", and(vec![w("report"), not(w("draft"))]));
    check("-draft report", and(vec![not(w("draft")), w("report")]));
}

#[test]
fn not_keyword_excludes_the_next_item_only() {
    check("report NOT draft", and(vec![w("report"), not(w("draft"))]));
    check("NOT draft report", and(vec![not(w("draft")), w("report")]));
}

#[test]
fn only_exclusions_exclude_from_everything() {
    check("-draft", except(w("draft")));
    check("NOT draft", except(w("draft")));
    check(
        "-draft -memo",
        and(vec![Query::All, not(w("draft")), not(w("memo"))]),
    );
}

#[test]
fn exclusion_as_an_alternative_gets_its_own_all() {
    check("-a OR b", or(vec![except(w("a")), w("b")]));
    check(
        "b | -a -c",
        or(vec![
            w("b"),
            and(vec![Query::All, not(w("a")), not(w("c"))]),
        ]),
    );
}

#[test]
fn excluding_groups_phrases_and_filters() {
    check(
        "report -(draft OR memo)",
        and(vec![w("report"), not(or(vec![w("draft"), w("memo")]))]),
    );
    check(
        "report NOT (a b)",
        and(vec![w("report"), not(and(vec![w("a"), w("b")]))]),
    );
    check(
        "talks -\"press release\"",
        and(vec![w("talks"), not(ph("press release"))]),
    );
    check(
        "talks -kind:draft",
        and(vec![w("talks"), not(filter(FilterField::Kind, "draft"))]),
    );
    check("-(a OR b)", except(or(vec![w("a"), w("b")])));
}

#[test]
fn double_negation_cancels() {
    check("--a", w("a"));
    check("NOT -a", w("a"));
    check("NOT NOT a", w("a"));
    check("-NOT a", w("a"));
    check("-(-a)", w("a"));
    check("---a", except(w("a")));
    check("b -(-a)", and(vec![w("b"), w("a")]));
    // A group that only excludes, excluded: kept as typed (it reads "a or c").
    check(
        "-(-a -c)",
        except(and(vec![Query::All, not(w("a")), not(w("c"))])),
    );
}

#[test]
fn grouped_exclusion_joins_the_surrounding_and() {
    check("(-a) b", and(vec![not(w("a")), w("b")]));
    check("(-a -b) c", and(vec![not(w("a")), not(w("b")), w("c")]));
    check("(-a) (-b)", and(vec![Query::All, not(w("a")), not(w("b"))]));
}

#[test]
fn negation_with_nothing_after_it_is_dropped() {
    check("NOT", Query::All);
    check("a NOT", w("a"));
    check("a -", w("a"));
    check("-", Query::All);
    check("- a", w("a"));
    check("NOT OR b", w("b"));
    check("a NOT | b", or(vec![w("a"), w("b")]));
    check("(a NOT) b", and(vec![w("a"), w("b")]));
    check("NOT ) a", w("a"));
    // A dropped item takes its `-` with it rather than passing it on.
    check("-\"\" a", w("a"));
    check("-, a", w("a"));
    check("-* a", w("a"));
    check("-() a", w("a"));
    check("-kind: a", w("a"));
}

#[test]
fn hyphen_inside_a_word_is_part_of_it() {
    check("emb-a", w("emb-a"));
    check("2024-01-05", w("2024-01-05"));
    check(
        "post-Soviet -draft",
        and(vec![w("post-Soviet"), not(w("draft"))]),
    );
    check("-emb-a", except(w("emb-a")));
    check("a- b--c", and(vec![w("a-"), w("b--c")]));
    check("\"x\"-y", and(vec![ph("x"), not(w("y"))]));
}

// ---------------------------------------------------------------------------
// Punctuation

#[test]
fn punctuation_only_words_are_dropped() {
    for input in [
        ",", "-", "--", "...", "—", "'", "’", "?!", "*", "**", ".*", ":",
    ] {
        check(input, Query::All);
    }
    check("peace , war", and(vec![w("peace"), w("war")]));
    check("a - b", and(vec![w("a"), w("b")]));
}

#[test]
fn punctuation_inside_words_is_kept() {
    check("U.S.", w("U.S."));
    check("peace, war.", and(vec![w("peace,"), w("war.")]));
    check("e-mail@example.org", w("e-mail@example.org"));
}

// ---------------------------------------------------------------------------
// Phrases

#[test]
fn phrase_is_the_raw_text_between_quotes() {
    check("\"digital diplomacy\"", ph("digital diplomacy"));
    check("\"  spaced   out \"", ph("  spaced   out "));
    check("\"a OR -b (c)\"", ph("a OR -b (c)"));
    check(
        "summit \"digital diplomacy\" 2024",
        and(vec![w("summit"), ph("digital diplomacy"), w("2024")]),
    );
}

#[test]
fn phrases_separate_from_adjacent_words() {
    check("\"a b\"c", and(vec![ph("a b"), w("c")]));
    check("c\"a b\"", and(vec![w("c"), ph("a b")]));
    check("\"a\"\"b\"", and(vec![ph("a"), ph("b")]));
}

#[test]
fn unterminated_quote_runs_to_the_end() {
    check("\"digital diplo", ph("digital diplo"));
    check(
        "summit \"digital (diplo",
        and(vec![w("summit"), ph("digital (diplo")]),
    );
    check("a \"b\" \"c d", and(vec![w("a"), ph("b"), ph("c d")]));
}

#[test]
fn empty_phrase_is_dropped() {
    check("\"\"", Query::All);
    check("a \"\" b", and(vec![w("a"), w("b")]));
    check("\"   \"", Query::All);
    check("\", -\"", Query::All);
    check("\"", Query::All);
    check("a \"", w("a"));
}

// ---------------------------------------------------------------------------
// Prefix

#[test]
fn trailing_star_is_a_prefix() {
    check("dipl*", pre("dipl"));
    check("dipl** summit", and(vec![pre("dipl"), w("summit")]));
    check("-draft*", except(pre("draft")));
    check("Oʻzbek*", pre("Oʻzbek"));
}

#[test]
fn star_elsewhere_is_a_character_and_lone_star_is_dropped() {
    check("a*b", w("a*b"));
    check("a*b*", pre("a*b"));
    check("*ab", w("*ab"));
    check("*", Query::All);
    check("report *", w("report"));
    check("* OR a", w("a"));
    // Not a keyword once starred.
    check("OR*", pre("OR"));
}

// ---------------------------------------------------------------------------
// Grouping and its leniency

#[test]
fn parentheses_group_and_flatten() {
    check("(a)", w("a"));
    check("((a))", w("a"));
    check("a (b c)", and(vec![w("a"), w("b"), w("c")]));
    check("(a OR b) OR c", or(vec![w("a"), w("b"), w("c")]));
    check(
        "a OR (b OR (c | d))",
        or(vec![w("a"), w("b"), w("c"), w("d")]),
    );
    check(
        "a(b|c)d",
        and(vec![w("a"), or(vec![w("b"), w("c")]), w("d")]),
    );
    check(
        "(a b) OR (c (d OR e))",
        or(vec![
            and(vec![w("a"), w("b")]),
            and(vec![w("c"), or(vec![w("d"), w("e")])]),
        ]),
    );
}

#[test]
fn unmatched_close_paren_is_ignored() {
    check("a) b", and(vec![w("a"), w("b")]));
    check(")a", w("a"));
    check("a OR b)", or(vec![w("a"), w("b")]));
    check("(a OR b)) c", and(vec![or(vec![w("a"), w("b")]), w("c")]));
    check(")))", Query::All);
}

#[test]
fn missing_close_paren_is_closed_at_the_end() {
    check("a (b OR c", and(vec![w("a"), or(vec![w("b"), w("c")])]));
    check("-(a b", except(and(vec![w("a"), w("b")])));
    check("((a", w("a"));
    check("(", Query::All);
}

#[test]
fn empty_group_is_dropped() {
    check("()", Query::All);
    check("a () b", and(vec![w("a"), w("b")]));
    check("( ( ) )", Query::All);
    check("(OR)", Query::All);
}

// ---------------------------------------------------------------------------
// Filters

#[test]
fn filters_for_the_four_fields() {
    check("kind:cable", filter(FilterField::Kind, "cable"));
    check("tag:PREL", filter(FilterField::Tag, "PREL"));
    check("mission:emb-a", filter(FilterField::Mission, "emb-a"));
    check("author:alice", filter(FilterField::Author, "alice"));
    check(
        "visa kind:cable tag:PREL",
        and(vec![
            w("visa"),
            filter(FilterField::Kind, "cable"),
            filter(FilterField::Tag, "PREL"),
        ]),
    );
    check(
        "tag:PREL OR tag:ECON",
        or(vec![
            filter(FilterField::Tag, "PREL"),
            filter(FilterField::Tag, "ECON"),
        ]),
    );
}

#[test]
fn filter_field_names_ignore_case() {
    check("KIND:cable", filter(FilterField::Kind, "cable"));
    check("Tag:PREL", filter(FilterField::Tag, "PREL"));
    check("MiSsIoN:emb-a", filter(FilterField::Mission, "emb-a"));
    check("AUTHOR:Alice", filter(FilterField::Author, "Alice"));
}

#[test]
fn filter_values_may_be_quoted() {
    check("tag:\"PREL\"", filter(FilterField::Tag, "PREL"));
    check("mission:\"emb a\"", filter(FilterField::Mission, "emb a"));
    check("author:\" alice \"", filter(FilterField::Author, "alice"));
    // Unterminated, like a phrase: runs to the end.
    check("mission:\"emb a", filter(FilterField::Mission, "emb a"));
    check(
        "tag:\"PREL\"visa",
        and(vec![filter(FilterField::Tag, "PREL"), w("visa")]),
    );
}

#[test]
fn filter_values_keep_what_words_keep() {
    check("tag:a:b", filter(FilterField::Tag, "a:b"));
    check("kind:cable*", filter(FilterField::Kind, "cable*"));
    check(
        "mission:Oʻzbekiston",
        filter(FilterField::Mission, "Oʻzbekiston"),
    );
    check("tag:ПРЕЛ", filter(FilterField::Tag, "ПРЕЛ"));
    check(
        "tag:PREL\"visa talks\"",
        and(vec![filter(FilterField::Tag, "PREL"), ph("visa talks")]),
    );
}

#[test]
fn filter_without_value_is_dropped() {
    check("kind:", Query::All);
    check("kind:\"\"", Query::All);
    check("kind:\"  \"", Query::All);
    check("tag: PREL", w("PREL"));
    check("a kind:", w("a"));
}

#[test]
fn unknown_field_is_just_a_word() {
    check("10:30", w("10:30"));
    check("https://example.org/a-b", w("https://example.org/a-b"));
    check("foo:bar", w("foo:bar"));
    check(":cable", w(":cable"));
    check("kinds:cable", w("kinds:cable"));
    check(
        "meeting 10:30 -kind:draft",
        and(vec![
            w("meeting"),
            w("10:30"),
            not(filter(FilterField::Kind, "draft")),
        ]),
    );
}

// ---------------------------------------------------------------------------
// Scripts

/// Every apostrophe form Uzbek Latin text is typed with: the proper ʻ
/// (U+02BB) and ʼ (U+02BC), the typographic ’ and ‘, the ASCII ' and `.
const APOSTROPHES: [char; 6] = ['\u{2bb}', '\u{2bc}', '\u{2019}', '\u{2018}', '\'', '`'];

#[test]
fn uzbek_latin_keeps_every_apostrophe_form() {
    for apostrophe in APOSTROPHES {
        let country = format!("O{apostrophe}zbekiston");
        let victory = format!("g{apostrophe}alaba");
        let info = format!("ma{apostrophe}lumot");
        check(&country, w(&country));
        check(
            &format!("{country} {victory} -{info}"),
            and(vec![w(&country), w(&victory), not(w(&info))]),
        );
        check(
            &format!("\"{country} tashqi ishlar\""),
            ph(&format!("{country} tashqi ishlar")),
        );
        check(&format!("{victory}*"), pre(&victory));
        check(
            &format!("mission:{country}"),
            filter(FilterField::Mission, &country),
        );
    }
}

#[test]
fn cyrillic() {
    check(
        "Ўзбекистон ташқи ишлар",
        and(vec![w("Ўзбекистон"), w("ташқи"), w("ишлар")]),
    );
    check(
        "\"Министерство иностранных дел\" -проект",
        and(vec![ph("Министерство иностранных дел"), not(w("проект"))]),
    );
    check("дипломат*", pre("дипломат"));
    // Cyrillic `ИЛИ` / `НЕ` are words, not keywords.
    check("а ИЛИ б", and(vec![w("а"), w("ИЛИ"), w("б")]));
}

#[test]
fn mixed_scripts() {
    check(
        "Oʻzbekiston OR Ўзбекистон OR Uzbekistan",
        or(vec![w("Oʻzbekiston"), w("Ўзбекистон"), w("Uzbekistan")]),
    );
    check(
        "(Toshkent | Тошкент | Ташкент) tag:PREL -kind:draft",
        and(vec![
            or(vec![w("Toshkent"), w("Тошкент"), w("Ташкент")]),
            filter(FilterField::Tag, "PREL"),
            not(filter(FilterField::Kind, "draft")),
        ]),
    );
    check("Oʻzbekiston-Россия", w("Oʻzbekiston-Россия"));
}

// ---------------------------------------------------------------------------
// Limits

#[test]
fn length_limit() {
    let at_limit = "a".repeat(MAX_QUERY_BYTES);
    check(&at_limit, w(&at_limit));
    let over = "a".repeat(MAX_QUERY_BYTES + 1);
    let err = parse(&over).unwrap_err();
    assert_eq!(
        err,
        QueryError::TooLong {
            len: MAX_QUERY_BYTES + 1,
            max: MAX_QUERY_BYTES
        }
    );
    assert_eq!(
        err.to_string(),
        "query is 4097 bytes long; at most 4096 are allowed — shorten it"
    );
    // Bytes, not characters: 2049 two-byte letters are over.
    assert!(matches!(
        parse(&"ў".repeat(2049)),
        Err(QueryError::TooLong { len: 4098, .. })
    ));
}

#[test]
fn term_limit_counts_phrases_filters_and_prefixes_not_words() {
    let prefixes = |n: usize| {
        (0..n)
            .map(|i| format!("w{i}*"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(parse(&prefixes(MAX_TERMS)).map(|q| q.term_count()), Ok(64));
    let err = parse(&prefixes(80)).unwrap_err();
    assert_eq!(err, QueryError::TooManyTerms { count: 80, max: 64 });
    assert_eq!(
        err.to_string(),
        "query has 80 phrases, filters and prefixes; at most 64 are allowed — shorten it"
    );

    let mixed = format!("{} \"a b\" tag:PREL -c*", prefixes(MAX_TERMS - 2));
    assert_eq!(
        parse(&mixed),
        Err(QueryError::TooManyTerms { count: 65, max: 64 })
    );
    // Dropped things are not terms.
    let with_noise = format!("{} , - \"\" () kind: * OR NOT", prefixes(MAX_TERMS));
    assert_eq!(parse(&with_noise).map(|q| q.term_count()), Ok(64));

    // A pasted paragraph of plain words is a question, not an attack: only
    // the byte limit bounds it.
    let paragraph = (0..600)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(paragraph.len() <= MAX_QUERY_BYTES);
    let q = parse(&paragraph).expect("a long question parses");
    assert_eq!(q.term_count(), 0);
    assert!(matches!(q, Query::And(ref v) if v.len() == 600));
}

#[test]
fn parenthesis_nesting_limit() {
    let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
    check(&nested(MAX_NESTING), w("a"));
    let err = parse(&nested(MAX_NESTING + 1)).unwrap_err();
    assert_eq!(err, QueryError::TooDeep { depth: 17, max: 16 });
    assert_eq!(
        err.to_string(),
        "query nests 17 levels deep; at most 16 are allowed — use fewer parentheses or exclusions"
    );
    // Unclosed parentheses count too, stray closers do not.
    assert!(matches!(
        parse(&"(".repeat(1000)),
        Err(QueryError::TooDeep { depth: 1000, .. })
    ));
    check(&")".repeat(1000), Query::All);
    // Deep negation chains cost nothing.
    check(&format!("{}a", "-".repeat(1001)), except(w("a")));
    check(&format!("{}a", "NOT ".repeat(1000)), w("a"));
}

#[test]
fn tree_depth_limit() {
    // Each `(x|y ...)` inside an AND adds an Or and an And level.
    fn alternating(levels: usize) -> String {
        let mut s = String::new();
        for i in 0..levels {
            s.push_str(&format!("a{i} | b{i} ("));
        }
        s.push_str("y | z");
        s
    }
    let ok = parse(&alternating(7)).unwrap();
    assert_eq!(ok.depth(), 16);
    assert_eq!(
        parse(&alternating(8)),
        Err(QueryError::TooDeep { depth: 18, max: 16 })
    );
}

#[test]
fn limit_checks_run_in_order() {
    // Length is checked before anything else is looked at.
    let long = format!("{} {}", "(".repeat(100), "a ".repeat(2100));
    assert!(matches!(parse(&long), Err(QueryError::TooLong { .. })));
}

// ---------------------------------------------------------------------------
// Display

#[test]
fn display_prints_canonical_syntax() {
    let cases = [
        ("", ""),
        ("a  AND b | NOT c", "\"a\" \"b\" OR -c"),
        ("a AND (b) | NOT c (d|e)", "\"a\" b OR -c (d OR e)"),
        ("a (b OR c)", "a (b OR c)"),
        ("(a b) OR c", "a b OR c"),
        ("NOT (a | b) KIND:cable", "-(a OR b) kind:cable"),
        ("tag:\"PREL\" mission:\"emb a", "tag:PREL mission:\"emb a\""),
        ("\"digital diplo", "\"digital diplo\""),
        ("dipl*** -(-x)", "dipl* x"),
        ("-(-a -b)", "-(-a -b)"),
        ("Oʻzbekiston|Ўзбекистон", "Oʻzbekiston OR Ўзбекистон"),
    ];
    for (input, printed) in cases {
        let query = parse(input).unwrap();
        assert_eq!(query.to_string(), printed, "printing {input:?}");
        assert_eq!(parse(printed), Ok(query), "re-parsing {printed:?}");
    }
}

#[test]
fn alternate_display_is_compact() {
    let cases = [
        ("a OR b c", "a|b c"),
        ("x (a OR \"b c\")", "x(a|\"b c"),
        ("x -(a | b) y", "x -(a|b)y"),
        ("\"a\" b", "\"a\"b"),
        ("-a OR b*", "-a|b*"),
    ];
    for (input, printed) in cases {
        let query = parse(input).unwrap();
        assert_eq!(format!("{query:#}"), printed, "printing {input:?}");
        assert_eq!(parse(printed), Ok(query), "re-parsing {printed:?}");
    }
}

#[test]
fn display_falls_back_to_compact_near_the_length_limit() {
    // 64 words of 62 bytes joined by `|`: 4031 bytes typed, but ` OR `
    // would print 4220.
    let words: Vec<String> = (0..MAX_TERMS).map(|i| format!("{i:0>62}")).collect();
    let input = words.join("|");
    assert!(input.len() <= MAX_QUERY_BYTES);
    let query = parse(&input).unwrap();
    let printed = query.to_string();
    assert_eq!(printed, input);
    assert_eq!(parse(&printed), Ok(query));

    // Short queries still print readably.
    assert_eq!(parse("a|b").unwrap().to_string(), "a OR b");
}

#[test]
fn filter_field_names() {
    for field in FilterField::ALL {
        assert_eq!(FilterField::from_name(field.name()), Some(field));
        assert_eq!(
            FilterField::from_name(&field.name().to_uppercase()),
            Some(field)
        );
        assert_eq!(field.to_string(), field.name());
    }
    assert_eq!(FilterField::from_name("kinds"), None);
}

// ---------------------------------------------------------------------------
// Properties

/// Checks the normal form documented on `Query`.
fn assert_normal(query: &Query, root: bool) {
    match query {
        Query::All => assert!(root, "All below the root outside an And: {query:?}"),
        Query::Word { text, .. } => {
            assert!(text.chars().any(char::is_alphanumeric), "{query:?}");
            assert!(!text.ends_with('*'), "{query:?}");
        }
        Query::Phrase(text) => assert!(text.chars().any(char::is_alphanumeric), "{query:?}"),
        Query::Filter { value, .. } => {
            assert!(!value.is_empty() && value.trim() == value, "{query:?}");
        }
        Query::Not(_) => panic!("Not outside an And: {query:?}"),
        Query::And(items) => {
            assert!(items.len() >= 2, "{query:?}");
            let positives = items
                .iter()
                .filter(|item| !matches!(item, Query::Not(_)))
                .count();
            assert!(positives >= 1, "And without a positive item: {query:?}");
            for (i, item) in items.iter().enumerate() {
                match item {
                    Query::And(_) => panic!("And in And: {query:?}"),
                    Query::All => {
                        assert_eq!(i, 0, "{query:?}");
                        assert_eq!(positives, 1, "All next to a positive item: {query:?}");
                    }
                    Query::Not(inner) => {
                        assert!(!matches!(**inner, Query::Not(_) | Query::All), "{query:?}");
                        assert_normal(inner, false);
                    }
                    other => assert_normal(other, false),
                }
            }
        }
        Query::Or(items) => {
            assert!(items.len() >= 2, "{query:?}");
            for item in items {
                assert!(!matches!(item, Query::Or(_)), "Or in Or: {query:?}");
                assert_normal(item, false);
            }
        }
    }
}

fn check_properties(input: &str) -> Result<(), TestCaseError> {
    let Ok(query) = parse(input) else {
        return Ok(());
    };
    prop_assert!(query.depth() <= MAX_NESTING, "too deep: {query:?}");
    prop_assert!(query.term_count() <= MAX_TERMS);
    assert_normal(&query, true);

    let readable = query.to_string();
    prop_assert_eq!(
        parse(&readable),
        Ok(query.clone()),
        "readable {:?}",
        readable
    );

    let compact = format!("{query:#}");
    prop_assert_eq!(parse(&compact), Ok(query.clone()), "compact {:?}", compact);
    prop_assert!(
        compact.len() <= input.len(),
        "compact {:?} longer than input {:?}",
        compact,
        input
    );
    Ok(())
}

/// Pieces of query syntax, glued together without spaces so that every
/// adjacency gets tried.
fn soup() -> impl Strategy<Value = String> {
    // Weighted towards the syntax, so that short runs such as `-(-a` turn up.
    let piece = prop_oneof![
        6 => Just("a"),
        2 => Just("Bb"),
        1 => Just("Oʻzbekiston"),
        1 => Just("O’z"),
        1 => Just("g'alaba"),
        1 => Just("Ўзб"),
        1 => Just("7"),
        6 => Just(" "),
        1 => Just("\u{a0}"),
        2 => Just("OR"),
        1 => Just("AND"),
        2 => Just("NOT"),
        1 => Just("or"),
        3 => Just("|"),
        6 => Just("-"),
        2 => Just("-("),
        1 => Just("NOT ("),
        4 => Just("("),
        4 => Just(")"),
        3 => Just("\""),
        2 => Just("*"),
        1 => Just(":"),
        1 => Just(","),
        1 => Just("kind:"),
        1 => Just("TAG:"),
        1 => Just("mission:"),
        1 => Just("author:"),
        1 => Just("foo:"),
        1 => Just("10:30"),
    ];
    prop::collection::vec(piece, 0..48).prop_map(|pieces| pieces.concat())
}

/// Long terms joined mostly by `|`, cut to the length limit: queries whose
/// readable form (` OR `) is longer than the limit, so `Display` must fall
/// back to the compact form.
fn long_query() -> impl Strategy<Value = String> {
    let term = prop_oneof![
        12 => "[a-z]{60,80}",
        1 => "\"[a-z ]{1,70}\"",
        1 => "-[a-z]{1,70}",
        1 => "tag:\"[a-z ]{1,70}\"",
        1 => "\\([a-z]{1,60}\\|[a-z]{1,5}\\)",
    ];
    let sep = prop_oneof![
        12 => Just("|"),
        1 => Just(" "),
        1 => Just(" OR "),
        1 => Just(""),
        1 => Just(")"),
    ];
    prop::collection::vec((term, sep), 55..64).prop_map(|parts| {
        let mut query: String = parts.into_iter().map(|(t, s)| t + s).collect();
        // Whatever is cut off, the rest still parses (leniently).
        query.truncate(MAX_QUERY_BYTES);
        query
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings(input in any::<String>()) {
        check_properties(&input)?;
    }

    #[test]
    fn syntax_soup(input in soup()) {
        check_properties(&input)?;
    }

    #[test]
    fn near_the_length_limit(input in long_query()) {
        check_properties(&input)?;
        if let Ok(query) = parse(&input) {
            prop_assert!(query.to_string().len() <= MAX_QUERY_BYTES);
        }
    }
}
