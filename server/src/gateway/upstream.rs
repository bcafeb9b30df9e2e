//! The gateway's connections to the guests: HTTP/1.1, kept alive and
//! pooled per guest address, each driven by the request that uses it.
//!
//! hyper's pooled client runs every connection as a task of its own: a
//! request went to that task through a channel, its answer came back
//! through another, and each piece of a body through a third, a wake-up
//! and often a hand-over between the runtime's threads each time. Here
//! the request's own task polls the connection, while it waits for the
//! answer's head and then inside the answer's body, and puts the
//! connection back in the pool when the body has ended. A body dropped
//! halfway (the browser left) drops and closes its connection.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long the guest may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle connection is kept (nginx closes its own after 75 s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per guest address, beyond which the oldest goes.
const MAX_IDLE: usize = 256;

/// Why the guest could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect")]
    Connect(#[source] std::io::Error),
    #[error("connecting took too long")]
    ConnectTimeout,
    #[error("the exchange failed")]
    Http(#[source] hyper::Error),
    #[error("the connection closed before the answer")]
    Closed,
}

/// One connection: the handle requests are sent through, and the
/// connection itself, which makes progress only while it is polled.
struct Conn {
    sender: http1::SendRequest<Body>,
    driver: http1::Connection<TokioIo<TcpStream>, Body>,
}

/// How one exchange ended without an answer.
enum Failed {
    /// The request was never written (the guest had closed the idle
    /// connection): it may go on another.
    NotSent(Box<Request<Body>>),
    Error(UpstreamError),
}

impl Conn {
    async fn open(to: SocketAddr) -> Result<Conn, UpstreamError> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to))
            .await
            .map_err(|_| UpstreamError::ConnectTimeout)?
            .map_err(UpstreamError::Connect)?;
        // The request's head and body go out at once, not 40 ms apart.
        stream.set_nodelay(true).map_err(UpstreamError::Connect)?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Http)?;
        Ok(Conn { sender, driver })
    }

    /// Moves the connection on; Ready once it has ended (closed by the
    /// guest, or failed), after which it must not be polled again.
    fn poll_driver(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.driver).poll(cx).map(|_| ())
    }

    /// Whether the connection can take a request; Err when it has ended.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        if self.poll_driver(cx).is_ready() {
            return Poll::Ready(Err(()));
        }
        self.sender.poll_ready(cx).map_err(|_| ())
    }

    /// Sends `request` and drives the connection until the answer's head.
    async fn exchange(&mut self, request: Request<Body>) -> Result<Response<Incoming>, Failed> {
        let mut answer = std::pin::pin!(self.sender.try_send_request(request));
        let driver = &mut self.driver;
        let mut driving = true;
        poll_fn(|cx| {
            if driving && Pin::new(&mut *driver).poll(cx).is_ready() {
                driving = false;
            }
            match answer.as_mut().poll(cx) {
                Poll::Ready(Ok(response)) => Poll::Ready(Ok(response)),
                Poll::Ready(Err(mut error)) => Poll::Ready(Err(match error.take_message() {
                    Some(request) => Failed::NotSent(Box::new(request)),
                    None => Failed::Error(UpstreamError::Http(error.into_error())),
                })),
                Poll::Pending if !driving => Poll::Ready(Err(Failed::Error(UpstreamError::Closed))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

/// An idle connection and since when.
struct Idle {
    conn: Conn,
    since: Instant,
}

/// The pool, one for all applications.
#[derive(Default)]
pub struct Upstream {
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
}

impl Upstream {
    pub fn new() -> Arc<Upstream> {
        Arc::new(Upstream::default())
    }

    /// Sends `request` (its URI in origin form) to `to` on a pooled
    /// connection or a new one, and returns the answer with its body
    /// streaming.
    pub async fn send(
        self: &Arc<Self>,
        to: SocketAddr,
        mut request: Request<Body>,
    ) -> Result<Response<Body>, UpstreamError> {
        while let Some(mut conn) = self.checkout(to) {
            if poll_fn(|cx| conn.poll_ready(cx)).await.is_err() {
                continue;
            }
            match conn.exchange(request).await {
                Ok(response) => return Ok(self.pooled(to, conn, response)),
                Err(Failed::NotSent(back)) => request = *back,
                Err(Failed::Error(error)) => return Err(error),
            }
        }
        let mut conn = Conn::open(to).await?;
        match conn.exchange(request).await {
            Ok(response) => Ok(self.pooled(to, conn, response)),
            Err(Failed::NotSent(_)) => Err(UpstreamError::Closed),
            Err(Failed::Error(error)) => Err(error),
        }
    }

    /// Sends a request that asks to switch protocols, on a connection of
    /// its own that is never pooled: it runs as a task until the switch,
    /// and then belongs to the upgraded stream.
    pub async fn upgrade(
        &self,
        to: SocketAddr,
        request: Request<Body>,
    ) -> Result<Response<Body>, UpstreamError> {
        let Conn { mut sender, driver } = Conn::open(to).await?;
        tokio::spawn(async move {
            if let Err(e) = driver.with_upgrades().await {
                tracing::debug!(error = %e, "an upstream connection to upgrade failed");
            }
        });
        let response = sender
            .send_request(request)
            .await
            .map_err(UpstreamError::Http)?;
        Ok(response.map(Body::new))
    }

    fn pooled(
        self: &Arc<Self>,
        to: SocketAddr,
        conn: Conn,
        response: Response<Incoming>,
    ) -> Response<Body> {
        response.map(|body| {
            let mut pooled = Pooled {
                body,
                conn: Some(conn),
                to,
                pool: Arc::downgrade(self),
            };
            // An answer without a body (a 204, a 304, a HEAD's) is done.
            if pooled.body.is_end_stream() {
                pooled.release(None);
            }
            Body::new(pooled)
        })
    }

    /// The most recently used idle connection to `to`, after dropping
    /// those idle too long.
    fn checkout(&self, to: SocketAddr) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let conns = idle.get_mut(&to)?;
        let fresh = conns
            .iter()
            .position(|i| i.since.elapsed() < IDLE_TIMEOUT)
            .unwrap_or(conns.len());
        conns.drain(..fresh);
        conns.pop().map(|i| i.conn)
    }

    fn checkin(&self, to: SocketAddr, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let conns = idle.entry(to).or_default();
        if conns.len() >= MAX_IDLE {
            conns.remove(0);
        }
        conns.push(Idle {
            conn,
            since: Instant::now(),
        });
    }
}

/// An answer's body that drives its connection while it is read, and
/// gives the connection back to the pool once it has ended.
struct Pooled {
    body: Incoming,
    /// None once the connection has ended or gone back to the pool.
    conn: Option<Conn>,
    to: SocketAddr,
    pool: Weak<Upstream>,
}

impl Pooled {
    /// Gives the connection back if it can take another request at once;
    /// closes it otherwise (a request body still being sent, say).
    fn release(&mut self, cx: Option<&mut Context<'_>>) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let ready = match cx {
            Some(cx) => matches!(conn.poll_ready(cx), Poll::Ready(Ok(()))),
            None => true,
        };
        if let (true, Some(pool)) = (ready, self.pool.upgrade()) {
            pool.checkin(self.to, conn);
        }
    }
}

impl HttpBody for Pooled {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(conn) = &mut this.conn
            && conn.poll_driver(cx).is_ready()
        {
            this.conn = None;
        }
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        match &frame {
            Some(Err(_)) => this.conn = None,
            None => this.release(Some(cx)),
            Some(Ok(_)) if this.body.is_end_stream() => this.release(Some(cx)),
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
