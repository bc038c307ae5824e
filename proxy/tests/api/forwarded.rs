//! Behind a load balancer: the client every per-client limit counts is the
//! one the balancer forwards, read only from the balancer (a second
//! loopback address plays it), and only as far as nobody untrusted wrote.

use std::net::SocketAddr;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fair::balancer;
use crate::helpers::*;

async fn email_from(app: &TestApp, http: &reqwest::Client, forwarded: &str) -> u16 {
    http.post(format!("{}/api/v1/opt-out/email", app.url))
        .header("X-Forwarded-For", forwarded)
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn each_client_behind_the_balancer_has_its_own_limits() {
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.2".to_owned()].try_into().unwrap();
        s.email_opt_out.per_client_per_minute = 2;
        s.email_opt_out.per_address_per_hour = 100;
    })
    .await;
    let through = balancer();
    for _ in 0..2 {
        assert_eq!(email_from(&app, &through, "203.0.113.1").await, 202);
    }
    assert_eq!(email_from(&app, &through, "203.0.113.1").await, 429);
    assert_eq!(
        email_from(&app, &through, "203.0.113.2").await,
        202,
        "another client behind the same balancer"
    );
    assert_eq!(
        email_from(&app, &through, "203.0.113.9, 203.0.113.1").await,
        429,
        "what a client writes to the left does not make it someone else"
    );
    assert_eq!(
        email_from(&app, &through, "203.0.113.2, 127.0.0.2").await,
        202,
        "a second trusted hop is passed over"
    );
    assert_eq!(email_from(&app, &through, "203.0.113.2").await, 429);

    // Straight from the internet, the header is the client's own words.
    let direct = reqwest::Client::new();
    for n in 0..2 {
        let forged = format!("198.51.100.{n}");
        assert_eq!(email_from(&app, &direct, &forged).await, 202);
    }
    assert_eq!(email_from(&app, &direct, "198.51.100.7").await, 429);
}

/// One request, the status line of its answer, over a connection of its
/// own from `local`.
async fn status_over_own_connection(local: &str, to: SocketAddr) -> String {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: proxy\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0; 12];
    stream.read_exact(&mut head).await.unwrap();
    String::from_utf8_lossy(&head).into_owned()
}

/// The balancer's connections carry every client's: they are not capped
/// as one client's are; a client's are.
#[tokio::test]
async fn the_balancers_connections_are_not_capped_as_one_clients() {
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.2".to_owned()].try_into().unwrap();
        s.server.max_connections_per_client = 2;
    })
    .await;
    let at: SocketAddr = app.url.trim_start_matches("http://").parse().unwrap();
    let open = |local: &'static str| async move {
        let held: Vec<_> = (0..3)
            .map(|_| {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
                socket.connect(at)
            })
            .collect();
        futures_util::future::try_join_all(held).await.unwrap()
    };
    let _balancer = open("127.0.0.2").await;
    assert_eq!(
        status_over_own_connection("127.0.0.2", at).await,
        "HTTP/1.1 200"
    );
    let _client = open("127.0.0.3").await;
    assert_eq!(
        status_over_own_connection("127.0.0.3", at).await,
        "HTTP/1.1 503"
    );
}
