//! `/_emulator/*`: what tests and customers' CI use to look inside the
//! emulator and to make it misbehave. Not part of any Adobe API.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use crate::AppState;
use crate::faults::Fault;
use crate::privacy::Consent;
use crate::store::{Call, Profile, Stats};

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/profiles", get(profiles))
        .route("/stats", get(stats).delete(reset_stats))
        .route("/calls", get(calls))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/tokens/expire", post(expire_tokens))
        .route("/latency", put(set_latency))
        .route("/privacy/consents", get(consents))
        .route("/privacy", get(crate::privacy::log_page))
        .with_state(state)
}

async fn profiles(State(app): State<AppState>) -> Json<Vec<Profile>> {
    Json(
        app.store
            .lock()
            .expect("emulator store poisoned")
            .profiles
            .clone(),
    )
}

async fn consents(State(app): State<AppState>) -> Json<Vec<Consent>> {
    Json(
        app.store
            .lock()
            .expect("emulator store poisoned")
            .consents
            .clone(),
    )
}

async fn stats(State(app): State<AppState>) -> Json<Stats> {
    Json(app.store.lock().expect("emulator store poisoned").stats)
}

async fn reset_stats(State(app): State<AppState>) -> StatusCode {
    app.store
        .lock()
        .expect("emulator store poisoned")
        .reset_stats();
    StatusCode::NO_CONTENT
}

async fn calls(State(app): State<AppState>) -> Json<Vec<Call>> {
    Json(
        app.store
            .lock()
            .expect("emulator store poisoned")
            .calls
            .clone(),
    )
}

async fn add_fault(State(app): State<AppState>, Json(fault): Json<Fault>) -> StatusCode {
    app.store
        .lock()
        .expect("emulator store poisoned")
        .faults
        .push_back(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(app): State<AppState>) -> StatusCode {
    app.store
        .lock()
        .expect("emulator store poisoned")
        .faults
        .clear();
    StatusCode::NO_CONTENT
}

async fn expire_tokens(State(app): State<AppState>) -> StatusCode {
    app.store
        .lock()
        .expect("emulator store poisoned")
        .expire_tokens();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct Latency {
    ms: u64,
}

async fn set_latency(State(app): State<AppState>, Json(latency): Json<Latency>) -> StatusCode {
    app.store.lock().expect("emulator store poisoned").latency = Duration::from_millis(latency.ms);
    StatusCode::NO_CONTENT
}
