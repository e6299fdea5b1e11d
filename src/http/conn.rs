//! Connections, served so that hostile clients cannot shut anybody out: a timer for the headers
//! (hyper's own), a keep-alive idle timeout, a body timeout and minimum rate, a timeout for a
//! client that stops reading its response, and a cap on open connections below the open-file
//! limit. At the cap, the connections that have waited longest
//! without a request in progress (half-sent headers, idle keep-alives) are closed first, so a
//! parent opening the withdrawal page still gets in while hundreds of sockets dangle.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response};
use axum::response::IntoResponse;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use super::error::ApiError;
use crate::config::Connections;

/// How many connections may be open: `configured` if given, but never more than the open-file
/// limit `open_files` allows once a reserve is kept for what else needs a descriptor (the
/// database pool, object files and S3 connections, scrubbing's temporary files, logs). `None`
/// for an unknown limit.
pub fn connection_cap(open_files: Option<u64>, configured: Option<usize>) -> usize {
    let allowed = match open_files {
        Some(limit) => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            let reserve = (limit / 4).clamp(32, 256);
            limit.saturating_sub(reserve).max(8)
        }
        None => 1024,
    };
    configured.map_or(allowed, |c| c.min(allowed)).max(1)
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, closes the
/// connections that have no request in progress, lets the others finish for at most `grace`, and
/// returns (whatever is still running is cut off).
pub async fn serve(
    router: Router,
    listener: TcpListener,
    settings: &Connections,
    cap: usize,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let registry = Registry::new(cap);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection holds a receiver; `closed()` completes once every one has ended.
    let (closed_tx, closed_rx) = watch::channel(());
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(settings.header_timeout).keep_alive(true);
    let body_limits = BodyLimits { timeout: settings.body_timeout, min_rate: settings.min_body_rate };
    let idle_timeout = settings.idle_timeout;
    let mut shutdown = pin!(shutdown);
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors despite the cap (other files count too): make room by closing
                // the oldest waiting connection, and try again soon rather than in a second.
                let exhausted = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                let evicted = if exhausted { registry.evict_waiting(1) } else { 0 };
                if last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!(error = %e, evicted, "accept failed");
                    last_warning = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(if exhausted { 10 } else { 100 })).await;
                continue;
            }
        };
        let Some(handle) = registry.admit() else {
            // Every connection has a request in progress: this one waits for nothing, it goes.
            metrics::counter!("consentgate_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            handle,
            builder: builder.clone(),
            router: router.clone(),
            peer,
            body_limits,
            idle_timeout,
            write_timeout: settings.body_timeout,
            stop: stop_rx.clone(),
            _closed: closed_rx.clone(),
        };
        tokio::spawn(connection.run(stream));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(closed_rx);
    tokio::select! {
        () = closed_tx.closed() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_seconds = grace.as_secs(), "requests still running at the shutdown deadline were cut off");
        }
    }
}

/// One accepted connection and what it needs to be served.
struct Connection {
    handle: Handle,
    builder: hyper::server::conn::http1::Builder,
    router: Router,
    peer: SocketAddr,
    body_limits: BodyLimits,
    idle_timeout: Duration,
    /// How long a response may wait for the client to take a byte.
    write_timeout: Duration,
    stop: watch::Receiver<bool>,
    _closed: watch::Receiver<()>,
}

impl Connection {
    async fn run(mut self, stream: tokio::net::TcpStream) {
        let handle = Arc::new(self.handle);
        let service = {
            let (handle, router, peer, limits) = (handle.clone(), self.router, self.peer, self.body_limits);
            hyper::service::service_fn(move |request| {
                handle_request(router.clone(), handle.clone(), peer, limits, request)
            })
        };
        let stream = StallingWrites::new(stream, self.write_timeout, handle.writing.clone());
        let mut conn = pin!(self.builder.serve_connection(TokioIo::new(stream), service));
        let mut stopping = *self.stop.borrow();
        if stopping {
            return;
        }
        loop {
            let idle_deadline = handle.idle_deadline(self.idle_timeout);
            let wake = handle.wake.clone();
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = wake.notified() => {
                    if handle.evicted() {
                        break;
                    }
                }
                () = sleep_until(idle_deadline) => {
                    if handle.idle_deadline(self.idle_timeout).is_some_and(|d| d <= Instant::now()) {
                        if !handle.is_writing() {
                            break;
                        }
                        // The response is still on its way out of hyper's buffer (a slow
                        // download): not idle. Stalls are the write timeout's business.
                        handle.rearm_idle();
                    }
                }
                _ = self.stop.changed(), if !stopping => {
                    stopping = true;
                    if handle.is_waiting() && !handle.is_writing() {
                        break;
                    }
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Serves one request: the peer address for the rate limits, the body under its timeout, and the
/// connection marked busy until the response has been sent.
async fn handle_request(
    router: Router,
    handle: Arc<Handle>,
    peer: SocketAddr,
    limits: BodyLimits,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let busy = Busy::start(handle);
    let timed_out = Arc::new(AtomicBool::new(false));
    let mut request = request.map(|body| Body::new(TimedBody::new(body, limits, timed_out.clone())));
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let response = if timed_out.load(Ordering::Relaxed) {
        // Whatever the handler made of the broken body, the client was too slow: say so, and
        // close, since the rest of its body was never read.
        let mut response = ApiError::body_timeout(limits.timeout, limits.min_rate).into_response();
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    } else {
        response
    };
    Ok(response.map(|body| Body::new(Finishing { inner: body, _busy: busy })))
}

/// The open connections, and those waiting for a request (headers not yet complete), oldest
/// first.
#[derive(Clone)]
struct Registry {
    inner: Arc<Mutex<Entries>>,
}

struct Entries {
    cap: usize,
    next_id: u64,
    /// Open connections, including those told to close that have not yet closed.
    open: usize,
    /// Told to close, not yet closed.
    evicting: usize,
    conns: HashMap<u64, Entry>,
    /// (waiting since, id) of the connections without a request in progress.
    waiting: BTreeSet<(Instant, u64)>,
}

struct Entry {
    /// Since when it waits for a request; `None` while one is in progress.
    waiting_since: Option<Instant>,
    /// Requests in progress (HTTP/1: at most one).
    in_flight: usize,
    /// Whether a request was served (an idle keep-alive then, rather than a new connection).
    served: bool,
    evicted: bool,
    wake: Arc<Notify>,
    /// Set while the socket refuses more of a response (see [`StallingWrites`]).
    writing: Arc<AtomicBool>,
}

impl Registry {
    fn new(cap: usize) -> Registry {
        Registry {
            inner: Arc::new(Mutex::new(Entries {
                cap,
                next_id: 0,
                open: 0,
                evicting: 0,
                conns: HashMap::new(),
                waiting: BTreeSet::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a new connection in, closing the longest-waiting ones if the cap is reached; `None`
    /// when every open connection has a request in progress.
    fn admit(&self) -> Option<Handle> {
        let mut entries = self.lock();
        let over = (entries.open - entries.evicting + 1).saturating_sub(entries.cap);
        if over > 0 && entries.evict(over) < over {
            return None;
        }
        let id = entries.next_id;
        entries.next_id += 1;
        entries.open += 1;
        let now = Instant::now();
        let wake = Arc::new(Notify::new());
        let writing = Arc::new(AtomicBool::new(false));
        entries.conns.insert(
            id,
            Entry {
                waiting_since: Some(now),
                in_flight: 0,
                served: false,
                evicted: false,
                wake: wake.clone(),
                writing: writing.clone(),
            },
        );
        entries.waiting.insert((now, id));
        Some(Handle { registry: self.clone(), id, wake, writing })
    }

    /// Closes up to `count` of the connections waiting longest; how many it closed.
    fn evict_waiting(&self, count: usize) -> usize {
        self.lock().evict(count)
    }
}

impl Entries {
    fn evict(&mut self, count: usize) -> usize {
        // A connection still sending its last response is not waiting, whatever its request
        // count says: closing it would cut a download short.
        let chosen: Vec<(Instant, u64)> = self
            .waiting
            .iter()
            .filter(|(_, id)| self.conns.get(id).is_none_or(|e| !e.writing.load(Ordering::Relaxed)))
            .take(count)
            .copied()
            .collect();
        let mut evicted = 0;
        for key in chosen {
            self.waiting.remove(&key);
            if let Some(entry) = self.conns.get_mut(&key.1) {
                entry.waiting_since = None;
                entry.evicted = true;
                entry.wake.notify_one();
                self.evicting += 1;
                evicted += 1;
            }
        }
        if evicted > 0 {
            metrics::counter!("consentgate_connections_evicted_total").increment(evicted as u64);
        }
        evicted
    }
}

/// A connection's place in the [`Registry`]; leaving it (drop) counts the connection out.
struct Handle {
    registry: Registry,
    id: u64,
    /// Woken when the connection is told to close or its requests end.
    wake: Arc<Notify>,
    /// Whether a response is still waiting for the client to take it.
    writing: Arc<AtomicBool>,
}

impl Handle {
    fn evicted(&self) -> bool {
        self.registry.lock().conns.get(&self.id).is_none_or(|e| e.evicted)
    }

    fn is_waiting(&self) -> bool {
        self.registry.lock().conns.get(&self.id).is_some_and(|e| e.in_flight == 0)
    }

    /// Whether a response is still on its way to the client: hyper takes a response body whole
    /// and the request counts as finished, but the bytes may not yet be in the kernel's hands.
    fn is_writing(&self) -> bool {
        self.writing.load(Ordering::Relaxed)
    }

    /// Starts the idle wait again from now, for a connection found still writing at its deadline.
    fn rearm_idle(&self) {
        let mut guard = self.registry.lock();
        let entries = &mut *guard;
        if let Some(entry) = entries.conns.get_mut(&self.id) {
            if let Some(since) = entry.waiting_since {
                let now = Instant::now();
                entries.waiting.remove(&(since, self.id));
                entry.waiting_since = Some(now);
                entries.waiting.insert((now, self.id));
            }
        }
    }

    /// When an idle kept-alive connection is to be closed; `None` while a request is in progress
    /// or before the first (hyper's header timeout covers a new connection).
    fn idle_deadline(&self, idle_timeout: Duration) -> Option<Instant> {
        let entries = self.registry.lock();
        let entry = entries.conns.get(&self.id)?;
        if !entry.served {
            return None;
        }
        entry.waiting_since.map(|since| since + idle_timeout)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut entries = self.registry.lock();
        if let Some(entry) = entries.conns.remove(&self.id) {
            if let Some(since) = entry.waiting_since {
                entries.waiting.remove(&(since, self.id));
            }
            if entry.evicted {
                entries.evicting -= 1;
            }
        }
        entries.open -= 1;
    }
}

/// A request in progress on a connection, from its complete headers until its response has been
/// sent (or abandoned): the connection is then not waiting, and is never closed to make room.
struct Busy {
    handle: Arc<Handle>,
}

impl Busy {
    fn start(handle: Arc<Handle>) -> Busy {
        {
            let mut guard = handle.registry.lock();
            let entries = &mut *guard;
            if let Some(entry) = entries.conns.get_mut(&handle.id) {
                entry.in_flight += 1;
                entry.served = true;
                if let Some(since) = entry.waiting_since.take() {
                    entries.waiting.remove(&(since, handle.id));
                }
            }
        }
        Busy { handle }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut guard = self.handle.registry.lock();
        let entries = &mut *guard;
        let now = Instant::now();
        let Some(entry) = entries.conns.get_mut(&self.handle.id) else { return };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        if entry.in_flight == 0 && !entry.evicted {
            entry.waiting_since = Some(now);
            entries.waiting.insert((now, self.handle.id));
        }
        // The connection's task recomputes its idle deadline.
        self.handle.wake.notify_one();
    }
}

/// A response body that keeps its connection marked busy until it has been sent or dropped.
struct Finishing {
    inner: Body,
    _busy: Busy,
}

impl HttpBody for Finishing {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's socket whose writes fail once the client has taken nothing for `timeout`. A
/// client that asks for a large image and never reads it would otherwise hold its connection (and
/// the memory of the response) for as long as it liked: a connection with a request in progress is
/// never closed to make room. The error ends the connection through hyper.
struct StallingWrites<S> {
    inner: S,
    timeout: Duration,
    /// Armed when a write first finds the socket full; disarmed by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
    /// Shared with the connection's [`Handle`]: set while a write waits for the socket, so that
    /// a connection still sending a response is neither idle nor closed to make room.
    writing: Arc<AtomicBool>,
}

impl<S> StallingWrites<S> {
    fn new(inner: S, timeout: Duration, writing: Arc<AtomicBool>) -> StallingWrites<S> {
        StallingWrites { inner, timeout, stalled: None, writing }
    }

    /// Passes on a write's outcome, keeping count of how long the socket has stayed full.
    fn watch<T>(&mut self, polled: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        self.writing.store(polled.is_pending(), Ordering::Relaxed);
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let timeout = self.timeout;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if stalled.as_mut().poll(cx).is_ready() {
            metrics::counter!("consentgate_connections_write_timeouts_total").increment(1);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            )));
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallingWrites<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallingWrites<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(polled, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(polled, cx)
    }
}

/// How long a request body may stall, and how slowly it may arrive.
#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    timeout: Duration,
    /// Bytes per second, on average, once `timeout` has passed since the body was first read; 0
    /// for no minimum.
    min_rate: u64,
}

/// Why a request body was cut off.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct BodyTimeout;

/// A request body that fails with [`BodyTimeout`] when the client stalls longer than the timeout
/// or falls below the minimum rate. Timing starts when the handler first reads the body, so time
/// spent waiting for an upload slot is not held against the client.
struct TimedBody {
    inner: Incoming,
    limits: BodyLimits,
    started: Option<Instant>,
    received: u64,
    deadline: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Incoming, limits: BodyLimits, timed_out: Arc<AtomicBool>) -> TimedBody {
        TimedBody { inner, limits, started: None, received: 0, deadline: None, timed_out }
    }

    /// The moment the body will have stalled too long or fallen below the rate, given what has
    /// arrived by `now`.
    fn deadline(&self, started: Instant, now: Instant) -> Instant {
        let stall = now + self.limits.timeout;
        if self.limits.min_rate == 0 {
            return stall;
        }
        let earned = Duration::from_secs_f64(self.received as f64 / self.limits.min_rate as f64);
        stall.min(started + self.limits.timeout + earned)
    }

    fn fail(&mut self) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.timed_out.store(true, Ordering::Relaxed);
        self.deadline = None;
        Poll::Ready(Some(Err(BodyTimeout.into())))
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        let now = Instant::now();
        let started = *this.started.get_or_insert(now);
        if this.deadline.is_none() {
            this.deadline = Some(Box::pin(tokio::time::sleep_until(this.deadline(started, now))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                let now = Instant::now();
                let next = this.deadline(started, now);
                if next <= now {
                    return this.fail();
                }
                if let Some(deadline) = this.deadline.as_mut() {
                    deadline.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let expired = this.deadline.as_mut().is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    this.fail()
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_open_file_limit() {
        assert_eq!(connection_cap(Some(512), None), 384);
        assert_eq!(connection_cap(Some(20_000), None), 20_000 - 256);
        assert_eq!(connection_cap(Some(100), None), 68);
        assert_eq!(connection_cap(Some(512), Some(100)), 100);
        assert_eq!(connection_cap(Some(512), Some(10_000)), 384);
        assert_eq!(connection_cap(None, None), 1024);
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_waiting_connection_goes_first() {
        let registry = Registry::new(2);
        let first = registry.admit().unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let second = Arc::new(registry.admit().unwrap());
        // The second has a request in progress: only the first may be closed.
        let busy = Busy::start(second.clone());
        let third = registry.admit().unwrap();
        assert!(first.evicted() && !second.evicted() && !third.evicted());
        // Counted out once closed; with the rest busy or newer, the next goes to the third.
        drop(first);
        let _busy_third = Busy::start(Arc::new(third));
        assert!(registry.admit().is_none(), "every connection is busy: nothing to close");
        drop(busy);
        assert!(registry.admit().is_some(), "the second is idle again, so it makes room");
        assert!(second.evicted());
    }
}
