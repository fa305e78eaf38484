//! The API as front-end tools meet it: the standard introspection query, CORS and the
//! websocket Origin rule, 64-bit counts, Relay paging and `node`, persisted documents, spec
//! null propagation, re-authentication on an open socket, subprotocol choice and the
//! operations metrics.

use heldar::graphql::persisted::sha256_hex;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::both;
use crate::helpers::ws::{WsClient, WsEvent};
use crate::helpers::{Backend, TestApp, first_error};

/// The introspection query GraphiQL, graphql-codegen and `gql` send (graphql-js's
/// `getIntrospectionQuery` with descriptions): its `TypeRef` fragment nests eight levels.
const INTROSPECTION: &str = r"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}";

/// `promtool`, or a skip (a failure in CI, whose script installs it).
fn promtool() -> Option<&'static str> {
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        found || !in_ci,
        "CI must run promtool; scripts/test installs it"
    );
    if !found {
        eprintln!("skipping promtool: apt-get install prometheus");
    }
    found.then_some("promtool")
}

async fn create_camera(app: &TestApp, name: &str, quota: Option<i64>) -> String {
    let data = app
        .gql(
            "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id storageQuotaBytes } }",
            json!({"i": {"name": name, "streamUrl": "rtsp://10.0.0.5/s", "recordEnabled": false, "storageQuotaBytes": quota}}),
            app.admin(),
        )
        .await;
    assert_eq!(data["createCamera"]["storageQuotaBytes"], json!(quota));
    data["createCamera"]["id"].as_str().unwrap().to_owned()
}

async fn the_standard_introspection_query_runs_under_the_default_depth_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.state.config.max_query_depth, 12, "the default limit");
    let data = app.gql(INTROSPECTION, json!({}), app.admin()).await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
    assert_eq!(data["__schema"]["subscriptionType"]["name"], "Subscription");
    let long = data["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Long")
        .expect("the Long scalar is listed");
    assert!(long["description"].as_str().unwrap().contains("64-bit"));
    // Introspection mixed with data stays under the limit (the exemption is for documents
    // that only introspect).
    let mixed = "{ cameras { totalCount } __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }";
    let (code, message) = app.gql_err(mixed, json!({}), app.admin()).await;
    assert_eq!(code, "QUERY_TOO_DEEP", "{message}");
}
both!(the_standard_introspection_query_runs_under_the_default_depth_limit);

async fn cors_answers_listed_origins_only_and_the_websocket_follows_the_same_list(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, |config| {
        config.cors_origins = vec!["http://console.test:5173".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.addr))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("http://console.test:5173").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://console.test:5173"
    );
    let allow_headers = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allow_headers.contains("authorization") && allow_headers.contains("content-type"));
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(
        headers["access-control-max-age"], "600",
        "preflights are cached"
    );
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "bearer tokens need no cookies"
    );
    let refused = preflight("http://evil.test").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let post = app
        .http
        .post(format!("{}/graphql", app.addr))
        .header("origin", "http://console.test:5173")
        .bearer_auth(&app.token)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        post.headers()["access-control-allow-origin"],
        "http://console.test:5173"
    );
    let body = post.json::<Value>().await.unwrap();
    assert!(body["data"]["me"]["id"].is_string(), "{body}");

    // The websocket: a listed origin and the server's own origin connect; others get 403.
    let connect = |origin: String| {
        let mut request = app.ws_url().into_client_request().unwrap();
        let headers = request.headers_mut();
        headers.insert("origin", HeaderValue::from_str(&origin).unwrap());
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        tokio_tungstenite::connect_async(request)
    };
    assert!(connect("http://console.test:5173".into()).await.is_ok());
    assert!(connect(app.addr.clone()).await.is_ok());
    match connect("http://evil.test".into()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("a foreign origin must be refused: {:?}", other.map(|_| ())),
    }
}
both!(cors_answers_listed_origins_only_and_the_websocket_follows_the_same_list);

async fn byte_counts_pass_two_to_the_thirty_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let five_gib = 5 * 1024 * 1024 * 1024_i64;
    let id = create_camera(&app, "Big Disk", Some(five_gib)).await;
    let read = app
        .gql(
            "query($id: ID!) { camera(id: $id) { storageQuotaBytes } }",
            json!({"id": id}),
            app.admin(),
        )
        .await;
    assert_eq!(read["camera"]["storageQuotaBytes"], five_gib);
    // A string of digits is accepted too (for clients whose numbers are doubles).
    let updated = app
        .gql(
            "mutation($i: UpdateCameraInput!) { updateCamera(input: $i) { storageQuotaBytes } }",
            json!({"i": {"id": id, "storageQuotaBytes": "9007199254740993"}}),
            app.admin(),
        )
        .await;
    assert_eq!(
        updated["updateCamera"]["storageQuotaBytes"],
        9_007_199_254_740_993_i64
    );
    let (code, message) = app
        .gql_err(
            "mutation($i: UpdateCameraInput!) { updateCamera(input: $i) { id } }",
            json!({"i": {"id": id, "storageQuotaBytes": "lots"}}),
            app.admin(),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT", "{message}");
    assert!(message.contains("Long"), "{message}");
}
both!(byte_counts_pass_two_to_the_thirty_one);

async fn lists_page_both_ways_with_a_total_and_an_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in ["Cam A", "Cam B", "Cam C", "Cam D", "Cam E"] {
        create_camera(&app, name, None).await;
    }
    let page = "query($first: Int, $after: String, $last: Int, $before: String) { cameras(first: $first, after: $after, last: $last, before: $before) { totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let ids = |data: &Value| -> Vec<String> {
        data["cameras"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let tail = app.gql(page, json!({"last": 2}), app.admin()).await;
    assert_eq!(ids(&tail), ["cam_d", "cam_e"]);
    assert_eq!(tail["cameras"]["totalCount"], 5);
    assert_eq!(tail["cameras"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(tail["cameras"]["pageInfo"]["hasNextPage"], false);
    let before = tail["cameras"]["pageInfo"]["startCursor"].clone();
    let earlier = app
        .gql(page, json!({"last": 2, "before": before}), app.admin())
        .await;
    assert_eq!(ids(&earlier), ["cam_b", "cam_c"]);
    assert_eq!(earlier["cameras"]["pageInfo"]["hasPreviousPage"], true);
    let after = earlier["cameras"]["pageInfo"]["endCursor"].clone();
    let forward = app
        .gql(page, json!({"first": 10, "after": after}), app.admin())
        .await;
    assert_eq!(ids(&forward), ["cam_d", "cam_e"]);

    // The audit log is newest first unless asked otherwise.
    let audit = "query($o: Order!) { auditLog(order: $o, first: 3, filter: {action: \"create_camera\"}) { totalCount edges { node { seq targetId } } } }";
    let seqs = |data: &Value| -> Vec<i64> {
        data["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["seq"].as_i64().unwrap())
            .collect()
    };
    let newest = app
        .gql(audit, json!({"o": "NEWEST_FIRST"}), app.admin())
        .await;
    let oldest = app
        .gql(audit, json!({"o": "OLDEST_FIRST"}), app.admin())
        .await;
    assert_eq!(newest["auditLog"]["totalCount"], 5);
    assert_eq!(newest["auditLog"]["edges"][0]["node"]["targetId"], "cam_e");
    assert_eq!(oldest["auditLog"]["edges"][0]["node"]["targetId"], "cam_a");
    assert!(seqs(&newest).windows(2).all(|w| w[0] > w[1]));
    assert!(seqs(&oldest).windows(2).all(|w| w[0] < w[1]));

    let (code, message) = app
        .gql_err(page, json!({"first": 2, "last": 2}), app.admin())
        .await;
    assert_eq!(code, "BAD_USER_INPUT", "{message}");
}
both!(lists_page_both_ways_with_a_total_and_an_order);

async fn node_refetches_by_global_id_within_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let yard = create_camera(&app, "Yard", None).await;
    let gate = create_camera(&app, "Gate", None).await;
    let query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Camera { name } } }";
    let me = app.gql("{ me { id } }", json!({}), app.admin()).await["me"]["id"].clone();
    let data = app
        .gql(
            query,
            json!({"ids": [yard, "cam_missing", me]}),
            app.admin(),
        )
        .await;
    assert_eq!(
        data["nodes"],
        json!([{"__typename": "Camera", "id": "yard", "name": "Yard"}, null, {"__typename": "User", "id": me}])
    );
    // A credential scoped to the gate sees the gate and nothing of the yard.
    let (_, _, scoped) = app.api_key("viewer", Some(vec![gate.as_str()])).await;
    let seen = app
        .gql(
            "query($a: ID!, $b: ID!) { a: node(id: $a) { id } b: node(id: $b) { id } }",
            json!({"a": gate, "b": yard}),
            Some(&scoped),
        )
        .await;
    assert_eq!(seen, json!({"a": {"id": "gate"}, "b": null}));
    // Users are for those who manage them.
    let (code, _) = app
        .gql_err(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": me}),
            Some(&scoped),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
}
both!(node_refetches_by_global_id_within_scope);

async fn automatic_persisted_queries_follow_the_hash_protocol(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let query = "query Me { me { id role } }";
    let hash = sha256_hex(query);
    let extension = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    // Unknown hash: the code Apollo's link falls back on (and it is not a 400).
    let (status, body) = app
        .post_body(json!({"extensions": extension}), app.admin())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(first_error(&body).0, "PERSISTED_QUERY_NOT_FOUND");
    // The text with its hash runs and is remembered ...
    let (_, body) = app
        .post_body(
            json!({"query": query, "extensions": extension}),
            app.admin(),
        )
        .await;
    assert_eq!(body["data"]["me"]["role"], "ADMIN", "{body}");
    // ... so the hash alone runs next time, over POST and over GET.
    let (_, body) = app
        .post_body(json!({"extensions": extension}), app.admin())
        .await;
    assert_eq!(body["data"]["me"]["role"], "ADMIN", "{body}");
    let got: Value = app
        .http
        .get(format!("{}/graphql", app.addr))
        .query(&[
            ("operationName", "Me"),
            ("extensions", &extension.to_string()),
        ])
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["me"]["role"], "ADMIN", "{got}");
    // A hash that is not the document's is refused.
    let wrong =
        json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex("{ me { id } }")}});
    let (_, body) = app
        .post_body(json!({"query": query, "extensions": wrong}), app.admin())
        .await;
    assert_eq!(first_error(&body).0, "BAD_REQUEST");
}
both!(automatic_persisted_queries_follow_the_hash_protocol);

async fn a_trusted_documents_list_is_all_non_admins_may_run(backend: Backend) {
    let listed = "query Cameras { cameras { totalCount } }";
    let manifest = json!({
        "format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{"id": sha256_hex(listed), "name": "Cameras", "type": "query", "body": listed}]
    });
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), manifest.to_string()).unwrap();
    let path = file.path().to_owned();
    let app = TestApp::spawn_with(backend, move |config| {
        config.trusted_documents = Some(path);
    })
    .await;
    let (_, viewer) = app.user_with_role("vera", "viewer").await;
    let data = app.gql(listed, json!({}), Some(&viewer)).await;
    assert_eq!(data["cameras"]["totalCount"], 0);
    let by_hash =
        json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(listed)}}});
    let (_, body) = app.post_body(by_hash, Some(&viewer)).await;
    assert_eq!(body["data"]["cameras"]["totalCount"], 0, "{body}");
    let (code, _) = app.gql_err("{ me { id } }", json!({}), Some(&viewer)).await;
    assert_eq!(code, "PERSISTED_QUERY_NOT_IN_LIST");
    // Over the websocket too.
    let mut ws = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {viewer}")}),
    )
    .await;
    ws.send(json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { serverClock(limit: 1) { at } }"}}))
        .await;
    let error = ws.next_json().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_IN_LIST"
    );
    // Admins may run anything (GraphiQL, incident work).
    let data = app.gql("{ me { role } }", json!({}), app.admin()).await;
    assert_eq!(data["me"]["role"], "ADMIN");
}
both!(a_trusted_documents_list_is_all_non_admins_may_run);

async fn a_failed_non_null_root_field_nulls_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = create_camera(&app, "Lab", None).await;
    // `footageCoverage` is non-null: its error nulls the whole of `data`, as the spec says.
    let query = "query($id: ID!) { me { id } footageCoverage(cameraId: $id, from: \"2026-01-02T00:00:00Z\", to: \"2026-01-01T00:00:00Z\") { coveredSeconds } }";
    let (status, body) = app.post(query, json!({"id": id}), app.admin()).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(first_error(&body).0, "BAD_USER_INPUT");
}
both!(a_failed_non_null_root_field_nulls_data);

/// Reads the socket's remaining `next` messages until it closes, which must be with 4403.
async fn closes_forbidden(ws: &mut WsClient) {
    loop {
        match ws.next_event().await {
            WsEvent::Json(message) => assert_eq!(message["type"], "next", "{message}"),
            WsEvent::Closed(code, _) => {
                assert_eq!(code, Some(4403));
                return;
            }
        }
    }
}

async fn a_socket_re_authenticates_with_a_ping_and_keeps_its_subscriptions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ws = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    ws.send(json!({"id": "t", "type": "subscribe", "payload": {"query": "subscription { serverClock(everyMs: 200, limit: 20) { at } }"}}))
        .await;
    assert_eq!(ws.next_json().await["type"], "next");
    let fresh = app.login("admin", crate::helpers::ADMIN_PASSWORD).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    ws.send(json!({"type": "ping", "payload": {"authorization": format!("Bearer {fresh}")}}))
        .await;
    let mut accepted = None;
    for _ in 0..10 {
        let message = ws.next_json().await;
        if message["type"] == "pong" {
            accepted = Some(message);
            break;
        }
        assert_eq!(message["type"], "next", "{message}");
    }
    let pong = accepted.expect("a pong answers the re-authentication");
    assert_eq!(pong["payload"]["authorization"], "accepted", "{pong}");
    assert!(pong["payload"]["expiresAt"].is_string(), "{pong}");
    // The subscription goes on.
    assert_eq!(ws.next_json().await["type"], "next");
    // Another holder's token cannot take the socket over.
    let (_, other) = app.user_with_role("otto", "viewer").await;
    ws.send(json!({"type": "ping", "payload": {"authorization": format!("Bearer {other}")}}))
        .await;
    closes_forbidden(&mut ws).await;
    // The same holder whose cameras were narrowed meanwhile: the subscriptions admitted under
    // the wider grant do not go on under a fresh token; the socket closes, to subscribe afresh.
    let (nina, token) = app.user_with_role("nina", "viewer").await;
    let mut ws = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {token}")}),
    )
    .await;
    ws.send(json!({"id": "t", "type": "subscribe", "payload": {"query": "subscription { serverClock(everyMs: 200, limit: 50) { at } }"}}))
        .await;
    assert_eq!(ws.next_json().await["type"], "next");
    let yard = create_camera(&app, "Yard", None).await;
    app.gql(
        "mutation($i: UpdateUserInput!) { updateUser(input: $i) { id } }",
        json!({"i": {"id": nina, "cameraIds": [yard]}}),
        app.admin(),
    )
    .await;
    let narrowed = app.login("nina", crate::helpers::USER_PASSWORD).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    ws.send(json!({"type": "ping", "payload": {"authorization": format!("Bearer {narrowed}")}}))
        .await;
    closes_forbidden(&mut ws).await;
}
both!(a_socket_re_authenticates_with_a_ping_and_keeps_its_subscriptions);

async fn the_subprotocol_follows_the_clients_preference(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (offer, chosen) in [
        ("graphql-ws, graphql-transport-ws", "graphql-ws"),
        ("graphql-transport-ws, graphql-ws", "graphql-transport-ws"),
    ] {
        let mut request = app.ws_url().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(offer));
        let (_, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            chosen,
            "{offer}"
        );
    }
}
both!(the_subprotocol_follows_the_clients_preference);

async fn metrics_cover_operations_with_conventional_names(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_camera(&app, "Off", None).await;
    let text = app.metrics().await;
    for name in [
        "heldar_cameras{state=\"disabled\"} 1",
        "heldar_disk_free_bytes ",
        "heldar_disk_size_bytes ",
        "heldar_exports{status=\"queued\"} 0",
        "heldar_camera_segment_lag_seconds{camera=\"off\"} 0",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    // Prometheus's own linter accepts the exposition (names, units, HELP and TYPE lines).
    if let Some(promtool) = promtool() {
        use std::io::Write;
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
both!(metrics_cover_operations_with_conventional_names);
