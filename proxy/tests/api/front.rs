//! The front door faces the internet: idle, slow and too many connections,
//! slow bodies and stuck upstreams cannot keep anyone else waiting. Each
//! wait below is a bound on a hang, not a measure of speed.

use std::time::Duration;

use campaign_emulator::faults::{Fault, FaultKind};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Longer than anything here may take unless something hangs.
const HANG: Duration = Duration::from_secs(15);

fn address(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_owned()
}

/// Whether the proxy closes `stream` (a read ends) within [`HANG`].
async fn closed_by_the_proxy(stream: &mut TcpStream) -> bool {
    let mut sink = [0u8; 1024];
    loop {
        match tokio::time::timeout(HANG, stream.read(&mut sink)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A plain GET of the readiness probe, bounded by [`HANG`].
async fn probe(app: &TestApp) -> reqwest::Response {
    let client = reqwest::Client::new();
    tokio::time::timeout(HANG, client.get(format!("{}/health/live", app.url)).send())
        .await
        .expect("answered, not left hanging")
        .unwrap()
}

#[tokio::test]
async fn thousands_of_idle_and_slow_connections_keep_no_one_waiting() {
    // All from one address here: its own cap is not what this tests.
    let app = spawn_app_with(|s| {
        s.server.header_read_timeout_ms = 2_000;
        s.server.max_connections_per_client = 10_000;
    })
    .await;
    let at = address(&app);
    let mut idle = Vec::new();
    for _ in 0..2_000 {
        idle.push(TcpStream::connect(&at).await.unwrap());
    }
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&at).await.unwrap();
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nHo")
            .await
            .unwrap();
        slow.push(stream);
    }
    let token = token_for("CUST-1001");
    let answer = tokio::time::timeout(HANG, app.get_opt_out(&token))
        .await
        .expect("a customer's read is not held up");
    assert_eq!(answer.status(), 200);

    // The proxy lets go of them: a head that never completes, and a
    // connection that never sends one, are closed after the header timeout.
    assert!(closed_by_the_proxy(&mut idle[0]).await, "idle closed");
    assert!(closed_by_the_proxy(&mut slow[0]).await, "slow head closed");
    // A head that keeps coming, a byte every 100 ms, is cut off all the
    // same: the timeout is on the whole head, not between bytes.
    // One valid header value that never ends: nothing malformed to refuse.
    let mut dripping = TcpStream::connect(&at).await.unwrap();
    dripping
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: proxy\r\nX-Padding: ")
        .await
        .unwrap();
    let drip = tokio::spawn(async move {
        while dripping.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // The 2 s header timeout, and room for a loaded machine: not the 6 s
    // or more a head of 64 header lines or 16 KiB would take to fill.
    tokio::time::timeout(Duration::from_secs(5), drip)
        .await
        .expect("the proxy cut the dripping head off at its timeout")
        .unwrap();
}

/// The request limit of an address cannot see connections that never send
/// a request: those are counted per address too.
#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let app = spawn_app_with(|s| {
        s.server.max_connections_per_client = 5;
        s.server.header_read_timeout_ms = 5_000;
    })
    .await;
    let at: std::net::SocketAddr = address(&app).parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(at).await.unwrap());
    }
    let turned_away = turned_away(&app).await;
    assert_eq!(turned_away["error"]["code"], "overloaded");
    // Another address (127.0.0.2 is loopback too) is let in.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = socket.connect(at).await.unwrap();
    other
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(HANG, other.read_to_end(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}

/// Probes until the proxy turns a connection away (it takes the held ones
/// in the order they came); returns the `503`'s body.
async fn turned_away(app: &TestApp) -> Value {
    for _ in 0..100 {
        let answer = probe(app).await;
        if answer.status() == 503 {
            assert_eq!(answer.headers()["retry-after"], "1");
            return answer.json().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never turned away");
}

#[tokio::test]
async fn connections_over_the_cap_are_answered_503_at_once() {
    let app = spawn_app_with(|s| {
        s.server.max_connections = 20;
        s.server.header_read_timeout_ms = 2_000;
    })
    .await;
    let at = address(&app);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&at).await.unwrap());
    }
    let body = turned_away(&app).await;
    assert_eq!(body["error"]["code"], "overloaded");

    // The idle twenty are let go after the header timeout; room again.
    for stream in &mut held {
        assert!(closed_by_the_proxy(stream).await);
    }
    assert_eq!(probe(&app).await.status(), 200);
}

/// Campaign answers after 4 s, within its own 5 s timeout; the request
/// deadline (2.5 s) answers first, in its own words.
#[tokio::test]
async fn a_stuck_upstream_cannot_hold_a_request_past_its_deadline() {
    let app = spawn_app_with(|s| {
        s.campaign.timeout_ms = 5_000;
        s.delivery.attempt_timeout_ms = Some(1_000);
        s.delivery.lease_ms = Some(5_000);
        s.server.request_timeout_ms = Some(2_500);
    })
    .await;
    app.emulator
        .inject(Fault::campaign(FaultKind::Delay { ms: 4_000 }, 1));
    let answer = tokio::time::timeout(HANG, app.get_opt_out(&token_for("CUST-1001")))
        .await
        .expect("answered");
    assert_eq!(answer.status(), 504);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The proxy could not answer in time"),
        "{body}"
    );
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_answered_408() {
    let app = spawn_app_with(|s| s.server.body_timeout_ms = 500).await;
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let head = format!(
        "PATCH /api/v1/opt-out HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 19\r\n\r\n{{\"ccpa",
        token_for("CUST-1001")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.ends_with(b"}") {
        let n = tokio::time::timeout(HANG, stream.read(&mut buffer))
            .await
            .expect("answered")
            .unwrap();
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
    assert!(!app.opt_out_of("CUST-1001"), "nothing was changed");
    assert!(app.audit().await.is_empty());
}

#[tokio::test]
async fn a_request_deadline_shorter_than_an_attempt_stops_the_start() {
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let mut settings = testkit::proxy_settings(&emulator, database.url());
    settings.server.request_timeout_ms = Some(1_000);
    let error = ccpa_proxy::startup::Application::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("server.request_timeout_ms"),
        "{error}"
    );
}

/// What sends the requests: when done, whether all were sent, and the
/// sending half, kept open (a half-closed client is done asking).
type Asking = tokio::task::JoinHandle<(bool, tokio::net::tcp::OwnedWriteHalf)>;

/// A connection with a receive buffer of `window` bytes, asking `asked`
/// readiness probes at once (pipelined) from a task of its own, which ends
/// when all are sent or the proxy cuts the connection.
async fn pipelined(
    app: &TestApp,
    asked: usize,
    window: u32,
) -> (tokio::net::tcp::OwnedReadHalf, Asking) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(window).unwrap();
    socket.set_send_buffer_size(4 * 1024).unwrap();
    let stream = socket.connect(address(app).parse().unwrap()).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let asking = tokio::spawn(async move {
        let request = b"GET /health/live HTTP/1.1\r\nhost: proxy\r\n\r\n".repeat(asked);
        let sent = writer.write_all(&request).await.is_ok();
        (sent, writer)
    });
    (reader, asking)
}

/// Everything `reader` gets until the proxy closes the connection: the
/// number of answers in it.
async fn answers_until_closed(reader: &mut tokio::net::tcp::OwnedReadHalf) -> usize {
    let mut answers = Vec::new();
    let mut chunk = [0u8; 8 * 1024];
    while let Ok(n @ 1..) = reader.read(&mut chunk).await {
        answers.extend_from_slice(&chunk[..n]);
    }
    answers_in(&answers)
}

fn answers_in(bytes: &[u8]) -> usize {
    bytes
        .windows(15)
        .filter(|w| w == b"HTTP/1.1 200 OK")
        .count()
}

/// A client that asks and asks but never reads: once the kernel's buffers
/// are full, the proxy's write waits; after `write_timeout_ms` without
/// progress the connection is cut, not held for as long as the client
/// likes.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off() {
    let app = spawn_app_with(|s| s.server.write_timeout_ms = 500).await;
    const ASKED: usize = 400_000;
    let (mut reader, asking) = pipelined(&app, ASKED, 4 * 1024).await;
    assert_eq!(
        probe(&app).await.status(),
        200,
        "others are served meanwhile"
    );
    // Nothing is read, so the requests can only stop going out when the
    // proxy cuts the connection.
    let (sent, _writer) = tokio::time::timeout(HANG, asking)
        .await
        .expect("the proxy cut the connection")
        .unwrap();
    assert!(!sent, "all {ASKED} requests went out unread");
    let answered = tokio::time::timeout(HANG, answers_until_closed(&mut reader))
        .await
        .expect("the proxy closed the connection");
    assert!(
        answered < ASKED / 2,
        "cut off after {answered} of {ASKED} answers, not served to the end"
    );
}

/// A client that reads in bursts, pausing for less than
/// `write_timeout_ms` each time, is never cut off, however many times longer
/// than the bound it reads for: the bound is on a write that makes no
/// progress at all, and every burst is progress.
#[tokio::test]
async fn a_reader_that_pauses_is_not_cut_off() {
    let app = spawn_app_with(|s| s.server.write_timeout_ms = 1_000).await;
    // Far more answers than the buffers hold: each pause stalls the proxy.
    let (mut reader, _asking) = pipelined(&app, 400_000, 16 * 1024).await;
    let mut chunk = [0u8; 64 * 1024];
    let mut received = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // A burst: as fast as the answers come, for 30 ms.
        let burst = tokio::time::Instant::now() + Duration::from_millis(30);
        while let Ok(read) = tokio::time::timeout_at(burst, reader.read(&mut chunk)).await {
            let n = read.unwrap_or(0);
            assert!(n > 0, "cut off after {received} bytes");
            received += n;
        }
    }
}

/// The widget's files go out as their brotli twin to clients that take
/// brotli, as their gzip twin to the others that take gzip, and as they
/// are to the rest.
#[tokio::test]
async fn the_widgets_files_travel_as_brotli_where_clients_take_it() {
    let dir = std::env::temp_dir().join(format!("ccpa-widget-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in [
        ("w.js", "plain"),
        ("w.js.gz", "gzip twin"),
        ("w.js.br", "brotli twin"),
    ] {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let widget_dir = dir.clone();
    let app = spawn_app_with(move |s| s.server.widget_dir = Some(widget_dir)).await;
    for (accepted, encoding, body) in [
        ("gzip, deflate, br, zstd", Some("br"), "brotli twin"),
        ("gzip, deflate", Some("gzip"), "gzip twin"),
        ("identity", None, "plain"),
    ] {
        let response = app
            .http
            .get(format!("{}/w.js", app.url))
            .header("accept-encoding", accepted)
            .send()
            .await
            .unwrap();
        let sent = response
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(sent.as_deref(), encoding, "{accepted}");
        assert_eq!(
            response.headers()["vary"],
            "accept-encoding",
            "caches keep the twins apart"
        );
        assert_eq!(response.text().await.unwrap(), body);
    }
    std::fs::remove_dir_all(dir).unwrap();
}
