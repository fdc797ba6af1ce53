//! `chapar search` and `chapar wiki history`: the request a person builds
//! on the command line, and how results are shown (a readable list with
//! highlighted excerpts and facet counts, or JSON for scripts).

use std::io::IsTerminal;

use anyhow::{Result, bail};
use chapar_search::api::{EntryKind, Facets, Hit, SearchRequest, SearchResponse, Sort};
use clap::{Args, ValueEnum};

use crate::rpc::Client;
use crate::user::{parse_time, time_text};

/// What to search (`--kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SearchKind {
    /// Wiki pages (their current revision).
    Wiki,
    /// Released cables.
    Cable,
    /// Cable drafts of your mission.
    Draft,
}

impl From<SearchKind> for EntryKind {
    fn from(k: SearchKind) -> EntryKind {
        match k {
            SearchKind::Wiki => EntryKind::Wiki,
            SearchKind::Cable => EntryKind::Cable,
            SearchKind::Draft => EntryKind::Draft,
        }
    }
}

/// Order of results (`--sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    /// Best match first.
    Relevance,
    /// Newest first.
    Newest,
    /// Oldest first.
    Oldest,
}

/// `chapar search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query: words (all must match), "a phrase", word*, -excluded,
    /// a OR b, (grouping), kind:cable, tag:PREL, mission:emb-a, author:id.
    /// Empty: everything the filters select. A word to exclude goes inside
    /// quotes ('raqamli -konsul') or after `--`, so it is not read as a flag;
    /// flags may come before or after the query.
    pub query: Vec<String>,
    /// Only these kinds (repeat or separate with commas; default: wiki and cable).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kind: Vec<SearchKind>,
    /// Only these missions (cable originator, page editor's mission).
    #[arg(long, value_delimiter = ',')]
    pub mission: Vec<String>,
    /// Only entries with every one of these TAGS.
    #[arg(long, value_delimiter = ',')]
    pub tag: Vec<String>,
    /// Only entries by these people (person ids).
    #[arg(long, value_delimiter = ',')]
    pub author: Vec<String>,
    /// Only entries of these classifications (e.g. UNCLASSIFIED,SECRET).
    #[arg(long, value_delimiter = ',')]
    pub classification: Vec<String>,
    /// Created at or after this time (RFC 3339, a date, or ms since the epoch).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Created before this time (RFC 3339, a date, or ms since the epoch).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Order of results.
    #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
    pub sort: SortArg,
    /// Results per page.
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=chapar_search::api::MAX_LIMIT as i64))]
    pub limit: u32,
    /// Which page of results (from 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
    /// Do not count results by kind, mission and TAG.
    #[arg(long)]
    pub no_facets: bool,
}

impl SearchArgs {
    /// The request these arguments describe.
    pub fn request(&self) -> Result<SearchRequest> {
        let offset = (self.page as usize - 1) * self.limit as usize;
        if offset > chapar_search::api::MAX_OFFSET {
            bail!(
                "--page {} is too deep (results past {} are not served); narrow the query with filters",
                self.page,
                chapar_search::api::MAX_OFFSET
            );
        }
        Ok(SearchRequest {
            query: self.query.join(" "),
            kinds: self.kind.iter().map(|k| (*k).into()).collect(),
            missions: self.mission.clone(),
            tags: self.tag.clone(),
            authors: self.author.clone(),
            classifications: self.classification.clone(),
            from_ms: self
                .since
                .as_deref()
                .map(|t| parse_time(t, "--since"))
                .transpose()?,
            to_ms: self
                .until
                .as_deref()
                .map(|t| parse_time(t, "--until"))
                .transpose()?,
            sort: match self.sort {
                SortArg::Relevance => Sort::Relevance,
                SortArg::Newest => Sort::Newest,
                SortArg::Oldest => Sort::Oldest,
            },
            offset,
            limit: self.limit as usize,
            facets: !self.no_facets,
            ..SearchRequest::default()
        })
    }
}

/// Runs `chapar search`.
pub async fn search(client: &Client, a: &SearchArgs, json: bool) -> Result<()> {
    let req = a.request()?;
    let resp = client.search(&req).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&resp)?);
    } else {
        print!(
            "{}",
            results_text(&req, &resp, std::io::stdout().is_terminal())
        );
    }
    Ok(())
}

/// `text` with its highlighted ranges marked: bold on a terminal, `*…*`
/// otherwise.
pub fn highlight(text: &str, ranges: &[(usize, usize)], tty: bool) -> String {
    let (on, off) = if tty {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("*", "*")
    };
    let mut out = String::with_capacity(text.len() + ranges.len() * 8);
    let mut at = 0;
    for &(from, to) in ranges {
        // Ranges come from the node: never trust them to be in bounds or
        // on character boundaries.
        let (Some(before), Some(word)) = (text.get(at..from), text.get(from..to)) else {
            continue;
        };
        out.push_str(before);
        out.push_str(on);
        out.push_str(word);
        out.push_str(off);
        at = to;
    }
    out.push_str(text.get(at..).unwrap_or(""));
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words of the question a hit does not contain (none when it has
/// them all, or when the node did not say).
fn missing<'a>(words: &'a [String], h: &Hit) -> Vec<&'a str> {
    if h.matched.is_empty() {
        return Vec::new();
    }
    words
        .iter()
        .filter(|w| !h.matched.contains(w))
        .map(String::as_str)
        .collect()
}

fn hit_text(n: usize, h: &Hit, words: &[String], tty: bool) -> String {
    let mut head = format!("{n:>3}. [{}] {}", h.kind.as_str(), h.title);
    let mut meta = vec![h.mission.clone(), h.classification.clone()];
    if let Some(c) = &h.caption {
        meta.push(c.clone());
    }
    if !h.tags.is_empty() {
        meta.push(h.tags.join(" "));
    }
    meta.push(time_text(h.created_ms));
    if let Some(a) = &h.author {
        meta.push(format!("by {a}"));
    }
    head.push_str(&format!("\n     {}", meta.join(" · ")));
    let snippet = highlight(&h.snippet.text, &h.snippet.highlights, tty);
    if !snippet.is_empty() {
        head.push_str(&format!("\n     {snippet}"));
    }
    let missing = missing(words, h);
    if !missing.is_empty() {
        head.push_str(&format!("\n     missing: {}", missing.join(", ")));
    }
    match &h.page {
        Some(p) => head.push_str(&format!("\n     page {p}  revision {}", h.id)),
        None => head.push_str(&format!("\n     id {}", h.id)),
    }
    head.push('\n');
    head
}

fn facets_text(f: &Facets) -> String {
    let part = |name: &str, v: &[(String, u64)]| {
        (!v.is_empty()).then(|| {
            format!(
                "{name}: {}",
                v.iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    };
    [
        part("kind", &f.kind),
        part("mission", &f.mission),
        part("tags", &f.tag),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" | ")
}

/// The results as a person reads them.
pub fn results_text(req: &SearchRequest, r: &SearchResponse, tty: bool) -> String {
    let mut out = String::new();
    let what = if req.query.trim().is_empty() {
        "everything matching the filters".to_string()
    } else {
        format!("{:?}", req.query)
    };
    let fuzzy = if r.fuzzy {
        " (words found nowhere were matched by close spellings)"
    } else {
        ""
    };
    out.push_str(&format!(
        "{} result{} for {what}{fuzzy} in {:.1} ms\n",
        r.total,
        if r.total == 1 { "" } else { "s" },
        r.took_us as f64 / 1000.0
    ));
    if let Some(f) = &r.facets {
        let t = facets_text(f);
        if !t.is_empty() {
            out.push_str(&format!("  {t}\n"));
        }
    }
    if !r.ignored.is_empty() {
        out.push_str(&format!("  not searched for: {}\n", r.ignored.join(", ")));
    }
    out.push('\n');
    for (i, h) in r.hits.iter().enumerate() {
        out.push_str(&hit_text(req.offset + i + 1, h, &r.words, tty));
    }
    let limit = req.limit.max(1) as u64;
    let shown_to = req.offset as u64 + r.hits.len() as u64;
    if shown_to < r.total {
        let page = req.offset as u64 / limit + 1;
        let pages = r.total.div_ceil(limit);
        out.push_str(&format!(
            "\npage {page} of {pages}; the next with --page {}\n",
            page + 1
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlight_marks_ranges_and_survives_bad_ones() {
        assert_eq!(
            highlight("raqamli diplomatiya haqida", &[(0, 7), (8, 19)], false),
            "*raqamli* *diplomatiya* haqida"
        );
        // Out of bounds or inside a character: skipped, not a panic.
        assert_eq!(highlight("Ўзбек", &[(1, 3), (0, 99)], false), "Ўзбек");
    }

    #[test]
    fn results_name_the_words_each_hit_misses_and_those_not_searched() {
        let hit = |title: &str, matched: &[&str]| Hit {
            kind: chapar_search::EntryKind::Wiki,
            id: "00".into(),
            page: None,
            title: title.into(),
            mission: "mfa".into(),
            author: None,
            classification: "UNCLASSIFIED".into(),
            caption: None,
            tags: vec![],
            created_ms: 0,
            snippet: Default::default(),
            matched: matched.iter().map(|w| w.to_string()).collect(),
        };
        let r = SearchResponse {
            total: 2,
            hits: vec![hit("All", &["visa", "Germany"]), hit("Some", &["visa"])],
            words: vec!["visa".into(), "Germany".into()],
            ignored: vec!["what".into(), "about".into()],
            ..SearchResponse::default()
        };
        let req = SearchRequest {
            query: "what about visa Germany".into(),
            ..SearchRequest::default()
        };
        let text = results_text(&req, &r, false);
        assert!(text.contains("not searched for: what, about"), "{text}");
        let some = &text[text.find("Some").expect("second hit")..];
        assert!(some.contains("missing: Germany"), "{text}");
        let all = &text[text.find("All").expect("first hit")..text.find("Some").unwrap()];
        assert!(!all.contains("missing"), "{text}");
    }
}
