//! What wraps every request: a request id, a tracing span carrying it, and the
//! security headers of DESIGN.md rule 10.

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware;
use axum::response::Response;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::{Level, Span};

use crate::crypto::secret::random_string;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Content-Security-Policy for everything we serve: nothing may load, frame or submit elsewhere.
const CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A random 96-bit id per request, echoed as `x-request-id` and put in every log line.
#[derive(Clone, Copy, Debug)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = random_string(12).ok()?;
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

fn request_span(req: &Request) -> Span {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %path)
}

/// Wraps `router` in the middleware every response passes through. Layers
/// added later sit further out: the request id is set first, then the span.
pub fn wrap(router: Router, https: bool) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(request_span)
        .on_response(DefaultOnResponse::new().level(Level::DEBUG));
    router
        .layer(middleware::map_response(move |response| {
            std::future::ready(security_headers(response, https))
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
}

/// Adds the security headers a response does not set itself.
fn security_headers(mut response: Response, https: bool) -> Response {
    let headers = response.headers_mut();
    let defaults = [
        (CONTENT_SECURITY_POLICY, CSP),
        (X_FRAME_OPTIONS, "DENY"),
        (REFERRER_POLICY, "no-referrer"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in defaults {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if https {
        headers
            .entry(STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static("max-age=31536000"));
    }
    response
}
