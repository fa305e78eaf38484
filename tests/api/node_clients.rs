//! Real third-party clients: the `graphql-ws` library over `/graphql/ws`, GraphiQL in
//! headless Chromium with the network limited to localhost, graphql-codegen with a strict
//! `tsc`, and Apollo Client's persisted-query link. The scripts live in `web/tests/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::both;
use crate::helpers::Backend;
use crate::helpers::{TestApp, in_ci};

/// `node` and the installed `web/node_modules`, or a skip (a failure in CI).
pub(crate) fn node_ready(extra: Option<&str>) -> Option<PathBuf> {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let modules_ok = web.join("node_modules/graphql-ws").is_dir();
    let extra_ok = extra.is_none_or(|path| Path::new(path).exists());
    if node_ok && modules_ok && extra_ok {
        return Some(web);
    }
    let missing = format!(
        "node: {node_ok}, web/node_modules: {modules_ok}, {}: {extra_ok}",
        extra.unwrap_or("-")
    );
    assert!(
        !in_ci(),
        "CI must run the Node client tests ({missing}); the test command installs them"
    );
    eprintln!("skipping: {missing}; run `npm ci --prefix web` (and `apt-get install chromium`)");
    None
}

pub(crate) fn run_script(web: &Path, script: &str, args: &[&str]) -> serde_json::Value {
    let output = Command::new("node")
        .arg(web.join("tests").join(script))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|_| panic!("{script} printed no JSON result: {stdout}"))
}

async fn the_graphql_ws_client_library_interoperates(backend: Backend) {
    let Some(web) = node_ready(None) else { return };
    let app = TestApp::spawn(backend).await;
    let url = app.ws_url();
    let token = app.token.clone();
    let result = tokio::task::spawn_blocking(move || {
        run_script(&web, "graphql-ws-interop.mjs", &[&url, &token])
    })
    .await
    .unwrap();
    assert_eq!(result["ok"], true, "{result}");
}
both!(the_graphql_ws_client_library_interoperates);

async fn graphiql_renders_offline_runs_introspection_and_opens_the_docs(backend: Backend) {
    let Some(web) = node_ready(Some("/usr/bin/chromium")) else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    let url = app.addr.clone();
    let result =
        tokio::task::spawn_blocking(move || run_script(&web, "graphiql-browser.mjs", &[&url]))
            .await
            .unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        result["blocked"],
        serde_json::json!([]),
        "GraphiQL tried to reach the internet: {result}"
    );
    let fields = result["docsRootFields"].as_array().unwrap();
    for root in ["cameras", "footageCoverage", "node", "perceptionEvents"] {
        assert!(
            fields.iter().any(|f| f == root),
            "docs pane lacks {root}: {result}"
        );
    }
}
both!(graphiql_renders_offline_runs_introspection_and_opens_the_docs);

async fn codegen_types_from_the_live_schema_compile_under_strict_tsc(backend: Backend) {
    let Some(web) = node_ready(None) else { return };
    let app = TestApp::spawn(backend).await;
    let (url, token) = (format!("{}/graphql", app.addr), app.token.clone());
    let result =
        tokio::task::spawn_blocking(move || run_script(&web, "codegen-typed.mjs", &[&url, &token]))
            .await
            .unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["checkFailsRejected"], true, "{result}");
}
both!(codegen_types_from_the_live_schema_compile_under_strict_tsc);

async fn apollos_persisted_query_link_falls_back_then_hits(backend: Backend) {
    let Some(web) = node_ready(None) else { return };
    let app = TestApp::spawn(backend).await;
    let (url, token) = (format!("{}/graphql", app.addr), app.token.clone());
    let result = tokio::task::spawn_blocking(move || {
        run_script(&web, "apollo-persisted.mjs", &[&url, &token])
    })
    .await
    .unwrap();
    assert_eq!(result["ok"], true, "{result}");
}
both!(apollos_persisted_query_link_falls_back_then_hits);

async fn a_page_on_a_listed_origin_calls_the_api_from_chromium(backend: Backend) {
    let Some(web) = node_ready(Some("/usr/bin/chromium")) else {
        return;
    };
    let page_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(backend, |config| {
        config.cors_origins = vec![format!("http://localhost:{page_port}")];
    })
    .await;
    let (api, token) = (app.addr.clone(), app.token.clone());
    let result = tokio::task::spawn_blocking(move || {
        run_script(
            &web,
            "cors-browser.mjs",
            &[&api, &token, &page_port.to_string()],
        )
    })
    .await
    .unwrap();
    assert_eq!(result["ok"], true, "{result}");
}
both!(a_page_on_a_listed_origin_calls_the_api_from_chromium);
