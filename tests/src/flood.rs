//! The misbehaving insiders of `tests/stall.rs` and `benches/flood.rs`
//! (ADR 0019), written as an attacker's own program would be: raw QUIC
//! connections with a valid certificate, frames written by hand.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use chapar_proto::reconcile::{Item, ReconcileConfig, Reconciler, Tree};
use chapar_proto::wire::{Message, PROTOCOL_VERSION};
use chapar_proto::{Body, Caption, Classification, DocId, Document, Id, PageId, WikiRevision};

use crate::User;

/// A frame header announcing 16,842,751 bytes, just under the maximum.
pub const HUGE_HEADER: [u8; 4] = 0x0100_FFFFu32.to_be_bytes();

/// Page `n` (its number in the first 8 bytes of the id), signed by `user`
/// at `at`: the honest and hidden pages both floods index.
pub fn page(
    user: &User,
    n: u64,
    at: u64,
    c: Classification,
    caption: Option<&str>,
    body: &str,
) -> Document {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    Document::sign(
        &user.key,
        at,
        Body::WikiRevision(WikiRevision {
            page: PageId(id),
            parents: vec![],
            title: format!("Page {n}"),
            classification: c,
            caption: caption.map(|c| Caption::new(c).expect("caption")),
            body: body.into(),
            summary: String::new(),
        }),
    )
    .expect("sign")
}

/// The QUIC client configuration of a person's or node's bundle.
pub fn client_config(bundle: &Path) -> Result<quinn::ClientConfig> {
    let pick = |names: [&str; 2]| {
        names
            .iter()
            .map(|n| bundle.join(n))
            .find(|p| p.exists())
            .with_context(|| format!("none of {names:?} in {}", bundle.display()))
    };
    let tls = chapar_certs::TlsMaterials::from_files(
        &bundle.join("ca.crt"),
        &pick(["user.crt", "node.crt"])?,
        &pick(["user.key", "node.key"])?,
        &[bundle.join("crl.pem").as_path()],
    )?;
    Ok(chapar_node::net::client_config(&tls)?)
}

/// A client endpoint on loopback address `ip` (any `127.x.y.z` works on
/// Linux), so each attacker has its own address, as on a real network.
pub fn endpoint(ip: &str) -> Result<quinn::Endpoint> {
    Ok(quinn::Endpoint::client(format!("{ip}:0").parse()?)?)
}

/// A raw connection (handshake within 10 s), or `None`.
pub async fn raw_connect(
    endpoint: &quinn::Endpoint,
    cfg: &quinn::ClientConfig,
    addr: SocketAddr,
) -> Option<quinn::Connection> {
    let connecting = endpoint
        .connect_with(cfg.clone(), addr, &addr.ip().to_string())
        .ok()?;
    tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .ok()?
        .ok()
}

/// Why the node closed the connection, if it did within `limit`.
pub async fn closed_within(
    conn: &quinn::Connection,
    limit: Duration,
) -> Option<quinn::ConnectionError> {
    tokio::time::timeout(limit, conn.closed()).await.ok()
}

/// One request on a new stream; `None` if unanswered within `limit`.
pub async fn ask(conn: &quinn::Connection, m: &Message, limit: Duration) -> Option<Message> {
    tokio::time::timeout(limit, async {
        let (mut send, mut recv) = conn.open_bi().await.ok()?;
        chapar_node::frames::write(&mut send, m).await.ok()?;
        let _ = send.finish();
        chapar_node::frames::read(&mut recv).await.ok()
    })
    .await
    .ok()
    .flatten()
}

/// Opens streams on `conn` until the node lets it open no more (none
/// within 500 ms, or `max`), writing `bytes` on each and nothing else.
pub async fn stuck_streams(
    conn: &quinn::Connection,
    bytes: &[u8],
    max: usize,
) -> Vec<(quinn::SendStream, quinn::RecvStream)> {
    let mut streams = Vec::new();
    while streams.len() < max {
        let Ok(Ok((mut send, recv))) =
            tokio::time::timeout(Duration::from_millis(500), conn.open_bi()).await
        else {
            break;
        };
        if send.write_all(bytes).await.is_err() {
            break;
        }
        streams.push((send, recv));
    }
    streams
}

/// What [`connection_churn`] saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct Churn {
    /// Connections attempted.
    pub attempts: u64,
    /// Handshakes that completed.
    pub connected: u64,
    /// Of those, connections the node closed within 2 s.
    pub closed: u64,
}

/// Connects from `ep` again and again, `parallel` attempts at a time,
/// until `stop`; each connection is closed by us after 2 s if the node has
/// not closed it by then.
pub async fn connection_churn(
    ep: quinn::Endpoint,
    cfg: quinn::ClientConfig,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    parallel: usize,
) -> Churn {
    let tasks: Vec<_> = (0..parallel.max(1))
        .map(|_| {
            let (ep, cfg, stop) = (ep.clone(), cfg.clone(), stop.clone());
            tokio::spawn(async move {
                let mut churn = Churn::default();
                while !stop.load(Ordering::Relaxed) {
                    churn.attempts += 1;
                    if let Some(c) = raw_connect(&ep, &cfg, addr).await {
                        churn.connected += 1;
                        if closed_within(&c, Duration::from_secs(2)).await.is_some() {
                            churn.closed += 1;
                        }
                        c.close(0u32.into(), b"again");
                    }
                }
                churn
            })
        })
        .collect();
    let mut all = Churn::default();
    for t in tasks {
        if let Ok(c) = t.await {
            all.attempts += c.attempts;
            all.connected += c.connected;
            all.closed += c.closed;
        }
    }
    all
}

/// What a flood of requests got back.
#[derive(Debug, Default)]
pub struct Answers {
    /// Answered with the asked-for kind of message.
    pub answered: AtomicU64,
    /// Refused as busy (`code::BUSY`).
    pub busy: AtomicU64,
    /// Anything else (another error, no answer within 30 s).
    pub other: AtomicU64,
}

/// Sends `request` over and over from `tasks` concurrent tasks on `conn`
/// until `stop`, counting the answers; each answer that is not an error
/// is also given to `check`.
pub fn request_flood(
    conn: &quinn::Connection,
    request: Message,
    tasks: usize,
    stop: &Arc<AtomicBool>,
    answers: &Arc<Answers>,
    check: Arc<dyn Fn(&Message) + Send + Sync>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..tasks)
        .map(|_| {
            let (conn, request, stop, answers, check) = (
                conn.clone(),
                request.clone(),
                stop.clone(),
                answers.clone(),
                check.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match ask(&conn, &request, Duration::from_secs(30)).await {
                        Some(Message::Error { code, .. })
                            if code == chapar_proto::wire::code::BUSY =>
                        {
                            answers.busy.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Message::Error { .. }) => {
                            answers.other.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(m) => {
                            check(&m);
                            answers.answered.fetch_add(1, Ordering::Relaxed);
                        }
                        None => {
                            answers.other.fetch_add(1, Ordering::Relaxed);
                            if conn.close_reason().is_some() {
                                return;
                            }
                        }
                    }
                }
            })
        })
        .collect()
}

fn roster_version(doc: &Document) -> u64 {
    match doc.body() {
        Body::Roster(r) => r.version,
        _ => 0,
    }
}

/// What [`reconcile_loop`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reconciled {
    /// Replication sessions opened.
    pub sessions: u64,
    /// Reconciliation messages written (the node reads them at its pace).
    pub sent: u64,
    /// Reconciliation answers received.
    pub answered: u64,
}

/// A peer with node `node`'s valid certificate that opens a replication
/// session with the node at `addr` (from `ep`) and sends reconciliation
/// messages as fast as the node takes them — a whole-range empty id list
/// (the node must walk its whole set and queue every document for it)
/// alternating with a message of fingerprints that all mismatch —
/// counting the answers and dropping whatever else comes back, and
/// reconnecting whenever the session ends, until `stop`.
pub async fn reconcile_loop(
    ep: quinn::Endpoint,
    roster: Document,
    bundle: &Path,
    addr: SocketAddr,
    node: &str,
    stop: Arc<AtomicBool>,
) -> Result<Reconciled> {
    let empty = Reconciler::new(ReconcileConfig::default()).initiate(&Tree::new());
    let noise: Tree = (0..5_000u64)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.to_le_bytes());
            Item::new(i * 7, DocId(id))
        })
        .collect();
    let fingerprints = Reconciler::new(ReconcileConfig::default()).initiate(&noise);
    let cfg = client_config(bundle)?;
    let hello = Message::Hello {
        protocol: PROTOCOL_VERSION,
        node: Id::new(node)?,
        roster_version: roster_version(&roster),
    };
    let roster = Message::Roster {
        document: roster.into_bytes(),
    };
    let answered = Arc::new(AtomicU64::new(0));
    let mut done = Reconciled::default();
    while !stop.load(Ordering::Relaxed) {
        let Some(conn) = raw_connect(&ep, &cfg, addr).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok((mut send, mut recv)) = conn.open_bi().await else {
            continue;
        };
        if chapar_node::frames::write(&mut send, &hello).await.is_err()
            || chapar_node::frames::write(&mut send, &roster)
                .await
                .is_err()
        {
            continue;
        }
        done.sessions += 1;
        let answers = answered.clone();
        let drain = tokio::spawn(async move {
            while let Ok(m) = chapar_node::frames::read(&mut recv).await {
                if let Message::Reconcile { .. } = m {
                    answers.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        while !stop.load(Ordering::Relaxed) {
            let payload = if done.sent % 2 == 0 {
                &empty
            } else {
                &fingerprints
            };
            let frame = Message::Reconcile {
                payload: payload.clone(),
            };
            // A write waits only while the node holds us back.
            match tokio::time::timeout(
                Duration::from_secs(2),
                chapar_node::frames::write(&mut send, &frame),
            )
            .await
            {
                Ok(Ok(())) => done.sent += 1,
                Ok(Err(_)) => break,
                Err(_) if conn.close_reason().is_some() => break,
                Err(_) => {}
            }
        }
        conn.close(0u32.into(), b"done");
        drain.abort();
    }
    done.answered = answered.load(Ordering::Relaxed);
    Ok(done)
}
