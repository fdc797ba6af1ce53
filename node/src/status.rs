//! The node's status report: identity, roster, document count, peers.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::state::Shared;

/// The report as JSON (what `chapar-node status` and `chapar status` show).
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
    json!({
        "node": shared.me.as_str(),
        "mission": shared.cfg.mission,
        "role": me.map(|n| n.role.as_str()),
        "accreditation": me.map(|n| n.accreditation.as_str()),
        "listen": shared.cfg.listen.to_string(),
        "udp_receive_buffer": shared.udp_buffer.load(std::sync::atomic::Ordering::Relaxed),
        "roster_version": trust.roster().version,
        "documents": shared.store.len(),
        "peers": peers,
        "search": search,
    })
}
