//! Attacks a polite HTTP client cannot make: a raw connection that stalls
//! part-way, or that never stops sending.

use std::time::Duration;

use e2e::{AppOptions, Backend, TestApp, spawn_app, summary, tools_list};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// How long a connection is watched before it counts as stuck.
const WATCH: Duration = Duration::from_secs(10);

/// What an endless body offers in all: far past any limit.
const OFFERED: u64 = 100 << 20;

/// `127.0.0.1:PORT` of `app`.
fn authority(app: &TestApp) -> String {
    let url = url::Url::parse(&app.url).expect("app url");
    format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().expect("port")
    )
}

/// The whole head (through its blank line) of `alice`'s `POST /mcp`;
/// `framing` is the body's length header line.
pub fn post_head(app: &TestApp, framing: &str) -> String {
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{framing}\r\n",
        authority(app),
        app.token_for("alice"),
    )
}

/// The status code of an HTTP/1.1 answer's first line.
fn status_of(answer: &[u8]) -> Option<&str> {
    std::str::from_utf8(answer)
        .ok()?
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)
}

/// Sends `start(app)` on a raw connection to a gateway whose request timeout
/// is one second, then nothing. Reports how that connection ended (or that
/// it is still open after [`WATCH`]), and what another client got meanwhile.
pub async fn stalled(start: impl FnOnce(&TestApp) -> String) -> String {
    let mut options = AppOptions::on(Backend::Sqlite);
    options.request_timeout = Duration::from_secs(1);
    let app = spawn_app(options).await;
    let mut stream = TcpStream::connect(authority(&app)).await.expect("connect");
    stream
        .write_all(start(&app).as_bytes())
        .await
        .expect("send the start");
    let others = summary(
        app.post_mcp(Some(&app.token_for("bob")), &tools_list())
            .await,
    )
    .await;
    let mut answer = Vec::new();
    let ending = match tokio::time::timeout(WATCH, stream.read_to_end(&mut answer)).await {
        Err(_) => format!("still open after {} s", WATCH.as_secs()),
        // A reset counts as closed; what arrived before it is still judged.
        Ok(_) => match status_of(&answer) {
            Some(status) => format!("{status}, then closed"),
            None => "closed unanswered".into(),
        },
    };
    format!("{ending}; another client meanwhile: {others}")
}

/// Sends an authenticated `POST /mcp` whose body (announced, or chunked
/// without a length) is 100 MiB of padding, and keeps sending until the
/// gateway answers and stops reading. Reports the answer and whether the
/// gateway read the body to its end.
pub async fn endless_body(chunked: bool) -> String {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let framing = if chunked {
        "Transfer-Encoding: chunked\r\n".to_owned()
    } else {
        format!("Content-Length: {OFFERED}\r\n")
    };
    let stream = TcpStream::connect(authority(&app)).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(post_head(&app, &framing).as_bytes())
        .await
        .expect("send the head");
    let sender = tokio::spawn(async move {
        let piece = vec![b' '; 64 * 1024];
        let framed = [format!("{:x}\r\n", piece.len()).as_bytes(), &piece, b"\r\n"].concat();
        let mut sent = 0u64;
        while sent < OFFERED {
            let bytes = if chunked { &framed } else { &piece };
            if writer.write_all(bytes).await.is_err() {
                break;
            }
            sent += piece.len() as u64;
        }
        sent
    });
    let mut answer = vec![0; 1024];
    let status = match tokio::time::timeout(WATCH, reader.read(&mut answer)).await {
        Ok(Ok(n)) if n > 0 => status_of(&answer[..n]).unwrap_or("garbled").to_owned(),
        Ok(_) => "closed unanswered".into(),
        Err(_) => return format!("no answer within {} s", WATCH.as_secs()),
    };
    // The sender stops once the gateway closes; if it stopped reading but
    // kept the connection, the sender is still blocked when the watch ends.
    match tokio::time::timeout(WATCH, sender).await {
        Ok(Ok(sent)) if sent >= OFFERED => format!("{status} after the whole body was read"),
        Ok(Ok(_)) => format!("{status}, the rest never read"),
        Ok(Err(e)) => format!("{status}, sender failed: {e}"),
        Err(_) => format!("{status}, connection left open"),
    }
}
