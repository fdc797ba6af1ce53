//! End to end: bundles written by the real `chapar admin` binary drive a mutually
//! authenticated QUIC handshake, and `chapar admin revoke` + the ministry's new CRL shut a
//! user out.
//!
//! As in tests/tests/tls_quic.rs: the client's `connect` can finish before the server has
//! checked the client certificate (TLS 1.3), so success means an application echo over a
//! bidirectional stream, and refusal means the echo fails *and* the server reports a failed
//! handshake. Every wait is bounded by a 10 s timeout.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chapar_certs::{ALPN, TlsMaterials, client_config, server_config};
use chapar_node::config::NodeConfig;
use common::*;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Endpoint, Incoming};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const PING: &[u8] = b"chapar bundle echo";

#[derive(Debug)]
enum Event {
    Accepted { uri: String, serial: u64 },
    Failed(String),
}

fn server_crypto(node_toml: &Path, crl: &Path) -> quinn::ServerConfig {
    let cfg = NodeConfig::load(node_toml).expect("node.toml");
    let m = TlsMaterials::from_files(&cfg.tls.ca, &cfg.tls.cert, &cfg.tls.key, &[crl])
        .expect("hub TLS files");
    let rustls_cfg = server_config(&m, &[ALPN]).expect("server config");
    quinn::ServerConfig::with_crypto(Arc::new(
        QuicServerConfig::try_from(Arc::new(rustls_cfg)).expect("QUIC server config"),
    ))
}

fn client_crypto(bundle: &Path) -> quinn::ClientConfig {
    let m = TlsMaterials::from_files(
        &bundle.join("ca.crt"),
        &bundle.join("user.crt"),
        &bundle.join("user.key"),
        &[&bundle.join("crl.pem")],
    )
    .expect("user TLS files");
    let cfg = client_config(&m, &[ALPN]).expect("client config");
    quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(Arc::new(cfg)).expect("QUIC client config"),
    ))
}

async fn handle(incoming: Incoming, tx: mpsc::UnboundedSender<Event>) {
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Event::Failed(e.to_string()));
            return;
        }
    };
    let peer = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|chain| chain.first().map(|c| chapar_certs::peer_identity(c)));
    let event = match peer {
        Some(Ok(p)) => Event::Accepted {
            uri: p.identity.uri(),
            serial: p.serial,
        },
        Some(Err(e)) => Event::Failed(format!("unmapped peer certificate: {e}")),
        None => Event::Failed("no peer certificate".into()),
    };
    let _ = tx.send(event);
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let Ok(data) = recv.read_to_end(64 * 1024).await else {
            break;
        };
        if send.write_all(&data).await.is_err() || send.finish().is_err() {
            break;
        }
    }
}

/// Connects to `addr` as `server_name`, sends PING and reads the echo.
async fn echo(
    cfg: &quinn::ClientConfig,
    addr: SocketAddr,
    server_name: &str,
) -> Result<(), String> {
    let ep = Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("client bind");
    let attempt = async {
        let conn = ep
            .connect_with(cfg.clone(), addr, server_name)
            .map_err(|e| format!("connect: {e}"))?
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let result = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| format!("open_bi: {e}"))?;
            send.write_all(PING)
                .await
                .map_err(|e| format!("write: {e}"))?;
            send.finish().map_err(|e| format!("finish: {e}"))?;
            let back = recv
                .read_to_end(1024)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if back != PING {
                return Err(format!("echo mismatch: {back:?}"));
            }
            Ok(())
        }
        .await;
        conn.close(0u32.into(), b"done");
        result
    };
    let r = timeout(WAIT, attempt)
        .await
        .expect("the client neither completed the echo nor saw the connection close within 10 s");
    ep.wait_idle().await;
    r
}

async fn next_event(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    timeout(WAIT, events.recv())
        .await
        .expect("the server reported nothing within 10 s")
        .expect("server loop ended")
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_handshake_and_revocation_shuts_the_user_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let endpoint = format!("127.0.0.1:{}", free_udp_port());
    populated(&dir, &endpoint); // hub at `endpoint`, user amina
    let bobur = admin_json(
        &dir,
        &[
            "user",
            "add",
            "--id",
            "bobur",
            "--name",
            "Bobur",
            "--mission",
            "mfa",
        ],
    )
    .ok()
    .json();
    let bobur_serial = serials(&bobur)[0];
    let hub = dir.join("nodes/hub");
    let amina = dir.join("users/amina");
    let amina_serial = cert_identity(&amina.join("user.crt")).serial;

    // The user's client is told to talk to the hub at its endpoint; the hub's certificate
    // carries the endpoint's IP, which is what the client checks it against.
    let ucfg: toml::Table =
        toml::from_str(&std::fs::read_to_string(amina.join("user.toml")).unwrap()).unwrap();
    assert_eq!(ucfg["node_address"].as_str(), Some(endpoint.as_str()));
    let server_name = endpoint.rsplit_once(':').unwrap().0.to_owned();

    // The hub serves with its bundle exactly as written (its own CRL copy).
    let hub_toml = hub.join("node.toml");
    let server = Endpoint::server(
        server_crypto(&hub_toml, &hub.join("crl.pem")),
        "127.0.0.1:0".parse().unwrap(),
    )
    .expect("server bind");
    let addr = server.local_addr().unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let ep = server.clone();
    tokio::spawn(async move {
        while let Some(incoming) = ep.accept().await {
            tokio::spawn(handle(incoming, tx.clone()));
        }
    });

    let amina_client = client_crypto(&amina);
    let bobur_client = client_crypto(&dir.join("users/bobur"));
    echo(&amina_client, addr, &server_name)
        .await
        .expect("amina refused before any revocation");
    match next_event(&mut events).await {
        Event::Accepted { uri, serial } => {
            assert_eq!(uri, "urn:chapar:user:amina");
            assert_eq!(serial, amina_serial);
        }
        Event::Failed(e) => panic!("server refused amina: {e}"),
    }

    // The client really checks the name: the hub certificate has no DNS name "localhost".
    let err = echo(&amina_client, addr, "localhost")
        .await
        .expect_err("the client accepted a server certificate for the wrong name");
    assert!(err.contains("handshake"), "{err}");
    let _ = next_event(&mut events).await; // the aborted handshake, as the server saw it

    // Revoke amina with the real binary; the hub takes the ministry's new CRL.
    let out = admin_json(&dir, &["revoke", "user", "amina", "--reason", "test"])
        .ok()
        .json();
    assert_eq!(serials(&out), vec![amina_serial]);
    server.set_server_config(Some(server_crypto(&hub_toml, &dir.join("crl.pem"))));

    let err = echo(&amina_client, addr, &server_name)
        .await
        .expect_err("revoked amina still got an echo");
    match next_event(&mut events).await {
        Event::Failed(e) => assert!(e.contains("Revoked"), "server error: {e} / client: {err}"),
        Event::Accepted { uri, .. } => panic!("server accepted {uri} after revocation"),
    }

    // Someone not revoked still gets in under the new CRL.
    echo(&bobur_client, addr, &server_name)
        .await
        .expect("bobur refused under the new CRL");
    match next_event(&mut events).await {
        Event::Accepted { uri, serial } => {
            assert_eq!(uri, "urn:chapar:user:bobur");
            assert_eq!(serial, bobur_serial);
        }
        Event::Failed(e) => panic!("server refused bobur: {e}"),
    }
    server.close(0u32.into(), b"");
    timeout(WAIT, server.wait_idle())
        .await
        .expect("server idle");
}
