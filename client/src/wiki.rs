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
    #[arg(long)]
    pub raw: bool,
}

/// A page a title names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The page.
    pub page: PageId,
    /// Its title, as its head shows it.
    pub title: String,
    /// Its heads the person may read (ascending): a new revision that
    /// names them all replaces them.
    pub heads: Vec<DocId>,
}

/// The pages whose title matches `title` (as titles match:
/// [`title::key`]) that the person may read.
pub async fn find(client: &Client, title: &str) -> Result<Vec<Found>> {
    let req = SearchRequest {
        titles: vec![title.to_string()],
        kinds: vec![EntryKind::Wiki],
        limit: chapar_search::api::MAX_LIMIT,
        ..SearchRequest::default()
    };
    let resp = client.search(&req).await?;
    let mut found: Vec<Found> = Vec::new();
    for h in resp.hits {
        let (Some(page), Ok(id)) = (h.page.as_deref(), h.id.parse::<DocId>()) else {
            continue;
        };
        let page = crate::user::parse_page_id(page)?;
        match found.iter_mut().find(|f| f.page == page) {
            Some(f) => f.heads.push(id),
            None => found.push(Found {
                page,
                title: h.title,
                heads: vec![id],
            }),
        }
    }
    for f in &mut found {
        f.heads.sort();
    }
    found.sort_by_key(|f| f.page.0);
    Ok(found)
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

/// The revisions of `page` the person may read, verified.
pub async fn revisions(client: &Client, page: PageId) -> Result<Vec<Document>> {
    let req = SearchRequest {
        kinds: vec![EntryKind::Revision],
        pages: vec![page.to_string()],
        sort: Sort::Newest,
        limit: MAX_REVISIONS,
        ..SearchRequest::default()
    };
    let resp = client.search(&req).await?;
    let mut docs = Vec::with_capacity(resp.hits.len());
    for h in resp.hits {
        let id: DocId = h
            .id
            .parse()
            .map_err(|e| anyhow::anyhow!("the node listed a bad revision id {:?}: {e}", h.id))?;
        let doc = client.fetch(id).await?;
        doc.verify()
            .with_context(|| format!("revision {id} does not verify"))?;
        if doc.id() != id {
            bail!("the node sent another document for revision {id}");
        }
        docs.push(doc);
    }
    Ok(docs)
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
    let found = resolve(client, &a.title, a.page.as_deref()).await?;
    let docs = revisions(client, found.page).await?;
    let v = view(found.page, &docs)
        .with_context(|| format!("page {} has no revision you may read", found.page))?;
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
                "text": v.text,
            }))?
        );
        return Ok(());
    }
    println!("{}  [{}]", v.title, v.classification);
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
    println!("{}", v.text);
    Ok(())
}
