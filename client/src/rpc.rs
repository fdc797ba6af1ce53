//! The client side of chapar's RPC: a mutually authenticated QUIC
//! connection to the person's node, and one request per bidirectional
//! stream.
//!
//! For each request the client opens a stream, writes one frame (4-byte
//! big-endian length, then a canonical [`Message`]), finishes its send side
//! and reads the answer: one frame, or for `Subscribe` a frame per batch of
//! new documents for as long as the client listens (see
//! `proto/src/wire.rs`). An `Error` answer becomes [`RpcError::Node`].
//!
//! Every network wait is bounded: connecting by [`Timeouts::connect`], each
//! request by [`Timeouts::request`]. A subscription waits for documents
//! without a deadline, but QUIC keep-alives make a dead connection fail
//! within [`IDLE_TIMEOUT`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chapar_certs::{ALPN, TlsMaterials, client_config};
use chapar_proto::wire::{FrameError, Listed, Message, code};
use chapar_proto::{DocId, Document, Kind};
use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Connection, ConnectionError, Endpoint, RecvStream};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::timeout;

/// How long to wait for the node to answer the QUIC/TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the answer to one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Interval of QUIC keep-alives (keeps a quiet subscription open).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// A connection that hears nothing from the node for this long is dead.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long closing the connection may take when the command ends.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Deadlines of network waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Resolving the address and completing the handshake.
    pub connect: Duration,
    /// Sending one request and reading its answer.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: CONNECT_TIMEOUT,
            request: REQUEST_TIMEOUT,
        }
    }
}

/// Why talking to the node failed. Every message says what to check.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// `node_address` is not `host:port`.
    #[error("bad node address {address:?} in the bundle: {reason}")]
    BadAddress {
        /// The address as configured.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host name did not resolve.
    #[error("cannot resolve node address {address}: {reason}")]
    Resolve {
        /// The address as configured.
        address: String,
        /// Why.
        reason: String,
    },
    /// The bundle's TLS material could not make a QUIC client config.
    #[error("cannot set up TLS from the bundle: {0}")]
    Tls(String),
    /// No local UDP socket.
    #[error("cannot open a local UDP socket: {0}")]
    Socket(io::Error),
    /// No handshake within the connect deadline.
    #[error(
        "no answer from node {node} at {address} within {secs} s: is it running, and is UDP port {port} reachable from here?"
    )]
    Unreachable {
        /// Node id.
        node: String,
        /// Its address.
        address: String,
        /// The deadline, in seconds.
        secs: u64,
        /// Its UDP port.
        port: u16,
    },
    /// The node closed the connection with a TLS alert: it refused our
    /// client certificate.
    #[error(
        "the node refused our certificate: revoked or from another ministry? (TLS alert: {alert})"
    )]
    CertificateRefused {
        /// The TLS alert, named.
        alert: String,
    },
    /// We refused the node's certificate.
    #[error(
        "we refused node {node}'s certificate: {detail} (wrong node address, a certificate from another ministry, or the node's certificate is revoked or expired: tell the ministry administrators)"
    )]
    NodeCertificateRefused {
        /// Node id.
        node: String,
        /// What rustls said.
        detail: String,
    },
    /// The connection broke.
    #[error("connection to node {node} lost: {detail}")]
    ConnectionLost {
        /// Node id.
        node: String,
        /// What happened.
        detail: String,
    },
    /// No answer to a request within the request deadline.
    #[error("node {node} did not answer the {request} request within {secs} s")]
    Timeout {
        /// Node id.
        node: String,
        /// The request's message name.
        request: &'static str,
        /// The deadline, in seconds.
        secs: u64,
    },
    /// The node answered with `Error`.
    #[error("the node answered error {code} ({meaning}): {message}")]
    Node {
        /// One of [`code`].
        code: u16,
        /// What the code means.
        meaning: &'static str,
        /// The node's explanation.
        message: String,
    },
    /// The node broke the protocol.
    #[error("protocol error from node {node}: {detail}")]
    Protocol {
        /// Node id.
        node: String,
        /// What was wrong.
        detail: String,
    },
}

impl RpcError {
    /// The node's error code, if the node answered with `Error`.
    pub fn node_code(&self) -> Option<u16> {
        match self {
            RpcError::Node { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// What an `Error` code means, for a person.
pub fn code_meaning(c: u16) -> &'static str {
    match c {
        code::BAD_REQUEST => {
            "bad request: the node did not understand it; is this client older or newer than the node?"
        }
        code::FORBIDDEN => "forbidden: you may not do or see this",
        code::NOT_FOUND => "not found: no such document, or not one you may see",
        code::REFUSED => {
            "refused: the document was not accepted (signature, author's roles or clearance, need to know)"
        }
        code::INTERNAL => "node failure: try again later",
        code::BUSY => {
            "busy: too many of your requests at once, or too large a request; see the message"
        }
        _ => "unknown error code",
    }
}

/// Splits `host:port` (`[v6]:port` for IPv6) into the host, without
/// brackets, and the port.
pub fn split_host_port(address: &str) -> Result<(String, u16), RpcError> {
    let bad = |reason: &str| RpcError::BadAddress {
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("missing ']' after an IPv6 address"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| bad("expected ':port' after ']'"))?;
        (host, port)
    } else {
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| bad("expected host:port"))?;
        if host.contains(':') {
            return Err(bad("write an IPv6 address as [address]:port"));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
    Ok((host.to_owned(), port))
}

/// Why a frame could not be read from a stream.
#[derive(Debug, thiserror::Error)]
pub enum FrameReadError {
    /// The stream failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The stream ended inside a frame.
    #[error("the stream ended {got} bytes into a {want}-byte {part}")]
    Truncated {
        /// Which part: "frame header" or "frame".
        part: &'static str,
        /// Bytes received.
        got: usize,
        /// Bytes announced.
        want: usize,
    },
    /// Oversize or undecodable.
    #[error("{0}")]
    Frame(#[from] FrameError),
}

/// Reads one frame: `Ok(None)` if the stream ends cleanly before it.
///
/// The announced length is checked with [`Message::check_frame_len`] before
/// any of the body is read, and the body buffer only grows as bytes arrive.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Option<Message>, FrameReadError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        let n = r.read(&mut header[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(FrameReadError::Truncated {
                part: "frame header",
                got,
                want: header.len(),
            });
        }
        got += n;
    }
    let len = Message::check_frame_len(header)?;
    let mut body = Vec::with_capacity(len.min(64 * 1024));
    (&mut *r).take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(FrameReadError::Truncated {
            part: "frame",
            got: body.len(),
            want: len,
        });
    }
    Ok(Some(Message::from_frame_body(&body)?))
}

/// Names of the TLS alerts a refusing peer sends.
fn alert_name(alert: u64) -> String {
    let name = match alert {
        40 => "handshake failure",
        42 => "bad certificate",
        43 => "unsupported certificate",
        44 => "certificate revoked",
        45 => "certificate expired",
        46 => "certificate unknown",
        48 => "unknown CA",
        49 => "access denied",
        116 => "certificate required",
        120 => "no application protocol",
        _ => "",
    };
    if name.is_empty() {
        format!("alert {alert}")
    } else {
        format!("{name} ({alert})")
    }
}

/// The TLS alert carried by a QUIC CRYPTO_ERROR code (0x100 + alert).
fn crypto_alert(code: quinn::TransportErrorCode) -> Option<u64> {
    let c = u64::from(code);
    (0x100..0x200).contains(&c).then(|| c - 0x100)
}

/// Turns a connection failure into an error a person can act on.
fn classify(node: &str, e: ConnectionError) -> RpcError {
    match e {
        ConnectionError::ConnectionClosed(close) => match crypto_alert(close.error_code) {
            Some(120) => RpcError::Protocol {
                node: node.to_owned(),
                detail: "it does not speak chapar/1 (ALPN refused)".into(),
            },
            Some(alert) => RpcError::CertificateRefused {
                alert: alert_name(alert),
            },
            None => RpcError::ConnectionLost {
                node: node.to_owned(),
                detail: format!("the node aborted the connection: {close}"),
            },
        },
        ConnectionError::TransportError(t) if crypto_alert(t.code).is_some() => {
            RpcError::NodeCertificateRefused {
                node: node.to_owned(),
                detail: t.reason,
            }
        }
        ConnectionError::ApplicationClosed(close) => RpcError::ConnectionLost {
            node: node.to_owned(),
            detail: format!("the node closed the connection: {close}"),
        },
        ConnectionError::TimedOut => RpcError::ConnectionLost {
            node: node.to_owned(),
            detail: format!(
                "nothing heard from the node for {} s",
                IDLE_TIMEOUT.as_secs()
            ),
        },
        other => RpcError::ConnectionLost {
            node: node.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// An open connection to a node.
#[derive(Debug)]
pub struct Client {
    endpoint: Endpoint,
    conn: Connection,
    node: String,
    timeouts: Timeouts,
}

/// Connects to node `node_id` at `address` (`host:port`) with the bundle's
/// TLS material. The TLS server name is the host part of the address (node
/// certificates carry their endpoint's DNS name or IP address).
pub async fn connect(
    node_id: &str,
    address: &str,
    tls: &TlsMaterials,
    timeouts: Timeouts,
) -> Result<Client, RpcError> {
    let (host, port) = split_host_port(address)?;
    let unreachable = || RpcError::Unreachable {
        node: node_id.to_owned(),
        address: address.to_owned(),
        secs: timeouts.connect.as_secs(),
        port,
    };
    let resolve_err = |reason: String| RpcError::Resolve {
        address: address.to_owned(),
        reason,
    };
    let addr: SocketAddr = timeout(
        timeouts.connect,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| resolve_err("name lookup timed out".into()))?
    .map_err(|e| resolve_err(e.to_string()))?
    .next()
    .ok_or_else(|| resolve_err("no addresses".into()))?;

    let rustls_cfg = client_config(tls, &[ALPN]).map_err(|e| RpcError::Tls(e.to_string()))?;
    let quic = QuicClientConfig::try_from(Arc::new(rustls_cfg))
        .map_err(|e| RpcError::Tls(e.to_string()))?;
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    transport.max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(
        IDLE_TIMEOUT.as_millis() as u32,
    ))));
    let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
    cfg.transport_config(Arc::new(transport));

    let bind: SocketAddr = if addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let endpoint = Endpoint::client(bind).map_err(RpcError::Socket)?;
    let connecting = endpoint
        .connect_with(cfg, addr, &host)
        .map_err(|e| RpcError::BadAddress {
            address: address.to_owned(),
            reason: e.to_string(),
        })?;
    let conn = match timeout(timeouts.connect, connecting).await {
        Err(_) => return Err(unreachable()),
        Ok(Err(e)) => return Err(classify(node_id, e)),
        Ok(Ok(c)) => c,
    };
    Ok(Client {
        endpoint,
        conn,
        node: node_id.to_owned(),
        timeouts,
    })
}

impl Client {
    /// Sends `request` and returns the node's one answer; an `Error` answer
    /// is returned as [`RpcError::Node`].
    pub async fn call(&self, request: &Message) -> Result<Message, RpcError> {
        self.bounded(request.name(), async {
            let mut recv = self.send_request(request).await?;
            self.read_answer(&mut recv).await?.ok_or_else(|| {
                self.protocol(format!(
                    "the node closed the stream without answering {}",
                    request.name()
                ))
            })
        })
        .await
    }

    /// `Status`: the node's JSON status report.
    pub async fn status(&self) -> Result<String, RpcError> {
        match self.call(&Message::Status).await? {
            Message::StatusReport { json } => Ok(json),
            other => Err(self.unexpected(&other, "Status")),
        }
    }

    /// `Roster`: hands the node the roster we hold (applied there if newer)
    /// and returns the node's roster in force (signed envelope), which
    /// carries the current CRL. The caller checks its signature.
    pub async fn exchange_roster(&self, ours: &[u8]) -> Result<Vec<u8>, RpcError> {
        let request = Message::Roster {
            document: ours.to_vec(),
        };
        match self.call(&request).await? {
            Message::Roster { document } => Ok(document),
            other => Err(self.unexpected(&other, "Roster")),
        }
    }

    /// The node's certificate as verified in the handshake: identity,
    /// serial and expiry.
    pub fn node_certificate(&self) -> Option<chapar_certs::PeerCert> {
        let certs = self
            .conn
            .peer_identity()?
            .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
            .ok()?;
        chapar_certs::peer_identity(certs.first()?).ok()
    }

    /// `Search`: a full-text search as the connected person.
    pub async fn search(
        &self,
        request: &chapar_search::SearchRequest,
    ) -> Result<chapar_search::SearchResponse, RpcError> {
        let request = serde_json::to_string(request)
            .map_err(|e| self.protocol(format!("cannot encode the search request: {e}")))?;
        match self.call(&Message::Search { request }).await? {
            Message::SearchResults { json } => serde_json::from_str(&json)
                .map_err(|e| self.protocol(format!("search results are not valid: {e}"))),
            other => Err(self.unexpected(&other, "Search")),
        }
    }

    /// `Submit`: stores a signed envelope; returns its id and whether the
    /// node did not hold it before. The id is checked against `envelope`.
    pub async fn submit(&self, envelope: &[u8]) -> Result<(DocId, bool), RpcError> {
        let request = Message::Submit {
            document: envelope.to_vec(),
        };
        match self.call(&request).await? {
            Message::Submitted { id, new } => match Document::decode(envelope) {
                Ok(doc) if doc.id() != id => Err(self.protocol(format!(
                    "it acknowledged {id} for a document whose id is {}",
                    doc.id()
                ))),
                _ => Ok((id, new)),
            },
            other => Err(self.unexpected(&other, "Submit")),
        }
    }

    /// `Fetch`: one document by id, decoded. Its id (the SHA-256 of the
    /// bytes) is checked against `id`; its signature is not checked here.
    pub async fn fetch(&self, id: DocId) -> Result<Document, RpcError> {
        let documents = match self.call(&Message::Fetch { id }).await? {
            Message::Documents { documents } => documents,
            other => return Err(self.unexpected(&other, "Fetch")),
        };
        let Some(bytes) = documents.first() else {
            return Err(RpcError::Node {
                code: code::NOT_FOUND,
                meaning: code_meaning(code::NOT_FOUND),
                message: format!("the node sent no document for {id}"),
            });
        };
        let doc = Document::decode(bytes)
            .map_err(|e| self.protocol(format!("it sent a malformed document for {id}: {e}")))?;
        if doc.id() != id {
            return Err(self.protocol(format!("asked for {id}, it sent {}", doc.id())));
        }
        Ok(doc)
    }

    /// `List`: ids of documents by kind and creation time.
    pub async fn list(&self, query: ListQuery) -> Result<Vec<Listed>, RpcError> {
        let request = Message::List {
            kind: query.kind,
            from_ms: query.from_ms,
            to_ms: query.to_ms,
            limit: query.limit,
            newest_first: query.newest_first,
        };
        match self.call(&request).await? {
            Message::Listing { entries } => Ok(entries),
            other => Err(self.unexpected(&other, "List")),
        }
    }

    /// `Subscribe`: new documents of `kinds` (all kinds if empty) as they
    /// arrive. Sending the request is bounded by the request deadline;
    /// waiting for documents is not.
    pub async fn subscribe(&self, kinds: Vec<Kind>) -> Result<Subscription<'_>, RpcError> {
        let request = Message::Subscribe { kinds };
        let recv = self
            .bounded(request.name(), self.send_request(&request))
            .await?;
        Ok(Subscription { client: self, recv })
    }

    /// Closes the connection politely (bounded by a short wait).
    pub async fn close(self) {
        self.conn.close(0u32.into(), b"done");
        let _ = timeout(CLOSE_WAIT, self.endpoint.wait_idle()).await;
    }

    /// Opens a stream, writes `request` and finishes the send side.
    async fn send_request(&self, request: &Message) -> Result<RecvStream, RpcError> {
        let (mut send, recv) = self.conn.open_bi().await.map_err(|e| self.lost(e))?;
        send.write_all(&request.to_frame())
            .await
            .map_err(|e| self.lost(e))?;
        send.finish().map_err(|e| self.lost(e))?;
        Ok(recv)
    }

    /// Reads the next answer frame; `Error` becomes [`RpcError::Node`].
    async fn read_answer(&self, recv: &mut RecvStream) -> Result<Option<Message>, RpcError> {
        match read_frame(recv).await {
            Ok(Some(Message::Error { code, message })) => Err(RpcError::Node {
                code,
                meaning: code_meaning(code),
                message,
            }),
            Ok(m) => Ok(m),
            Err(FrameReadError::Io(e)) => Err(self.lost(e)),
            Err(e) => Err(self.protocol(e.to_string())),
        }
    }

    /// Runs `fut` under the request deadline.
    async fn bounded<T>(
        &self,
        request: &'static str,
        fut: impl Future<Output = Result<T, RpcError>>,
    ) -> Result<T, RpcError> {
        timeout(self.timeouts.request, fut)
            .await
            .map_err(|_| RpcError::Timeout {
                node: self.node.clone(),
                request,
                secs: self.timeouts.request.as_secs(),
            })?
    }

    /// A stream operation failed: explain it by the connection's fate if
    /// the connection is gone (a refused certificate shows up here, since a
    /// TLS 1.3 client finishes its handshake before the node checks it).
    fn lost(&self, e: impl std::fmt::Display) -> RpcError {
        match self.conn.close_reason() {
            Some(reason) => classify(&self.node, reason),
            None => RpcError::ConnectionLost {
                node: self.node.clone(),
                detail: e.to_string(),
            },
        }
    }

    fn protocol(&self, detail: String) -> RpcError {
        RpcError::Protocol {
            node: self.node.clone(),
            detail,
        }
    }

    fn unexpected(&self, answer: &Message, request: &str) -> RpcError {
        self.protocol(format!("answered {request} with {}", answer.name()))
    }
}

/// The parameters of a `List` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    /// Only this kind, or all.
    pub kind: Option<Kind>,
    /// Earliest `created` (ms, inclusive).
    pub from_ms: u64,
    /// Latest `created` (ms, inclusive).
    pub to_ms: u64,
    /// At most this many entries.
    pub limit: u32,
    /// Newest first, else oldest first.
    pub newest_first: bool,
}

/// A running `Subscribe` request.
#[derive(Debug)]
pub struct Subscription<'a> {
    client: &'a Client,
    recv: RecvStream,
}

impl Subscription<'_> {
    /// The next batch of signed envelopes; `Ok(None)` when the node ends
    /// the subscription.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Vec<u8>>>, RpcError> {
        match self.client.read_answer(&mut self.recv).await? {
            None => Ok(None),
            Some(Message::Documents { documents }) => Ok(Some(documents)),
            Some(other) => Err(self.client.unexpected(&other, "Subscribe")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chapar_proto::wire::MAX_FRAME;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn frames_are_read_exactly_one_at_a_time() {
        let a = Message::Status;
        let b = Message::StatusReport { json: "{}".into() };
        let mut bytes = a.to_frame();
        bytes.extend(b.to_frame());
        let mut r: &[u8] = &bytes;
        block_on(async {
            assert_eq!(read_frame(&mut r).await.expect("a"), Some(a));
            assert_eq!(read_frame(&mut r).await.expect("b"), Some(b));
            assert_eq!(read_frame(&mut r).await.expect("eof"), None);
        });
    }

    #[test]
    fn truncated_oversize_and_garbage_frames_are_errors() {
        block_on(async {
            let mut r: &[u8] = &[0, 0];
            let e = read_frame(&mut r).await.expect_err("short header");
            assert!(matches!(e, FrameReadError::Truncated { got: 2, .. }), "{e}");

            let frame = Message::Status.to_frame();
            let mut with_len = vec![0, 0, 0, 5];
            with_len.extend_from_slice(&frame[4..]);
            let mut r: &[u8] = &with_len;
            let e = read_frame(&mut r).await.expect_err("short body");
            assert!(
                matches!(e, FrameReadError::Truncated { want: 5, .. }),
                "{e}"
            );

            let big = ((MAX_FRAME + 1) as u32).to_be_bytes();
            let mut r: &[u8] = &big;
            let e = read_frame(&mut r).await.expect_err("oversize");
            assert!(
                matches!(e, FrameReadError::Frame(FrameError::TooLarge(_))),
                "{e}"
            );

            let mut r: &[u8] = &[0, 0, 0, 1, 99];
            let e = read_frame(&mut r).await.expect_err("garbage");
            assert!(
                matches!(e, FrameReadError::Frame(FrameError::Malformed(_))),
                "{e}"
            );
        });
    }

    #[test]
    fn addresses_split() {
        assert_eq!(
            split_host_port("127.0.0.1:7400").expect("v4"),
            ("127.0.0.1".into(), 7400)
        );
        assert_eq!(
            split_host_port("hub.mfa.example:7400").expect("dns"),
            ("hub.mfa.example".into(), 7400)
        );
        assert_eq!(
            split_host_port("[::1]:7400").expect("v6"),
            ("::1".into(), 7400)
        );
        for bad in [
            "hub",
            "hub:",
            ":7400",
            "hub:0",
            "hub:99999",
            "::1:7400",
            "[::1]7400",
        ] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_are_named() {
        let close = quinn::ConnectionClose {
            error_code: quinn::TransportErrorCode::crypto(44),
            frame_type: None,
            reason: Default::default(),
        };
        let e = classify("hub", ConnectionError::ConnectionClosed(close)).to_string();
        assert!(
            e.contains("refused our certificate") && e.contains("revoked"),
            "{e}"
        );
        assert!(code_meaning(code::NOT_FOUND).starts_with("not found"));
    }
}
