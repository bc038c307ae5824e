//! Fault injection: queued misbehaviours that the next matching requests
//! suffer, so that tests can make Campaign or IMS slow, failing or throttling
//! on demand and then well again.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::SharedStore;
use crate::campaign::campaign_error;
use crate::store::{Call, CallKind};

/// Which API a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The Campaign profile API.
    #[default]
    Campaign,
    /// The IMS token endpoint.
    Ims,
    /// Privacy Service's consent endpoint.
    Privacy,
}

/// What happens to a request a fault hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum FaultKind {
    /// Answer with this status and Campaign's error body.
    #[serde(rename_all = "camelCase")]
    Status {
        /// The HTTP status to answer.
        status: u16,
    },
    /// Answer `429 Too Many Requests` with a `Retry-After` header.
    #[serde(rename_all = "camelCase")]
    Throttle {
        /// Seconds the client is told to wait.
        retry_after_secs: u64,
    },
    /// Wait this long, then answer normally. A caller that gives up
    /// meanwhile cancels the request: it never takes effect.
    #[serde(rename_all = "camelCase")]
    Delay {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// Take the request only after this long, whether or not the caller
    /// is still waiting: a change that lands after its sender gave up on
    /// the answer, as behind a slow gateway.
    #[serde(rename_all = "camelCase")]
    Late {
        /// Milliseconds before the request is taken.
        ms: u64,
    },
    /// Take the request, then answer `204 No Content` with no body: what a
    /// migrated tenant answers an empty PATCH with, here after a change it
    /// made. A client that takes a 204 for proof is right this time only.
    NoContent,
    /// Drop the connection after the status line, before any body: the
    /// client sees a reset mid-answer, as when a load balancer dies.
    Drop,
    /// Answer this, whatever was asked: what a misrouted gateway or a
    /// captive portal sends (an HTML page with `200`, JSON of another shape).
    #[serde(rename_all = "camelCase")]
    Answer {
        /// The HTTP status.
        status: u16,
        /// The `Content-Type`.
        content_type: String,
        /// The body, verbatim.
        body: String,
    },
}

/// A fault waiting for `remaining` more matching requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// What the request suffers.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Which API it applies to.
    #[serde(default)]
    pub target: Target,
    /// Only requests with this method (`GET`, `PATCH`, `POST`); any if none.
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path ends with this (`/byEmail`, a filter's
    /// name); any if none.
    #[serde(default)]
    pub path: Option<String>,
    /// How many requests it still hits.
    #[serde(default = "one", rename = "count")]
    pub remaining: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault of `kind` hitting the next `count` Campaign requests.
    pub fn campaign(kind: FaultKind, count: u32) -> Self {
        Self {
            kind,
            target: Target::Campaign,
            method: None,
            path: None,
            remaining: count,
        }
    }

    /// A fault of `kind` hitting the next `count` Privacy Service calls.
    pub fn privacy(kind: FaultKind, count: u32) -> Self {
        Self {
            target: Target::Privacy,
            ..Self::campaign(kind, count)
        }
    }

    /// A fault of `kind` hitting the next `count` IMS token requests.
    pub fn ims(kind: FaultKind, count: u32) -> Self {
        Self {
            target: Target::Ims,
            ..Self::campaign(kind, count)
        }
    }

    /// The same fault, hitting only requests with `method`.
    pub fn only(self, method: &str) -> Self {
        Self {
            method: Some(method.to_ascii_uppercase()),
            ..self
        }
    }

    /// The same fault, hitting only requests whose path ends with `suffix`.
    pub fn at(self, suffix: &str) -> Self {
        Self {
            path: Some(suffix.to_owned()),
            ..self
        }
    }

    fn matches(&self, target: Target, (method, path): (&str, &str)) -> bool {
        self.target == target
            && self.method.as_deref().is_none_or(|m| m == method)
            && self.path.as_deref().is_none_or(|end| path.ends_with(end))
    }
}

/// Middleware for one API: applies the configured latency, then the first
/// queued fault for `target`, if any.
pub async fn inject(
    State((store, target)): State<(SharedStore, Target)>,
    request: Request,
    next: Next,
) -> Response {
    let kind = CallKind::of(request.method().as_str(), request.uri().path());
    let (latency, fault, arrived) = {
        let mut store = store.lock().expect("emulator store poisoned");
        let asked = (request.method().as_str(), request.uri().path());
        let fault = take_fault(&mut store.faults, target, asked);
        if fault.is_some() {
            store.stats.faults_injected += 1;
        }
        if target == Target::Campaign {
            store.in_flight += 1;
            store.stats.peak_concurrent_requests =
                store.stats.peak_concurrent_requests.max(store.in_flight);
        }
        (store.latency, fault, store.started.elapsed())
    };
    let response = answer(latency, fault, request, next).await;
    let mut store = store.lock().expect("emulator store poisoned");
    if target == Target::Campaign {
        store.in_flight -= 1;
    }
    store.calls.push(Call {
        kind,
        at_ms: u64::try_from(arrived.as_millis()).unwrap_or(u64::MAX),
        status: response.status().as_u16(),
    });
    response
}

/// The answer a request gets after `latency`, with `fault` if any.
async fn answer(
    latency: Duration,
    fault: Option<FaultKind>,
    request: Request,
    next: Next,
) -> Response {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        None => next.run(request).await,
        Some(FaultKind::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        Some(FaultKind::Late { ms }) => {
            let late = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                next.run(request).await
            });
            late.await
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Some(FaultKind::NoContent) => {
            next.run(request).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Some(FaultKind::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            campaign_error(status, "Injected fault").into_response()
        }
        Some(FaultKind::Drop) => {
            let broken = futures_util::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::from(
                    std::io::ErrorKind::ConnectionReset,
                ))
            });
            Response::new(axum::body::Body::from_stream(broken))
        }
        Some(FaultKind::Answer {
            status,
            content_type,
            body,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Some(FaultKind::Throttle { retry_after_secs }) => {
            let mut response =
                campaign_error(StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
    }
}

fn take_fault(
    faults: &mut std::collections::VecDeque<Fault>,
    target: Target,
    asked: (&str, &str),
) -> Option<FaultKind> {
    let index = faults.iter().position(|f| f.matches(target, asked))?;
    let fault = &mut faults[index];
    let kind = fault.kind.clone();
    fault.remaining = fault.remaining.saturating_sub(1);
    if fault.remaining == 0 {
        faults.remove(index);
    }
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_from_the_admin_json() {
        let fault: Fault =
            serde_json::from_str(r#"{"kind":"status","status":503,"count":2}"#).unwrap();
        assert_eq!(fault, Fault::campaign(FaultKind::Status { status: 503 }, 2));
        let fault: Fault =
            serde_json::from_str(r#"{"kind":"throttle","retryAfterSecs":1,"target":"ims"}"#)
                .unwrap();
        assert_eq!(fault.target, Target::Ims);
        assert_eq!(fault.remaining, 1);
        let fault: Fault = serde_json::from_str(r#"{"kind":"drop"}"#).unwrap();
        assert_eq!(fault.kind, FaultKind::Drop);
    }

    #[test]
    fn a_fault_hits_only_its_target_and_count() {
        let mut faults =
            std::collections::VecDeque::from([Fault::campaign(FaultKind::Delay { ms: 5 }, 2)]);
        assert_eq!(take_fault(&mut faults, Target::Ims, ("POST", "/p")), None);
        assert_eq!(
            take_fault(&mut faults, Target::Campaign, ("GET", "/p")),
            Some(FaultKind::Delay { ms: 5 })
        );
        assert_eq!(
            take_fault(&mut faults, Target::Campaign, ("PATCH", "/p")),
            Some(FaultKind::Delay { ms: 5 })
        );
        assert_eq!(
            take_fault(&mut faults, Target::Campaign, ("GET", "/p")),
            None
        );
    }

    #[test]
    fn a_fault_for_one_method_lets_the_others_pass() {
        let mut faults =
            std::collections::VecDeque::from([Fault::campaign(FaultKind::Drop, 1).only("patch")]);
        assert_eq!(
            take_fault(&mut faults, Target::Campaign, ("GET", "/p")),
            None
        );
        assert_eq!(
            take_fault(&mut faults, Target::Campaign, ("PATCH", "/p")),
            Some(FaultKind::Drop)
        );
        assert!(faults.is_empty());
    }

    #[test]
    fn a_fault_for_one_path_lets_the_others_pass() {
        let fault = Fault::campaign(FaultKind::Drop, 1).at("/byEmail");
        let mut faults = std::collections::VecDeque::from([fault]);
        let asked = |path| ("GET", path);
        assert_eq!(
            take_fault(&mut faults, Target::Campaign, asked("/o/profile/x")),
            None
        );
        assert_eq!(
            take_fault(&mut faults, Target::Campaign, asked("/o/profile/byEmail")),
            Some(FaultKind::Drop)
        );
    }
}
