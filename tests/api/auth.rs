//! Identity and access through the API: sign-in, sessions, API keys, lockout, roles, audit,
//! and the token attack matrix over HTTP and the websocket.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use heldar::clock::ManualClock;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::both;
use crate::helpers::Backend;
use crate::helpers::{ADMIN_PASSWORD, TestApp, USER_PASSWORD, WsClient, first_error};

const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
const ME: &str = "{ me { id name role kind cameraIds } }";

/// Signs `header.claims` with HMAC-SHA256 under `key`, whatever the header says.
fn forge(header: Value, claims: Value, key: &[u8]) -> String {
    let head = URL_SAFE_NO_PAD.encode(header.to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{head}.{body}").as_bytes());
    format!(
        "{head}.{body}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn me_code(app: &TestApp, token: &str) -> String {
    let (_, body) = app.post(ME, json!({}), Some(token)).await;
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => code.to_owned(),
        None => "OK".to_owned(),
    }
}

async fn ws_init_close(app: &TestApp, token: &str) -> Option<u16> {
    let mut client = WsClient::connect(&app.ws_url(), Some("graphql-transport-ws")).await;
    client.send(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}})).await;
    match client.next_event().await {
        crate::helpers::WsEvent::Closed(code, _) => code,
        crate::helpers::WsEvent::Json(message) => {
            assert_eq!(message["type"], "connection_ack");
            None
        }
    }
}

async fn login_issues_tokens_and_me_shows_the_principal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let payload = app.login("admin", ADMIN_PASSWORD).await;
    assert!(
        payload["refreshToken"]
            .as_str()
            .unwrap()
            .starts_with("hrt_")
    );
    let claims = claims_of(payload["accessToken"].as_str().unwrap());
    for claim in ["iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti"] {
        assert!(!claims[claim].is_null(), "claim {claim} missing: {claims}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900,
        "15 minutes by default"
    );
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                payload["accessToken"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header, json!({"typ": "at+jwt", "alg": "HS256"}));
    let me = app
        .gql(ME, json!({}), payload["accessToken"].as_str())
        .await;
    assert_eq!(me["me"]["name"], "admin");
    assert_eq!(me["me"]["role"], "ADMIN");
    assert_eq!(me["me"]["kind"], "USER");
    assert_eq!(me["me"]["cameraIds"], Value::Null);
}
both!(login_issues_tokens_and_me_shows_the_principal);

async fn failed_sign_ins_look_the_same_whatever_the_reason(backend: Backend) {
    // The address throttle is tested on its own (`hardening`); here it stays out of the way.
    let app = TestApp::spawn_with(backend, |c| {
        c.login_max_failures = 2;
        c.login_address_burst = 20;
    })
    .await;
    app.user_with_role("locky", "viewer").await;
    for _ in 0..2 {
        app.gql_err(
            crate::helpers::LOGIN,
            json!({"u": "locky", "p": "wrong-password"}),
            None,
        )
        .await;
    }
    let unknown = app
        .gql_err(
            crate::helpers::LOGIN,
            json!({"u": "nobody", "p": USER_PASSWORD}),
            None,
        )
        .await;
    let wrong = app
        .gql_err(
            crate::helpers::LOGIN,
            json!({"u": "admin", "p": "wrong-password"}),
            None,
        )
        .await;
    let locked = app
        .gql_err(
            crate::helpers::LOGIN,
            json!({"u": "locky", "p": USER_PASSWORD}),
            None,
        )
        .await;
    let expected = (
        "UNAUTHENTICATED".to_owned(),
        "invalid username or password".to_owned(),
    );
    assert_eq!(unknown, expected);
    assert_eq!(wrong, expected);
    assert_eq!(
        locked, expected,
        "a locked account refuses even the right password, with the same error"
    );
}
both!(failed_sign_ins_look_the_same_whatever_the_reason);

async fn five_failures_lock_an_account_until_unlocked_or_lapsed(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |c| {
        c.login_address_burst = 20;
        c.login_username_burst = 20;
    })
    .await;
    let (id, _) = app.user_with_role("alice", "guard").await;
    for _ in 0..5 {
        app.gql_err(
            crate::helpers::LOGIN,
            json!({"u": "alice", "p": "not-her-password"}),
            None,
        )
        .await;
    }
    let (code, _) = app
        .gql_err(
            crate::helpers::LOGIN,
            json!({"u": "alice", "p": USER_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(code, "UNAUTHENTICATED", "locked");
    let users = app
        .gql(
            "{ users { edges { node { username failedLoginCount lockedUntil } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    let alice = users["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["username"] == "alice")
        .unwrap();
    assert_eq!(alice["node"]["failedLoginCount"], 5);
    assert!(alice["node"]["lockedUntil"].is_string());
    let locks = app.gql(r#"{ auditLog(filter: {action: "login_locked"}) { edges { node { targetId detail } } } }"#, json!({}), app.admin()).await;
    let locks = locks["auditLog"]["edges"].as_array().unwrap();
    assert_eq!(locks.len(), 1, "the lockout is audited once: {locks:?}");
    assert_eq!(locks[0]["node"]["targetId"], id.as_str());

    app.gql(
        "mutation($id: ID!) { unlockUser(id: $id) { failedLoginCount lockedUntil } }",
        json!({"id": id}),
        app.admin(),
    )
    .await;
    app.login("alice", USER_PASSWORD).await;

    for _ in 0..5 {
        app.gql_err(
            crate::helpers::LOGIN,
            json!({"u": "alice", "p": "not-her-password"}),
            None,
        )
        .await;
    }
    assert_eq!(
        app.gql_err(
            crate::helpers::LOGIN,
            json!({"u": "alice", "p": USER_PASSWORD}),
            None
        )
        .await
        .0,
        "UNAUTHENTICATED"
    );
    clock.advance(chrono::Duration::minutes(16));
    app.login("alice", USER_PASSWORD).await;
}
both!(five_failures_lock_an_account_until_unlocked_or_lapsed);

async fn concurrent_failures_are_all_counted(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.login_max_failures = 100;
        c.login_address_burst = 20;
    })
    .await;
    app.user_with_role("bob", "viewer").await;
    let attempts = (0..8).map(|_| {
        app.gql_err(
            crate::helpers::LOGIN,
            json!({"u": "bob", "p": "wrong-password"}),
            None,
        )
    });
    futures_util::future::join_all(attempts).await;
    let users = app
        .gql(
            "{ users { edges { node { username failedLoginCount } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    let bob = users["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["username"] == "bob")
        .unwrap();
    assert_eq!(bob["node"]["failedLoginCount"], 8, "no lost update");
}
both!(concurrent_failures_are_all_counted);

async fn a_refresh_token_rotates_and_its_reuse_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.login("admin", ADMIN_PASSWORD).await;
    let refresh =
        "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }";
    let second = app
        .gql(refresh, json!({"t": first["refreshToken"]}), None)
        .await["refreshSession"]
        .clone();
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    assert_eq!(
        me_code(&app, second["accessToken"].as_str().unwrap()).await,
        "OK"
    );
    // The spent token again: theft is assumed and the whole session ends.
    let (code, _) = app
        .gql_err(refresh, json!({"t": first["refreshToken"]}), None)
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
    assert_eq!(
        me_code(&app, second["accessToken"].as_str().unwrap()).await,
        "UNAUTHENTICATED"
    );
    let (code, _) = app
        .gql_err(refresh, json!({"t": second["refreshToken"]}), None)
        .await;
    assert_eq!(
        code, "UNAUTHENTICATED",
        "the newest refresh token of the session is dead too"
    );
    let reuse = app.gql(r#"{ auditLog(filter: {action: "refresh_token_reuse"}) { edges { node { action } } } }"#, json!({}), app.admin()).await;
    assert_eq!(reuse["auditLog"]["edges"].as_array().unwrap().len(), 1);
}
both!(a_refresh_token_rotates_and_its_reuse_ends_the_session);

async fn an_idle_session_cannot_be_refreshed(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |c| c.session_idle_secs = 600).await;
    let payload = app.login("admin", ADMIN_PASSWORD).await;
    clock.advance(chrono::Duration::seconds(601));
    let (code, _) = app
        .gql_err(
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
            json!({"t": payload["refreshToken"]}),
            None,
        )
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
}
both!(an_idle_session_cannot_be_refreshed);

async fn logout_stops_the_access_token_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let payload = app.login("admin", ADMIN_PASSWORD).await;
    let token = payload["accessToken"].as_str().unwrap();
    assert_eq!(
        app.gql("mutation { logout }", json!({}), Some(token)).await["logout"],
        true
    );
    assert_eq!(me_code(&app, token).await, "UNAUTHENTICATED");
    let (code, _) = app
        .gql_err(
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
            json!({"t": payload["refreshToken"]}),
            None,
        )
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
    assert_eq!(
        me_code(&app, &app.token).await,
        "OK",
        "other sessions are untouched"
    );
}
both!(logout_stops_the_access_token_at_once);

async fn no_forged_stale_or_revoked_token_is_accepted_over_http_or_websocket(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |_| {}).await;
    let good = claims_of(&app.token);
    let now = clock.now_ts();
    let with = |patch: Value| {
        let mut claims = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let hs = json!({"alg": "HS256", "typ": "at+jwt"});
    let mut cases: Vec<(&str, String)> = vec![
        (
            "control: a correctly forged token is accepted",
            forge(hs.clone(), good.clone(), SECRET.as_bytes()),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt"}).to_string()),
                URL_SAFE_NO_PAD.encode(good.to_string())
            ),
        ),
        (
            "wrong key",
            forge(
                hs.clone(),
                good.clone(),
                b"another-secret-another-secret-another-secret",
            ),
        ),
        (
            "RS256 header, HMAC signature (alg confusion)",
            forge(
                json!({"alg": "RS256", "typ": "at+jwt"}),
                good.clone(),
                SECRET.as_bytes(),
            ),
        ),
        (
            "HS512",
            forge(
                json!({"alg": "HS512", "typ": "at+jwt"}),
                good.clone(),
                SECRET.as_bytes(),
            ),
        ),
        (
            "plain JWT typ",
            forge(
                json!({"alg": "HS256", "typ": "JWT"}),
                good.clone(),
                SECRET.as_bytes(),
            ),
        ),
        (
            "expired",
            forge(
                hs.clone(),
                with(json!({"exp": now - 60, "iat": now - 1000, "nbf": now - 1000})),
                SECRET.as_bytes(),
            ),
        ),
        (
            "not yet valid",
            forge(
                hs.clone(),
                with(json!({"nbf": now + 600})),
                SECRET.as_bytes(),
            ),
        ),
        (
            "wrong aud",
            forge(
                hs.clone(),
                with(json!({"aud": "someone-else"})),
                SECRET.as_bytes(),
            ),
        ),
        (
            "wrong iss",
            forge(hs.clone(), with(json!({"iss": "evil"})), SECRET.as_bytes()),
        ),
        (
            "no aud",
            forge(
                hs.clone(),
                {
                    let mut c = good.clone();
                    c.as_object_mut().unwrap().remove("aud");
                    c
                },
                SECRET.as_bytes(),
            ),
        ),
        (
            "other user's id with this session",
            forge(
                hs.clone(),
                with(json!({"sub": "usr_someone"})),
                SECRET.as_bytes(),
            ),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    let login = app.login("admin", ADMIN_PASSWORD).await;
    cases.push((
        "a refresh token as an access token",
        login["refreshToken"].as_str().unwrap().to_owned(),
    ));

    let logged_out = app.login("admin", ADMIN_PASSWORD).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql("mutation { logout }", json!({}), Some(&logged_out))
        .await;
    cases.push(("revoked session", logged_out));

    let (user_id, user_token) = app.user_with_role("carol", "viewer").await;
    app.gql(
        "mutation($i: UpdateUserInput!) { updateUser(input: $i) { active } }",
        json!({"i": {"id": user_id, "active": false}}),
        app.admin(),
    )
    .await;
    cases.push(("deactivated user", user_token));

    let (doomed_id, _, doomed_user_token) = {
        let (id, token) = app.user_with_role("dave", "viewer").await;
        (id, (), token)
    };
    app.gql(
        "mutation($id: ID!) { deleteUser(id: $id) }",
        json!({"id": doomed_id}),
        app.admin(),
    )
    .await;
    cases.push(("deleted user", doomed_user_token));

    let (key_id, _, key_token) = app.api_key("integration", None).await;
    app.gql(
        "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
        json!({"id": key_id}),
        app.admin(),
    )
    .await;
    cases.push(("revoked API key", key_token));

    for (name, token) in &cases {
        let control = name.starts_with("control");
        let http = me_code(&app, token).await;
        let ws = ws_init_close(&app, token).await;
        if control {
            assert_eq!(http, "OK", "{name}");
            assert_eq!(ws, None, "{name}");
        } else {
            assert_eq!(http, "UNAUTHENTICATED", "{name} accepted over HTTP");
            assert_eq!(ws, Some(4403), "{name} accepted over the websocket");
        }
    }
}
both!(no_forged_stale_or_revoked_token_is_accepted_over_http_or_websocket);

async fn a_websocket_without_a_token_is_closed_4403(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for payload in [
        json!(null),
        json!({}),
        json!({"authorization": "Basic abc"}),
        json!({"authorization": "Bearer "}),
    ] {
        let mut client = WsClient::connect(&app.ws_url(), Some("graphql-transport-ws")).await;
        client
            .send(json!({"type": "connection_init", "payload": payload}))
            .await;
        client.expect_close(4403).await;
    }
}
both!(a_websocket_without_a_token_is_closed_4403);

async fn the_websocket_closes_4403_when_the_token_expires(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.access_token_ttl_secs = 2).await;
    let token = app.login("admin", ADMIN_PASSWORD).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut client = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {token}")}),
    )
    .await;
    client.send(json!({"id": "t", "type": "subscribe", "payload": {"query": "subscription { serverClock(everyMs: 200) { seq } }"}})).await;
    let started = std::time::Instant::now();
    client.expect_close(4403).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "closed at expiry, not later"
    );
}
both!(the_websocket_closes_4403_when_the_token_expires);

async fn a_revoked_session_cannot_start_new_subscriptions_on_an_open_socket(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.login("admin", ADMIN_PASSWORD).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut client = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {token}")}),
    )
    .await;
    app.gql("mutation { logout }", json!({}), Some(&token))
        .await;
    client
        .send(json!({"id": "s", "type": "subscribe", "payload": {"query": "{ me { name } }"}}))
        .await;
    client.expect_close(4403).await;
}
both!(a_revoked_session_cannot_start_new_subscriptions_on_an_open_socket);

async fn role_changes_and_password_changes_apply_on_the_next_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.user_with_role("erin", "viewer").await;
    assert_eq!(
        app.gql_err(
            "{ users { edges { node { id } } } }",
            json!({}),
            Some(&token)
        )
        .await
        .0,
        "FORBIDDEN"
    );
    app.gql(
        "mutation($i: UpdateUserInput!) { updateUser(input: $i) { role } }",
        json!({"i": {"id": id, "role": "ADMIN"}}),
        app.admin(),
    )
    .await;
    app.gql(
        "{ users { edges { node { id } } } }",
        json!({}),
        Some(&token),
    )
    .await;
    app.gql(
        "mutation($i: UpdateUserInput!) { updateUser(input: $i) { id } }",
        json!({"i": {"id": id, "password": "a-brand-new-password"}}),
        app.admin(),
    )
    .await;
    assert_eq!(
        me_code(&app, &token).await,
        "UNAUTHENTICATED",
        "a password change ends the sessions"
    );
    app.login("erin", "a-brand-new-password").await;
}
both!(role_changes_and_password_changes_apply_on_the_next_request);

async fn api_keys_are_shown_once_exchanged_scoped_and_expire(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |_| {}).await;
    let expires = (clock.now_dt() + chrono::Duration::hours(1)).to_rfc3339();
    let created = app
        .gql(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id name role prefix cameraIds expiresAt } } }",
            json!({"i": {"name": "  worker-1 ", "cameraIds": ["cam_a", "cam_b"], "expiresAt": expires}}),
            app.admin(),
        )
        .await["createApiKey"]
        .clone();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("hak_"));
    assert_eq!(created["apiKey"]["name"], "worker-1");
    assert_eq!(created["apiKey"]["role"], "INTEGRATION", "the default role");
    assert_eq!(created["apiKey"]["prefix"].as_str().unwrap(), &key[..12]);
    let listed = app
        .gql(
            "{ apiKeys { edges { node { id prefix } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert!(
        !listed.to_string().contains(key),
        "the key is never shown again"
    );

    let token = app.exchange(key).await;
    let me = app.gql(ME, json!({}), Some(&token)).await;
    assert_eq!(
        me["me"],
        json!({"id": created["apiKey"]["id"], "name": "worker-1", "role": "INTEGRATION", "kind": "API_KEY", "cameraIds": ["cam_a", "cam_b"]})
    );
    assert_eq!(
        app.gql_err(
            "{ users { edges { node { id } } } }",
            json!({}),
            Some(&token)
        )
        .await
        .0,
        "FORBIDDEN"
    );

    clock.advance(chrono::Duration::minutes(61));
    assert_eq!(
        me_code(&app, &token).await,
        "UNAUTHENTICATED",
        "an expired key's tokens stop"
    );
    let (code, _) = app
        .gql_err(
            "mutation($k: String!) { exchangeApiKey(apiKey: $k) { accessToken } }",
            json!({"k": key}),
            None,
        )
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
    let (code, _) = app
        .gql_err(
            "mutation($k: String!) { exchangeApiKey(apiKey: $k) { accessToken } }",
            json!({"k": "hak_nope"}),
            None,
        )
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
}
both!(api_keys_are_shown_once_exchanged_scoped_and_expire);

async fn invalid_user_and_key_input_is_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let create =
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id username role active } }";
    let cases = [
        (
            json!({"username": "  ", "password": USER_PASSWORD}),
            "input.username",
        ),
        (
            json!({"username": "frank", "password": "seven77"}),
            "input.password",
        ),
        (
            json!({"username": "frank", "password": "x".repeat(1025)}),
            "input.password",
        ),
        (
            json!({"username": "frank", "password": USER_PASSWORD, "role": "ADMIN", "cameraIds": ["c"]}),
            "input.cameraIds",
        ),
        (
            json!({"username": "frank", "password": USER_PASSWORD, "cameraIds": ["ok", " "]}),
            "input.cameraIds[1]",
        ),
    ];
    for (input, field) in cases {
        let (_, body) = app.post(create, json!({"i": input}), app.admin()).await;
        assert_eq!(first_error(&body).0, "BAD_USER_INPUT", "{input}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{input}");
    }
    let (_, body) = app
        .post(
            create,
            json!({"i": {"username": "frank", "password": USER_PASSWORD, "role": "SUPERUSER"}}),
            app.admin(),
        )
        .await;
    let (code, message) = first_error(&body);
    assert_eq!(
        code, "GRAPHQL_VALIDATION_FAILED",
        "an unknown role is refused by the schema"
    );
    assert!(message.contains("input.role"), "{message}");

    let user = app
        .gql(
            create,
            json!({"i": {"username": "  frank ", "password": USER_PASSWORD}}),
            app.admin(),
        )
        .await;
    assert_eq!(user["createUser"]["username"], "frank", "trimmed");
    assert_eq!(user["createUser"]["role"], "VIEWER", "default role");
    assert_eq!(user["createUser"]["active"], true);
    let (code, message) = app
        .gql_err(
            create,
            json!({"i": {"username": "frank", "password": USER_PASSWORD}}),
            app.admin(),
        )
        .await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("CONFLICT", "username `frank` is taken")
    );

    let key = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }";
    let (_, body) = app
        .post(key, json!({"i": {"name": " "}}), app.admin())
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.name");
    let (_, body) = app
        .post(
            key,
            json!({"i": {"name": "x", "role": "ADMIN", "cameraIds": ["c"]}}),
            app.admin(),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.cameraIds");
    let (_, body) = app
        .post(
            key,
            json!({"i": {"name": "x", "expiresAt": "2000-01-01T00:00:00Z"}}),
            app.admin(),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.expiresAt");
}
both!(invalid_user_and_key_input_is_refused_naming_the_field);

async fn the_last_admin_stays_and_nobody_deletes_themselves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin_id = app.gql("{ me { id } }", json!({}), app.admin()).await["me"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let update = "mutation($i: UpdateUserInput!) { updateUser(input: $i) { role active } }";
    assert_eq!(
        app.gql_err(
            update,
            json!({"i": {"id": admin_id, "role": "VIEWER"}}),
            app.admin()
        )
        .await
        .0,
        "CONFLICT"
    );
    assert_eq!(
        app.gql_err(
            update,
            json!({"i": {"id": admin_id, "active": false}}),
            app.admin()
        )
        .await
        .0,
        "CONFLICT"
    );
    let (code, _) = app
        .gql_err(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({"id": admin_id}),
            app.admin(),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT", "deleting yourself");

    // Two admins demoting each other at the same moment: exactly one may succeed.
    let (second_id, second_token) = app.user_with_role("second", "admin").await;
    let a = app.post(
        update,
        json!({"i": {"id": second_id, "role": "VIEWER"}}),
        app.admin(),
    );
    let b = app.post(
        update,
        json!({"i": {"id": admin_id, "role": "VIEWER"}}),
        Some(&second_token),
    );
    let ((_, a), (_, b)) = tokio::join!(a, b);
    let ok = [&a, &b]
        .iter()
        .filter(|r| r.get("errors").is_none())
        .count();
    assert_eq!(ok, 1, "exactly one demotion succeeds: {a} / {b}");
    let admins = app
        .gql(
            "{ users { edges { node { role active } } } }",
            json!({}),
            if a.get("errors").is_none() {
                app.admin()
            } else {
                Some(&second_token)
            },
        )
        .await;
    let count = admins["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["role"] == "ADMIN")
        .count();
    assert_eq!(count, 1);
}
both!(the_last_admin_stays_and_nobody_deletes_themselves);

async fn every_mutation_is_audited_and_the_log_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = app.user_with_role("gina", "viewer").await;
    app.gql(
        "mutation($i: UpdateUserInput!) { updateUser(input: $i) { id } }",
        json!({"i": {"id": id, "displayName": "Gina"}}),
        app.admin(),
    )
    .await;
    app.gql(
        "mutation($id: ID!) { unlockUser(id: $id) { id } }",
        json!({"id": id}),
        app.admin(),
    )
    .await;
    let (key_id, _, _) = app.api_key("integration", None).await;
    app.gql(
        "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        json!({"id": key_id}),
        app.admin(),
    )
    .await;
    app.gql("mutation { logout }", json!({}), Some(&token))
        .await;
    app.gql(
        "mutation($id: ID!) { deleteUser(id: $id) }",
        json!({"id": id}),
        app.admin(),
    )
    .await;
    let all = app
        .gql(
            "{ auditLog(first: 500) { edges { node { seq action actorName targetId detail } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    let edges = all["auditLog"]["edges"].as_array().unwrap();
    let actions: Vec<&str> = edges
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    for action in [
        "login",
        "create_user",
        "update_user",
        "unlock_user",
        "create_api_key",
        "revoke_api_key",
        "logout",
        "delete_user",
    ] {
        assert!(
            actions.contains(&action),
            "{action} not audited: {actions:?}"
        );
    }
    let seqs: Vec<i64> = edges
        .iter()
        .map(|e| e["node"]["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(
        !all.to_string().contains(USER_PASSWORD),
        "no secret in the audit log"
    );

    let page = app.gql("query($a: String) { auditLog(first: 2, after: $a) { edges { cursor node { seq } } pageInfo { hasNextPage endCursor } } }", json!({"a": null}), app.admin()).await;
    assert_eq!(page["auditLog"]["pageInfo"]["hasNextPage"], true);
    let next = app
        .gql(
            "query($a: String) { auditLog(first: 2, after: $a) { edges { node { seq } } } }",
            json!({"a": page["auditLog"]["pageInfo"]["endCursor"]}),
            app.admin(),
        )
        .await;
    assert_eq!(
        next["auditLog"]["edges"][0]["node"]["seq"]
            .as_i64()
            .unwrap(),
        seqs[2]
    );
    let by_actor = app.gql(r#"{ auditLog(filter: {action: "delete_user"}) { edges { node { actorName targetId } } } }"#, json!({}), app.admin()).await;
    assert_eq!(
        by_actor["auditLog"]["edges"][0]["node"],
        json!({"actorName": "admin", "targetId": id})
    );
}
both!(every_mutation_is_audited_and_the_log_pages);
