//! `GET /metrics`, `GET /healthz` and `GET /status` for a node's HTTP port (PEER-NODE.md;
//! the peer node and the cluster-chat demo serve them): Prometheus text from
//! `metrics-exporter-prometheus`, readiness from
//! [`RedisAdapterState::health`](sio_redis::RedisAdapterState::health), and a JSON status
//! for the demo's page.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use sio_redis::RedisAdapterState;

/// The histogram buckets of every `_seconds` histogram, in seconds (0.5 ms to 30 s).
pub const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// Installs the process-wide Prometheus recorder (histograms rendered with
/// [`SECONDS_BUCKETS`]). Call it before connecting any adapter: the adapters take their
/// metric handles when they connect.
///
/// # Errors
/// The exporter's error, as text, when a recorder is already installed.
pub fn install_prometheus() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .set_buckets(&SECONDS_BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())
}

/// The routes `GET /metrics` (Prometheus text format 0.0.4 from `metrics`; 404 without
/// a recorder handle), `GET /healthz` (200 `ok` while `state` is ready, 503 with the
/// reasons otherwise, as text; 200 without an adapter) and `GET /status` (JSON: adapter,
/// ready, reason, publisher_connected, subscribed, last_message_age_ms, received,
/// published, servers — the server count of `/`, `null` when Redis does not answer
/// within 1 s).
pub fn routes<S: Clone + Send + Sync + 'static>(
    prometheus: Option<PrometheusHandle>,
    state: Option<RedisAdapterState>,
) -> axum::Router<S> {
    let health_state = state.clone();
    let metrics_state = state.clone();
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let prometheus = prometheus.clone();
                let state = metrics_state.clone();
                async move {
                    if let Some(s) = &state {
                        s.refresh_metrics();
                    }
                    metrics_text(prometheus.as_ref())
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let state = health_state.clone();
                async move { healthz(state.as_ref()) }
            }),
        )
        .route(
            "/status",
            get(move || {
                let state = state.clone();
                async move { status(state.as_ref()).await }
            }),
        )
}

fn metrics_text(prometheus: Option<&PrometheusHandle>) -> Response {
    match prometheus {
        Some(p) => {
            p.run_upkeep();
            ([("content-type", "text/plain; version=0.0.4")], p.render()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no metrics recorder\n").into_response(),
    }
}

/// 200 `ok` or 503 with the reasons.
fn healthz(state: Option<&RedisAdapterState>) -> Response {
    let Some(state) = state else {
        return (StatusCode::OK, "ok (no adapter)\n").into_response();
    };
    let health = state.health();
    let code = if health.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, format!("{}\n", health.reason())).into_response()
}

async fn status(state: Option<&RedisAdapterState>) -> Response {
    let Some(state) = state else {
        return axum::Json(json!({ "adapter": "none", "ready": true })).into_response();
    };
    let health = state.health();
    let stats = state.stats();
    let servers = tokio::time::timeout(Duration::from_secs(1), state.server_count("/"))
        .await
        .ok()
        .and_then(Result::ok);
    axum::Json(json!({
        "adapter": health.adapter.to_string(),
        "ready": health.is_ready(),
        "reason": health.reason(),
        "publisher_connected": health.publisher_connected,
        "subscribed": health.subscribed,
        "last_message_age_ms": health.last_message_age.map(|d| d.as_millis() as u64),
        "received": stats.received,
        "published": stats.published,
        "servers": servers,
    }))
    .into_response()
}
