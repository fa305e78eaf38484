//! A plain HTTP/1 GraphQL client over fresh loopback connections: sign in, call, and turn an
//! API key into a worker token.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::BenchError;
use crate::harness::server::ADMIN_PASSWORD;

pub(crate) async fn admin_token(port: u16) -> Result<String, BenchError> {
    let body = format!(
        r#"{{"query":"mutation {{ login(username: \"admin\", password: \"{ADMIN_PASSWORD}\") {{ accessToken }} }}"}}"#
    );
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::post("/graphql")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await?;
    let bytes = response.into_body().collect().await?.to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes)?;
    value["data"]["login"]["accessToken"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("login failed: {value}").into())
}

/// One GraphQL call over a fresh connection.
pub(crate) async fn gql(
    port: u16,
    token: Option<&str>,
    query: &str,
    variables: serde_json::Value,
) -> Result<serde_json::Value, BenchError> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::post("/graphql")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = serde_json::json!({"query": query, "variables": variables}).to_string();
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body)))?)
        .await?;
    let bytes = response.into_body().collect().await?.to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes)?;
    if !value["errors"].is_null() {
        return Err(format!("{value}").into());
    }
    Ok(value["data"].clone())
}

/// Creates an `integration` API key named `name` as `admin`; returns the key.
pub(crate) async fn api_key(port: u16, admin: &str, name: &str) -> Result<String, BenchError> {
    let key = gql(
        port,
        Some(admin),
        "mutation($n: String!) { createApiKey(input: {name: $n, role: INTEGRATION}) { key } }",
        serde_json::json!({"n": name}),
    )
    .await?;
    Ok(key["createApiKey"]["key"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Exchanges an API key for an access token.
pub(crate) async fn exchange(port: u16, key: &str) -> Result<String, BenchError> {
    let token = gql(
        port,
        None,
        "mutation($k: String!) { exchangeApiKey(apiKey: $k) { accessToken } }",
        serde_json::json!({"k": key}),
    )
    .await?;
    Ok(token["exchangeApiKey"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// A worker's access token: a new `integration` key named `name`, exchanged.
pub(crate) async fn worker_token(port: u16, admin: &str, name: &str) -> Result<String, BenchError> {
    exchange(port, &api_key(port, admin, name).await?).await
}
