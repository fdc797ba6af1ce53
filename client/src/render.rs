//! How a roster is shown: aligned tables for people, JSON for scripts.

use chapar_proto::{Document, Roster};
use serde_json::{Value, json};

use crate::admin::ministry::rfc3339;

fn ms_text(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(rfc3339)
        .unwrap_or_else(|_| format!("{ms} ms"))
}

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}", w = *w))
            .collect();
        out.push_str("  ");
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Facts about the embedded CRL, for display.
fn crl_summary(roster: &Roster) -> (Option<u64>, Option<String>, usize) {
    match chapar_certs::parse_crl_der(&roster.crl) {
        Ok(info) => (
            info.crl_number,
            info.next_update.map(rfc3339),
            info.revoked.len(),
        ),
        Err(_) => (None, None, 0),
    }
}

/// The roster as aligned text.
pub fn roster_text(doc: &Document, roster: &Roster) -> String {
    let (crl_number, crl_until, crl_revoked) = crl_summary(roster);
    let mut out = format!(
        "{} — roster version {} (signed {} by root {})\nCRL #{} valid until {}, {} certificate(s) revoked\n",
        roster.ministry,
        roster.version,
        ms_text(doc.created_ms()),
        doc.author(),
        crl_number.map_or("-".into(), |n| n.to_string()),
        crl_until.unwrap_or_else(|| "-".into()),
        crl_revoked,
    );
    out.push_str(&format!("\nMissions ({})\n", roster.missions.len()));
    let mut rows = vec![vec![
        "ID".into(),
        "KIND".into(),
        "COUNTRY".into(),
        "NAME".into(),
    ]];
    for m in &roster.missions {
        rows.push(vec![
            m.id.to_string(),
            m.kind.to_string(),
            m.country.to_string(),
            m.name.clone(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push_str(&format!("\nNodes ({})\n", roster.nodes.len()));
    let mut rows = vec![vec![
        "ID".into(),
        "MISSION".into(),
        "ROLE".into(),
        "ACCREDITATION".into(),
        "ENDPOINT".into(),
        "CERTIFICATE".into(),
    ]];
    for n in &roster.nodes {
        rows.push(vec![
            n.id.to_string(),
            n.mission.to_string(),
            n.role.to_string(),
            n.accreditation.to_string(),
            n.endpoint.clone().unwrap_or_else(|| "-".into()),
            n.certificate_uri(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push_str(&format!("\nPeople ({})\n", roster.people.len()));
    let mut rows = vec![vec![
        "ID".into(),
        "MISSION".into(),
        "CLEARANCE".into(),
        "ROLES".into(),
        "CAPTIONS".into(),
        "NAME".into(),
    ]];
    for p in &roster.people {
        let captions: Vec<&str> = p.captions.iter().map(|c| c.as_str()).collect();
        rows.push(vec![
            p.id.to_string(),
            p.mission.to_string(),
            p.clearance.to_string(),
            p.roles.to_string(),
            if captions.is_empty() {
                "-".into()
            } else {
                captions.join(",")
            },
            p.name.clone(),
        ]);
    }
    out.push_str(&table(&rows));
    out.push_str(&format!("\nRevocations ({})\n", roster.revocations.len()));
    if !roster.revocations.is_empty() {
        let mut rows = vec![vec!["SUBJECT".into(), "EFFECTIVE".into(), "REASON".into()]];
        for r in &roster.revocations {
            rows.push(vec![
                r.subject.to_string(),
                if r.effective_ms == 0 {
                    "always (compromised)".into()
                } else {
                    ms_text(r.effective_ms)
                },
                r.reason.clone(),
            ]);
        }
        out.push_str(&table(&rows));
    }
    out
}

/// The roster as JSON.
pub fn roster_json(doc: &Document, roster: &Roster) -> Value {
    let (crl_number, crl_until, _) = crl_summary(roster);
    json!({
        "ministry": roster.ministry,
        "version": roster.version,
        "document_id": doc.id().to_hex(),
        "signed_at_ms": doc.created_ms(),
        "root_key": doc.author().to_hex(),
        "ca_fingerprints": roster.ca_fingerprints.iter().map(hex::encode).collect::<Vec<_>>(),
        "crl": { "number": crl_number, "next_update": crl_until },
        "missions": roster.missions.iter().map(|m| json!({
            "id": m.id.as_str(), "name": m.name, "country": m.country.as_str(), "kind": m.kind.as_str(),
        })).collect::<Vec<_>>(),
        "nodes": roster.nodes.iter().map(|n| json!({
            "id": n.id.as_str(), "mission": n.mission.as_str(), "role": n.role.as_str(),
            "accreditation": n.accreditation.as_str(), "endpoint": n.endpoint,
            "signing_key": n.signing_key.to_hex(), "certificate_uri": n.certificate_uri(),
        })).collect::<Vec<_>>(),
        "people": roster.people.iter().map(|p| json!({
            "id": p.id.as_str(), "name": p.name, "mission": p.mission.as_str(),
            "clearance": p.clearance.as_str(),
            "roles": p.roles.iter().map(|r| r.as_str().to_ascii_lowercase()).collect::<Vec<_>>(),
            "captions": p.captions.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "signing_key": p.signing_key.to_hex(), "certificate_uri": p.certificate_uri(),
        })).collect::<Vec<_>>(),
        "revocations": roster.revocations.iter().map(|r| json!({
            "subject": r.subject.to_string(), "effective_ms": r.effective_ms, "reason": r.reason,
        })).collect::<Vec<_>>(),
    })
}
