//! The accept loop of both listeners: HTTP/1 on hyper's own connection handling, one task per
//! connection, and what each does when its listener shuts down.
//!
//! axum's `serve` did the same for the REST API with three wrappers around every connection
//! (protocol detection for an HTTP/2 this service does not offer, tower-to-hyper glue, and a
//! shutdown `watch` polled on every wake-up). Each invoke wakes a connection task about three
//! times, so on the invoke path those wrappers were a measurable part of the server's CPU.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

/// What a connection does when its listener shuts down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnShutdown {
    /// Finish the request in flight, if any, then close (the REST API: an accepted invoke is
    /// answered). [`serve`] returns when every connection has closed.
    Finish,
    /// Close at once (a Runtime API: a runtime's `/next` waits for an event that will not come).
    Drop,
}

/// Serves `service` over HTTP/1 on every connection `listener` accepts until `shutdown` is
/// cancelled, then stops accepting and ends the connections as `on_shutdown` says.
pub(crate) async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: CancellationToken,
    on_shutdown: OnShutdown,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let connections = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            stream = accept(&listener) => stream,
        };
        let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service.clone());
        connections.spawn(Connection {
            conn,
            cancelled: Box::pin(shutdown.clone().cancelled_owned()),
            shutdown: shutdown.clone(),
            registered: None,
            closing: false,
            on_shutdown,
        });
    }
    drop(listener);
    connections.close();
    if on_shutdown == OnShutdown::Finish {
        connections.wait().await;
    }
}

/// The next connection, with Nagle's algorithm off: every response is one write its client is
/// waiting for.
///
/// A connection that failed before it was accepted is skipped; any other error (out of file
/// descriptors, most likely) is logged and retried after a second rather than in a busy loop,
/// as axum's and hyper's servers do.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                return stream;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => {
                tracing::error!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One connection, watching its listener's shutdown.
///
/// Not a `select!` between the connection and `shutdown.cancelled()`: that polls the token's
/// waiter, which takes a mutex, every time the connection wakes. The token keeps the waker it was
/// last polled with, so it is polled again only when the task's waker changes (for a spawned
/// task, never); otherwise a wake-up costs one look at the token's flag.
struct Connection<C> {
    conn: C,
    shutdown: CancellationToken,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    /// The waker `cancelled` holds.
    registered: Option<Waker>,
    closing: bool,
    on_shutdown: OnShutdown,
}

impl<S, B> Future for Connection<http1::Connection<TokioIo<TcpStream>, S>>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every field is Unpin (hyper's connection is), so the connection is safe to move.
        let this = self.get_mut();
        if !this.closing {
            let stale = this
                .registered
                .as_ref()
                .is_none_or(|w| !w.will_wake(cx.waker()));
            let cancelled = if stale {
                this.registered = Some(cx.waker().clone());
                this.cancelled.as_mut().poll(cx).is_ready()
            } else {
                this.shutdown.is_cancelled()
            };
            if cancelled {
                match this.on_shutdown {
                    OnShutdown::Drop => return Poll::Ready(()),
                    OnShutdown::Finish => {
                        this.closing = true;
                        Pin::new(&mut this.conn).graceful_shutdown();
                    }
                }
            }
        }
        // Errors are the client's (a reset, a malformed request hyper has answered): the
        // connection is over either way.
        Pin::new(&mut this.conn).poll(cx).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::Full;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::oneshot;
    use tokio_util::sync::CancellationToken;

    use super::{OnShutdown, serve};

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    /// Long enough for a loaded CI machine; a hang fails instead of blocking the suite.
    const DEADLINE: Duration = Duration::from_secs(10);

    /// A server whose requests to `/` answer at once; any other request tells `entered` it has
    /// reached the service, then answers when `release` fires.
    async fn start(
        on_shutdown: OnShutdown,
        slow: Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>,
    ) -> (
        std::net::SocketAddr,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let slow = std::sync::Arc::new(std::sync::Mutex::new(slow));
        let service = hyper::service::service_fn(move |req: http::Request<_>| {
            let slow = (req.uri().path() != "/")
                .then(|| slow.lock().unwrap().take())
                .flatten();
            async move {
                if let Some((entered, release)) = slow {
                    let _ = entered.send(());
                    let _ = release.await;
                }
                Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
            }
        });
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(listener, service, shutdown.clone(), on_shutdown));
        (addr, shutdown, server)
    }

    /// Sends a request that stays in the service until `release` fires; returns once it is there.
    async fn slow_request(
        on_shutdown: OnShutdown,
    ) -> (
        TcpStream,
        oneshot::Sender<()>,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let (entered_tx, entered) = oneshot::channel();
        let (release, released) = oneshot::channel();
        let (addr, shutdown, server) = start(on_shutdown, Some((entered_tx, released))).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::timeout(DEADLINE, entered)
            .await
            .expect("the request reaches the service")
            .unwrap();
        (conn, release, shutdown, server)
    }

    async fn read_to_end(conn: &mut TcpStream) -> String {
        let mut all = Vec::new();
        tokio::time::timeout(DEADLINE, conn.read_to_end(&mut all))
            .await
            .expect("the server closes the connection")
            .unwrap();
        String::from_utf8_lossy(&all).into_owned()
    }

    #[tokio::test]
    async fn at_shutdown_idle_connections_close_and_serving_ends() {
        let (addr, shutdown, server) = start(OnShutdown::Finish, None).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(GET).await.unwrap();
        let mut first = [0u8; 17];
        conn.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200 OK\r\n");
        // The connection is idle, kept alive; shutting down closes it.
        shutdown.cancel();
        read_to_end(&mut conn).await;
        tokio::time::timeout(DEADLINE, server)
            .await
            .expect("serve returns once its connections have closed")
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer accepting"
        );
    }

    #[tokio::test]
    async fn at_shutdown_a_request_in_flight_is_answered_first() {
        let (mut conn, release, shutdown, server) = slow_request(OnShutdown::Finish).await;
        shutdown.cancel();
        let _ = release.send(());
        let answer = read_to_end(&mut conn).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");
        tokio::time::timeout(DEADLINE, server)
            .await
            .expect("serve returns")
            .unwrap();
    }

    #[tokio::test]
    async fn at_shutdown_a_runtime_api_connection_closes_at_once() {
        // The answer never comes: a runtime's /next waiting for an event.
        let (mut conn, _release, shutdown, server) = slow_request(OnShutdown::Drop).await;
        shutdown.cancel();
        assert_eq!(read_to_end(&mut conn).await, "", "closed without an answer");
        tokio::time::timeout(DEADLINE, server)
            .await
            .expect("serve returns")
            .unwrap();
    }
}
