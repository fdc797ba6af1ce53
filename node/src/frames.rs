//! Reading and writing [`Message`] frames on QUIC streams: a 4-byte
//! big-endian length, then the message. The length is checked against
//! [`MAX_FRAME`](chapar_proto::wire::MAX_FRAME) before the body is read, and
//! the body's buffer grows as its bytes arrive: a peer that announces a
//! large frame and sends nothing costs this node 64 KiB, and one that
//! sends costs what it sent (at most twice), never the announced length.

use chapar_proto::wire::{FrameError, Message};
use thiserror::Error;

/// Why a frame could not be read or written.
#[derive(Debug, Error)]
pub enum FramedError {
    /// The peer broke the protocol (oversize or malformed frame).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream ended cleanly before a new frame began.
    #[error("stream closed by the peer")]
    Closed,
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame")]
    Truncated,
    /// QUIC read failure (connection lost, reset, ...).
    #[error("read failed: {0}")]
    Read(#[from] quinn::ReadError),
    /// QUIC write failure.
    #[error("write failed: {0}")]
    Write(#[from] quinn::WriteError),
}

/// Reads one frame; `Err(Closed)` if the stream ended between frames.
pub async fn read(recv: &mut quinn::RecvStream) -> Result<Message, FramedError> {
    let mut header = [0u8; 4];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Err(FramedError::Closed),
        Err(quinn::ReadExactError::FinishedEarly(_)) => return Err(FramedError::Truncated),
        Err(quinn::ReadExactError::ReadError(e)) => return Err(e.into()),
    }
    let len = Message::check_frame_len(header)?;
    let mut body = Vec::new();
    let mut filled = 0;
    while filled < len {
        if filled == body.len() {
            // Doubles as bytes arrive: never more than twice what came
            // (or the first 64 KiB), whatever was announced.
            let grow = (2 * body.len()).max(FIRST_BUFFER).min(len);
            body.resize(grow, 0);
        }
        // `read` takes whatever has arrived in one go (`read_chunk` would
        // hand it over one datagram at a time).
        match recv.read(&mut body[filled..]).await? {
            Some(n) => filled += n,
            None => return Err(FramedError::Truncated),
        }
    }
    Ok(Message::from_frame_body(&body)?)
}

/// What a frame's buffer starts with: most frames (requests, answers,
/// reconciliation, one document) fit, and a larger one grows from there.
const FIRST_BUFFER: usize = 64 * 1024;

/// Writes one frame.
pub async fn write(send: &mut quinn::SendStream, msg: &Message) -> Result<(), FramedError> {
    send.write_all(&msg.to_frame()).await?;
    Ok(())
}
