//! Client requests on a node: submit, fetch, list, subscribe, search, status. One
//! request per stream. A person only ever receives documents they may read
//! (`person_may_read`): a document they may not see is reported as not
//! found, never as forbidden, so its existence does not leak.
//!
//! No request can stall the node for others (ADR 0019): each identity
//! has at most `limits.requests_per_identity` requests and
//! `limits.subscriptions_per_identity` subscriptions in progress (more are
//! refused with [`code::BUSY`], after a pause that throttles a flood of
//! them); store work runs on the blocking
//! threads, never on the async ones; and a listing works within a budget
//! (entries examined, time), ruling out from the index what the person
//! may not see before it reads any document.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chapar_certs::Identity;
use chapar_proto::access::{person_may_reach, person_may_read};
use chapar_proto::wire::{Listed, MAX_LISTING, Message, code};
use chapar_proto::{DocId, Document, Id, Person};
use tracing::{debug, warn};

use crate::config::Limits;
use crate::frames;
use crate::state::{Shared, Source};
use crate::store::Order;

/// Handles one request stream.
pub async fn serve(
    shared: Arc<Shared>,
    who: Identity,
    mut send: quinn::SendStream,
    _recv: quinn::RecvStream,
    request: Message,
) {
    debug!(%who, request = request.name(), "rpc");
    // Held until the answer is written (a subscription: until it ends).
    let claim = match request {
        Message::Subscribe { .. } => shared.limiter.subscription(&who),
        _ => shared.limiter.request(&who),
    };
    let answers = match claim {
        Ok(slot) => {
            let answers = handle(&shared, &who, request, &mut send).await;
            drop(slot);
            answers
        }
        Err(reason) => {
            debug!(%who, "request refused: {reason}");
            Some(busy(reason).await)
        }
    };
    if let Some(m) = answers {
        if let Err(e) = frames::write(&mut send, &m).await {
            debug!(%who, "rpc answer not delivered: {e}");
        }
    }
    let _ = send.finish();
}

/// How long a request refused over a cap waits for its answer. The
/// refused stream still counts against the connection's streams meanwhile,
/// so a client that floods requests gets at most
/// `limits.streams_per_connection` refusals a second per connection, each
/// costing the node next to nothing; one over the cap by mistake hears
/// back within the second.
const REFUSAL_PAUSE: Duration = Duration::from_secs(1);

/// A [`code::BUSY`] answer, after [`REFUSAL_PAUSE`].
async fn busy(reason: String) -> Message {
    tokio::time::sleep(REFUSAL_PAUSE).await;
    error(code::BUSY, reason)
}

fn error(code: u16, message: impl Into<String>) -> Message {
    Message::Error {
        code,
        message: message.into(),
    }
}

/// The person behind a user identity, if the roster still admits them
/// (listed and not revoked).
fn person(shared: &Shared, who: &Identity) -> Option<Person> {
    shared.admit_identity(who).ok()?;
    match who {
        Identity::User(id) => {
            let id = Id::new(id.as_str()).ok()?;
            shared.trust().roster().person(&id).cloned()
        }
        Identity::Node(_) => None,
    }
}

async fn handle(
    shared: &Arc<Shared>,
    who: &Identity,
    request: Message,
    send: &mut quinn::SendStream,
) -> Option<Message> {
    if let Message::Status = request {
        // Only listed, unrevoked nodes and people; counts and peers only for
        // nodes and administrators.
        return Some(match crate::status::report_for(shared, who) {
            Ok(report) => Message::StatusReport {
                json: report.to_string(),
            },
            Err(reason) => error(code::FORBIDDEN, reason),
        });
    }
    if let Message::Roster { document } = request {
        return Some(crate::status::roster_exchange(shared, who, document).await);
    }
    let Some(me) = person(shared, who) else {
        // Not (yet) in this node's roster: the only thing to do is to
        // deliver a newer roster, which is checked against the root key.
        if let Message::Submit { document } = request {
            // Decoding hashes up to a whole document: not on this thread.
            let is_roster = tokio::task::spawn_blocking(move || {
                let roster = Document::decode(&document)
                    .is_ok_and(|d| d.kind() == chapar_proto::Kind::Roster);
                (roster, document)
            })
            .await;
            if let Ok((true, document)) = is_roster {
                return Some(submit_as(shared, Source::Client(anonymous(who)), document).await);
            }
        }
        return Some(error(
            code::FORBIDDEN,
            format!("{who} is not in this node's roster; submit a newer roster first"),
        ));
    };
    match request {
        Message::Submit { document } => Some(submit(shared, &me, document).await),
        Message::Fetch { id } => Some(fetch(shared, me, id).await),
        Message::List {
            kind,
            from_ms,
            to_ms,
            limit,
            newest_first,
        } => {
            let query = ListQuery {
                kind,
                from_ms,
                to_ms,
                limit,
                newest_first,
            };
            Some(list(shared, who, me, query).await)
        }
        Message::Subscribe { kinds } => {
            subscribe(shared, &me, kinds, send).await;
            None
        }
        Message::Search { request } => Some(search(shared, me, request).await),
        other => Some(error(
            code::BAD_REQUEST,
            format!("{} is not a request", other.name()),
        )),
    }
}

/// How long a search waits for a free core before the node says it is busy.
const SEARCH_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs a search as `me`: the index restricts matches, counts, facets and
/// snippets to what they may read.
async fn search(shared: &Arc<Shared>, me: Person, request: String) -> Message {
    let req: chapar_search::SearchRequest = match serde_json::from_str(&request) {
        Ok(r) => r,
        Err(e) => return error(code::BAD_REQUEST, format!("search request: {e}")),
    };
    let Some(search) = shared.search.get() else {
        return error(
            code::INTERNAL,
            "the search index is not open yet; try again",
        );
    };
    // Searches share the blocking pool and the cores with ingest: at most
    // one per core at a time; others wait a little, then are told to retry.
    let index = search.index.clone();
    let permit = match tokio::time::timeout(SEARCH_QUEUE_WAIT, search.running.acquire()).await {
        Ok(Ok(p)) => p,
        _ => {
            return error(
                code::BUSY,
                "the node is busy with other searches; try again in a moment",
            );
        }
    };
    let out = tokio::task::spawn_blocking(move || index.search(&req, &me)).await;
    drop(permit);
    match out {
        Ok(Ok(resp)) => match serde_json::to_string(&resp) {
            Ok(json) => Message::SearchResults { json },
            Err(e) => error(code::INTERNAL, e.to_string()),
        },
        Ok(Err(
            e @ (chapar_search::SearchError::Query(_) | chapar_search::SearchError::Request(_)),
        )) => error(code::BAD_REQUEST, e.to_string()),
        Ok(Err(e)) => {
            warn!("search failed: {e}");
            error(code::INTERNAL, e.to_string())
        }
        Err(e) => error(code::INTERNAL, e.to_string()),
    }
}

fn anonymous(who: &Identity) -> Id {
    Id::new(who.id()).unwrap_or_else(|_| Id::new("unknown").expect("valid id"))
}

async fn submit(shared: &Arc<Shared>, me: &Person, document: Vec<u8>) -> Message {
    submit_as(shared, Source::Client(me.id.clone()), document).await
}

async fn submit_as(shared: &Arc<Shared>, source: Source, document: Vec<u8>) -> Message {
    let sh = shared.clone();
    let out = match tokio::task::spawn_blocking(move || sh.ingest(vec![document], &source)).await {
        Ok(out) => out,
        Err(e) => return error(code::INTERNAL, e.to_string()),
    };
    if let Some(id) = out.new.first() {
        Message::Submitted { id: *id, new: true }
    } else if let Some(id) = out.duplicates.first() {
        Message::Submitted {
            id: *id,
            new: false,
        }
    } else {
        let reason = out
            .refused
            .first()
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| "refused".into());
        error(code::REFUSED, reason)
    }
}

/// One document, read and checked on the blocking threads (a document is
/// up to 16 MiB: reading and hashing it is not work for an async thread).
async fn fetch(shared: &Arc<Shared>, me: Person, id: DocId) -> Message {
    let sh = shared.clone();
    let found = tokio::task::spawn_blocking(move || {
        sh.store
            .get(&id)
            .map(|doc| doc.filter(|d| person_may_read(&me, d)))
    })
    .await;
    match found {
        Ok(Ok(Some(doc))) => Message::Documents {
            documents: vec![doc.into_bytes()],
        },
        Ok(Ok(None)) => error(code::NOT_FOUND, format!("no document {id} here")),
        Ok(Err(e)) => error(code::INTERNAL, e.to_string()),
        Err(e) => error(code::INTERNAL, e.to_string()),
    }
}

/// A `List` request's parameters.
#[derive(Debug, Clone, Copy)]
struct ListQuery {
    kind: Option<chapar_proto::Kind>,
    from_ms: u64,
    to_ms: u64,
    limit: u32,
    newest_first: bool,
}

/// A listing, one at a time per identity, on the blocking threads.
async fn list(shared: &Arc<Shared>, who: &Identity, me: Person, query: ListQuery) -> Message {
    let slot = match shared.limiter.listing(who) {
        Ok(slot) => slot,
        Err(reason) => return busy(reason).await,
    };
    let sh = shared.clone();
    let out = tokio::task::spawn_blocking(move || {
        // Released when the work ends, whatever happens to the request.
        let _slot = slot;
        listing(&sh, &me, query, &sh.limiter.limits)
    })
    .await;
    out.unwrap_or_else(|e| error(code::INTERNAL, e.to_string()))
}

/// The entries of `query` that `me` may read. The index says each
/// document's kind and routing: what the routing rules out is skipped
/// without reading the document; the rest is read and judged by
/// [`person_may_read`] (the caption is not in the routing). Hidden
/// documents neither show nor count. The work is bounded by
/// `limits.list_examined` entries and `limits.request_time_ms`; a listing
/// that reaches either before its end is refused, whatever the entries
/// were, and asked to narrow its range. Blocking.
fn listing(shared: &Shared, me: &Person, q: ListQuery, limits: &Limits) -> Message {
    let limit = (q.limit as usize).min(MAX_LISTING);
    let order = if q.newest_first {
        Order::NewestFirst
    } else {
        Order::OldestFirst
    };
    let started = Instant::now();
    let budget = Duration::from_millis(limits.request_time_ms);
    let mut entries = Vec::new();
    let mut examined = 0u64;
    if limit == 0 {
        return Message::Listing { entries };
    }
    for item in shared.store.list_routed(q.kind, q.from_ms..=q.to_ms, order) {
        let item = match item {
            Ok(item) => item,
            Err(e) => return error(code::INTERNAL, e.to_string()),
        };
        examined += 1;
        if examined > limits.list_examined || started.elapsed() > budget {
            return error(
                code::BUSY,
                format!(
                    "this listing examined {} entries in {} ms without reaching the end of its \
                     range (a listing may examine {} entries and take {} ms); list a shorter \
                     time range (--since, --until) or one kind (--kind)",
                    examined - 1,
                    started.elapsed().as_millis(),
                    limits.list_examined,
                    limits.request_time_ms
                ),
            );
        }
        if !person_may_reach(me, &item.routing) {
            continue;
        }
        match shared.store.get(&item.id) {
            Ok(Some(doc)) if person_may_read(me, &doc) => entries.push(Listed {
                created_ms: item.created_ms,
                id: item.id,
                kind: item.kind,
            }),
            Ok(_) => {}
            Err(e) => return error(code::INTERNAL, e.to_string()),
        }
        if entries.len() == limit {
            break;
        }
    }
    Message::Listing { entries }
}

async fn subscribe(
    shared: &Arc<Shared>,
    me: &Person,
    kinds: Vec<chapar_proto::Kind>,
    send: &mut quinn::SendStream,
) {
    let mut live = shared.live.subscribe();
    let mut shutdown = shared.shutdown.clone();
    loop {
        let l = tokio::select! {
            l = live.recv() => l,
            _ = shutdown.changed() => return,
        };
        let l = match l {
            Ok(l) => l,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                warn!(person = %me.id, "subscriber fell {n} documents behind");
                let _ = frames::write(
                    send,
                    &error(
                        code::INTERNAL,
                        format!("fell {n} documents behind; list to catch up"),
                    ),
                )
                .await;
                return;
            }
            Err(_) => return,
        };
        let doc: &Document = &l.doc;
        if (!kinds.is_empty() && !kinds.contains(&doc.kind())) || !person_may_read(me, doc) {
            continue;
        }
        // A person revoked while subscribed stops receiving at once.
        if shared
            .admit_identity(&Identity::User(me.id.to_string()))
            .is_err()
        {
            return;
        }
        let m = Message::Documents {
            documents: vec![doc.as_bytes().to_vec()],
        };
        if frames::write(send, &m).await.is_err() {
            return;
        }
    }
}
