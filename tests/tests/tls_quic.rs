//! Mutually authenticated QUIC handshakes between real quinn endpoints on loopback, with
//! configurations built by `chapar-certs`.
//!
//! quinn pitfall: on the client, `connect().await` can succeed before the server has
//! checked the client certificate (TLS 1.3: the client finishes first). So every case
//! requires an application-level echo over a bidirectional stream; "refused" means the echo
//! fails with a connection error (not a timeout) *and* the server reports a failed
//! handshake. Every wait is bounded by a timeout.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chapar_certs::{
    ALPN, Ca, Identity, IssuedCert, KeyAlgorithm, LeafRequest, RevokedCert, TlsMaterials, Validity,
    client_config, peer_identity, server_config,
};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Endpoint, Incoming};
use rustls::client::Resumption;
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: StdDuration = StdDuration::from_secs(10);
const PING: &[u8] = b"chapar echo test";

// ---------------------------------------------------------------- PKI helpers

/// A ministry PKI for one test: CA, a server node, a good user, an empty CRL.
struct Pki {
    ca: Ca,
    node: IssuedCert,
    user: IssuedCert,
}

fn leaf(ca: &Ca, identity: Identity, serial: u64, validity: Validity) -> IssuedCert {
    let is_node = identity.is_node();
    let mut req = LeafRequest::new(identity, serial, validity);
    if is_node {
        req.dns_names = vec!["localhost".into()];
        req.ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    }
    ca.issue(&req).expect("issue leaf")
}

fn pki_with(ca: Ca) -> Pki {
    let node = leaf(
        &ca,
        Identity::node("geneva-pm").unwrap(),
        10,
        // The openssl CA lives 30 days from a moment ago: stay inside it.
        Validity::days_from_now(20),
    );
    let user = leaf(
        &ca,
        Identity::user("amina").unwrap(),
        11,
        // The openssl CA lives 30 days from a moment ago: stay inside it.
        Validity::days_from_now(20),
    );
    Pki { ca, node, user }
}

fn pki() -> Pki {
    pki_with(
        Ca::create(
            "Ministry CA",
            Validity::days_from_now(365),
            KeyAlgorithm::EcdsaP256,
        )
        .unwrap(),
    )
}

fn crl(ca: &Ca, number: u64, revoked: &[u64]) -> String {
    let now = OffsetDateTime::now_utc();
    let revoked: Vec<_> = revoked
        .iter()
        .map(|s| RevokedCert {
            serial: *s,
            revoked_at: now - Duration::seconds(30),
        })
        .collect();
    ca.crl(
        number,
        now - Duration::minutes(1),
        now + Duration::days(1),
        &revoked,
    )
    .unwrap()
}

fn materials(ca: &Ca, who: &IssuedCert, crls: Vec<String>) -> TlsMaterials {
    TlsMaterials {
        ca_pem: ca.cert_pem(),
        cert_pem: who.cert_pem.clone(),
        key_pem: who.key_pem.clone(),
        crl_pems: crls,
    }
}

fn server_rustls(p: &Pki, crl_pem: String) -> rustls::ServerConfig {
    server_config(&materials(&p.ca, &p.node, vec![crl_pem]), &[ALPN]).expect("server config")
}

fn quinn_server(cfg: rustls::ServerConfig) -> quinn::ServerConfig {
    quinn::ServerConfig::with_crypto(Arc::new(
        QuicServerConfig::try_from(Arc::new(cfg)).expect("QUIC server config"),
    ))
}

fn quinn_client(cfg: rustls::ClientConfig) -> quinn::ClientConfig {
    quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(Arc::new(cfg)).expect("QUIC client config"),
    ))
}

/// A client configuration built by hand, the way an attacker could: it trusts the ministry
/// CA (to talk to the node) but presents whatever certificate it likes, and keeps
/// resumption enabled.
fn raw_client(ministry_ca_pem: &str, cert_pem: &str, key_pem: &str) -> quinn::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(chapar_certs::read_cert_pem(ministry_ca_pem, "ca").unwrap())
        .unwrap();
    let chain = chapar_certs::read_certs_pem(cert_pem, "cert").unwrap();
    let key = chapar_certs::read_private_key_pem(key_pem, "key").unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    quinn_client(cfg)
}

// ---------------------------------------------------------------- server and client

#[derive(Debug)]
enum Event {
    /// Handshake completed; the peer's identity URI.
    Accepted(String),
    /// Handshake failed; the error.
    Failed(String),
}

struct Server {
    endpoint: Endpoint,
    addr: SocketAddr,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Server {
    fn start(cfg: rustls::ServerConfig) -> Server {
        let endpoint =
            Endpoint::server(quinn_server(cfg), "127.0.0.1:0".parse().unwrap()).expect("bind");
        let addr = endpoint.local_addr().unwrap();
        let (tx, events) = mpsc::unbounded_channel();
        let ep = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = ep.accept().await {
                tokio::spawn(handle(incoming, tx.clone()));
            }
        });
        Server {
            endpoint,
            addr,
            events,
        }
    }

    async fn next_event(&mut self) -> Event {
        timeout(WAIT, self.events.recv())
            .await
            .expect("server reported nothing within 10 s")
            .expect("server loop ended")
    }

    async fn expect_accepted(&mut self, uri: &str) {
        match self.next_event().await {
            Event::Accepted(got) => assert_eq!(got, uri),
            Event::Failed(e) => panic!("server refused a good client: {e}"),
        }
    }

    /// Waits for a failed handshake; returns the server's error text.
    async fn expect_failed(&mut self) -> String {
        match self.next_event().await {
            Event::Failed(e) => e,
            Event::Accepted(uri) => panic!("server accepted {uri} but should have refused"),
        }
    }
}

async fn handle(incoming: Incoming, tx: mpsc::UnboundedSender<Event>) {
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Event::Failed(e.to_string()));
            return;
        }
    };
    let uri = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|chain| chain.first().map(|c| peer_identity(c)))
        .map(|r| {
            r.map(|p| p.identity.uri())
                .unwrap_or_else(|e| format!("unmapped: {e}"))
        })
        .unwrap_or_else(|| "no peer certificate".to_owned());
    let _ = tx.send(Event::Accepted(uri));
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let Ok(data) = recv.read_to_end(64 * 1024).await else {
            break;
        };
        if send.write_all(&data).await.is_err() || send.finish().is_err() {
            break;
        }
    }
}

fn client_endpoint() -> Endpoint {
    Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("client bind")
}

/// Connects, sends PING on a bidirectional stream and reads the echo.
/// `Ok(())` only if the echo came back intact. `Err` carries the connection error; a
/// timeout panics, because a refusal must show up as a closed connection, not a hang.
async fn echo(
    endpoint: &Endpoint,
    cfg: &quinn::ClientConfig,
    addr: SocketAddr,
) -> Result<(), String> {
    let attempt = async {
        let conn = endpoint
            .connect_with(cfg.clone(), addr, "localhost")
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
        if result.is_ok() {
            conn.close(0u32.into(), b"done");
        }
        result
    };
    timeout(WAIT, attempt)
        .await
        .expect("client neither completed the echo nor saw the connection close within 10 s")
}

/// Asserts a refusal on both sides; returns (client error, server error).
async fn expect_refused(server: &mut Server, client: &quinn::ClientConfig) -> (String, String) {
    let ep = client_endpoint();
    let client_err = echo(&ep, client, server.addr)
        .await
        .expect_err("echo succeeded but the client should have been refused");
    let server_err = server.expect_failed().await;
    (client_err, server_err)
}

// ---------------------------------------------------------------- openssl

fn openssl_p256_ca(dir: &Path) -> Ca {
    let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| panic!("openssl CLI not found in /usr/bin or /usr/local/bin; install it: this test must not be skipped"));
    let out = Command::new(openssl)
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-noenc",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Ministry of Foreign Affairs CA/O=MFA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ])
        .output()
        .expect("spawn openssl");
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let key = std::fs::read_to_string(dir.join("ca.key")).unwrap();
    Ca::from_pem(&cert, &key).expect("import openssl CA")
}

// ---------------------------------------------------------------- cases

/// 1. openssl-made CA imported; node serves, user connects; echo works and the server maps
///    the client certificate to urn:chapar:user:amina. Node-to-node works too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_ca_mutual_auth_and_identity() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki_with(openssl_p256_ca(dir.path()));
    let mut server = Server::start(server_rustls(&p, crl(&p.ca, 1, &[])));
    let client = quinn_client(
        client_config(
            &materials(&p.ca, &p.user, vec![crl(&p.ca, 1, &[])]),
            &[ALPN],
        )
        .unwrap(),
    );
    let ep = client_endpoint();
    echo(&ep, &client, server.addr)
        .await
        .expect("good user refused");
    server.expect_accepted("urn:chapar:user:amina").await;

    // Another node connecting as a client (nodes carry clientAuth too); also by IP name.
    let other = leaf(
        &p.ca,
        Identity::node("paris").unwrap(),
        12,
        Validity::days_from_now(10),
    );
    let node_client =
        quinn_client(client_config(&materials(&p.ca, &other, vec![]), &[ALPN]).unwrap());
    echo(&ep, &node_client, server.addr)
        .await
        .expect("good node refused");
    server.expect_accepted("urn:chapar:node:paris").await;
    server.endpoint.close(0u32.into(), b"");
}

/// The client checks the server too: a server whose certificate comes from a foreign CA is
/// refused by the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_foreign_server() {
    let p = pki();
    let foreign = pki();
    let mut server = Server::start(server_rustls(&foreign, crl(&foreign.ca, 1, &[])));
    let client = quinn_client(client_config(&materials(&p.ca, &p.user, vec![]), &[ALPN]).unwrap());
    let ep = client_endpoint();
    let err = echo(&ep, &client, server.addr)
        .await
        .expect_err("foreign server accepted");
    assert!(err.contains("handshake"), "{err}");
    let _ = server.next_event().await; // the server sees the aborted handshake
}

/// 2. Client certificate from a foreign CA (even one with the same CA name): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_ca_client_refused() {
    let p = pki();
    let foreign = pki(); // same subject "Ministry CA", different key
    let mut server = Server::start(server_rustls(&p, crl(&p.ca, 1, &[])));
    let client = raw_client(
        &p.ca.cert_pem(),
        &foreign.user.cert_pem,
        &foreign.user.key_pem,
    );
    let (c, s) = expect_refused(&mut server, &client).await;
    eprintln!("refused: server: {s}\n         client: {c}");
    assert!(
        s.contains("BadSignature") || s.contains("UnknownIssuer"),
        "server: {s} / client: {c}"
    );
}

/// 3. Expired client certificate: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_client_refused() {
    let p = pki();
    let now = OffsetDateTime::now_utc();
    let old = leaf(
        &p.ca,
        Identity::user("retired").unwrap(),
        20,
        Validity {
            not_before: now - Duration::days(10),
            not_after: now - Duration::days(1),
        },
    );
    let mut server = Server::start(server_rustls(&p, crl(&p.ca, 1, &[])));
    let client = raw_client(&p.ca.cert_pem(), &old.cert_pem, &old.key_pem);
    let (c, s) = expect_refused(&mut server, &client).await;
    eprintln!("refused: server: {s}\n         client: {c}");
    assert!(
        s.contains("certificate expired"),
        "server: {s} / client: {c}"
    );
}

/// 4. Revoked client certificate: refused; an unrevoked one is still accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_client_refused() {
    let p = pki();
    let mut server = Server::start(server_rustls(&p, crl(&p.ca, 2, &[p.user.serial])));
    let client = quinn_client(client_config(&materials(&p.ca, &p.user, vec![]), &[ALPN]).unwrap());
    let (c, s) = expect_refused(&mut server, &client).await;
    eprintln!("refused: server: {s}\n         client: {c}");
    assert!(s.contains("Revoked"), "server: {s} / client: {c}");

    let ok = leaf(
        &p.ca,
        Identity::user("bob").unwrap(),
        21,
        Validity::days_from_now(5),
    );
    let ok_client = quinn_client(client_config(&materials(&p.ca, &ok, vec![]), &[ALPN]).unwrap());
    echo(&client_endpoint(), &ok_client, server.addr)
        .await
        .expect("unrevoked user refused");
    server.expect_accepted("urn:chapar:user:bob").await;
}

/// A client config with resumption on (any client can do that; the server must not rely
/// on clients behaving).
fn resuming_client(p: &Pki) -> quinn::ClientConfig {
    let mut cfg = client_config(&materials(&p.ca, &p.user, vec![]), &[ALPN]).unwrap();
    cfg.resumption = Resumption::in_memory_sessions(256);
    quinn_client(cfg)
}

/// 5a. Resumption bypass, server rebuilt: the client connects, goes away, is revoked; the
///     server is rebuilt with the new CRL; the same client config (same session cache)
///     reconnects and must be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumption_cannot_bypass_revocation_after_rebuild() {
    let p = pki();
    let client = resuming_client(&p);
    let ep = client_endpoint();
    let mut server = Server::start(server_rustls(&p, crl(&p.ca, 1, &[])));
    echo(&ep, &client, server.addr)
        .await
        .expect("first connection");
    server.expect_accepted("urn:chapar:user:amina").await;
    server.endpoint.close(0u32.into(), b"restart");

    let mut server = Server::start(server_rustls(&p, crl(&p.ca, 2, &[p.user.serial])));
    let err = echo(&ep, &client, server.addr)
        .await
        .expect_err("revoked client resumed");
    let s = server.expect_failed().await;
    assert!(s.contains("Revoked"), "server: {s} / client: {err}");
}

/// 5b. Same, but the CRL is applied to the running endpoint with `set_server_config`, and
///     the new config even carries over the old one's session storage and ticketer (what a
///     node might do to "keep resumption working" across CRL reloads). Because
///     `server_config` stores no sessions and issues no tickets, the revoked client is still
///     refused; without that hardening this test fails (see the control, 5c).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumption_cannot_bypass_revocation_on_live_endpoint() {
    let p = pki();
    let client = resuming_client(&p);
    let ep = client_endpoint();
    let first = server_rustls(&p, crl(&p.ca, 1, &[]));
    let (storage, ticketer) = (first.session_storage.clone(), first.ticketer.clone());
    let mut server = Server::start(first);
    for _ in 0..2 {
        echo(&ep, &client, server.addr)
            .await
            .expect("connection before revocation");
        server.expect_accepted("urn:chapar:user:amina").await;
    }
    let mut next = server_rustls(&p, crl(&p.ca, 2, &[p.user.serial]));
    next.session_storage = storage;
    next.ticketer = ticketer;
    server.endpoint.set_server_config(Some(quinn_server(next)));
    for _ in 0..2 {
        let err = echo(&ep, &client, server.addr)
            .await
            .expect_err("revoked client resumed");
        let s = server.expect_failed().await;
        assert!(s.contains("Revoked"), "server: {s} / client: {err}");
    }
}

/// 5c. Control for 5a/5b: with a server that *does* keep a session cache across CRL
///     updates (what `server_config` forbids), the very same steps let the revoked client
///     back in. This proves the two tests above would catch a resumption bypass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_shared_session_cache_lets_revoked_client_back_in() {
    let p = pki();
    let shared = rustls::server::ServerSessionMemoryCache::new(256);
    let vulnerable = |crl_pem: String| {
        let mut cfg = server_rustls(&p, crl_pem);
        cfg.session_storage = shared.clone();
        cfg.send_tls13_tickets = 1;
        cfg
    };
    let client = resuming_client(&p);
    let ep = client_endpoint();
    let mut server = Server::start(vulnerable(crl(&p.ca, 1, &[])));
    echo(&ep, &client, server.addr)
        .await
        .expect("first connection");
    server.expect_accepted("urn:chapar:user:amina").await;
    server
        .endpoint
        .set_server_config(Some(quinn_server(vulnerable(crl(
            &p.ca,
            2,
            &[p.user.serial],
        )))));
    echo(&ep, &client, server.addr)
        .await
        .expect("control: expected the revoked client to resume on a shared session cache");
    server.expect_accepted("urn:chapar:user:amina").await;
}

/// 6. Stale CRL (next_update in the past) on the server: a warning, not a wall (ADR 0014).
///    The certificates it lists are still refused; everyone else is admitted — a node must
///    be able to receive the roster that carries the fresh CRL over these very handshakes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_crl_still_refuses_what_it_lists_and_admits_the_rest() {
    let p = pki();
    let now = OffsetDateTime::now_utc();
    let gone = leaf(
        &p.ca,
        Identity::user("gone").unwrap(),
        31,
        Validity::days_from_now(5),
    );
    let stale =
        p.ca.crl(
            1,
            now - Duration::days(10),
            now - Duration::days(1),
            &[RevokedCert {
                serial: gone.serial,
                revoked_at: (now - Duration::days(5)).replace_nanosecond(0).unwrap(),
            }],
        )
        .unwrap();
    let mut server = Server::start(server_rustls(&p, stale.clone()));
    // The client holds the stale CRL too (a person's bundle nothing has refreshed).
    let client = quinn_client(
        client_config(&materials(&p.ca, &p.user, vec![stale.clone()]), &[ALPN]).unwrap(),
    );
    echo(&client_endpoint(), &client, server.addr)
        .await
        .expect("an unrevoked client is admitted despite the stale CRL");
    server.expect_accepted("urn:chapar:user:amina").await;

    let revoked = quinn_client(client_config(&materials(&p.ca, &gone, vec![]), &[ALPN]).unwrap());
    let (c, s) = expect_refused(&mut server, &revoked).await;
    eprintln!("refused: server: {s}\n         client: {c}");
    assert!(s.contains("Revoked"), "server: {s} / client: {c}");
}

/// 7. Self-signed client certificate (with a well-formed chapar identity): refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_client_refused() {
    let p = pki();
    let mut params = rcgen_params_for_user("eve");
    params.serial_number = Some(11u64.into()); // even the serial of a real user
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let mut server = Server::start(server_rustls(&p, crl(&p.ca, 1, &[])));
    let client = raw_client(&p.ca.cert_pem(), &cert.pem(), &key.serialize_pem());
    let (c, s) = expect_refused(&mut server, &client).await;
    eprintln!("refused: server: {s}\n         client: {c}");
    assert!(
        s.contains("UnknownIssuer") || s.contains("BadSignature"),
        "server: {s} / client: {c}"
    );
}

fn rcgen_params_for_user(id: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    let uri = format!("urn:chapar:user:{id}");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, uri.as_str());
    params.subject_alt_names = vec![rcgen::SanType::URI(uri.as_str().try_into().unwrap())];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params
}
