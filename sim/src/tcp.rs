//! The two TCP listeners (cloud and bolink) and one task per connection.
//!
//! A connection task owns its socket. It reads lines and answers them in order, and it writes
//! whatever arrives in its outbox (pushes from any thread) between lines. Closing from outside
//! is a `Close` in the outbox; the task then drops the socket.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::LinkKind;
use crate::link::{self, LinkConn};
use crate::state::{Downstream, Shared};
use crate::wire;

/// Accepts connections until the runtime stops.
pub(crate) async fn serve(listener: TcpListener, link: LinkKind, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of descriptors and the like: wait instead of spinning.
                eprintln!(
                    "bolink-sim: accept on the {} listener failed: {error}",
                    link.as_str()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };

        let (outbox, inbox) = mpsc::unbounded_channel();
        let Some(id) = shared.update(|state| state.register(outbox)) else {
            // Refusing connections: the stream is dropped, which closes it.
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            connection(stream, LinkConn::new(id, link), inbox, &shared).await;
            shared.update(|state| state.unregister(id));
        });
    }
}

/// Serves one connection until either side closes it.
async fn connection(
    stream: TcpStream,
    mut conn: LinkConn,
    mut inbox: mpsc::UnboundedReceiver<Downstream>,
    shared: &Shared,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let mut pending: Vec<u8> = Vec::new();
    // How much of `pending` is known to hold no line end.
    let mut scanned = 0;
    let mut chunk = vec![0u8; 16 * 1024];

    loop {
        while let Some(offset) = pending[scanned..].iter().position(|byte| *byte == b'\n') {
            let end = scanned + offset;
            let line: Vec<u8> = pending.drain(..=end).collect();
            scanned = 0;
            if !shared.lock().is_live(conn.id) {
                return;
            }
            if !answer_line(&line[..line.len() - 1], &mut conn, shared, &mut writer).await {
                return;
            }
        }
        scanned = pending.len();
        if pending.len() > wire::MAX_LINE {
            return;
        }

        tokio::select! {
            // Closing from outside wins over reading more.
            biased;
            downstream = inbox.recv() => match downstream {
                Some(Downstream::Line(bytes)) => {
                    if writer.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Some(Downstream::Close) | None => return,
            },
            read = reader.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
            },
        }
    }
}

/// Handles one line (without its `\n`); `false` when the connection is to be closed.
async fn answer_line(
    line: &[u8],
    conn: &mut LinkConn,
    shared: &Shared,
    writer: &mut OwnedWriteHalf,
) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return true;
    }

    if let Some(heartbeat) = wire::heartbeat(line) {
        // The cloud answers heartbeats only on a logged-in channel.
        if shared.lock().session(conn.id).is_none() {
            return true;
        }
        return writer
            .write_all(wire::heartbeat_answer(&heartbeat))
            .await
            .is_ok();
    }

    let outcome = match std::str::from_utf8(line) {
        Ok(text) => link::handle_line(shared, conn, text),
        Err(_) => link::Outcome::malformed(),
    };
    if let Some(answer) = &outcome.answer {
        let mut bytes = wire::frame(answer);
        let logged_in = answer["service_name"] == "login" && answer["state"] == 1;
        if let (true, Some(greeting)) = (logged_in, &shared.config.login_greeting) {
            bytes.extend(wire::frame(greeting));
        }
        if writer.write_all(&bytes).await.is_err() {
            return false;
        }
    }
    !outcome.close
}
