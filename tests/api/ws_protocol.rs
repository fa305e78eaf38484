//! graphql-transport-ws, rule by rule, with raw frames (PROTOCOL.md; perf-security.md §4.2).

use std::time::Duration;

use serde_json::json;

use crate::both;
use crate::helpers::Backend;
use crate::helpers::{TestApp, WsClient, WsEvent};

const TICKS: &str = "subscription { serverClock(everyMs: 20) { seq } }";

async fn subscribe(client: &mut WsClient, id: &str, query: &str) {
    client
        .send(json!({"id": id, "type": "subscribe", "payload": {"query": query}}))
        .await;
}

async fn a_socket_without_a_known_subprotocol_is_closed_4406(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect(&app.ws_url(), None).await;
    client.expect_close(4406).await;
    let mut client = WsClient::connect(&app.ws_url(), Some("graphql-transport-ws")).await;
    client
        .send(json!({"type": "connection_init", "payload": app.ws_auth()}))
        .await;
    assert_eq!(client.next_json().await, json!({"type": "connection_ack"}));
}
both!(a_socket_without_a_known_subprotocol_is_closed_4406);

async fn no_connection_init_in_time_closes_4408(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.ws_init_timeout_ms = 200).await;
    let mut client = WsClient::connect(&app.ws_url(), Some("graphql-transport-ws")).await;
    client.expect_close(4408).await;
}
both!(no_connection_init_in_time_closes_4408);

async fn a_second_connection_init_closes_4429(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    client.send(json!({"type": "connection_init"})).await;
    client.expect_close(4429).await;
}
both!(a_second_connection_init_closes_4429);

async fn subscribing_before_the_ack_closes_4401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect(&app.ws_url(), Some("graphql-transport-ws")).await;
    subscribe(&mut client, "1", TICKS).await;
    client.expect_close(4401).await;
}
both!(subscribing_before_the_ack_closes_4401);

async fn invalid_messages_close_4400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        "{not json",
        r#"{"type":"unknown"}"#,
        r#"{"payload":{}}"#,
        r#"{"type":"subscribe","payload":{"query":"{ serverInfo { version } }"}}"#,
        r#"{"type":"subscribe","id":"","payload":{"query":"{ serverInfo { version } }"}}"#,
        r#"{"type":"subscribe","id":"1","payload":{"variables":{}}}"#,
        r#"{"type":"subscribe","id":"1","payload":{"query":"{ a }","variables":[1]}}"#,
        r#"{"type":"complete"}"#,
        r#"["connection_init"]"#,
    ];
    for case in cases {
        let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
        client.send_text(case).await;
        client.expect_close(4400).await;
    }
    let mut client = WsClient::connect(&app.ws_url(), Some("graphql-transport-ws")).await;
    client
        .send(json!({"type": "connection_init", "payload": "not an object"}))
        .await;
    client.expect_close(4400).await;
}
both!(invalid_messages_close_4400);

async fn a_duplicate_active_id_closes_4409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    subscribe(&mut client, "dup", TICKS).await;
    subscribe(&mut client, "dup", TICKS).await;
    client.expect_close(4409).await;
}
both!(a_duplicate_active_id_closes_4409);

async fn an_id_is_reusable_after_its_operation_completed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    for _ in 0..2 {
        subscribe(&mut client, "same", "{ serverInfo { version } }").await;
        assert_eq!(client.next_json().await["type"], "next");
        assert_eq!(
            client.next_json().await,
            json!({"type": "complete", "id": "same"})
        );
    }
}
both!(an_id_is_reusable_after_its_operation_completed);

async fn ping_is_answered_with_pong_and_pong_is_not_answered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect(&app.ws_url(), Some("graphql-transport-ws")).await;
    // Allowed even before the ack.
    client
        .send(json!({"type": "ping", "payload": {"n": 1}}))
        .await;
    assert_eq!(
        client.next_json().await,
        json!({"type": "pong", "payload": {"n": 1}})
    );
    client
        .send(json!({"type": "connection_init", "payload": app.ws_auth()}))
        .await;
    assert_eq!(client.next_json().await["type"], "connection_ack");
    client.send(json!({"type": "pong"})).await;
    assert!(
        client.until_pong().await.is_empty(),
        "an unsolicited pong gets no reply"
    );
}
both!(ping_is_answered_with_pong_and_pong_is_not_answered);

async fn a_query_gets_one_next_then_complete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    subscribe(&mut client, "q", "{ serverInfo { version } }").await;
    let next = client.next_json().await;
    assert_eq!(next["type"], "next");
    assert_eq!(next["id"], "q");
    assert_eq!(
        next["payload"]["data"]["serverInfo"]["version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        client.next_json().await,
        json!({"type": "complete", "id": "q"})
    );
}
both!(a_query_gets_one_next_then_complete);

async fn a_subscription_streams_until_its_limit_then_completes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    subscribe(
        &mut client,
        "s",
        "subscription { serverClock(everyMs: 20, limit: 3) { seq at } }",
    )
    .await;
    for seq in 1..=3 {
        let next = client.next_json().await;
        assert_eq!(next["type"], "next");
        assert_eq!(next["payload"]["data"]["serverClock"]["seq"], seq);
    }
    assert_eq!(
        client.next_json().await,
        json!({"type": "complete", "id": "s"})
    );
}
both!(a_subscription_streams_until_its_limit_then_completes);

async fn a_validation_failure_is_one_error_message_without_complete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    subscribe(&mut client, "bad", "subscription { nope }").await;
    let error = client.next_json().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "bad");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert!(error["payload"].is_array());
    assert!(
        client.until_pong().await.is_empty(),
        "nothing follows an error, no complete"
    );
    assert_eq!(
        client.next_event_within(Duration::from_millis(300)).await,
        None,
        "no late complete either"
    );
}
both!(a_validation_failure_is_one_error_message_without_complete);

async fn a_client_complete_stops_the_stream_and_is_not_echoed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    subscribe(&mut client, "s", TICKS).await;
    assert_eq!(client.next_json().await["type"], "next");
    client.send(json!({"type": "complete", "id": "s"})).await;
    let before_pong = client.until_pong().await;
    assert!(
        before_pong.iter().all(|m| m["type"] == "next"),
        "only in-flight nexts may precede the pong: {before_pong:?}"
    );
    assert_eq!(
        client.next_event_within(Duration::from_millis(300)).await,
        None,
        "nothing after the complete was processed"
    );
    let mut operations = i64::MAX;
    for _ in 0..50 {
        operations = app.state.ws.operations();
        if operations == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(operations, 0, "the stream's task is gone");
}
both!(a_client_complete_stops_the_stream_and_is_not_echoed);

async fn messages_for_unknown_ids_are_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    client
        .send(json!({"type": "complete", "id": "never-started"}))
        .await;
    assert!(client.until_pong().await.is_empty());
}
both!(messages_for_unknown_ids_are_ignored);

async fn a_failing_subscription_source_errors_only_its_own_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    subscribe(
        &mut client,
        "bad",
        "subscription { serverClock(everyMs: 1) { seq } }",
    )
    .await;
    let message = client.next_json().await;
    assert!(
        message["type"] == "error" || message["type"] == "next",
        "{message}"
    );
    let errors = if message["type"] == "error" {
        &message["payload"]
    } else {
        &message["payload"]["errors"]
    };
    assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(errors[0]["extensions"]["field"], "everyMs");
    // The socket stays usable.
    subscribe(&mut client, "ok", "{ serverInfo { version } }").await;
    let rest = client.until_done("ok").await;
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!(rest[1]["type"], "complete");
}
both!(a_failing_subscription_source_errors_only_its_own_operation);

async fn closing_the_socket_disposes_of_every_stream(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    for id in ["a", "b", "c"] {
        subscribe(&mut client, id, TICKS).await;
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 3 {
        let message = client.next_json().await;
        seen.insert(message["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(app.state.ws.operations(), 3);
    assert_eq!(app.state.ws.connections(), 1);
    // An abrupt close: drop the TCP connection without a close frame.
    drop(client);
    let mut state = (i64::MAX, i64::MAX);
    for _ in 0..100 {
        state = (app.state.ws.operations(), app.state.ws.connections());
        if state == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state, (0, 0), "(operations, connections) after close");
    let metrics = app.metrics().await;
    assert!(metrics.contains("heldar_ws_subscriptions 0"), "{metrics}");
}
both!(closing_the_socket_disposes_of_every_stream);

async fn a_peer_that_stops_answering_pings_is_dropped(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.ws_keepalive_ms = 1000).await;
    // A raw TCP client that completes the handshake, then never reads (so never pongs).
    let (stream, _) = tokio_tungstenite::client_async(
        {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let mut request = app.ws_url().into_client_request().unwrap();
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                "graphql-transport-ws".parse().unwrap(),
            );
            request
        },
        tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let mut stream = stream;
    use futures_util::SinkExt;
    stream
        .send(tokio_tungstenite::tungstenite::Message::Text(
            json!({"type": "connection_init", "payload": app.ws_auth()})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.state.ws.connections(),
        1,
        "the authenticated socket is open"
    );
    // Not reading means tungstenite never answers the server's pings.
    let mut connections = 1;
    for _ in 0..60 {
        connections = app.state.ws.connections();
        if connections == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        connections, 0,
        "the silent peer was dropped after a missed pong"
    );
    drop(stream);
}
both!(a_peer_that_stops_answering_pings_is_dropped);

async fn the_legacy_graphql_ws_protocol_is_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect(&app.ws_url(), Some("graphql-ws")).await;
    client
        .send(json!({"type": "connection_init", "payload": app.ws_auth()}))
        .await;
    assert_eq!(client.next_json().await["type"], "connection_ack");
    client.send(json!({"id": "1", "type": "start", "payload": {"query": "subscription { serverClock(everyMs: 20, limit: 2) { seq } }"}})).await;
    let mut data = Vec::new();
    loop {
        let message = client.next_json().await;
        match message["type"].as_str() {
            Some("data") => data.push(message["payload"]["data"]["serverClock"]["seq"].clone()),
            Some("complete") => break,
            Some("ka") => {}
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
    assert_eq!(data, vec![json!(1), json!(2)]);
    client
        .send(json!({"id": "2", "type": "start", "payload": {"query": TICKS}}))
        .await;
    assert_eq!(client.next_json().await["type"], "data");
    client.send(json!({"id": "2", "type": "stop"})).await;
    loop {
        let message = client.next_json().await;
        if message["type"] == "complete" {
            assert_eq!(message["id"], "2");
            break;
        }
    }
    client.send(json!({"type": "connection_terminate"})).await;
    match client.next_event().await {
        WsEvent::Closed(..) => {}
        other => panic!("expected close, got {other:?}"),
    }
}
both!(the_legacy_graphql_ws_protocol_is_served);

async fn a_message_larger_than_the_read_buffer_arrives_whole(backend: Backend) {
    // The server reads 2 KiB at a time (an idle socket stays small); a client frame of 40 KB
    // (a long document, as generated clients send) still arrives as one message.
    let app = TestApp::spawn(backend).await;
    let mut client = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    let padding = "# padding\n".repeat(4_000);
    let query = format!("{padding}query {{ serverInfo {{ version }} }}");
    assert!(query.len() > 40_000);
    subscribe(&mut client, "big", &query).await;
    let next = client.next_json().await;
    assert_eq!(next["type"], json!("next"), "{next}");
    assert_eq!(next["id"], json!("big"));
    assert!(next["payload"]["data"]["serverInfo"]["version"].is_string());
    assert_eq!(
        client.next_json().await,
        json!({"type": "complete", "id": "big"})
    );
}
both!(a_message_larger_than_the_read_buffer_arrives_whole);
