//! GraphQL over HTTP: limits, refusals and their codes, health, readiness, metrics, GraphiQL.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, first_error};

const INFO: &str = "{ serverInfo { version database } }";

async fn a_query_over_post_returns_data(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let data = app.gql(INFO, json!({}), app.admin()).await;
    assert_eq!(data["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    let expected = if matches!(backend, Backend::Sqlite) {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(data["serverInfo"]["database"], expected);
}
both!(a_query_over_post_returns_data);

async fn simple_request_content_types_are_refused_as_csrf(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .http
            .post(format!("{}/graphql", app.addr))
            .header("content-type", content_type)
            .body(json!({ "query": INFO }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(first_error(&body).0, "BAD_REQUEST", "{content_type}");
    }
    let response = app
        .http
        .post(format!("{}/graphql", app.addr))
        .body(json!({ "query": INFO }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        415,
        "a body without content type is refused too"
    );
}
both!(simple_request_content_types_are_refused_as_csrf);

async fn mutations_over_get_are_refused_and_queries_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .get("/graphql?query=mutation%20%7B%20__typename%20%7D")
        .await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(first_error(&body).0, "METHOD_NOT_ALLOWED");

    let response = app
        .get("/graphql?query=subscription%20%7B%20serverClock%20%7B%20seq%20%7D%20%7D")
        .await;
    assert_eq!(response.status(), 405);

    let response = app
        .http
        .get(format!(
            "{}/graphql?query=%7B%20serverInfo%20%7B%20version%20%7D%20%7D",
            app.addr
        ))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["data"]["serverInfo"]["version"],
        env!("CARGO_PKG_VERSION")
    );
}
both!(mutations_over_get_are_refused_and_queries_run);

async fn a_document_nested_too_deep_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Introspection alone runs without the limit (clients need it); beside a data field it
    // counts like any selection.
    let deep = "{ me { id } __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }";
    let (code, message) = app.gql_err(deep, json!({}), app.admin()).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("QUERY_TOO_DEEP", "Query is nested too deep.")
    );
}
both!(a_document_nested_too_deep_is_refused);

async fn circular_introspection_is_refused_before_it_runs(backend: Backend) {
    // Each `interfaces { possibleTypes }` pair multiplies the answer by the Node types; ten
    // pairs would be billions of objects, asked for without a token in a few hundred bytes.
    let app = TestApp::spawn(backend).await;
    let mut deep = "name".to_owned();
    for _ in 0..10 {
        deep = format!("interfaces {{ possibleTypes {{ {deep} }} }}");
    }
    for query in [
        format!("{{ __schema {{ types {{ {deep} }} }} }}"),
        format!("{{ __type(name: \"Camera\") {{ {deep} }} }}"),
        // Through fragments, as a client library would write it.
        "query { ...A } fragment A on Query { __schema { types { ...B } } } fragment B on __Type { fields { type { fields { args { name } } } } }".to_owned(),
    ] {
        let started = std::time::Instant::now();
        let (status, body) = app.post(&query, json!({}), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(first_error(&body).0, "QUERY_TOO_DEEP", "{body}");
        assert!(body["data"].is_null(), "{body}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    // What GraphiQL and codegen send still runs: three lists deep.
    let data = app
        .gql(
            "{ __schema { types { name fields { name args { name type { name ofType { name } } } } } directives { args { name } } } }",
            json!({}),
            None,
        )
        .await;
    assert!(data["__schema"]["types"].as_array().unwrap().len() > 50);
}
both!(circular_introspection_is_refused_before_it_runs);

async fn a_document_too_complex_is_refused(backend: Backend) {
    // Output-sized costs: `hardening::one_request_cannot_exhaust_memory`.
    let app = TestApp::spawn_with(backend, |c| c.max_query_complexity = 1000).await;
    let aliases: String = (0..600)
        .map(|i| format!("a{i}: serverInfo {{ version }} "))
        .collect();
    let (code, _) = app
        .gql_err(&format!("{{ {aliases} }}"), json!({}), app.admin())
        .await;
    assert_eq!(code, "QUERY_TOO_COMPLEX");
}
both!(a_document_too_complex_is_refused);

async fn a_value_that_does_not_parse_names_its_argument(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let literal = "{ footageCoverage(cameraId: \"c\", from: \"yesterday\", to: \"2026-01-01T00:00:00Z\") { coveredSeconds } }";
    let variable = "query($f: DateTime!) { footageCoverage(cameraId: \"c\", from: \"2026-01-01T00:00:00Z\", to: $f) { coveredSeconds } }";
    let object = "mutation { exportClip(input: {cameraId: \"c\", from: \"soon\", to: \"2026-01-01T00:00:00Z\"}) { id } }";
    for (query, variables, field) in [
        (literal, json!({}), "from"),
        (variable, json!({"f": "tomorrow"}), "to"),
        (object, json!({}), "input"),
    ] {
        let (status, body) = app.post(query, variables, app.admin()).await;
        assert_eq!(status, 200, "{body}");
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(error["extensions"]["field"], field, "{body}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}: ")),
            "{body}"
        );
    }
    // The same over a websocket.
    let mut ws = crate::helpers::WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    ws.send(json!({"id": "q", "type": "subscribe", "payload": {"query": variable, "variables": {"f": "tomorrow"}}}))
        .await;
    let answer = ws.next_json().await;
    let error = match answer["type"].as_str() {
        Some("error") => answer["payload"][0].clone(),
        _ => answer["payload"]["errors"][0].clone(),
    };
    assert_eq!(error["extensions"]["field"], "to", "{answer}");
    // And over server-sent events.
    let mut stream =
        crate::helpers::sse::SseClient::post(&app.addr, &app.token, literal, None).await;
    let event = stream.next().await;
    assert_eq!(
        event.json()["errors"][0]["extensions"]["field"],
        "from",
        "{event:?}"
    );
}
both!(a_value_that_does_not_parse_names_its_argument);

async fn a_body_over_the_limit_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_body_bytes = 4096).await;
    let padding = " ".repeat(5000);
    let (status, body) = app
        .post(
            &format!("{{ serverInfo {{ version }} {padding} }}"),
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(first_error(&body).0, "PAYLOAD_TOO_LARGE");
}
both!(a_body_over_the_limit_is_refused);

async fn batches_run_up_to_the_limit_and_no_further(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_batch = 3).await;
    let op = json!({ "query": INFO });
    let (status, body) = app.post_body(json!([op, op, op]), app.admin()).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(3));
    assert!(body[2]["data"]["serverInfo"]["version"].is_string());

    let (status, body) = app.post_body(json!([op, op, op, op]), app.admin()).await;
    assert_eq!(status, 400);
    assert_eq!(
        first_error(&body),
        (
            "BAD_REQUEST".into(),
            "a batch must hold 1 to 3 operations".into()
        )
    );
}
both!(batches_run_up_to_the_limit_and_no_further);

async fn parse_and_validation_failures_carry_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.gql_err("{ serverInfo { ", json!({}), app.admin())
            .await
            .0,
        "GRAPHQL_PARSE_FAILED"
    );
    assert_eq!(
        app.gql_err("{ serverInfo { nope } }", json!({}), app.admin())
            .await
            .0,
        "GRAPHQL_VALIDATION_FAILED"
    );
    let (status, body) = app.post_body(json!({ "querry": INFO }), app.admin()).await;
    assert_eq!(status, 400);
    assert_eq!(first_error(&body).0, "BAD_REQUEST");
    let (status, _) = app.post_text("{not json", None).await;
    assert_eq!(status, 400);
}
both!(parse_and_validation_failures_carry_codes);

async fn a_malformed_body_is_refused_with_where_it_went_wrong(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // One operation and a batch each get serde's message, with the line and column.
    for (body, said) in [
        (
            r#"{"query": 5}"#,
            "invalid type: integer `5`, expected a string at line 1 column",
        ),
        (
            "\n  [{\"query\": \"{ serverInfo { version } }\"},\n {\"query\": [] }]",
            "invalid type: sequence, expected a string at line 3 column",
        ),
    ] {
        let (status, answer) = app.post_text(body, app.admin()).await;
        assert_eq!(status, 400, "{body}");
        let (code, message) = first_error(&answer);
        assert_eq!(code, "BAD_REQUEST");
        assert!(
            message.starts_with(&format!("body is not a GraphQL request: {said} ")),
            "{message}"
        );
    }
    // Whitespace before the bracket still makes a batch, answered as a list.
    let (status, answer) = app
        .post_text(
            "\r\n\t [{\"query\": \"{ serverInfo { version } }\"}]",
            app.admin(),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        answer[0]["data"]["serverInfo"]["version"].is_string(),
        "{answer}"
    );
}
both!(a_malformed_body_is_refused_with_where_it_went_wrong);

async fn introspection_and_suggestions_can_be_switched_off(backend: Backend) {
    let app = TestApp::spawn_with(backend.clone(), |c| c.introspection = false).await;
    let (code, _) = app
        .gql_err(
            "{ __schema { queryType { name } } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED");
    let (_, message) = app
        .gql_err("{ serverInf { version } }", json!({}), app.admin())
        .await;
    assert!(
        !message.contains("Did you mean"),
        "suggestions leak the schema: {message}"
    );

    let open = TestApp::spawn(backend).await;
    let data = open
        .gql("{ __schema { queryType { name } } }", json!({}), None)
        .await;
    assert_eq!(
        data["__schema"]["queryType"]["name"], "Query",
        "introspection needs no token"
    );
    let (_, message) = open
        .gql_err("{ serverInf { version } }", json!({}), open.admin())
        .await;
    assert!(message.contains("Did you mean"), "{message}");
}
both!(introspection_and_suggestions_can_be_switched_off);

async fn health_readiness_and_metrics_are_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["ready"], true);

    app.gql(
        "query Info { serverInfo { version } }",
        json!({}),
        app.admin(),
    )
    .await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"heldar_graphql_requests_total{operation="Info",outcome="ok"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("heldar_graphql_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"heldar_db_pool_connections{state="max"} 16"#),
        "{metrics}"
    );
    assert!(metrics.contains("heldar_ws_connections 0"), "{metrics}");
}
both!(health_readiness_and_metrics_are_served);

async fn readiness_fails_when_the_database_is_unreachable(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    match &backend {
        Backend::Postgres(_) => {
            // Drop the server's database from under it, as an outage would.
            let url = app
                .state
                .config
                .database_url
                .as_ref()
                .unwrap()
                .expose()
                .to_owned();
            let name = url.rsplit('/').next().unwrap().to_owned();
            let admin =
                sea_orm::Database::connect(crate::helpers::replace_db_name(&url, "postgres"))
                    .await
                    .unwrap();
            use sea_orm::ConnectionTrait;
            admin
                .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
        Backend::Sqlite => app.state.db.close_by_ref().await.unwrap(),
    }
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"ready": false, "reason": "database"})
    );
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "the process itself is still up"
    );
}
both!(readiness_fails_when_the_database_is_unreachable);

async fn graphiql_is_served_to_browsers_with_its_own_assets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let page = app
        .http
        .get(format!("{}/graphql", app.addr))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page must load nothing from the internet"
    );
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphql-ws.min.js",
        "app.js",
    ] {
        assert!(
            html.contains(&format!("/graphiql/{asset}")),
            "page references {asset}"
        );
        let response = app.get(&format!("/graphiql/{asset}")).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(
            response.bytes().await.unwrap().len() > 100,
            "{asset} has content"
        );
    }
    assert_eq!(app.get("/graphiql/..%2Fsecret").await.status(), 404);
}
both!(graphiql_is_served_to_browsers_with_its_own_assets);

async fn made_up_operation_names_cannot_flood_the_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = &app.http;
    let url = format!("{}/graphql", app.addr);
    // Anonymous requests with made-up names: documents that do not validate, then valid ones.
    for i in 0..150 {
        let body = json!({"query": format!("query Flood{i} {{ noSuchField }}"), "operationName": format!("Flood{i}")});
        client.post(&url).json(&body).send().await.unwrap();
    }
    for i in 0..250 {
        let body = json!({"query": format!("query Many{i} {{ __typename }}")});
        client.post(&url).json(&body).send().await.unwrap();
    }
    let text = app.metrics().await;
    let mut labels: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("heldar_graphql_requests_total{"))
        .filter_map(|l| l.split("operation=\"").nth(1)?.split('"').next())
        .collect();
    labels.sort_unstable();
    labels.dedup();
    assert!(!labels.iter().any(|l| l.starts_with("Flood")), "{labels:?}");
    assert!(
        labels.contains(&"invalid") && labels.contains(&"other"),
        "{labels:?}"
    );
    // The cap is process-wide (tests share one recorder): never more than it, plus the
    // fixed labels.
    assert!(
        labels.len() <= heldar::telemetry::MAX_OPERATION_LABELS + 3,
        "{}",
        labels.len()
    );
}
both!(made_up_operation_names_cannot_flood_the_metrics);

async fn a_metrics_token_guards_metrics(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.metrics_token = Some("scrape-token-for-tests".to_owned().into());
    })
    .await;
    let url = format!("{}/metrics", app.addr);
    let open = app.http.get(&url).send().await.unwrap();
    assert_eq!(open.status(), 401);
    let wrong = app
        .http
        .get(&url)
        .bearer_auth("scrape-token-for-test")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let scraped = app
        .http
        .get(&url)
        .bearer_auth("scrape-token-for-tests")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("heldar_cameras"));
}
both!(a_metrics_token_guards_metrics);

async fn a_remembered_document_is_still_checked_with_its_variables(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Sent twice without variables, the document is remembered as valid.
    let page = "query Page($first: Int) { cameras(first: $first) { totalCount } }";
    for _ in 0..2 {
        let data = app.gql(page, json!({}), app.admin()).await;
        assert_eq!(data["cameras"]["totalCount"], 0);
    }
    // With variables it is checked again: a value of the wrong type is refused by name.
    let (code, message) = app
        .gql_err(page, json!({"first": "three"}), app.admin())
        .await;
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED", "{message}");
    assert!(message.contains("first"), "{message}");
    let data = app.gql(page, json!({"first": 1}), app.admin()).await;
    assert_eq!(data["cameras"]["totalCount"], 0);
    // A document that failed is refused every time, never remembered as valid.
    for _ in 0..2 {
        let (code, message) = app
            .gql_err("{ serverInfo { nope } }", json!({}), app.admin())
            .await;
        assert_eq!(code, "GRAPHQL_VALIDATION_FAILED", "{message}");
        assert!(message.contains("nope"), "{message}");
    }
    // The same text under a name it does not hold is refused, and the made-up name is not
    // remembered with it.
    let (_, body) = app
        .post_body(
            json!({"query": page, "operationName": "Other", "variables": {}}),
            app.admin(),
        )
        .await;
    let (_, message) = first_error(&body);
    assert!(message.contains("Other"), "{body}");
}
both!(a_remembered_document_is_still_checked_with_its_variables);

/// A live or playback ticket in a URL's path is a credential: the request log names such a
/// route by its template, never with the ticket.
async fn tickets_in_media_paths_stay_out_of_the_log(backend: Backend) {
    use crate::helpers::process::{admin_token, call, fresh_database, start_server_env};
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&backend).await;
    let env = [("HELDAR_LOG", "info,tower_http=debug")];
    let (_server, addr, log) = start_server_env(dir.path(), database.as_deref(), &env);
    let http = reqwest::Client::new();
    let token = admin_token(&http, &addr).await;
    call(
        &http,
        &addr,
        Some(&token),
        "mutation { createCamera(input: {id: \"gate\", name: \"Gate\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}) { id } }",
        json!({}),
    )
    .await;
    let live = call(
        &http,
        &addr,
        Some(&token),
        "{ liveStream(cameraId: \"gate\") { hlsUrl } }",
        json!({}),
    )
    .await;
    let url = live["liveStream"]["hlsUrl"].as_str().unwrap().to_owned();
    let ticket = url.split('/').nth(3).unwrap().to_owned();
    assert!(ticket.len() > 20, "{url}");
    // The camera does not answer: whatever the status, the request is logged; so is one under
    // the ticket that matches no route.
    let _ = http.get(format!("{addr}{url}")).send().await.unwrap();
    let unmatched = url.replace("index.m3u8", "no/such/file");
    let _ = http.get(format!("{addr}{unmatched}")).send().await.unwrap();
    crate::helpers::eventually(
        std::time::Duration::from_secs(10),
        "the request logged",
        || async {
            log.lock()
                .unwrap()
                .iter()
                .filter(|l| {
                    l.contains("/media/live/{ticket}/index.m3u8")
                        || l.contains("/media/live/{ticket}/…")
                })
                .map(|l| l.contains("index.m3u8"))
                .collect::<std::collections::HashSet<bool>>()
                .len()
                .eq(&2)
                .then_some(())
        },
    )
    .await;
    let leaked: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(&ticket))
        .cloned()
        .collect();
    assert!(leaked.is_empty(), "the ticket is in the log: {leaked:?}");
}
both!(tickets_in_media_paths_stay_out_of_the_log);
