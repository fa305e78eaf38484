//! Python `gql` 4 with its default transports: schema fetch and queries over aiohttp, and
//! subscriptions over `websockets` with gql's own subprotocol offer and with
//! `graphql-transport-ws` alone. The client script is `tests/clients/gql_client.py`.

use std::path::Path;
use std::process::Command;

use crate::both;
use crate::helpers::{Backend, TestApp};

/// The virtualenv's Python with `gql` installed, or a skip (a failure in CI).
fn python_with_gql() -> Option<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".cache/python-clients/bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import gql, aiohttp, websockets"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        return Some(python);
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        !in_ci,
        "CI must run the Python client test; scripts/test installs gql"
    );
    eprintln!("skipping: run scripts/test once to install gql into .cache/python-clients");
    None
}

async fn python_gql_works_with_its_default_transports(backend: Backend) {
    let Some(python) = python_with_gql() else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/gql_client.py");
    let (http, ws, token) = (
        format!("{}/graphql", app.addr),
        app.ws_url(),
        app.token.clone(),
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([&http, &ws, &token])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no JSON from the gql client: {stdout}\n{stderr}"));
    assert_eq!(result["ok"], true, "{result}\n{stderr}");
    assert_eq!(result["defaultWs"]["subprotocol"], "graphql-ws", "{result}");
    assert_eq!(
        result["transportWs"]["subprotocol"], "graphql-transport-ws",
        "{result}"
    );
}
both!(python_gql_works_with_its_default_transports);
