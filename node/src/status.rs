//! The node's status report (identity, roster, counts, peers, certificates
//! and their expiry), who may see how much of it, and the roster a client
//! takes home from its node.
//!
//! Nodes and administrators (people with the `admin` role) get the full
//! report. Anyone else gets their node's reachability only: its id and
//! mission, the roster version, and warnings about what would cut them off
//! (the node's certificate, the CA, the CRL) — never document counts, peers
//! or traffic, which tell what a mission holds and whom it talks to.

use std::sync::Arc;

use chapar_certs::Identity;
use chapar_certs::expiry::{Due, due};
use chapar_proto::wire::{Message, code};
use chapar_proto::{Id, Role};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::state::{Shared, Source};

/// Something that expires soon (within 14 days) or has expired, and what to
/// do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What expires, e.g. "certificate of node hub (serial 3)".
    pub subject: String,
    /// Whether it concerns only administrators (a peer's certificate).
    pub peer: bool,
    /// When it runs out, and how far away that is.
    pub due: Due,
    /// What the operator should do.
    pub action: String,
}

impl Warning {
    /// One line for a log or a terminal.
    pub fn line(&self) -> String {
        let when = rfc3339(self.due.at);
        let state = if self.due.expired {
            format!("EXPIRED at {when}")
        } else {
            format!("expires at {when} (in {} days)", self.due.days_left)
        };
        format!("{} {state}: {}", self.subject, self.action)
    }

    /// The warning as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "subject": self.subject,
            "not_after": rfc3339(self.due.at),
            "days_left": self.due.days_left,
            "expired": self.due.expired,
            "action": self.action,
            "message": self.line(),
        })
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// What expires, and when, on this node: its own certificate, the CA, the
/// CRL in force, and the certificates of the peer nodes connected now.
struct Expiries {
    own: Option<(u64, OffsetDateTime)>,
    ca: Option<OffsetDateTime>,
    crl: Option<(Option<u64>, Option<OffsetDateTime>)>,
    peers: Vec<(String, u64, OffsetDateTime)>,
}

fn expiries(shared: &Shared) -> Expiries {
    let tls = shared.tls_now();
    let own = chapar_certs::read_cert_pem(&tls.cert_pem, "own certificate")
        .ok()
        .and_then(|der| chapar_certs::peer_identity(&der).ok())
        .map(|p| (p.serial, p.not_after));
    let ca = chapar_certs::expiry::cert_not_after(&tls.ca_pem, "CA certificate").ok();
    let crl = tls
        .crl_pems
        .first()
        .and_then(|pem| chapar_certs::expiry::crl_next_update(pem, "CRL").ok());
    let mut peers: Vec<(String, u64, OffsetDateTime)> = {
        let conns = shared.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns
            .iter()
            .filter(|c| c.conn.close_reason().is_none() && c.identity.is_node())
            .filter_map(|c| crate::net::identity_of(&c.conn).ok())
            .map(|p| (p.identity.id().to_owned(), p.serial, p.not_after))
            .collect()
    };
    peers.sort();
    peers.dedup();
    Expiries {
        own,
        ca,
        crl,
        peers,
    }
}

/// Everything that expires within 14 days (or has), with what to do.
pub fn warnings(shared: &Shared, now: OffsetDateTime) -> Vec<Warning> {
    let e = expiries(shared);
    let me = shared.me.as_str();
    let mut out = Vec::new();
    if let Some((serial, at)) = e.own
        && let Some(d) = due(at, now)
    {
        out.push(Warning {
            subject: format!("certificate of this node {me} (serial {serial})"),
            peer: false,
            due: d,
            action: format!(
                "ask the ministry administrators for a new one (`chapar admin node renew {me}`), \
                 copy the new node.crt (and node.key) into this node's bundle and restart it; \
                 once it has expired no node or person can connect to this node"
            ),
        });
    }
    if let Some(at) = e.ca
        && let Some(d) = due(at, now)
    {
        out.push(Warning {
            subject: "ministry CA certificate".to_owned(),
            peer: false,
            due: d,
            action: "the ministry administrators must put a new CA in place before then; \
                     once it has expired no handshake succeeds anywhere"
                .to_owned(),
        });
    }
    if let Some((number, next)) = e.crl {
        let number = number.map_or_else(|| "the CRL".to_owned(), |n| format!("CRL #{n}"));
        if let Some(d) = next.and_then(|at| due(at, now)) {
            out.push(Warning {
                subject: format!("{number} in force (next update)"),
                peer: false,
                due: d,
                action: "the ministry administrators must issue a fresh one \
                         (`chapar admin crl renew`); nodes receive it with the roster. \
                         A stale CRL still blocks every certificate it lists and \
                         locks no one out"
                    .to_owned(),
            });
        }
    }
    for (id, serial, at) in e.peers {
        if let Some(d) = due(at, now) {
            out.push(Warning {
                subject: format!("certificate of peer node {id} (serial {serial})"),
                peer: true,
                due: d,
                action: format!(
                    "its operator must have it renewed (`chapar admin node renew {id}`) and \
                     install it; once it has expired this node can no longer exchange with it"
                ),
            });
        }
    }
    out
}

/// The full report as JSON (what nodes and administrators see).
pub fn report(shared: &Arc<Shared>) -> Value {
    let trust = shared.trust();
    let peers: Value = match shared.peers.lock() {
        Ok(p) => {
            let mut list: Vec<_> = p.iter().collect();
            list.sort_by(|a, b| a.0.cmp(b.0));
            Value::Array(
                list.into_iter()
                    .map(|(id, s)| {
                        let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
                        if let Value::Object(o) = &mut v {
                            o.insert("id".into(), json!(id));
                            o.insert("sessions".into(), json!(shared.sessions.with(id)));
                        }
                        v
                    })
                    .collect(),
            )
        }
        Err(_) => Value::Null,
    };
    let me = trust.roster().node(&shared.me);
    let search = shared.search.get().map(|s| {
        use std::sync::atomic::Ordering;
        json!({
            "entries": s.index.entries(),
            "segments": s.index.segments(),
            "caught_up": s.status.caught_up.load(Ordering::Relaxed),
            "waiting_for_catch_up": s.status.deferred.load(Ordering::Relaxed),
            "scanned_since_start": s.status.scanned.load(Ordering::Relaxed),
            "rebuilt": s.status.rebuilt.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            "failed": s.status.failed.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        })
    });
    let now = OffsetDateTime::now_utc();
    let e = expiries(shared);
    let certificates = json!({
        "node": e.own.map(|(serial, at)| json!({"serial": serial, "not_after": rfc3339(at)})),
        "ca": e.ca.map(|at| json!({"not_after": rfc3339(at)})),
        "crl": e.crl.map(|(number, next)| json!({
            "number": number,
            "next_update": next.map(rfc3339),
            "stale": next.is_none_or(|n| n <= now),
        })),
        "peers": e.peers.iter().map(|(id, serial, at)| json!({
            "id": id, "serial": serial, "not_after": rfc3339(*at),
        })).collect::<Vec<_>>(),
    });
    let warnings: Vec<Value> = warnings(shared, now).iter().map(Warning::to_json).collect();
    json!({
        "node": shared.me.as_str(),
        "mission": shared.cfg.mission,
        "role": me.map(|n| n.role.as_str()),
        "accreditation": me.map(|n| n.accreditation.as_str()),
        "listen": shared.cfg.listen.to_string(),
        "udp_receive_buffer": shared.udp_buffer.load(std::sync::atomic::Ordering::Relaxed),
        "roster_version": trust.roster().version,
        "documents": shared.store.len(),
        "documents_set_aside": shared.store.voided(),
        "peers": peers,
        "search": search,
        "certificates": certificates,
        "warnings": warnings,
    })
}

/// What a person without the `admin` role sees: whether their node is
/// reachable (it answered), which node, the roster version, and the
/// warnings that concern them (not about peers).
pub fn person_report(shared: &Arc<Shared>) -> Value {
    let warnings: Vec<Value> = warnings(shared, OffsetDateTime::now_utc())
        .iter()
        .filter(|w| !w.peer)
        .map(Warning::to_json)
        .collect();
    json!({
        "audience": "person",
        "node": shared.me.as_str(),
        "mission": shared.cfg.mission,
        "reachable": true,
        "roster_version": shared.trust().roster().version,
        "warnings": warnings,
    })
}

/// The report `who` may see: full for nodes and administrators, the
/// person's view for everyone else; refused for anyone the roster does not
/// admit (unlisted or revoked).
pub fn report_for(shared: &Arc<Shared>, who: &Identity) -> Result<Value, String> {
    shared.admit_identity(who)?;
    let admin = match who {
        Identity::Node(_) => Some("node"),
        Identity::User(id) => {
            let id = Id::new(id.as_str()).map_err(|e| e.to_string())?;
            shared
                .trust()
                .roster()
                .person(&id)
                .filter(|p| p.roles.has(Role::Admin))
                .map(|_| "administrator")
        }
    };
    Ok(match admin {
        Some(audience) => {
            let mut v = report(shared);
            if let Value::Object(o) = &mut v {
                o.insert("audience".into(), json!(audience));
            }
            v
        }
        None => person_report(shared),
    })
}

/// RPC `Roster`: a client hands over the roster it holds (applied if newer,
/// so a person the node does not know yet can bring the roster that lists
/// them) and gets the node's roster in force — with the CRL inside it —
/// to refresh its bundle. Only a listed, unrevoked node or person gets it.
pub async fn roster_exchange(shared: &Arc<Shared>, who: &Identity, document: Vec<u8>) -> Message {
    let error = |code, message: String| Message::Error { code, message };
    if !document.is_empty() {
        match chapar_proto::Document::decode(&document) {
            Ok(d) if d.kind() == chapar_proto::Kind::Roster => {}
            Ok(d) => {
                return error(
                    code::BAD_REQUEST,
                    format!("a Roster request carries a roster, not a {}", d.kind()),
                );
            }
            Err(e) => return error(code::BAD_REQUEST, format!("malformed roster: {e}")),
        }
        let source = Source::Client(
            Id::new(who.id()).unwrap_or_else(|_| Id::new("unknown").expect("a valid id")),
        );
        let sh = shared.clone();
        let out =
            match tokio::task::spawn_blocking(move || sh.ingest(vec![document], &source)).await {
                Ok(out) => out,
                Err(e) => return error(code::INTERNAL, e.to_string()),
            };
        if let Some((_, reason)) = out.refused.first() {
            return error(code::REFUSED, format!("your roster was refused: {reason}"));
        }
    }
    if let Err(reason) = shared.admit_identity(who) {
        return error(code::FORBIDDEN, reason);
    }
    Message::Roster {
        document: shared.roster_doc().into_bytes(),
    }
}
