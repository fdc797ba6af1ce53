//! The QUIC side of a node: TLS and transport configuration, accepting
//! connections (nodes and people) and dialing peers with backoff.
//!
//! Every connection is mapped to a roster identity right after the
//! handshake; anything that does not map, or is revoked, is closed with a
//! logged reason. rustls has already refused foreign, expired and
//! CRL-revoked certificates during the handshake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chapar_certs::{ALPN, CertError, Identity, PeerCert, TlsMaterials};
use chapar_proto::Id;
use chapar_proto::wire::Message;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use tokio::time::{sleep, timeout};
use tracing::{debug, info, warn};

use crate::config::Peer;
use crate::frames;
use crate::state::Shared;

/// Close code: normal shutdown.
pub const CLOSE_SHUTDOWN: u32 = 0;
/// Close code: the peer is revoked or not in the roster.
pub const CLOSE_REVOKED: u32 = 1;
/// Close code: the peer broke the protocol.
pub const CLOSE_PROTOCOL: u32 = 2;
/// Close code: the peer already has as many connections open as it may
/// (`limits.connections_per_identity`); the reason says so.
pub const CLOSE_LIMIT: u32 = 3;

/// Receive and send buffer the node asks of the kernel for its UDP
/// socket. A catch-up arrives at ~50 MB/s; with the usual default (208
/// KiB) the socket overflowed whenever the node's I/O threads were busy
/// for a few milliseconds, and each dropped datagram cost a QUIC loss
/// recovery: live cables behind it waited 100–350 ms (ADR 0012). Linux
/// caps it at `net.core.rmem_max` / `wmem_max`.
pub const UDP_BUFFER: usize = 4 << 20;

/// The node's UDP socket, bound to `addr`, with [`UDP_BUFFER`] asked for.
/// Returns the receive buffer the kernel granted; a smaller one is logged
/// with what to change, and is not an error.
pub fn udp_socket(addr: SocketAddr) -> std::io::Result<(std::net::UdpSocket, usize)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel silently caps both.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_BUFFER);
    socket.bind(&addr.into())?;
    // Linux reports twice what it granted (its bookkeeping overhead), so
    // a capped buffer can still report more than UDP_BUFFER.
    let granted = socket.recv_buffer_size()?;
    let full = if cfg!(target_os = "linux") {
        2 * UDP_BUFFER
    } else {
        UDP_BUFFER
    };
    if granted < full {
        warn!(
            granted_kib = granted / 1024,
            wanted_kib = UDP_BUFFER / 1024,
            "the UDP receive buffer is smaller than asked for: under a catch-up datagrams \
             will be dropped and live documents delayed; raise it with \
             `sysctl -w net.core.rmem_max={UDP_BUFFER} net.core.wmem_max={UDP_BUFFER}`"
        );
    }
    Ok((socket.into(), granted))
}

/// The node's QUIC endpoint on [`udp_socket`]: serves peers and people,
/// and dials peers from the same socket.
pub fn endpoint(
    server: quinn::ServerConfig,
    addr: SocketAddr,
) -> std::io::Result<(quinn::Endpoint, usize)> {
    let (socket, granted) = udp_socket(addr)?;
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket,
        Arc::new(quinn::TokioRuntime),
    )?;
    Ok((endpoint, granted))
}

/// First retry delay after a failed link; doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Connection receive window of a node's link: a catch-up moves ~50 MB/s,
/// and one stream carries it (ADR 0012).
pub const NODE_WINDOW: u32 = 64 << 20;

/// Connection receive window until the other end is known to be a node,
/// and for people: one largest frame and a little more. It bounds what a
/// person can make this node buffer per connection, whatever they send
/// (ADR 0019).
pub const PERSON_WINDOW: u32 = (chapar_proto::wire::MAX_FRAME + (1 << 20)) as u32;

/// Streams the other end may open at once before its identity is known;
/// then `limits.streams_per_connection` applies.
const HANDSHAKE_STREAMS: u32 = 16;

fn transport(accept_streams: bool) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    // Long, lossy links: keep the connection alive, notice a dead peer in
    // half a minute, and let one stream carry a large window.
    t.keep_alive_interval(Some(Duration::from_secs(5)));
    if let Ok(idle) = quinn::IdleTimeout::try_from(Duration::from_secs(30)) {
        t.max_idle_timeout(Some(idle));
    }
    t.stream_receive_window(quinn::VarInt::from_u32(16 << 20));
    // Raised to NODE_WINDOW once the other end is a node.
    t.receive_window(quinn::VarInt::from_u32(PERSON_WINDOW));
    t.send_window(64 << 20);
    // Nothing here reads unidirectional streams, and nobody opens streams
    // towards a connection's dialer: grant none, so none can buffer data.
    let streams = if accept_streams { HANDSHAKE_STREAMS } else { 0 };
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(streams));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    Arc::new(t)
}

/// The QUIC server configuration: mutual TLS with the CRL in force.
pub fn server_config(m: &TlsMaterials) -> Result<quinn::ServerConfig, CertError> {
    let tls = chapar_certs::server_config(m, &[ALPN])?;
    let crypto = QuicServerConfig::try_from(Arc::new(tls))
        .map_err(|e| CertError::Validity(format!("TLS config unusable for QUIC: {e}")))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(transport(true));
    Ok(cfg)
}

/// The QUIC client configuration (for dialing peers).
pub fn client_config(m: &TlsMaterials) -> Result<quinn::ClientConfig, CertError> {
    let tls = chapar_certs::client_config(m, &[ALPN])?;
    let crypto = QuicClientConfig::try_from(Arc::new(tls))
        .map_err(|e| CertError::Validity(format!("TLS config unusable for QUIC: {e}")))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(transport(false));
    Ok(cfg)
}

/// The verified identity of a connection's peer.
pub fn identity_of(conn: &quinn::Connection) -> Result<PeerCert, String> {
    let certs = conn
        .peer_identity()
        .and_then(|any| {
            any.downcast::<Vec<rustls_pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .ok_or("no client certificate")?;
    let leaf = certs.first().ok_or("empty certificate chain")?;
    chapar_certs::peer_identity(leaf).map_err(|e| e.to_string())
}

/// Accepts connections until the endpoint closes.
pub async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        // Before any cryptography: a handshake is the one thing anyone
        // can make the node do before it knows who they are.
        if !shared
            .limiter
            .handshakes
            .allow(incoming.remote_address().ip())
        {
            // No reply: a flooder gets nothing back to pace itself by,
            // no packet goes to a spoofed address, and an honest client's
            // QUIC resends its first packet a second later and gets in
            // once the address is back under its rate.
            debug!(remote = %incoming.remote_address(), "too many handshakes from this address: ignored");
            incoming.ignore();
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            match incoming.await {
                Ok(conn) => handle_connection(shared, conn).await,
                // rustls refused the handshake: foreign CA, expired,
                // revoked, no client certificate...
                Err(e) => warn!(%remote, "refused connection: {e}"),
            }
        });
    }
}

async fn handle_connection(shared: Arc<Shared>, conn: quinn::Connection) {
    let remote = conn.remote_address();
    let peer = match identity_of(&conn) {
        Ok(p) => p,
        Err(reason) => {
            warn!(%remote, "refused connection: {reason}");
            conn.close(CLOSE_REVOKED.into(), reason.as_bytes());
            return;
        }
    };
    if let Err(reason) = shared.admit_provisionally(&peer.identity, peer.serial) {
        warn!(%remote, peer = %peer.identity, "refused connection: {reason}");
        conn.close(CLOSE_REVOKED.into(), reason.as_bytes());
        return;
    }
    // Held until the connection ends.
    let _slot = match shared.limiter.connection(&peer.identity) {
        Ok(slot) => slot,
        Err(reason) => {
            warn!(%remote, peer = %peer.identity, "refused connection: {reason}");
            conn.close(CLOSE_LIMIT.into(), reason.as_bytes());
            return;
        }
    };
    if let Err(reason) = shared.register(peer.identity.clone(), peer.serial, conn.clone()) {
        warn!(%remote, peer = %peer.identity, "refused connection: {reason}");
        conn.close(CLOSE_REVOKED.into(), reason.as_bytes());
        return;
    }
    if let Identity::Node(_) = peer.identity {
        conn.set_receive_window(quinn::VarInt::from_u32(NODE_WINDOW));
    }
    conn.set_max_concurrent_bi_streams(quinn::VarInt::from_u32(
        shared.limiter.limits.streams_per_connection,
    ));
    debug!(%remote, peer = %peer.identity, "connection accepted");
    loop {
        let (send, mut recv) = match conn.accept_bi().await {
            Ok(s) => s,
            Err(e) => {
                debug!(peer = %peer.identity, "connection ended: {e}");
                return;
            }
        };
        let shared = shared.clone();
        let identity = peer.identity.clone();
        let conn = conn.clone();
        tokio::spawn(async move {
            let first = match timeout(Duration::from_secs(30), frames::read(&mut recv)).await {
                Ok(Ok(m)) => m,
                Ok(Err(e)) => {
                    warn!(peer = %identity, "bad first frame: {e}");
                    conn.close(CLOSE_PROTOCOL.into(), e.to_string().as_bytes());
                    return;
                }
                Err(_) => return,
            };
            match (&identity, first) {
                (Identity::Node(id), hello @ Message::Hello { .. }) => {
                    let Ok(peer_id) = Id::new(id.as_str()) else {
                        return;
                    };
                    shared.peer_status(id, |s| {
                        s.outgoing = false;
                        s.address = remote.to_string();
                    });
                    crate::session::run(shared, conn, send, recv, peer_id, false, Some(hello))
                        .await;
                }
                (_, request) => crate::rpc::serve(shared, identity, send, recv, request).await,
            }
        });
    }
}

/// Dials one configured peer for as long as the node runs, reconnecting
/// with exponential backoff.
pub async fn dial_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint, peer: Peer) {
    let mut backoff = MIN_BACKOFF;
    let mut shutdown = shared.shutdown.clone();
    let Ok(peer_id) = Id::new(peer.id.as_str()) else {
        warn!(peer = %peer.id, "invalid peer id in configuration");
        return;
    };
    loop {
        if *shutdown.borrow() {
            return;
        }
        shared.peer_status(&peer.id, |s| {
            s.state = "connecting".into();
            s.outgoing = true;
            s.address = peer.address.clone();
        });
        let started = std::time::Instant::now();
        match dial_once(&shared, &endpoint, &peer, &peer_id).await {
            Ok(()) => {}
            Err(e) => {
                debug!(peer = %peer.id, "link failed: {e}");
                shared.peer_status(&peer.id, |s| s.last_error = Some(e));
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = MIN_BACKOFF;
        }
        shared.peer_status(&peer.id, |s| s.state = "backoff".into());
        tokio::select! {
            _ = sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn dial_once(
    shared: &Arc<Shared>,
    endpoint: &quinn::Endpoint,
    peer: &Peer,
    peer_id: &Id,
) -> Result<(), String> {
    let addr: SocketAddr = tokio::net::lookup_host(&peer.address)
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", peer.address))?
        .next()
        .ok_or_else(|| format!("{} resolves to nothing", peer.address))?;
    let host = peer
        .address
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
        .unwrap_or(&peer.address);
    let cfg = client_config(&shared.tls_now()).map_err(|e| e.to_string())?;
    let connecting = endpoint
        .connect_with(cfg, addr, host)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let conn = timeout(Duration::from_secs(10), connecting)
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|e| format!("handshake with {addr} failed: {e}"))?;
    let cert = identity_of(&conn)?;
    if cert.identity != Identity::Node(peer.id.clone()) {
        let reason = format!(
            "expected node {}, the certificate says {}",
            peer.id, cert.identity
        );
        conn.close(CLOSE_REVOKED.into(), reason.as_bytes());
        return Err(reason);
    }
    if let Err(reason) = shared.admit_provisionally(&cert.identity, cert.serial) {
        conn.close(CLOSE_REVOKED.into(), reason.as_bytes());
        return Err(reason);
    }
    if let Err(reason) = shared.register(cert.identity.clone(), cert.serial, conn.clone()) {
        conn.close(CLOSE_REVOKED.into(), reason.as_bytes());
        return Err(reason);
    }
    conn.set_receive_window(quinn::VarInt::from_u32(NODE_WINDOW));
    let (send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| format!("cannot open a stream: {e}"))?;
    info!(peer = %peer.id, %addr, "connected");
    crate::session::run(
        shared.clone(),
        conn,
        send,
        recv,
        peer_id.clone(),
        true,
        None,
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node's socket gets the buffer it asks for, as far as the kernel
    /// allows (`net.core.rmem_max`; Linux reports twice what it grants).
    #[test]
    fn udp_socket_asks_for_a_large_receive_buffer() {
        let (socket, granted) = udp_socket("127.0.0.1:0".parse().expect("addr")).expect("bind");
        assert!(socket.local_addr().expect("addr").port() != 0);
        #[cfg(target_os = "linux")]
        {
            let max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
                .expect("rmem_max")
                .trim()
                .parse()
                .expect("a number");
            assert_eq!(granted, 2 * max.min(UDP_BUFFER), "rmem_max {max}");
        }
        let _ = granted;
    }
}
