//! A person's wiki: pages found by title, shown as the history rule makes
//! them (`chapar_proto::wiki::history`), edited by title.
//!
//! The functions that talk to the node take an [`rpc::Client`] and return
//! values, so that another interface can use them; the `chapar wiki`
//! commands print what they return.

use anyhow::{Context, Result, bail};
use chapar_proto::wiki::history::{Graph, View};
use chapar_proto::wiki::title;
use chapar_proto::{Body, DocId, Document, PageId};
use chapar_search::{EntryKind, SearchRequest, Sort};
use clap::Args;
use serde_json::json;

use crate::rpc::Client;

/// Most revisions of one page `chapar wiki show` reads.
pub const MAX_REVISIONS: usize = chapar_search::api::MAX_LIMIT;

/// `chapar wiki show`.
#[derive(Debug, Args)]
pub struct WikiShowArgs {
    /// The page's title (case, script and spacing do not matter).
    pub title: String,
    /// The page (32 hex digits), when several pages have that title.
    #[arg(long, value_name = "PAGEID_HEX")]
    pub page: Option<String>,
    /// Print the Markdown source instead of rendering it.
    #[arg(long, conflicts_with = "html")]
    pub raw: bool,
    /// Print sanitized HTML (raw HTML escaped, unsafe links dropped).
    #[arg(long)]
    pub html: bool,
    /// Wrap the rendered text at this many columns [default: $COLUMNS, or 100].
    #[arg(long)]
    pub width: Option<usize>,
}

/// The title keys of the pages `links` point to that exist and that the
/// person may read (a link to anything else is shown as missing, so a
/// page they may not see looks exactly like one that does not exist).
pub async fn existing(
    client: &Client,
    targets: &[String],
) -> Result<std::collections::BTreeSet<String>> {
    let mut out = std::collections::BTreeSet::new();
    for chunk in targets.chunks(64) {
        let resp = client
            .search(&SearchRequest {
                titles: chunk.to_vec(),
                kinds: vec![EntryKind::Wiki],
                limit: chapar_search::api::MAX_LIMIT,
                ..SearchRequest::default()
            })
            .await?;
        out.extend(resp.hits.iter().map(|h| title::key(&h.title)));
    }
    Ok(out)
}

/// The text of `v` as `a` asks: Markdown, sanitized HTML or rendered for
/// the terminal, with links to pages the person cannot find marked.
async fn rendered(client: &Client, v: &View, a: &WikiShowArgs, tty: bool) -> Result<String> {
    use chapar_proto::wiki::links;
    use chapar_wiki::render::{LinkState, to_html, to_terminal};
    if a.raw {
        return Ok(v.text.clone());
    }
    let exists = existing(client, &links::parse(&v.text).targets()).await?;
    let resolve = |l: &links::Link| -> LinkState {
        let fragment = l
            .section
            .as_deref()
            .map(|s| format!("#{}", links::anchor(s)))
            .unwrap_or_default();
        if l.is_same_page() {
            return LinkState::Exists { href: fragment };
        }
        let href = format!("/wiki/{}", l.target.replace(' ', "_"));
        if exists.contains(&title::key(&l.target)) {
            LinkState::Exists {
                href: href + &fragment,
            }
        } else {
            LinkState::Missing { href: Some(href) }
        }
    };
    if a.html {
        return Ok(to_html(&v.text, &resolve));
    }
    let width = a
        .width
        .or_else(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()))
        .unwrap_or(100)
        .clamp(20, 400);
    Ok(to_terminal(&v.text, &resolve, width, tty))
}

/// A page a title names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The page.
    pub page: PageId,
    /// Its title, as a head the person may read shows it (or the newest
    /// revision they may read).
    pub title: String,
    /// Its heads the person may read (ascending): a new revision that
    /// names them all replaces them.
    pub heads: Vec<DocId>,
    /// Whether the title matched only an older revision (the page was
    /// renamed since: the old title leads to it, as a redirect would).
    pub by_old_title: bool,
}

/// The pages whose title matches `title` (as titles match:
/// [`title::key`]) that the person may read: pages whose head has that
/// title if any, else pages that had it.
pub async fn find(client: &Client, title: &str) -> Result<Vec<Found>> {
    // Heads first: a page's history may hold many revisions of the same
    // title, which must not crowd its heads out of one page of hits.
    let mut by_old_title = false;
    let mut pages = pages_titled(client, title, EntryKind::Wiki).await?;
    if pages.is_empty() {
        by_old_title = true;
        pages = pages_titled(client, title, EntryKind::Revision).await?;
    }
    let mut found = Vec::with_capacity(pages.len());
    for page in pages {
        found.push(heads_of(client, page, by_old_title).await?);
    }
    found.sort_by_key(|f| f.page.0);
    Ok(found)
}

/// The pages with an entry of `kind` titled `title`, newest first.
async fn pages_titled(client: &Client, title: &str, kind: EntryKind) -> Result<Vec<PageId>> {
    let resp = client
        .search(&SearchRequest {
            titles: vec![title.to_string()],
            kinds: vec![kind],
            sort: Sort::Newest,
            limit: chapar_search::api::MAX_LIMIT,
            ..SearchRequest::default()
        })
        .await?;
    let mut pages: Vec<PageId> = Vec::new();
    for h in &resp.hits {
        if let Some(p) = h.page.as_deref() {
            let p = crate::user::parse_page_id(p)?;
            if !pages.contains(&p) {
                pages.push(p);
            }
        }
    }
    Ok(pages)
}

/// The heads of `page` the person may read, and its title.
async fn heads_of(client: &Client, page: PageId, by_old_title: bool) -> Result<Found> {
    let heads = client
        .search(&SearchRequest {
            kinds: vec![EntryKind::Wiki],
            pages: vec![page.to_string()],
            limit: chapar_search::api::MAX_LIMIT,
            ..SearchRequest::default()
        })
        .await?;
    let mut ids: Vec<DocId> = heads
        .hits
        .iter()
        .filter_map(|h| h.id.parse().ok())
        .collect();
    ids.sort();
    let title = match heads.hits.first() {
        Some(h) => h.title.clone(),
        None => client
            .search(&SearchRequest {
                kinds: vec![EntryKind::Revision],
                pages: vec![page.to_string()],
                sort: Sort::Newest,
                limit: 1,
                ..SearchRequest::default()
            })
            .await?
            .hits
            .first()
            .map(|h| h.title.clone())
            .unwrap_or_default(),
    };
    Ok(Found {
        page,
        title,
        heads: ids,
        by_old_title,
    })
}

/// How many heads of `page` the person may not read (a newer or
/// concurrent revision they do not see).
pub async fn hidden_heads(client: &Client, page: PageId) -> Result<u64> {
    Ok(client
        .search(&SearchRequest {
            kinds: vec![EntryKind::Wiki],
            pages: vec![page.to_string()],
            limit: 1,
            ..SearchRequest::default()
        })
        .await?
        .hidden_heads)
}

/// The one page `title` names, or `page` if given; an error that lists
/// the candidates when the title is ambiguous.
pub async fn resolve(client: &Client, title: &str, page: Option<&str>) -> Result<Found> {
    let found = find(client, title).await?;
    if let Some(p) = page {
        let p = crate::user::parse_page_id(p)?;
        return found
            .into_iter()
            .find(|f| f.page == p)
            .with_context(|| format!("page {p} is not titled {title:?} (or you may not read it)"));
    }
    match found.len() {
        0 => bail!("no page titled {title:?} that you may read"),
        1 => Ok(found.into_iter().next().context("one page")?),
        _ => {
            let list: Vec<String> = found
                .iter()
                .map(|f| format!("  {}  {}", f.page, f.title))
                .collect();
            bail!(
                "{} pages are titled {title:?}; name one with --page:\n{}",
                found.len(),
                list.join("\n")
            )
        }
    }
}

/// A revision of a page, as the node listed it and as it is signed.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The node's history entry (author, mission, time).
    pub hit: chapar_search::Hit,
    /// The signed revision, verified.
    pub doc: Document,
}

impl Listed {
    /// The revision itself.
    pub fn revision(&self) -> Option<&chapar_proto::WikiRevision> {
        match self.doc.body() {
            Body::WikiRevision(r) => Some(r),
            _ => None,
        }
    }
}

/// The revisions of `page` the person may read (newest first), verified.
pub async fn history(client: &Client, page: PageId) -> Result<Vec<Listed>> {
    let req = SearchRequest {
        kinds: vec![EntryKind::Revision],
        pages: vec![page.to_string()],
        sort: Sort::Newest,
        limit: MAX_REVISIONS,
        ..SearchRequest::default()
    };
    let resp = client.search(&req).await?;
    let mut out = Vec::with_capacity(resp.hits.len());
    for hit in resp.hits {
        let doc = fetch_revision(client, &hit.id).await?;
        out.push(Listed { hit, doc });
    }
    Ok(out)
}

/// Fetches and verifies the revision `id` (hex).
pub async fn fetch_revision(client: &Client, id: &str) -> Result<Document> {
    let id: DocId = id
        .parse()
        .map_err(|e| anyhow::anyhow!("{id:?} is not a revision id (64 hex digits): {e}"))?;
    let doc = client.fetch(id).await?;
    doc.verify()
        .with_context(|| format!("revision {id} does not verify"))?;
    if doc.id() != id {
        bail!("the node sent another document for revision {id}");
    }
    if !matches!(doc.body(), Body::WikiRevision(_)) {
        bail!("{id} is a {}, not a wiki revision", doc.kind());
    }
    Ok(doc)
}

/// The revisions of `page` the person may read, verified.
pub async fn revisions(client: &Client, page: PageId) -> Result<Vec<Document>> {
    Ok(history(client, page)
        .await?
        .into_iter()
        .map(|l| l.doc)
        .collect())
}

/// What the page shows, from `docs` (its revisions).
pub fn view(page: PageId, docs: &[Document]) -> Option<View> {
    let revs = docs.iter().filter_map(|d| match d.body() {
        Body::WikiRevision(r) => Some((d.id(), r)),
        _ => None,
    });
    Graph::new(page, revs).view()
}

/// The id a new page titled `title` takes: the first generation of its
/// key that no page the person can see holds ([`title::page_id`]).
pub async fn new_page_id(client: &Client, title: &str) -> Result<PageId> {
    let key = title::key(title);
    for generation in 0..64 {
        let id = title::page_id(&key, generation);
        let req = SearchRequest {
            kinds: vec![EntryKind::Wiki, EntryKind::Revision],
            pages: vec![id.to_string()],
            limit: 1,
            ..SearchRequest::default()
        };
        if client.search(&req).await?.total == 0 {
            return Ok(id);
        }
    }
    bail!("64 pages have already been created under the title {title:?}; choose another title")
}

/// `chapar wiki show`.
pub async fn show(client: &Client, a: &WikiShowArgs, json: bool) -> Result<()> {
    let mut found = resolve(client, &a.title, a.page.as_deref()).await?;
    let mut docs = revisions(client, found.page).await?;
    let mut v = view(found.page, &docs)
        .with_context(|| format!("page {} has no revision you may read", found.page))?;
    // A redirect page leads to its target (one step: a redirect to a
    // redirect is shown as it is). `--raw` shows the redirect itself.
    let mut redirected_from = found.by_old_title.then(|| a.title.clone());
    if let (false, Some(target)) = (a.raw, chapar_proto::wiki::links::parse(&v.text).redirect) {
        if let Ok(t) = resolve(client, &target.target, None).await {
            let t_docs = revisions(client, t.page).await?;
            if let Some(t_view) = view(t.page, &t_docs) {
                redirected_from = Some(v.title.clone());
                (found, docs, v) = (t, t_docs, t_view);
            }
        }
    }
    let hidden = hidden_heads(client, found.page).await?;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let shown = rendered(client, &v, a, tty && !json).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "page": v.page.to_string(),
                "title": v.title,
                "classification": v.classification.to_string(),
                "captions": v.captions.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "heads": v.heads.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
                "base": v.base.map(|b| b.to_hex()),
                "merged": v.merged(),
                "conflicts": v.conflicts,
                "revisions": docs.len(),
                "hidden_heads": hidden,
                "redirected_from": redirected_from,
                "text": v.text,
                "rendered": shown,
            }))?
        );
        return Ok(());
    }
    if a.html {
        // For a web page: the HTML alone (the JSON form has the rest).
        println!("{shown}");
        return Ok(());
    }
    println!("{}  [{}]", v.title, v.classification);
    if let Some(from) = &redirected_from {
        println!("(redirected from {from:?})");
    }
    if hidden > 0 {
        println!(
            "NOTICE: a newer or concurrent revision of this page exists that you may not read; \
             this is the page as far as you may read it."
        );
    }
    if v.in_conflict() {
        println!(
            "This page is in conflict: {} edits made at the same time overlap. Both versions \
             are shown between <<<<<<< and >>>>>>> lines; save a revision that resolves them \
             (`chapar wiki edit` names every head as a parent).",
            v.heads.len()
        );
    } else if v.merged() {
        println!(
            "{} edits made at the same time are shown merged; the next save joins them.",
            v.heads.len()
        );
    }
    println!();
    println!("{}", shown.trim_end());
    Ok(())
}

/// `chapar wiki history`.
#[derive(Debug, Args)]
pub struct WikiHistoryArgs {
    /// The page's title.
    pub title: String,
    /// The page (32 hex digits), when several pages have that title.
    #[arg(long, value_name = "PAGEID_HEX")]
    pub page: Option<String>,
}

/// `chapar wiki history`: every revision the person may read, newest
/// first, with the heads and the merges marked.
pub async fn show_history(client: &Client, a: &WikiHistoryArgs, json: bool) -> Result<()> {
    let found = resolve(client, &a.title, a.page.as_deref()).await?;
    let listed = history(client, found.page).await?;
    let docs: Vec<Document> = listed.iter().map(|l| l.doc.clone()).collect();
    let heads = view(found.page, &docs).map(|v| v.heads).unwrap_or_default();
    let rows: Vec<serde_json::Value> = listed
        .iter()
        .filter_map(|l| {
            let r = l.revision()?;
            Some(json!({
                "id": l.doc.id().to_hex(),
                "parents": r.parents.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
                "head": heads.contains(&l.doc.id()),
                "title": r.title,
                "author": l.hit.author,
                "mission": l.hit.mission,
                "created_ms": l.doc.created_ms(),
                "classification": r.classification.to_string(),
                "summary": r.summary,
            }))
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "page": found.page.to_string(),
                "title": found.title,
                "heads": heads.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
                "revisions": rows,
            }))?
        );
        return Ok(());
    }
    println!(
        "{} — {} revisions you may read, newest first (* head, M merge):",
        found.title,
        rows.len()
    );
    for l in &listed {
        let Some(r) = l.revision() else { continue };
        let id = l.doc.id();
        let mark = match (heads.contains(&id), r.parents.len() > 1) {
            (true, true) => "*M",
            (true, false) => "* ",
            (false, true) => " M",
            (false, false) => "  ",
        };
        let hex = id.to_hex();
        println!(
            "{mark} {}  {}  {:<12} {:<10} {}{}",
            crate::user::time_text(l.doc.created_ms()),
            &hex[..12],
            l.hit.author.as_deref().unwrap_or("-"),
            r.classification,
            if r.summary.is_empty() {
                "(no summary)"
            } else {
                r.summary.as_str()
            },
            if r.title != found.title {
                format!("  [titled {:?}]", r.title)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// `chapar wiki diff`.
#[derive(Debug, Args)]
pub struct WikiDiffArgs {
    /// The older revision (64 hex digits).
    pub from: String,
    /// The newer revision (64 hex digits).
    pub to: String,
    /// Lines of context around each change.
    #[arg(long, default_value_t = 3)]
    pub context: usize,
}

/// `chapar wiki diff`: line by line, changed lines word by word.
pub async fn show_diff(client: &Client, a: &WikiDiffArgs, json: bool) -> Result<()> {
    use chapar_proto::wiki::diff::{LineChange, WordChange, hunks};
    let old = fetch_revision(client, &a.from).await?;
    let new = fetch_revision(client, &a.to).await?;
    let (Body::WikiRevision(o), Body::WikiRevision(n)) = (old.body(), new.body()) else {
        bail!("both must be wiki revisions");
    };
    if o.page != n.page {
        bail!(
            "{} and {} are revisions of different pages ({} and {})",
            a.from,
            a.to,
            o.page,
            n.page
        );
    }
    let hs = hunks(&o.body, &n.body, a.context);
    if json {
        let hunks: Vec<serde_json::Value> = hs
            .iter()
            .map(|h| {
                json!({
                    "header": h.header(),
                    "lines": h.changes.iter().map(|c| match c {
                        LineChange::Same(l) => json!({"same": l}),
                        LineChange::Removed(l) => json!({"removed": l}),
                        LineChange::Added(l) => json!({"added": l}),
                        LineChange::Changed(words) => json!({"changed": words.iter().map(|w| match w {
                            WordChange::Same(t) => json!({"same": t}),
                            WordChange::Removed(t) => json!({"removed": t}),
                            WordChange::Added(t) => json!({"added": t}),
                        }).collect::<Vec<_>>()}),
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "from": a.from, "to": a.to, "title": [o.title.clone(), n.title.clone()],
                "hunks": hunks,
            }))?
        );
        return Ok(());
    }
    if o.title != n.title {
        println!("title: {:?} → {:?}", o.title, n.title);
    }
    if hs.is_empty() {
        println!("the two revisions have the same text");
    }
    for h in &hs {
        println!("{}", h.header());
        for c in &h.changes {
            match c {
                LineChange::Same(l) => print!(" {l}"),
                LineChange::Removed(l) => print!("-{l}"),
                LineChange::Added(l) => print!("+{l}"),
                LineChange::Changed(words) => {
                    // One line each side, the changed words bracketed.
                    let mut minus = String::from("-");
                    let mut plus = String::from("+");
                    for w in words {
                        match w {
                            WordChange::Same(t) => {
                                minus.push_str(t);
                                plus.push_str(t);
                            }
                            WordChange::Removed(t) => minus.push_str(&format!("[-{t}-]")),
                            WordChange::Added(t) => plus.push_str(&format!("{{+{t}+}}")),
                        }
                    }
                    print!("{minus}");
                    print!("{plus}");
                }
            }
            if !c
                .new_line()
                .or_else(|| c.old_line())
                .is_some_and(|l| l.ends_with('\n'))
            {
                println!();
            }
        }
    }
    Ok(())
}

/// `chapar wiki recent`.
#[derive(Debug, Args)]
pub struct WikiRecentArgs {
    /// Only edits made at these missions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub mission: Vec<String>,
    /// Only pages whose title starts with this namespace (`Help` for
    /// `Help:…`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// At most this many changes.
    #[arg(long, default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=chapar_search::api::MAX_LIMIT as i64))]
    pub limit: u32,
}

/// `chapar wiki recent`: the newest revisions across the wiki that the
/// person may read.
pub async fn show_recent(client: &Client, a: &WikiRecentArgs, json: bool) -> Result<()> {
    let req = SearchRequest {
        kinds: vec![EntryKind::Revision],
        missions: a.mission.clone(),
        sort: Sort::Newest,
        limit: chapar_search::api::MAX_LIMIT,
        ..SearchRequest::default()
    };
    let prefix = a.namespace.as_ref().map(|n| title::key(&format!("{n}:")));
    let hits: Vec<chapar_search::Hit> = client
        .search(&req)
        .await?
        .hits
        .into_iter()
        .filter(|h| {
            prefix
                .as_ref()
                .is_none_or(|p| title::key(&h.title).starts_with(p.as_str()))
        })
        .take(a.limit as usize)
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
        return Ok(());
    }
    if hits.is_empty() {
        println!("no recent changes that you may read");
    }
    for h in &hits {
        println!(
            "{}  {:<12} {:<12} {}  ({})",
            crate::user::time_text(h.created_ms),
            h.author.as_deref().unwrap_or("-"),
            h.mission,
            h.title,
            &h.id[..h.id.len().min(12)]
        );
    }
    Ok(())
}

/// `chapar wiki watch` and `unwatch`.
#[derive(Debug, Args)]
pub struct WikiWatchArgs {
    /// The page's title.
    pub title: String,
    /// The page (32 hex digits), when several pages have that title.
    #[arg(long, value_name = "PAGEID_HEX")]
    pub page: Option<String>,
}

/// `chapar wiki watchlist`.
#[derive(Debug, Args)]
pub struct WikiWatchlistArgs {
    /// Show the changes without marking them as seen.
    #[arg(long)]
    pub peek: bool,
}

/// The ids (hex) of the revisions of `page` the person may read.
async fn revision_ids(client: &Client, page: PageId) -> Result<Vec<chapar_search::Hit>> {
    let req = SearchRequest {
        kinds: vec![EntryKind::Revision],
        pages: vec![page.to_string()],
        sort: Sort::Newest,
        limit: MAX_REVISIONS,
        ..SearchRequest::default()
    };
    Ok(client.search(&req).await?.hits)
}

/// `chapar wiki watch`: follow a page; what it holds now counts as seen.
pub async fn watch(
    client: &Client,
    dir: &std::path::Path,
    a: &WikiWatchArgs,
    json: bool,
) -> Result<()> {
    use crate::watchlist::{Watched, Watchlist};
    let found = resolve(client, &a.title, a.page.as_deref()).await?;
    let seen = revision_ids(client, found.page)
        .await?
        .into_iter()
        .map(|h| h.id)
        .collect();
    let mut list = Watchlist::load(dir)?;
    list.pages.insert(
        found.page.to_string(),
        Watched {
            title: found.title.clone(),
            seen,
        },
    );
    list.save(dir)?;
    if json {
        println!(
            "{}",
            json!({"watching": found.page.to_string(), "title": found.title})
        );
    } else {
        println!("watching {} ({})", found.title, found.page);
    }
    Ok(())
}

/// `chapar wiki unwatch`: stop following a page (by title, or by the
/// title it had when watched).
pub fn unwatch(dir: &std::path::Path, a: &WikiWatchArgs, json: bool) -> Result<()> {
    use crate::watchlist::Watchlist;
    let mut list = Watchlist::load(dir)?;
    let key = title::key(&a.title);
    let page = match &a.page {
        Some(p) => Some(crate::user::parse_page_id(p)?.to_string()),
        None => list
            .pages
            .iter()
            .find(|(_, w)| title::key(&w.title) == key)
            .map(|(p, _)| p.clone()),
    };
    let Some(page) = page.filter(|p| list.pages.contains_key(p)) else {
        bail!("you are not watching a page titled {:?}", a.title);
    };
    list.pages.remove(&page);
    list.save(dir)?;
    if json {
        println!("{}", json!({"unwatched": page}));
    } else {
        println!("no longer watching {} ({page})", a.title);
    }
    Ok(())
}

/// `chapar wiki watchlist`: for each watched page, the revisions made
/// since the person last looked (then marked as seen, unless `--peek`).
pub async fn watchlist(
    client: &Client,
    dir: &std::path::Path,
    a: &WikiWatchlistArgs,
    json: bool,
) -> Result<()> {
    use crate::watchlist::Watchlist;
    let mut list = Watchlist::load(dir)?;
    let mut report = Vec::new();
    for (page_hex, w) in list.pages.iter_mut() {
        let page = crate::user::parse_page_id(page_hex)?;
        let hits = revision_ids(client, page).await?;
        let new: Vec<&chapar_search::Hit> =
            hits.iter().filter(|h| !w.seen.contains(&h.id)).collect();
        if let Some(newest) = hits.first() {
            if !a.peek {
                w.title = newest.title.clone();
            }
        }
        report.push(json!({
            "page": page_hex,
            "title": hits.first().map_or(w.title.clone(), |h| h.title.clone()),
            "changes": new.iter().map(|h| json!({
                "id": h.id, "author": h.author, "mission": h.mission, "created_ms": h.created_ms,
            })).collect::<Vec<_>>(),
        }));
        if !json {
            let title = hits.first().map_or(w.title.as_str(), |h| h.title.as_str());
            match new.len() {
                0 => println!("{title}: no changes"),
                n => {
                    println!("{title}: {n} new revision(s)");
                    for h in new.iter().take(5) {
                        println!(
                            "    {}  {:<12} {}",
                            crate::user::time_text(h.created_ms),
                            h.author.as_deref().unwrap_or("-"),
                            &h.id[..h.id.len().min(12)]
                        );
                    }
                }
            }
        }
        if !a.peek {
            w.seen.extend(hits.into_iter().map(|h| h.id));
        }
    }
    if !a.peek {
        list.save(dir)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if list.pages.is_empty() {
        println!("you watch no pages (chapar wiki watch TITLE)");
    }
    Ok(())
}

/// `chapar wiki links`, `backlinks`.
#[derive(Debug, Args)]
pub struct WikiLinksArgs {
    /// The page's title.
    pub title: String,
    /// The page (32 hex digits), when several pages have that title.
    #[arg(long, value_name = "PAGEID_HEX")]
    pub page: Option<String>,
}

/// `chapar wiki category`.
#[derive(Debug, Args)]
pub struct WikiCategoryArgs {
    /// The category's name (`Visas` for `[[Category:Visas]]`).
    pub name: String,
}

/// `chapar wiki links`: the pages a page links to, as the person sees it,
/// each marked if it cannot be found (missing, or not readable).
pub async fn show_links(client: &Client, a: &WikiLinksArgs, json: bool) -> Result<()> {
    use chapar_proto::wiki::links;
    let found = resolve(client, &a.title, a.page.as_deref()).await?;
    let docs = revisions(client, found.page).await?;
    let v = view(found.page, &docs)
        .with_context(|| format!("page {} has no revision you may read", found.page))?;
    let markup = links::parse(&v.text);
    let targets = markup.targets();
    let exists = existing(client, &targets).await?;
    let rows: Vec<(String, bool)> = targets
        .into_iter()
        .map(|t| {
            let e = exists.contains(&title::key(&t));
            (t, e)
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "page": found.page.to_string(),
                "title": v.title,
                "redirect": markup.redirect.as_ref().map(|l| l.target.clone()),
                "links": rows.iter().map(|(t, e)| json!({"title": t, "exists": e})).collect::<Vec<_>>(),
                "categories": markup.categories,
            }))?
        );
        return Ok(());
    }
    println!("{} links to {} page(s):", v.title, rows.len());
    for (t, e) in &rows {
        println!("  {t}{}", if *e { "" } else { "  [missing]" });
    }
    if !markup.categories.is_empty() {
        println!("Categories: {}", markup.categories.join(", "));
    }
    Ok(())
}

/// Pages (one line each, a page in conflict once) matching `req`.
async fn pages_matching(client: &Client, req: SearchRequest) -> Result<Vec<chapar_search::Hit>> {
    let mut seen = std::collections::BTreeSet::new();
    Ok(client
        .search(&SearchRequest {
            kinds: vec![EntryKind::Wiki],
            limit: chapar_search::api::MAX_LIMIT,
            ..req
        })
        .await?
        .hits
        .into_iter()
        .filter(|h| seen.insert(h.page.clone()))
        .collect())
}

fn print_pages(what: &str, hits: &[chapar_search::Hit], json: bool) -> Result<()> {
    if json {
        let rows: Vec<serde_json::Value> = hits
            .iter()
            .map(|h| json!({"page": h.page, "title": h.title, "classification": h.classification}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if hits.is_empty() {
        println!("no pages {what} that you may read");
    }
    for h in hits {
        println!("  {}  [{}]", h.title, h.classification);
    }
    Ok(())
}

/// `chapar wiki backlinks`: what links here (pages the person may read
/// that link or redirect to the page).
pub async fn show_backlinks(client: &Client, a: &WikiLinksArgs, json: bool) -> Result<()> {
    let found = resolve(client, &a.title, a.page.as_deref()).await?;
    let hits = pages_matching(
        client,
        SearchRequest {
            links_to: vec![found.title.clone(), a.title.clone()],
            ..SearchRequest::default()
        },
    )
    .await?;
    print_pages(&format!("link to {:?}", found.title), &hits, json)
}

/// `chapar wiki category`: the pages in a category.
pub async fn show_category(client: &Client, a: &WikiCategoryArgs, json: bool) -> Result<()> {
    let hits = pages_matching(
        client,
        SearchRequest {
            categories: vec![a.name.clone()],
            ..SearchRequest::default()
        },
    )
    .await?;
    print_pages(&format!("are in category {:?}", a.name), &hits, json)
}

/// `chapar wiki move`.
#[derive(Debug, Args)]
pub struct WikiMoveArgs {
    /// The page's current title.
    pub from: String,
    /// Its new title.
    pub to: String,
    /// Why.
    #[arg(long, default_value = "")]
    pub summary: String,
    /// Do not leave a redirect page at the old title (the old title still
    /// leads to the page through its history).
    #[arg(long)]
    pub no_redirect: bool,
}

/// What a move wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The page.
    pub page: PageId,
    /// Its revision under the new title (naming every head it replaced).
    pub revision: DocId,
    /// The redirect page left at the old title, if any.
    pub redirect: Option<(PageId, DocId)>,
}

/// Renames the page titled `from` to `to`, keeping its id and history: a
/// revision with the new title replacing every head, and (unless
/// `redirect` is false) a page at the old title that redirects to the new
/// one, classified as the page is (it names the new title).
pub async fn move_page(
    client: &Client,
    key: &ed25519_dalek::SigningKey,
    from: &str,
    to: &str,
    summary: &str,
    redirect: bool,
) -> Result<Moved> {
    use chapar_proto::WikiRevision;
    title::check(to).with_context(|| format!("the new title {to:?}"))?;
    let found = resolve(client, from, None).await?;
    if found.by_old_title {
        bail!(
            "{from:?} is an old title of {:?}: move that page by its title",
            found.title
        );
    }
    if found.heads.is_empty() {
        bail!("page {from:?} has a newer revision you may not read: you cannot move it");
    }
    if title::key(from) == title::key(to) {
        bail!("{from:?} and {to:?} are the same title");
    }
    if find(client, to).await?.iter().any(|f| !f.by_old_title) {
        bail!("a page titled {to:?} exists already; choose another title");
    }
    let docs = revisions(client, found.page).await?;
    let v = view(found.page, &docs).context("the page has no revision you may read")?;
    if v.in_conflict() {
        bail!("page {from:?} is in conflict: resolve it (chapar wiki edit) before moving it");
    }
    let caption = match v.captions.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        _ => bail!("the page's heads carry different captions: resolve them before moving it"),
    };
    let sign = |body: WikiRevision| -> Result<Document> {
        Ok(Document::sign(
            key,
            crate::admin::ministry::now_ms(),
            Body::WikiRevision(body),
        )?)
    };
    let moved = sign(WikiRevision {
        page: found.page,
        parents: v.heads.clone(),
        title: title::display(to),
        classification: v.classification,
        caption: caption.clone(),
        body: v.text.clone(),
        summary: if summary.is_empty() {
            format!("moved from {from:?}")
        } else {
            summary.to_string()
        },
    })?;
    let (revision, _) = client.submit(moved.as_bytes()).await?;
    let redirect = if redirect {
        let page = new_page_id(client, from).await?;
        let doc = sign(WikiRevision {
            page,
            parents: Vec::new(),
            title: title::display(from),
            classification: v.classification,
            caption,
            body: format!("#REDIRECT [[{}]]\n", title::display(to)),
            summary: format!("moved to {to:?}"),
        })?;
        Some((page, client.submit(doc.as_bytes()).await?.0))
    } else {
        None
    };
    Ok(Moved {
        page: found.page,
        revision,
        redirect,
    })
}
