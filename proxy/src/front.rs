//! The front door. The proxy faces the internet without a reverse proxy in
//! front of it, so it accepts connections itself and bounds what a client
//! can hold:
//!
//! - a request's head must arrive within `server.header_read_timeout_ms`,
//!   and a kept-alive connection waiting for its next request is closed
//!   after as long (hyper's header timer runs from the moment a connection
//!   waits for a head, so it is the idle timeout too);
//! - one client address (an IPv6 /64) holds at most
//!   `server.max_connections_per_client` of them (a trusted proxy's are
//!   not capped: they carry every client's): the per-address request
//!   limit cannot see connections that never send a request;
//! - sending an answer may make no progress for at most
//!   `server.write_timeout_ms`: a client that stops reading (its buffers
//!   and the kernel's full) is cut off; hyper has no write timeout;
//! - heads are at most 16 KiB and 64 headers: 10,000 connections cannot
//!   buffer gigabytes;
//! - at most `server.max_connections` are open at once: the next one is
//!   answered `503` with `Retry-After` at once and closed (past 128 being
//!   answered so, closed unanswered), never left to hang in the kernel's
//!   queue;
//! - on shutdown it stops accepting, and lets requests under way finish
//!   for at most `server.shutdown_timeout_ms`.
//!
//! The body and the whole request have deadlines of their own, as layers of
//! the router ([`crate::startup::router`]). HTTP/1.1 only: browsers reach
//! the proxy over it, and hyper enforces the timeouts above for it, but for
//! the bound on writes, which is this module's own.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::clients::TrustedProxies;
use crate::config::ServerSettings;
use crate::error::ApiError;
use crate::limits::client_of;
use crate::metrics::Metrics;

/// The largest request head, and the most headers, a client may send.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// Open files kept for what is not a client: the database, Campaign, IMS,
/// the widget's files, logs.
const RESERVED_FILES: u64 = 256;

/// How long a shed connection may take to send its head, and to receive
/// its `503`.
const SHED_WRITE: Duration = Duration::from_secs(1);

/// Connections answered `503` at once; beyond, a connection over the cap is
/// closed unanswered (a flood must not use up the files the cap keeps).
const SHEDDING_AT_ONCE: usize = 128;

/// Serves `router` on `listener` until `shutdown` completes, within the
/// bounds of `settings`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &ServerSettings,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(connection_cap(settings.max_connections)));
    let shed = Arc::new(shed_answer());
    let shedding = Arc::new(Semaphore::new(SHEDDING_AT_ONCE));
    let per_client = Arc::new(PerClient::new(
        settings.max_connections_per_client,
        settings.trusted_proxies.clone(),
    ));
    let write_timeout = Duration::from_millis(settings.write_timeout_ms);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(settings.header_read_timeout_ms))
        .max_buf_size(MAX_HEAD)
        .max_header_size(MAX_HEAD)
        .max_headers(MAX_HEADERS);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of files, or the peer gave up before it was taken:
                // wait a moment rather than spin, and go on.
                Err(error) => {
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let client = per_client.clone().admit(peer.ip());
        let (Some(client), Ok(slot)) = (client, open.clone().try_acquire_owned()) else {
            metrics.shed();
            if let Ok(turning) = shedding.clone().try_acquire_owned() {
                let answer = shed.clone();
                tokio::spawn(async move {
                    turn_away(stream, answer).await;
                    drop(turning);
                });
            }
            continue;
        };
        let service = router
            .clone()
            .map_request(move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let stream = WriteDeadline::new(stream, write_timeout);
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that breaks off, or times out, is no error of ours.
            let _ = connection.await;
            drop((slot, client));
        });
    }
    drop(listener);
    // Resolved at start (`Application::build_on`): the request deadline
    // unless set.
    let deadline = settings.shutdown_timeout(Duration::ZERO);
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?deadline,
            "requests still under way at the shutdown deadline were cut off"
        );
    }
    Ok(())
}

/// Connections open per client address (an IPv6 /64).
struct PerClient {
    max: usize,
    /// Load balancers: their connections carry every client's.
    uncapped: TrustedProxies,
    open: Mutex<HashMap<String, usize>>,
}

/// One client's connection, counted while it is held.
struct Held {
    clients: Arc<PerClient>,
    client: String,
}

impl PerClient {
    fn new(max: usize, uncapped: TrustedProxies) -> Self {
        Self {
            max,
            uncapped,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a connection from `ip`, unless it already holds its most.
    fn admit(self: Arc<Self>, ip: IpAddr) -> Option<Held> {
        let client = client_of(ip);
        let mut open = self.counts();
        let held = open.entry(client.clone()).or_insert(0);
        let capped = self.max != 0 && !self.uncapped.trust(ip);
        if capped && *held >= self.max {
            return None;
        }
        *held += 1;
        drop(open);
        Some(Held {
            clients: self,
            client,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self.clients.counts();
        if let Some(held) = open.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// `max_connections`, within what the process may open: its soft limit of
/// open files is first raised to the hard one, as far as allowed.
fn connection_cap(max_connections: usize) -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    let files = match setrlimit(Resource::Nofile, raised) {
        Ok(()) => limit.maximum,
        Err(_) => limit.current,
    };
    let Some(files) = files else {
        return max_connections;
    };
    let room = usize::try_from(files.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    let cap = max_connections.min(room).max(1);
    if cap < max_connections {
        tracing::warn!(
            max_connections,
            open_files = files,
            "server.max_connections is more than the process may open; using {cap}"
        );
    }
    cap
}

/// The whole answer a connection over the cap gets, as bytes.
fn shed_answer() -> Vec<u8> {
    let body = ApiError::Overloaded.body();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\ncache-control: no-store\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers a connection over the cap and closes it: its request's head
/// first (a client that gets an answer before it has asked takes it for a
/// broken server), then the `503`. All of it within [`SHED_WRITE`]; a
/// client that sends nothing gets the answer when that runs out.
async fn turn_away(mut stream: TcpStream, answer: Arc<Vec<u8>>) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    let _ = tokio::time::timeout(SHED_WRITE, async {
        while head.len() < 8 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(SHED_WRITE, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    })
    .await;
}

/// A connection whose writes may stall for at most `limit`. The timer runs
/// only while a write waits and restarts with any progress, so a slow but
/// reading client is served however long its answer takes.
struct WriteDeadline {
    stream: TcpStream,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteDeadline {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        Self {
            stream,
            limit,
            stalled: None,
        }
    }

    /// `write`'s outcome, or an error once writes have waited `limit`.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if let Poll::Ready(outcome) = write(Pin::new(&mut self.stream), cx) {
            self.stalled = None;
            return Poll::Ready(outcome);
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        timer.as_mut().poll(cx).map(|()| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))
        })
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.bounded(cx, |stream, cx| stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.bounded(cx, |stream, cx| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.bounded(cx, AsyncWrite::poll_flush)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.bounded(cx, AsyncWrite::poll_shutdown)
    }
}
