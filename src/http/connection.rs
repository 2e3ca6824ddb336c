//! Accepting and serving connections so that slow or idle clients cannot take
//! the server down: at most `max_connections` are open at once (capped below
//! the file-descriptor limit, which is raised to its hard limit at start), a
//! connection must send each request's headers within
//! `header_read_timeout_secs` (also between requests on a kept-alive
//! connection), and one that moves no bytes for `connection_idle_timeout_secs`
//! is closed. When the cap is reached the server stops accepting, so new
//! clients wait in the listen backlog until a slot frees, instead of the
//! process running out of descriptors.
//!
//! Each connection is served by hyper's HTTP/1 connection builder with the
//! peer address as `ConnectInfo<SocketAddr>`, and finishes its in-flight
//! request on graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::Config;

/// File descriptors kept for everything but client connections: database
/// and Redis pools, listeners, logs, key files.
const RESERVED_FDS: u64 = 256;

/// Largest request head (request line and headers) read, bytes; a longer one
/// gets `431`. Leaves room for the longest authorization request URL.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Pause after an accept failure for lack of resources (descriptors, memory).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The bounds every connection is served under.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Open connections at most, already below the descriptor limit.
    pub max_connections: usize,
    /// Time allowed for a request's headers.
    pub header_read_timeout: Duration,
    /// Time without any byte moving before the connection is closed.
    pub idle_timeout: Duration,
}

impl ConnectionLimits {
    /// The configured limits, with the connection cap lowered below the
    /// descriptor limit after raising the soft limit as far as allowed.
    pub fn for_config(config: &Config) -> Self {
        let max_connections = match raise_fd_limit() {
            Some(fds) => {
                let room = fds.saturating_sub(RESERVED_FDS).max(fds / 2).max(1);
                let room = usize::try_from(room).unwrap_or(usize::MAX);
                if room < config.max_connections {
                    tracing::warn!(
                        max_connections = room,
                        fd_limit = fds,
                        "max_connections lowered below the file-descriptor limit"
                    );
                }
                config.max_connections.min(room)
            }
            None => config.max_connections,
        };
        Self {
            max_connections,
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(config.connection_idle_timeout_secs),
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit where allowed; returns
/// the soft limit then in force (`None`: unlimited).
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
    {
        let raised = Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return Some(maximum),
            Err(e) => tracing::warn!(error = %e, "could not raise the file-descriptor limit"),
        }
    }
    limit.current
}

/// The connection slots shared by every listener.
pub fn permits(limits: &ConnectionLimits) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(
        limits.max_connections.min(Semaphore::MAX_PERMITS),
    ))
}

/// Accepts connections on `listener` while a slot is free, until `stop` turns
/// true; then stops accepting and waits for the open connections to finish
/// their in-flight requests. Fails only on an accept error that is not about
/// one connection or a passing lack of resources.
pub async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut connections = JoinSet::new();
    let result = loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
        };
        let Ok(permit) = permit else {
            break Ok(());
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
        };
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((stream, peer)) => {
                connections.spawn(serve_connection(
                    stream,
                    peer,
                    router.clone(),
                    limits,
                    stop.clone(),
                    permit,
                ));
            }
            Err(e) if is_per_connection(&e) => {}
            Err(e) if is_resource_shortage(&e) => {
                tracing::warn!(error = %e, "cannot accept a connection; retrying shortly");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
            Err(e) => break Err(e),
        }
    };
    drop(listener);
    while connections.join_next().await.is_some() {}
    result
}

fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// EMFILE, ENFILE, ENOBUFS, ENOMEM: the process or system is short of something.
fn is_resource_shortage(e: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(e),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

/// Serves one connection until it closes, times out, or finishes after `stop`.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = router.map_request(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let connection = builder.serve_connection(io, TowerToHyperService::new(service));
    tokio::pin!(connection);
    let mut shutting_down = false;
    loop {
        let idle_deadline = activity.last() + limits.idle_timeout;
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                break;
            }
            _ = stop.wait_for(|stopped| *stopped), if !shutting_down => {
                connection.as_mut().graceful_shutdown();
                shutting_down = true;
            }
            () = tokio::time::sleep_until(idle_deadline) => {
                if activity.last() + limits.idle_timeout <= Instant::now() {
                    tracing::debug!(%peer, "closing an idle connection");
                    break;
                }
            }
        }
    }
}

/// When a connection last moved a byte.
struct Activity {
    opened: Instant,
    last_millis: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_millis: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(millis, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_millis.load(Ordering::Relaxed))
    }
}

/// A stream that records when bytes last moved through it.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::{Resource, getrlimit};

    #[test]
    fn the_soft_descriptor_limit_is_raised_and_the_cap_stays_below_it() {
        let config = Config {
            max_connections: 1_000_000,
            ..Config::default()
        };
        let limits = ConnectionLimits::for_config(&config);
        let after = getrlimit(Resource::Nofile);
        assert_eq!(
            after.current, after.maximum,
            "soft limit raised to the hard one"
        );
        if let Some(soft) = after.current {
            let cap = u64::try_from(limits.max_connections).unwrap();
            assert!(
                cap < soft,
                "{cap} connections under a limit of {soft} descriptors"
            );
            assert!(cap <= soft.saturating_sub(RESERVED_FDS).max(soft / 2));
        }
        let small = Config {
            max_connections: 7,
            ..Config::default()
        };
        assert_eq!(ConnectionLimits::for_config(&small).max_connections, 7);
    }
}
