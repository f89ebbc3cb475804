//! Client ID metadata documents: a `client_id` that is a URL makes the
//! issuer fetch it, so a stranger picks where the issuer connects. These
//! attacks point it at places it must never fetch from, and at documents
//! it must not swallow.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    body::Body,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use e2e::{PKCE_CHALLENGE, issuer_config, no_redirects, spawn_issuer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// A port that counts every connection made to it: the evidence that
/// nothing was fetched.
pub struct Tripwire {
    pub port: u16,
    hits: Arc<AtomicUsize>,
}

impl Tripwire {
    pub async fn set() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self { port, hits }
    }

    /// `, nothing fetched`, or how often something was.
    pub fn verdict(&self) -> String {
        match self.hits.load(Ordering::SeqCst) {
            0 => ", nothing fetched".into(),
            n => format!(", but fetched ({n} connections)"),
        }
    }
}

/// What `/oauth/authorize` answers for the client whose metadata document
/// is at `client_id`, on an issuer that refuses loopback documents as a
/// deployed one does (`loopback_allowed: false`) or allows them as tests
/// need to serve any document at all.
pub async fn authorize_document(client_id: &str, loopback_allowed: bool) -> String {
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = issuer_config(state.path(), true, Some("alice"));
    config.allow_loopback_documents = loopback_allowed;
    let issuer = spawn_issuer(config).await;
    let response = no_redirects()
        .get(format!("{issuer}/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", super::CALLBACK),
            ("code_challenge", PKCE_CHALLENGE),
            ("code_challenge_method", "S256"),
            ("resource", "http://127.0.0.1:9/mcp"),
        ])
        .send()
        .await
        .expect("authorize");
    if response.headers().contains_key("location") {
        return "redirected to the client".into();
    }
    let status = response.status().as_u16();
    let page = response.text().await.unwrap_or_default();
    let message = page
        .split_once("<p class=\"error\">")
        .and_then(|(_, rest)| rest.split_once("</p>"))
        .map_or(page.as_str(), |(message, _)| message);
    // The reason, in short: the addresses and sizes in the page vary by machine.
    let reason = [
        ("non-public address", "non-public address"),
        ("HTTP 30", "redirect not followed"),
        ("larger than", "too large"),
        ("did not arrive within", "timed out"),
    ]
    .into_iter()
    .find(|(phrase, _)| message.contains(phrase))
    .map_or_else(
        || format!("another reason: {message}"),
        |(_, reason)| reason.to_owned(),
    );
    format!("{status} page, {reason}")
}

/// A loopback server of hostile documents: `/redirect` sends the fetcher
/// to `redirect_to`, `/huge` is 10 MiB with its length announced,
/// `/huge-chunked` the same without a length, and `/drip` a byte every
/// tenth of a second, for ever.
pub async fn hostile_documents(redirect_to: String) -> SocketAddr {
    const HUGE: usize = 10 << 20;
    let app = Router::new()
        .route(
            "/redirect",
            get(move || async move { (StatusCode::FOUND, [(header::LOCATION, redirect_to)]) }),
        )
        .route("/huge", get(|| async { vec![b' '; HUGE].into_response() }))
        .route(
            "/huge-chunked",
            get(|| async {
                let padding = tokio::io::repeat(b' ').take(HUGE as u64);
                Body::from_stream(tokio_util::io::ReaderStream::new(padding))
            }),
        )
        .route(
            "/drip",
            get(|| async {
                let (mut tap, drops) = tokio::io::duplex(64);
                tokio::spawn(async move {
                    while tap.write_all(b" ").await.is_ok() {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                });
                Body::from_stream(tokio_util::io::ReaderStream::new(drops))
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
