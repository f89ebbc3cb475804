//! The accept loop: a router served over HTTP/1.1 with time limits.
//!
//! `axum::serve` sets no timer on hyper, so a client that sends half a
//! request head and then nothing holds its connection and task forever
//! (slow loris). Here every request head must arrive within the request
//! timeout; the body and the answer are bounded by each router's own
//! timeout layer.

use std::{future::Future, io, pin::pin, time::Duration};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish. A request head that has not arrived within
/// `request_timeout` closes its connection unanswered.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let router = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
/// let stop = async { let _ = tokio::signal::ctrl_c().await; };
/// kit_serve::serve(listener, router, std::time::Duration::from_secs(30), stop).await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    router: Router,
    request_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(request_timeout);
    let connections = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    wait_after_accept_error(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small and written at once; Nagle would only delay them.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(router.clone());
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // A client that goes away or times out; not the server's failure.
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// A failed `accept` ends one connection, not the server. Running out of
/// file descriptors is the usual cause; pausing lets some close.
async fn wait_after_accept_error(e: &io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; pausing before the next");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    use super::*;

    async fn read_all(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// Shown by order, not by timing: the stalled connection is closed
    /// unanswered, and a whole request sent meanwhile was answered.
    #[tokio::test]
    async fn a_half_sent_request_head_is_closed_and_holds_up_no_one() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let stop = stop_on_drop();
        tokio::spawn(serve(listener, router, Duration::from_millis(300), stop.1));

        let mut stalled = TcpStream::connect(addr).await.expect("connect");
        stalled
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .expect("write half a head");

        let mut other = TcpStream::connect(addr).await.expect("connect");
        other
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let answer = read_all(&mut other).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

        let closed = tokio::time::timeout(Duration::from_secs(20), read_all(&mut stalled))
            .await
            .expect("the stalled connection is closed");
        assert_eq!(closed, "", "closed without an answer");
        drop(stop.0);
    }

    /// A stop signal that fires when its sender is dropped.
    fn stop_on_drop() -> (
        tokio::sync::oneshot::Sender<()>,
        impl Future<Output = ()> + Send + 'static,
    ) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        (tx, async move {
            let _ = rx.await;
        })
    }
}
