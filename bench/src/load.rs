//! The load generator: one keep-alive HTTP/1.1 connection per worker, each
//! sending its request again as soon as the answer is in (a closed loop, as
//! `wrk` does), latencies in an HDR histogram.
//!
//! It runs on the same two cores as the server it measures, so it does as
//! little as it can per request: a prepared body, a byte search for the
//! verdict, no JSON parsing (the sampled reply is parsed afterwards).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::mcp;

/// Longest wait for one answer before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Latencies are recorded in microseconds, up to a minute, 3 significant digits.
const HISTOGRAM_MAX_MICROS: u64 = 60_000_000;

/// What one worker sends, again and again: a prepared `POST /mcp`.
#[derive(Debug, Clone)]
pub struct Call {
    /// `127.0.0.1:PORT`: the servers check `Host` against an allow-list.
    pub host: HeaderValue,
    /// `Bearer …`, marked sensitive so it never prints.
    pub authorization: HeaderValue,
    pub body: Bytes,
}

impl Call {
    pub fn new(addr: SocketAddr, authorization: HeaderValue, body: Bytes) -> anyhow::Result<Self> {
        Ok(Self {
            host: HeaderValue::from_str(&addr.to_string())?,
            authorization,
            body,
        })
    }

    /// The headers a stateless MCP client sends on every request.
    pub fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = http::Uri::from_static("/mcp");
        let headers = request.headers_mut();
        headers.insert(header::HOST, self.host.clone());
        headers.insert(header::AUTHORIZATION, self.authorization.clone());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(
            "mcp-protocol-version",
            HeaderValue::from_static(mcp::PROTOCOL_VERSION),
        );
        request
    }
}

/// One HTTP/1.1 connection, kept alive across requests.
#[derive(Debug)]
pub struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        // Small requests and answers: Nagle's algorithm would only add delay.
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        // The connection's I/O runs as its own task; it ends when `sender` is dropped.
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Reply> {
        let exchange = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok(Reply { status, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .context("no answer within the request timeout")?
    }
}

/// One answer, as received.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// The cheap per-request check: success, or why not.
    pub fn verdict(&self) -> Result<(), String> {
        mcp::quick_verdict(self.status, &self.body)
    }
}

/// A fixed warm-up, then a fixed measuring window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

/// What one scenario's load produced.
#[derive(Debug)]
pub struct Outcome {
    /// Answers to requests started inside the measuring window.
    pub requests: u64,
    /// Of those, how many failed.
    pub errors: u64,
    /// Failures during the warm-up (not in the numbers, still a failed run).
    pub warmup_errors: u64,
    /// From the window's start to the last measured answer.
    pub elapsed: Duration,
    /// Latency of every measured request, in microseconds.
    pub histogram: Histogram<u64>,
    /// Per worker, every successful answer, warm-up included: for a write
    /// scenario, the saves the server acknowledged.
    pub acknowledged: Vec<u64>,
    /// Worker 0's last answer, to be parsed and checked in full.
    pub last_reply: Option<Reply>,
    /// The first failure seen, for the report.
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn requests_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.requests as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Runs one worker per call (concurrency = `calls.len()`) against `addr`.
pub async fn run(addr: SocketAddr, calls: Vec<Call>, window: Window) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let stop_at = measure_from + window.measure;
    let workers: Vec<_> = calls
        .into_iter()
        .enumerate()
        .map(|(index, call)| tokio::spawn(worker(addr, call, index == 0, measure_from, stop_at)))
        .collect();
    let mut outcome = Outcome {
        requests: 0,
        errors: 0,
        warmup_errors: 0,
        elapsed: window.measure,
        histogram: new_histogram()?,
        acknowledged: Vec::with_capacity(workers.len()),
        last_reply: None,
        first_error: None,
    };
    let mut last_answer = stop_at;
    for handle in workers {
        let tally = handle.await.context("a load worker panicked")??;
        outcome.requests += tally.requests;
        outcome.errors += tally.errors;
        outcome.warmup_errors += tally.warmup_errors;
        outcome.histogram.add(&tally.histogram)?;
        outcome.acknowledged.push(tally.acknowledged);
        outcome.last_reply = outcome.last_reply.or(tally.last_reply);
        outcome.first_error = outcome.first_error.or(tally.first_error);
        last_answer = last_answer.max(tally.last_answer);
    }
    outcome.elapsed = last_answer.saturating_duration_since(measure_from);
    Ok(outcome)
}

/// One worker's counts, merged by [`run`].
struct Tally {
    requests: u64,
    errors: u64,
    warmup_errors: u64,
    acknowledged: u64,
    histogram: Histogram<u64>,
    last_reply: Option<Reply>,
    first_error: Option<String>,
    last_answer: Instant,
}

async fn worker(
    addr: SocketAddr,
    call: Call,
    keep_last: bool,
    measure_from: Instant,
    stop_at: Instant,
) -> anyhow::Result<Tally> {
    let mut tally = Tally {
        requests: 0,
        errors: 0,
        warmup_errors: 0,
        acknowledged: 0,
        histogram: new_histogram()?,
        last_reply: None,
        first_error: None,
        last_answer: measure_from,
    };
    let mut connection: Option<Connection> = None;
    loop {
        let sent = Instant::now();
        if sent >= stop_at {
            break;
        }
        // Reconnect only after a failure; normally one connection serves the whole run.
        let result = match connection.as_mut() {
            Some(open) => open.send(call.request()).await,
            None => match Connection::open(addr).await {
                Ok(open) => connection.insert(open).send(call.request()).await,
                Err(e) => Err(e),
            },
        };
        let answered = Instant::now();
        let verdict = match &result {
            Ok(reply) => reply.verdict(),
            Err(e) => {
                connection = None;
                Err(format!("{e:#}"))
            }
        };
        let measured = sent >= measure_from;
        if measured {
            tally.requests += 1;
            tally.last_answer = answered;
            let micros = u64::try_from((answered - sent).as_micros()).unwrap_or(u64::MAX);
            tally.histogram.saturating_record(micros.max(1));
        }
        match verdict {
            Ok(()) => tally.acknowledged += 1,
            Err(problem) => {
                if measured {
                    tally.errors += 1;
                } else {
                    tally.warmup_errors += 1;
                }
                tally.first_error.get_or_insert(problem);
                if connection.is_none() {
                    // The server is not there: do not spin on refused connections.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        if keep_last {
            tally.last_reply = result.ok();
        }
    }
    Ok(tally)
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3).context("histogram bounds")
}
