//! Client requests on a node: submit, fetch, list, subscribe, search, status. One
//! request per stream. A person only ever receives documents they may read
//! (`person_may_read`): a document they may not see is reported as not
//! found, never as forbidden, so its existence does not leak.

use std::sync::Arc;

use chapar_certs::Identity;
use chapar_proto::access::person_may_read;
use chapar_proto::wire::{Listed, MAX_LISTING, Message, code};
use chapar_proto::{Document, Id, Person};
use tracing::{debug, warn};

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
    let answers = handle(&shared, &who, request, &mut send).await;
    if let Some(m) = answers {
        if let Err(e) = frames::write(&mut send, &m).await {
            debug!(%who, "rpc answer not delivered: {e}");
        }
    }
    let _ = send.finish();
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
            let is_roster = Document::decode(&document)
                .map(|d| d.kind() == chapar_proto::Kind::Roster)
                .unwrap_or(false);
            if is_roster {
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
        Message::Fetch { id } => Some(match shared.store.get(&id) {
            Ok(Some(doc)) if person_may_read(&me, &doc) => Message::Documents {
                documents: vec![doc.into_bytes()],
            },
            Ok(_) => error(code::NOT_FOUND, format!("no document {id} here")),
            Err(e) => error(code::INTERNAL, e.to_string()),
        }),
        Message::List {
            kind,
            from_ms,
            to_ms,
            limit,
            newest_first,
        } => Some(list(shared, &me, kind, from_ms, to_ms, limit, newest_first)),
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
                code::INTERNAL,
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

fn list(
    shared: &Shared,
    me: &Person,
    kind: Option<chapar_proto::Kind>,
    from_ms: u64,
    to_ms: u64,
    limit: u32,
    newest_first: bool,
) -> Message {
    let limit = (limit as usize).min(MAX_LISTING);
    let order = if newest_first {
        Order::NewestFirst
    } else {
        Order::OldestFirst
    };
    // Filter as we go: ask the store for more than `limit` and keep what
    // the person may read, so hidden documents neither show nor count.
    let mut entries = Vec::new();
    let mut cursor_from = from_ms;
    let mut cursor_to = to_ms;
    loop {
        let page = match shared
            .store
            .list(kind, cursor_from..=cursor_to, limit * 2 + 16, order)
        {
            Ok(p) => p,
            Err(e) => return error(code::INTERNAL, e.to_string()),
        };
        let exhausted = page.len() < limit * 2 + 16;
        let mut last_ts = None;
        for (ts, id) in page {
            last_ts = Some(ts);
            match shared.store.get(&id) {
                Ok(Some(doc)) if person_may_read(me, &doc) => {
                    if !entries.iter().any(|e: &Listed| e.id == id) {
                        entries.push(Listed {
                            created_ms: ts,
                            id,
                            kind: doc.kind(),
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => return error(code::INTERNAL, e.to_string()),
            }
            if entries.len() == limit {
                return Message::Listing { entries };
            }
        }
        // The next page starts at the last timestamp seen (documents may
        // share it; duplicates are skipped above). If a whole page shared
        // one timestamp the cursor cannot move: step past it, so the loop
        // always ends.
        match (exhausted, last_ts) {
            (false, Some(ts)) if newest_first => {
                cursor_to = if ts == cursor_to {
                    match ts.checked_sub(1) {
                        Some(t) if t >= cursor_from => t,
                        _ => return Message::Listing { entries },
                    }
                } else {
                    ts
                };
            }
            (false, Some(ts)) => {
                cursor_from = if ts == cursor_from {
                    match ts.checked_add(1) {
                        Some(t) if t <= cursor_to => t,
                        _ => return Message::Listing { entries },
                    }
                } else {
                    ts
                };
            }
            _ => return Message::Listing { entries },
        }
    }
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
