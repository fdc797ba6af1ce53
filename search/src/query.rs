//! The query language people type into `chapar search`, parsed to a small
//! tree ([`Query`]) that the index turns into its own queries.
//!
//! This module is pure: it knows nothing about tantivy or the analyzer. Words
//! are kept as typed; folding case, scripts and apostrophe forms is the
//! analyzer's job, so the same folding applies to documents and queries.
//!
//! # Syntax
//!
//! It is the web-search syntax diplomats already know:
//!
//! | typed                   | means                                              |
//! |-------------------------|----------------------------------------------------|
//! | `digital diplomacy`     | a question: entries with both words first, then either (see `compile`) |
//! | `a b OR c`, `a b \| c`  | `(a b) OR c`: side by side binds tighter than OR  |
//! | `a AND b`               | both words required (each as `"a"` `"b"`)          |
//! | `-draft`, `NOT draft`   | everything except what matches `draft`             |
//! | `"digital diplomacy"`   | the words in this order                            |
//! | `dipl*`                 | words starting with `dipl`                         |
//! | `(a OR b) c`            | grouping                                           |
//! | `kind:cable`            | filter; fields `kind`, `mission`, `tag`, `author`  |
//! | `mission:"emb a"`       | filter with a quoted value                         |
//!
//! Only the uppercase `OR`, `AND` and `NOT` are keywords: `or`, `and` and
//! `not` are ordinary words of English text.
//!
//! A word is a run of characters other than whitespace and `"`, `(`, `)`,
//! `|`. Everything else is kept, so Uzbek apostrophes (`Oʻzbekiston`,
//! `O’zbekiston`, `O'zbekiston`), Cyrillic, digits, hyphens (`emb-a`,
//! `2024-01-05`) and colons that do not name a filter (`10:30`, URLs) stay
//! inside the word. Only a `-` at the start of an item excludes.
//!
//! # Leniency
//!
//! People type queries in a hurry, and an error message is a worse answer
//! than a reasonable guess, so `parse` rejects nothing but over-long or
//! over-nested queries. The guesses:
//!
//! - An unterminated `"` runs to the end of the input (`"digital diplo`).
//! - A `)` with no matching `(` is ignored; a `(` with no `)` is closed at
//!   the end of the input.
//! - Things that cannot match anything are dropped, together with any `-` or
//!   `NOT` in front of them: an empty phrase `""`, an empty group `()`, a word
//!   or phrase with no letter or digit in it (`,`, `-`, `...`), a lone `*`, a
//!   filter with no value (`kind:`), and a `NOT` or `-` with nothing after
//!   it. An `OR` with nothing on one side is dropped too (`a OR`).
//! - A lone `*` is dropped rather than meaning "everything": `report *` is
//!   `report`, and the empty query already means everything.
//! - `word**` is `word*`; a `*` inside a word (`a*b`) is just a character.
//! - A query that only excludes (`-draft`) excludes from everything: the
//!   positive side is [`Query::All`].
//!
//! # Limits
//!
//! A query is at most [`MAX_QUERY_BYTES`] long, has at most [`MAX_TERMS`]
//! phrases, filters and `word*` prefixes, and nests at most [`MAX_NESTING`]
//! deep; beyond that [`parse`] returns a [`QueryError`]. They bound the work
//! a single query can cost the index, and no person needs more. Plain words
//! are not counted: people paste whole sentences and paragraphs as
//! questions, and the index bounds the words it matches itself
//! (`compile::MAX_MATCHED_WORDS`), answering with the ones it used.

use std::fmt;

/// The longest query [`parse`] accepts, in bytes of UTF-8.
pub const MAX_QUERY_BYTES: usize = 4096;

/// The most phrases, filters and `word*` prefixes a query may hold, all
/// counted together (plain words are bounded by [`MAX_QUERY_BYTES`] alone).
pub const MAX_TERMS: usize = 64;

/// How deep a query may nest: both the parentheses as typed and the parsed
/// tree as measured by [`Query::depth`].
pub const MAX_NESTING: usize = 16;

/// A parsed query. Words are raw text as typed (the index's analyzer folds
/// them later).
///
/// Every tree [`parse`] returns is normalized:
///
/// - an `And` or `Or` has at least two children, and no child of the same
///   kind (nested conjunctions are flattened into one);
/// - a `Not` never holds a `Not`, and only ever appears directly inside an
///   `And` that also holds something positive (possibly [`Query::All`]);
/// - `All` only appears alone (the empty query) or as the first child of an
///   `And` whose other children are all `Not`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Matches every document (the empty query, or the positive side of a
    /// query that only excludes).
    All,
    /// One word; `prefix` when typed as `word*`.
    Word {
        /// The word as typed, without the trailing `*`.
        text: String,
        /// Whether the word was typed as `word*`, to match words starting
        /// with `text`.
        prefix: bool,
    },
    /// Words in this order: `"digital diplomacy"` (raw text between the
    /// quotes).
    Phrase(String),
    /// A field filter typed inline: `kind:cable`, `tag:PREL`,
    /// `mission:emb-a`, `author:alice`.
    Filter {
        /// Which field to filter on.
        field: FilterField,
        /// The value as typed, trimmed of surrounding whitespace.
        value: String,
    },
    /// All of these.
    And(Vec<Query>),
    /// Any of these.
    Or(Vec<Query>),
    /// Not this (only ever inside an And next to something positive).
    Not(Box<Query>),
}

/// A field a query can filter on with `field:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterField {
    /// `kind:` — the kind of document (cable, wiki page, message...).
    Kind,
    /// `mission:` — the mission a document belongs to.
    Mission,
    /// `tag:` — a subject tag such as `PREL`.
    Tag,
    /// `author:` — who wrote the document.
    Author,
}

impl FilterField {
    /// Every filter field, in the order they are documented.
    pub const ALL: [FilterField; 4] = [
        FilterField::Kind,
        FilterField::Mission,
        FilterField::Tag,
        FilterField::Author,
    ];

    /// The field's name as typed before the colon, in lowercase.
    pub fn name(self) -> &'static str {
        match self {
            FilterField::Kind => "kind",
            FilterField::Mission => "mission",
            FilterField::Tag => "tag",
            FilterField::Author => "author",
        }
    }

    /// The field called `name`, ignoring ASCII case (`Tag`, `TAG`), if any.
    pub fn from_name(name: &str) -> Option<FilterField> {
        FilterField::ALL
            .into_iter()
            .find(|field| field.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for FilterField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a query was refused. Only the limits refuse a query; every other
/// mistake is read leniently (see the [module documentation](self)).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// The query is longer than [`MAX_QUERY_BYTES`].
    #[error("query is {len} bytes long; at most {max} are allowed — shorten it")]
    TooLong {
        /// The query's length in bytes.
        len: usize,
        /// The limit, [`MAX_QUERY_BYTES`].
        max: usize,
    },
    /// The query has more than [`MAX_TERMS`] phrases, filters and prefixes.
    #[error(
        "query has {count} phrases, filters and prefixes; at most {max} are allowed — shorten it"
    )]
    TooManyTerms {
        /// How many words, phrases and filters the query has.
        count: usize,
        /// The limit, [`MAX_TERMS`].
        max: usize,
    },
    /// The query nests deeper than [`MAX_NESTING`], either in its
    /// parentheses or in the tree they make.
    #[error(
        "query nests {depth} levels deep; at most {max} are allowed — use fewer parentheses or exclusions"
    )]
    TooDeep {
        /// How deep the query nests.
        depth: usize,
        /// The limit, [`MAX_NESTING`].
        max: usize,
    },
}

impl Query {
    /// How deep the tree is: a word, phrase, filter or `All` is 1 deep, and
    /// `And`, `Or` and `Not` are one deeper than their deepest child.
    pub fn depth(&self) -> usize {
        match self {
            Query::And(items) | Query::Or(items) => {
                1 + items.iter().map(Query::depth).max().unwrap_or(0)
            }
            Query::Not(inner) => 1 + inner.depth(),
            Query::All | Query::Word { .. } | Query::Phrase(_) | Query::Filter { .. } => 1,
        }
    }

    /// How many phrases, filters and `word*` prefixes the tree holds (what
    /// [`MAX_TERMS`] limits).
    pub fn term_count(&self) -> usize {
        match self {
            Query::And(items) | Query::Or(items) => items.iter().map(Query::term_count).sum(),
            Query::Not(inner) => inner.term_count(),
            Query::All | Query::Word { prefix: false, .. } => 0,
            Query::Word { prefix: true, .. } | Query::Phrase(_) | Query::Filter { .. } => 1,
        }
    }
}

/// Parses a query as typed into `chapar search`.
///
/// Never panics. Fails only when the query is over one of the limits
/// ([`MAX_QUERY_BYTES`], [`MAX_TERMS`], [`MAX_NESTING`]); everything else is
/// read leniently as described in the [module documentation](self). An empty
/// or all-whitespace query is [`Query::All`].
pub fn parse(input: &str) -> Result<Query, QueryError> {
    // Checked before anything else so that no work scales with a huge input.
    if input.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLong {
            len: input.len(),
            max: MAX_QUERY_BYTES,
        });
    }
    let tokens = tokenize(input);

    // Every term token ends up in the tree (only operators are ever
    // dropped), so counting tokens counts the tree's terms.
    let count = tokens
        .iter()
        .filter(|token| {
            matches!(token, Token::Term(q) if !matches!(q, Query::Word { prefix: false, .. }))
        })
        .count();
    if count > MAX_TERMS {
        return Err(QueryError::TooManyTerms {
            count,
            max: MAX_TERMS,
        });
    }

    // The parser recurses once per open parenthesis; refusing deep input
    // here keeps that recursion (and the stack) small.
    let parens = paren_depth(&tokens);
    if parens > MAX_NESTING {
        return Err(QueryError::TooDeep {
            depth: parens,
            max: MAX_NESTING,
        });
    }

    let mut parser = Parser {
        tokens: tokens.into_iter().peekable(),
    };
    let query = match parser.or_expr(false) {
        Some(raw) => positive(normalize(raw)),
        None => Query::All,
    };

    // Alternating AND and OR groups each add two levels to the tree, so
    // the parentheses check above does not bound the tree on its own.
    let depth = query.depth();
    if depth > MAX_NESTING {
        return Err(QueryError::TooDeep {
            depth,
            max: MAX_NESTING,
        });
    }
    Ok(query)
}

// ---------------------------------------------------------------------------
// Tokens

/// One lexical item of a query.
#[derive(Debug)]
enum Token {
    /// A word, phrase or filter (always a leaf of [`Query`]).
    Term(Query),
    /// A `-` in front of an item.
    Minus,
    /// The `NOT` keyword.
    Not,
    /// The `OR` keyword or `|`.
    Or,
    /// `(`
    Open,
    /// `)`
    Close,
}

/// Whether `c` ends a word: whitespace or one of the syntax characters.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '(' | ')' | '|')
}

/// Whether text can match anything: the analyzer keeps only letters and
/// digits, so a word of punctuation alone (`,`, `-`, `...`) matches nothing
/// and would only confuse the tree.
fn has_content(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// Splits `s` (just after an opening `"`) into the quoted text and what
/// follows the closing `"`. With no closing `"` the text runs to the end.
fn quoted(s: &str) -> (&str, &str) {
    match s.find('"') {
        Some(end) => (&s[..end], &s[end + 1..]),
        None => (s, ""),
    }
}

fn tokenize(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    // Whether the item about to be read has an odd number of `-` in front
    // of it. The `-` only becomes a token once the item does: if the item
    // is dropped (`-""`, `-,`) its `-` must not fall onto the next item.
    let mut negated = false;
    // Whether the item about to be read follows an `AND`: a plain word
    // there must match, so it becomes a one-word phrase.
    let mut required = false;
    let mut rest = input;

    // Pushes an item, preceded by its pending `-`.
    fn emit(tokens: &mut Vec<Token>, negated: &mut bool, token: Token) {
        if std::mem::take(negated) {
            tokens.push(Token::Minus);
        }
        tokens.push(token);
    }

    // A plain word that must match: typed next to `AND`.
    fn require(token: Token) -> Token {
        match token {
            Token::Term(Query::Word {
                text,
                prefix: false,
            }) => Token::Term(Query::Phrase(text)),
            other => other,
        }
    }

    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            negated = false;
            rest = &rest[c.len_utf8()..];
            continue;
        }
        match c {
            '(' => {
                required = false;
                emit(&mut tokens, &mut negated, Token::Open);
                rest = &rest[1..];
            }
            ')' => {
                negated = false;
                required = false;
                tokens.push(Token::Close);
                rest = &rest[1..];
            }
            '|' => {
                negated = false;
                required = false;
                tokens.push(Token::Or);
                rest = &rest[1..];
            }
            '"' => {
                let (text, after) = quoted(&rest[1..]);
                rest = after;
                if has_content(text) {
                    emit(
                        &mut tokens,
                        &mut negated,
                        Token::Term(Query::Phrase(text.to_owned())),
                    );
                } else {
                    negated = false;
                }
            }
            // A `-` excludes only when something follows it directly; a
            // lone `-` is a punctuation word and is dropped below.
            '-' if rest[1..]
                .chars()
                .next()
                .is_some_and(|next| !next.is_whitespace() && next != ')' && next != '|') =>
            {
                negated = !negated;
                rest = &rest[1..];
            }
            _ => {
                let end = rest.find(ends_word).unwrap_or(rest.len());
                let run = &rest[..end];
                rest = &rest[end..];
                match run {
                    "OR" => {
                        negated = false;
                        required = false;
                        tokens.push(Token::Or);
                    }
                    // Words side by side are a question (any may match);
                    // `AND` makes the words on both sides required.
                    "AND" => {
                        negated = false;
                        required = true;
                        if let Some(last) = tokens.pop() {
                            tokens.push(require(last));
                        }
                    }
                    "NOT" => emit(&mut tokens, &mut negated, Token::Not),
                    _ => {
                        let term = match run.split_once(':').and_then(|(name, value)| {
                            FilterField::from_name(name).map(|field| (field, value))
                        }) {
                            Some((field, value)) => {
                                // `tag:"PREL"`: the word stopped at the quote.
                                let value = if value.is_empty() && rest.starts_with('"') {
                                    let (text, after) = quoted(&rest[1..]);
                                    rest = after;
                                    text.trim()
                                } else {
                                    value
                                };
                                (!value.is_empty()).then(|| Query::Filter {
                                    field,
                                    value: value.to_owned(),
                                })
                            }
                            None => {
                                let text = run.trim_end_matches('*');
                                has_content(text).then(|| Query::Word {
                                    text: text.to_owned(),
                                    prefix: text.len() != run.len(),
                                })
                            }
                        };
                        match term {
                            Some(term) => {
                                let token = Token::Term(term);
                                let token = if std::mem::take(&mut required) {
                                    require(token)
                                } else {
                                    token
                                };
                                emit(&mut tokens, &mut negated, token)
                            }
                            None => negated = false,
                        }
                    }
                }
            }
        }
    }
    tokens
}

/// The deepest the parentheses nest, reading them as the parser does (a
/// `)` with no `(` is ignored).
fn paren_depth(tokens: &[Token]) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0;
    for token in tokens {
        match token {
            Token::Open => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Token::Close => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

// ---------------------------------------------------------------------------
// Parser

/// A recursive-descent parser over the tokens:
///
/// ```text
/// or_expr  := and_expr ( OR and_expr )*
/// and_expr := unary*
/// unary    := ( "-" | NOT )* primary
/// primary  := term | "(" or_expr ")"?
/// ```
///
/// Each rule returns `None` when it read nothing that can match, and the
/// caller drops it. The tree it builds is raw; [`normalize`] tidies it.
struct Parser {
    tokens: std::iter::Peekable<std::vec::IntoIter<Token>>,
}

impl Parser {
    fn or_expr(&mut self, in_group: bool) -> Option<Query> {
        let mut alternatives = Vec::new();
        loop {
            alternatives.extend(self.and_expr(in_group));
            // `and_expr` stops at an OR, at the `)` closing this group, or
            // at the end.
            if self
                .tokens
                .next_if(|token| matches!(token, Token::Or))
                .is_none()
            {
                break;
            }
        }
        join(alternatives, Query::Or)
    }

    fn and_expr(&mut self, in_group: bool) -> Option<Query> {
        let mut items = Vec::new();
        loop {
            match self.tokens.peek() {
                None | Some(Token::Or) => break,
                Some(Token::Close) if in_group => break,
                // A `)` that closes nothing: ignored.
                Some(Token::Close) => {
                    self.tokens.next();
                }
                Some(_) => items.extend(self.unary()),
            }
        }
        join(items, Query::And)
    }

    /// Always consumes at least one token (it is only called on `-`, `NOT`,
    /// a term or `(`), so `and_expr` cannot loop forever.
    fn unary(&mut self) -> Option<Query> {
        // Negations are counted rather than recursed into, so that a long
        // run of `NOT NOT ...` costs no stack.
        let mut negated = false;
        while self
            .tokens
            .next_if(|token| matches!(token, Token::Minus | Token::Not))
            .is_some()
        {
            negated = !negated;
        }
        let operand = match self.tokens.peek() {
            Some(Token::Term(_)) => match self.tokens.next() {
                Some(Token::Term(term)) => Some(term),
                _ => None,
            },
            Some(Token::Open) => {
                self.tokens.next();
                let inner = self.or_expr(true);
                // A missing `)` is closed at the end of the input.
                self.tokens.next_if(|token| matches!(token, Token::Close));
                inner
            }
            // A negation with nothing after it is dropped.
            _ => None,
        }?;
        Some(if negated {
            Query::Not(Box::new(operand))
        } else {
            operand
        })
    }
}

/// `items` joined with `op`, or the single item alone, or nothing.
fn join(mut items: Vec<Query>, op: fn(Vec<Query>) -> Query) -> Option<Query> {
    match items.len() {
        0 => None,
        1 => items.pop(),
        _ => Some(op(items)),
    }
}

// ---------------------------------------------------------------------------
// Normalization

/// Brings a raw tree to the normal form documented on [`Query`], except
/// that the result itself may be a bare `Not`: whether that needs an `All`
/// next to it depends on where it ends up, so the caller decides (with
/// [`positive`]). Deciding early would turn `-(-a)` into
/// `Not(And[All, Not(a)])` instead of `a`.
fn normalize(query: Query) -> Query {
    match query {
        Query::Not(inner) => match normalize(*inner) {
            Query::Not(twice) => *twice,
            other => Query::Not(Box::new(other)),
        },
        Query::And(items) => {
            let mut flat = Vec::with_capacity(items.len());
            for item in items {
                match normalize(item) {
                    Query::And(inner) => flat.extend(inner),
                    other => flat.push(other),
                }
            }
            // A flattened conjunction may bring an `All` it needed alone;
            // recompute whether this one needs it.
            flat.retain(|item| *item != Query::All);
            if !flat.is_empty() && flat.iter().all(|item| matches!(item, Query::Not(_))) {
                flat.insert(0, Query::All);
            }
            join(flat, Query::And).unwrap_or(Query::All)
        }
        Query::Or(items) => {
            let mut flat = Vec::with_capacity(items.len());
            for item in items {
                match normalize(item) {
                    Query::Or(inner) => flat.extend(inner),
                    other => flat.push(positive(other)),
                }
            }
            join(flat, Query::Or).unwrap_or(Query::All)
        }
        leaf => leaf,
    }
}

/// Gives a bare `Not` the `All` it excludes from, so that it can stand on
/// its own (at the root or as an alternative of an `Or`).
fn positive(query: Query) -> Query {
    match query {
        Query::Not(_) => Query::And(vec![Query::All, query]),
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Display

/// Prints the query in canonical syntax, such that
/// `parse(&query.to_string()) == Ok(query)` for every tree [`parse`]
/// returns.
///
/// The readable form uses ` OR `, `-` for every exclusion, lowercase field
/// names, and parentheses only where needed: `a AND (b) | NOT c (d|e)`
/// prints `a b OR -c (d OR e)`.
///
/// ` OR ` is longer than `|`, so a query parsed from near
/// [`MAX_QUERY_BYTES`] could print longer than the limit and no longer
/// parse. Then, and always with `{:#}`, the compact form is printed
/// instead: `|` for OR, spaces only where two words would otherwise merge,
/// and closing `)` and `"` at the very end left off (they are implied).
/// The compact form is never longer than the text the query was parsed
/// from.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            let readable = render(self, false);
            if readable.len() <= MAX_QUERY_BYTES {
                return f.write_str(&readable);
            }
        }
        f.write_str(&render(self, true))
    }
}

fn render(query: &Query, compact: bool) -> String {
    let mut out = String::new();
    write_query(query, compact, &mut out);
    if compact {
        // The parser closes open groups and an open quote at the end of the
        // input, so the closers at the very end are redundant. Only the last
        // `"` may go: any earlier one closes a phrase followed by more text.
        let kept = out.trim_end_matches(')').len();
        out.truncate(kept);
        if out.ends_with('"') {
            out.pop();
        }
    }
    out
}

fn write_query(query: &Query, compact: bool, out: &mut String) {
    match query {
        // `All` is the empty query, and inside an `And` the parser adds it
        // back on its own next to the exclusions.
        Query::All => {}
        Query::Word { text, prefix } => {
            out.push_str(text);
            if *prefix {
                out.push('*');
            }
        }
        Query::Phrase(text) => {
            out.push('"');
            out.push_str(text);
            out.push('"');
        }
        Query::Filter { field, value } => {
            out.push_str(field.name());
            out.push(':');
            if !value.is_empty() && !value.contains(ends_word) {
                out.push_str(value);
            } else {
                // A parsed value never holds a `"`: both forms stop at one.
                out.push('"');
                out.push_str(value);
                out.push('"');
            }
        }
        Query::Not(inner) => {
            out.push('-');
            write_grouped(
                inner,
                matches!(**inner, Query::And(_) | Query::Or(_)),
                compact,
                out,
            );
        }
        Query::And(items) => {
            let mut first = true;
            for item in items.iter().filter(|item| **item != Query::All) {
                let mut text = String::new();
                // AND binds tighter than OR, so an OR inside an AND needs
                // parentheses (an AND inside an AND only in trees parse
                // never makes).
                write_grouped(
                    item,
                    matches!(item, Query::And(_) | Query::Or(_)),
                    compact,
                    &mut text,
                );
                if !first && (!compact || needs_space(out, &text)) {
                    out.push(' ');
                }
                out.push_str(&text);
                first = false;
            }
        }
        Query::Or(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(if compact { "|" } else { " OR " });
                }
                write_grouped(item, matches!(item, Query::Or(_)), compact, out);
            }
        }
    }
}

fn write_grouped(query: &Query, grouped: bool, compact: bool, out: &mut String) {
    if grouped {
        out.push('(');
    }
    write_query(query, compact, out);
    if grouped {
        out.push(')');
    }
}

/// Whether two items printed next to each other in an AND need a space
/// between them: only when neither side ends or starts with a quote or
/// parenthesis, which separate items on their own.
fn needs_space(before: &str, after: &str) -> bool {
    !(before.ends_with(['"', ')']) || after.starts_with(['"', '(']))
}
