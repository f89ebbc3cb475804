//! Logs and traces.
//!
//! - Logs: `RUST_LOG` picks what is logged, `LOG_FORMAT` how: `text` (the
//!   default, for people) or `json` (one object per line, for log shippers).
//! - Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, a span per MCP
//!   request (`mcp.request`) and per tool call (`tool.call`) goes to that
//!   OpenTelemetry collector over OTLP/HTTP (`OTEL_EXPORTER_OTLP_PROTOCOL`
//!   `http/protobuf`, the default, or `http/json`), continuing a W3C
//!   `traceparent` from the request's headers or, for a tool call, its
//!   `_meta`. The spans are `debug` level and only the trace layer asks for
//!   them, so without an endpoint they are never built.
//!
//! Either way no token, code, secret or argument value is ever a field or a
//! message: spans carry the tool's name and the outcome's code, nothing else.

use std::str::FromStr;

use opentelemetry::{
    Context,
    propagation::{Extractor, TextMapPropagator},
    trace::TracerProvider as _,
};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::{Level, Subscriber};
use tracing_subscriber::{
    EnvFilter, Layer, filter::Targets, fmt::MakeWriter, layer::SubscriberExt, registry::LookupSpan,
    util::SubscriberInitExt,
};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    /// `LOG_FORMAT` from the environment; unset means text.
    pub fn from_env() -> Result<Self, String> {
        std::env::var("LOG_FORMAT").unwrap_or_default().parse()
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("LOG_FORMAT is `{other}`; use `text` or `json`")),
        }
    }
}

/// A formatting layer writing to `writer` in `format`.
pub fn layer<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    // Colour codes only where a person reads them: a terminal without
    // NO_COLOR. Piped or redirected logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    }
}

/// The trace exporter, when one is configured. Dropping it flushes the
/// spans still queued, so keep it until `main` returns.
#[derive(Debug)]
pub struct Traces(SdkTracerProvider);

impl Drop for Traces {
    fn drop(&mut self) {
        let _ = self.0.shutdown();
    }
}

/// The kit's crates, whose `debug` spans become traces.
const TRACED: [&str; 2] = ["gateway", "mock_issuer"];

/// Installs the process's logger (`RUST_LOG`, else `default_filter`, in
/// `format`, to `writer`) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
/// the trace exporter, naming the process `service` (unless
/// `OTEL_SERVICE_NAME` does). For `main`s; tests install their own. Refuses
/// a tracing setup it cannot honour rather than dropping traces silently.
pub fn init<W>(
    service: &'static str,
    format: LogFormat,
    default_filter: &str,
    writer: W,
) -> Result<Option<Traces>, String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = layer(format, writer).with_filter(filter);
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
    if endpoint.trim().is_empty() {
        tracing_subscriber::registry().with(logs).init();
        return Ok(None);
    }
    let provider = tracer_provider(service)?;
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_filter(Targets::new().with_targets(TRACED.map(|target| (target, Level::DEBUG))));
    tracing_subscriber::registry().with(logs).with(spans).init();
    Ok(Some(Traces(provider)))
}

/// OTLP over HTTP, configured by the standard `OTEL_*` variables (endpoint,
/// headers, timeout, `OTEL_SERVICE_NAME`), batched off the request path.
fn tracer_provider(service: &'static str) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL")
        .unwrap_or_default()
        .trim()
    {
        "" | "http/protobuf" => Protocol::HttpBinary,
        "http/json" => Protocol::HttpJson,
        other => {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL is `{other}`; traces are exported over HTTP: \
                 use `http/protobuf` or `http/json`"
            ));
        }
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
    // The builder reads OTEL_SERVICE_NAME itself; a name set here would win.
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service);
    }
    let resource = resource.build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The trace context a W3C `traceparent` (and `tracestate`) names; an
/// empty context when there is none or it is malformed.
pub fn remote_context(traceparent: Option<&str>, tracestate: Option<&str>) -> Context {
    TraceContextPropagator::new().extract(&Carrier {
        traceparent,
        tracestate,
    })
}

/// The two W3C trace-context fields, borrowed.
struct Carrier<'a> {
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent,
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_formats_parse_and_bad_ones_say_what_to_use() {
        assert_eq!("".parse(), Ok(LogFormat::Text));
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        let error = "yaml".parse::<LogFormat>().expect_err("refused");
        assert!(error.contains("`text` or `json`"), "{error}");
    }
}
