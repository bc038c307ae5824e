//! Adobe Privacy Service's consent endpoint: `POST
//! /data/core/privacy/consent`, answered `202 Accepted` without a body
//! (Experience League, "Consent endpoint"), and what it took, for tests and
//! the demo (`GET /_emulator/privacy/consents`).
//!
//! Adobe documents the request and its success only. The refusals here
//! (their statuses and words) are the emulator's: a `400` for a body
//! Privacy Service could not process, the gateway's `401`/`403` for the
//! credential, as Campaign's gateway answers.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;

/// The standard identity namespaces of Privacy Service's appendix. Adobe
/// spells email `Email` there and `email` in the consent example; both are
/// taken, as every code is, whatever its case.
const NAMESPACES: [&str; 9] = [
    "Email", "Phone", "AdCloud", "CORE", "ECID", "TNTID", "IDFA", "GAID", "WAID",
];

/// The most identities the emulator takes in one request: Adobe gives no
/// bound, and a caller sending more is more likely broken.
const MOST_VALUES: usize = 1_000;

/// One consent Privacy Service took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// `optOutOfSale` as sent.
    pub opt_out_of_sale: bool,
    /// The identities, as sent.
    pub entities: Vec<Entity>,
    /// When it arrived, in milliseconds since the emulator started.
    pub at_ms: u64,
}

/// One namespace's identities in a consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entity {
    /// The namespace as sent.
    pub name_space: String,
    /// Its values.
    pub values: Vec<String>,
}

/// `POST /data/core/privacy/consent`.
pub async fn consent(State(app): State<AppState>, headers: HeaderMap, body: String) -> Response {
    if let Err((status, why)) = credentials(&app, &headers) {
        return refusal(status, why);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let parsed = serde_json::from_str::<Value>(&body)
        .map_err(|_| "the body is not JSON")
        .and_then(|body| parse(&body));
    let (opt_out_of_sale, entities) = match parsed {
        Ok(parsed) => parsed,
        Err(why) => return refusal(StatusCode::BAD_REQUEST, why),
    };
    let mut store = app.store.lock().expect("emulator store poisoned");
    let at_ms = u64::try_from(store.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    store.consents.push(Consent {
        opt_out_of_sale,
        entities,
        at_ms,
    });
    StatusCode::ACCEPTED.into_response()
}

/// The gateway's checks: a live token, the credential's API key, and the
/// organization the credential belongs to.
fn credentials(app: &AppState, headers: &HeaderMap) -> Result<(), (StatusCode, &'static str)> {
    let token_ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| {
            app.store
                .lock()
                .expect("emulator store poisoned")
                .token_is_valid(t)
        });
    if !token_ok {
        return Err((StatusCode::UNAUTHORIZED, "Oauth token is not valid"));
    }
    let is = |name: &str, expected: &str| {
        headers
            .get(name)
            .is_some_and(|v| v.as_bytes() == expected.as_bytes())
    };
    if !is("x-api-key", &app.config.client_id) {
        return Err((StatusCode::FORBIDDEN, "Api Key is invalid"));
    }
    if !is("x-gw-ims-org-id", &app.config.ims_org) {
        return Err((
            StatusCode::FORBIDDEN,
            "x-gw-ims-org-id is not the credential's organization",
        ));
    }
    Ok(())
}

/// `optOutOfSale` and the entities, or why they cannot be processed.
fn parse(body: &Value) -> Result<(bool, Vec<Entity>), &'static str> {
    let opt_out = body
        .get("optOutOfSale")
        .and_then(Value::as_bool)
        .ok_or("optOutOfSale must be true or false")?;
    let entities = body
        .get("entities")
        .and_then(Value::as_array)
        .filter(|entities| !entities.is_empty())
        .ok_or("entities must be a non-empty array")?;
    let entities = entities.iter().map(entity).collect::<Result<Vec<_>, _>>()?;
    let count: usize = entities.iter().map(|e| e.values.len()).sum();
    if count > MOST_VALUES {
        return Err("too many identities in one request");
    }
    Ok((opt_out, entities))
}

fn entity(entity: &Value) -> Result<Entity, &'static str> {
    let name_space = entity
        .get("nameSpace")
        .and_then(Value::as_str)
        .ok_or("each entity needs a nameSpace")?;
    let standard = NAMESPACES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name_space))
        .ok_or("nameSpace is not a standard identity namespace")?;
    let values = entity
        .get("values")
        .and_then(Value::as_array)
        .filter(|values| !values.is_empty())
        .ok_or("each entity needs a non-empty array of values")?;
    let values = values
        .iter()
        .map(|value| value.as_str().ok_or("values must be strings"))
        .collect::<Result<Vec<_>, _>>()?;
    for value in &values {
        shaped(standard, value)?;
    }
    Ok(Entity {
        name_space: name_space.to_owned(),
        values: values.into_iter().map(str::to_owned).collect(),
    })
}

/// The shapes the emulator checks: an address has one `@` with text on
/// both sides, an ECID is digits; any value is non-empty and short.
fn shaped(namespace: &str, value: &str) -> Result<(), &'static str> {
    if value.is_empty() || value.len() > 512 {
        return Err("a value is empty or too long");
    }
    let ok = match namespace {
        "Email" => value
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')),
        "ECID" => value.bytes().all(|b| b.is_ascii_digit()),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err("a value is not shaped as its namespace's")
    }
}

/// `GET /_emulator/privacy`: what Privacy Service was told, newest first,
/// as a page for the demo: for each consent, the choice and the identities
/// it named.
pub async fn log_page(State(app): State<AppState>) -> Response {
    let consents = app
        .store
        .lock()
        .expect("emulator store poisoned")
        .consents
        .clone();
    let rows: String = consents
        .iter()
        .rev()
        .map(|consent| {
            let identities: Vec<String> = consent
                .entities
                .iter()
                .map(|e| format!("{}: {}", e.name_space, e.values.join(", ")))
                .collect();
            format!(
                "<tr><td>{:.1} s</td><td>{}</td><td>{}</td></tr>",
                consent.at_ms as f64 / 1000.0,
                if consent.opt_out_of_sale {
                    "opt out of sale"
                } else {
                    "sale allowed"
                },
                escape(&identities.join("; "))
            )
        })
        .collect();
    let body = if consents.is_empty() {
        "<p>Nothing yet: flip the switch on the demo page.</p>".to_owned()
    } else {
        format!(
            "<table><thead><tr><th>When (since start)</th><th>optOutOfSale</th>\
             <th>Identities</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Emulated Privacy Service</title></head><body>\
         <h1>What the emulated Adobe Privacy Service was told</h1>\
         <p>Newest first. Reload after a choice.</p>{body}</body></html>"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// `text` safe inside HTML: the identities are whatever a caller sent.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "error_code": status.as_u16().to_string(), "message": message })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_caller_sent_is_shown_as_text() {
        assert_eq!(
            escape(r#"<b x='1'>"&"#),
            "&lt;b x=&#39;1&#39;&gt;&quot;&amp;"
        );
    }

    #[test]
    fn adobes_example_is_taken() {
        let body = json!({
            "optOutOfSale": true,
            "entities": [
                {"nameSpace": "email", "values": ["dsmith@acme.com", "ajones@acme.com"]},
                {"nameSpace": "ECID", "values": ["443636576799758681021090721276"]}
            ]
        });
        let (opt_out, entities) = parse(&body).unwrap();
        assert!(opt_out);
        assert_eq!(entities.len(), 2);
        assert_eq!(entities[1].values, ["443636576799758681021090721276"]);
    }

    #[test]
    fn bodies_privacy_service_could_not_process_are_refused() {
        for body in [
            json!({"entities": [{"nameSpace": "email", "values": ["a@b.co"]}]}),
            json!({"optOutOfSale": "yes", "entities": [{"nameSpace": "email", "values": ["a@b.co"]}]}),
            json!({"optOutOfSale": true, "entities": []}),
            json!({"optOutOfSale": true, "entities": [{"nameSpace": "shoeSize", "values": ["9"]}]}),
            json!({"optOutOfSale": true, "entities": [{"nameSpace": "email", "values": []}]}),
            json!({"optOutOfSale": true, "entities": [{"nameSpace": "email", "values": ["nobody"]}]}),
            json!({"optOutOfSale": true, "entities": [{"nameSpace": "ECID", "values": ["12ab"]}]}),
            json!({"optOutOfSale": true, "entities": [{"nameSpace": "ECID", "values": [42]}]}),
        ] {
            assert!(parse(&body).is_err(), "{body}");
        }
    }
}
