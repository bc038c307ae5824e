//! Property tests against the running proxy: any body, and any bytes on a
//! socket, get an answer (or a closed connection) without a panic or a
//! hang, and only a valid change is ever recorded.

use std::time::Duration;

use ccpa_api::{ErrorBody, OptOutUpdate};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Longer than any answer may take unless something hangs.
const HANG: Duration = Duration::from_secs(10);

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Bodies near the contract and far from it.
fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1_500),
        "\\{\"ccpaOptOut\": ?(true|false|null|1|\"true\"|\\[\\]|\\{\\})\\}"
            .prop_map(String::into_bytes),
        "\\{(\"[a-zA-Z]{0,12}\": ?(true|false|[0-9]{1,4}|\"[^\"]{0,8}\"),? ?){0,4}\\}"
            .prop_map(String::into_bytes),
    ]
}

#[test]
fn any_body_gets_a_json_answer_and_only_a_valid_one_is_recorded() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app());
    let token = token_for("CUST-1001");
    let recorded = std::cell::Cell::new(0);
    runner(200)
        .run(&bodies(), |body| {
            runtime.block_on(async {
                let valid = serde_json::from_slice::<OptOutUpdate>(&body).is_ok()
                    && body.trim_ascii_start().starts_with(b"{");
                let answer = tokio::time::timeout(
                    HANG,
                    app.patch_raw(&token, "application/json", body.clone()),
                )
                .await
                .expect("answered");
                let status = answer.status().as_u16();
                let text = answer.text().await.unwrap();
                if valid {
                    prop_assert!(matches!(status, 200 | 202), "{status} {text}");
                    recorded.set(recorded.get() + 1);
                } else {
                    prop_assert!(matches!(status, 413 | 422), "{status} for {body:?}");
                    let error: Result<ErrorBody, _> = serde_json::from_str(&text);
                    prop_assert!(error.is_ok(), "{text}");
                }
                Ok(())
            })
        })
        .unwrap();
    let audit = runtime.block_on(app.audit());
    assert_eq!(
        audit.len(),
        recorded.get(),
        "only valid bodies are recorded"
    );
}

/// Requests a fuzzer would send: random bytes, cut-off requests, and heads
/// whose framing conflicts.
fn raw_requests() -> impl Strategy<Value = Vec<u8>> {
    let heads = prop_oneof![
        Just("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n".to_owned()),
        Just("Content-Length: 5\r\nContent-Length: 7\r\n".to_owned()),
        Just("Transfer-Encoding: chunked, identity\r\n".to_owned()),
        Just("Content-Length: -1\r\n".to_owned()),
        Just("Content-Length: 99999999999999999999\r\n".to_owned()),
        "[A-Za-z-]{1,20}: [ -~]{0,40}\r\n",
    ];
    let structured = (
        "(GET|PATCH|POST|PUT|DELETE|OPTIONS|BREW) (/api/v1/opt-out|/health/ready|/|\\*|[ -~]{0,30}) HTTP/(1\\.1|1\\.0|2|9)",
        heads,
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(line, head, body)| {
            let mut request = format!("{line}\r\nHost: proxy\r\n{head}\r\n").into_bytes();
            request.extend(body);
            request
        });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2_000),
        structured.clone(),
        (structured, any::<prop::sample::Index>()).prop_map(|(request, at)| {
            let cut = at.index(request.len().max(1));
            request[..cut].to_vec()
        }),
    ]
}

#[test]
fn any_bytes_on_the_socket_are_answered_or_closed_never_hung() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app_with(|s| s.server.header_read_timeout_ms = 1_000));
    let at = app.url.trim_start_matches("http://").to_owned();
    runner(150)
        .run(&raw_requests(), |request| {
            runtime.block_on(async {
                let mut stream = TcpStream::connect(&at).await.unwrap();
                let _ = stream.write_all(&request).await;
                let _ = stream.shutdown().await;
                let mut answer = Vec::new();
                let read = tokio::time::timeout(HANG, stream.read_to_end(&mut answer)).await;
                prop_assert!(read.is_ok(), "left hanging after {request:?}");
                if !answer.is_empty() {
                    // HTTP/1.0 requests are answered in their version.
                    let text = String::from_utf8_lossy(&answer);
                    prop_assert!(
                        text.starts_with("HTTP/1.1 ") || text.starts_with("HTTP/1.0 "),
                        "{text}"
                    );
                }
                Ok(())
            })
        })
        .unwrap();
    // Still serving, and the worker still applies changes.
    let state = runtime.block_on(async {
        let token = token_for("CUST-1001");
        state_of(app.patch_opt_out(&token, true).await).await
    });
    assert_eq!(state["ccpaOptOut"], true);
}
