//! Guard coverage: every root field of the built schema refuses an anonymous caller with
//! UNAUTHENTICATED (but the three public ones) and a caller lacking its capability with
//! FORBIDDEN, exactly as `heldar::graphql::requirements::ROOT_FIELDS` declares. A root field added
//! without a declared and enforced requirement makes this test fail.

use heldar::auth::principal::Role;
use heldar::graphql::requirements::{Requirement, requirement};
use serde_json::{Value, json};

use crate::both;
use crate::helpers::Backend;
use crate::helpers::{TestApp, WsClient, WsEvent};

const INTROSPECT: &str = r#"{ __schema {
  queryType { name } mutationType { name } subscriptionType { name }
  types { name kind
    fields { name args { name defaultValue type { ...T } } type { ...T } }
    inputFields { name defaultValue type { ...T } }
    enumValues { name } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"#;

struct Schema(Value);

impl Schema {
    fn ty(&self, name: &str) -> &Value {
        self.0["types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
    }

    /// A placeholder literal for a required input type.
    fn literal(&self, ty: &Value) -> String {
        match ty["kind"].as_str().unwrap() {
            "NON_NULL" => self.literal(&ty["ofType"]),
            "LIST" => format!("[{}]", self.literal(&ty["ofType"])),
            "SCALAR" => match ty["name"].as_str().unwrap() {
                "Int" => "1".into(),
                "Float" => "1.0".into(),
                "Boolean" => "true".into(),
                "DateTime" => "\"2026-01-01T00:00:00Z\"".into(),
                "JSON" => "{}".into(),
                _ => "\"x\"".into(),
            },
            "ENUM" => self.ty(ty["name"].as_str().unwrap())["enumValues"][0]["name"]
                .as_str()
                .unwrap()
                .to_owned(),
            "INPUT_OBJECT" => {
                let fields: Vec<String> = self.ty(ty["name"].as_str().unwrap())["inputFields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| f["type"]["kind"] == "NON_NULL" && f["defaultValue"].is_null())
                    .map(|f| {
                        format!(
                            "{}: {}",
                            f["name"].as_str().unwrap(),
                            self.literal(&f["type"])
                        )
                    })
                    .collect();
                format!("{{ {} }}", fields.join(", "))
            }
            other => panic!("unexpected input kind {other}"),
        }
    }

    /// The smallest selection of an output type.
    fn selection(&self, ty: &Value) -> String {
        match ty["kind"].as_str().unwrap() {
            "NON_NULL" | "LIST" => self.selection(&ty["ofType"]),
            "OBJECT" | "INTERFACE" | "UNION" => " { __typename }".into(),
            _ => String::new(),
        }
    }

    /// `(operation, field, document)` for every root field.
    fn documents(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (key, keyword) in [
            ("queryType", "query"),
            ("mutationType", "mutation"),
            ("subscriptionType", "subscription"),
        ] {
            let root = self.0[key]["name"].as_str().unwrap();
            for field in self.ty(root)["fields"].as_array().unwrap() {
                let args: Vec<String> = field["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|a| a["type"]["kind"] == "NON_NULL" && a["defaultValue"].is_null())
                    .map(|a| {
                        format!(
                            "{}: {}",
                            a["name"].as_str().unwrap(),
                            self.literal(&a["type"])
                        )
                    })
                    .collect();
                let args = if args.is_empty() {
                    String::new()
                } else {
                    format!("({})", args.join(", "))
                };
                let name = field["name"].as_str().unwrap();
                let doc = format!(
                    "{keyword} {{ {name}{args}{} }}",
                    self.selection(&field["type"])
                );
                out.push((root.to_owned(), name.to_owned(), doc));
            }
        }
        out
    }
}

fn code(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_owned)
}

async fn over_ws(app: &TestApp, token: &str, doc: &str) -> Option<String> {
    let mut client = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {token}")}),
    )
    .await;
    client
        .send(json!({"id": "g", "type": "subscribe", "payload": {"query": doc}}))
        .await;
    // A refused subscription answers at once; an accepted live one may stay silent.
    match client
        .next_event_within(std::time::Duration::from_millis(500))
        .await
    {
        None => None,
        Some(WsEvent::Json(m)) if m["type"] == "error" => m["payload"][0]["extensions"]["code"]
            .as_str()
            .map(str::to_owned),
        Some(WsEvent::Json(m)) if m["type"] == "next" => code(&m["payload"]),
        other => panic!("unexpected {other:?} for {doc}"),
    }
}

async fn every_root_field_is_guarded_as_declared(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let schema = Schema(app.gql(INTROSPECT, json!({}), app.admin()).await["__schema"].clone());
    let roles = [
        Role::Admin,
        Role::Manager,
        Role::Guard,
        Role::Viewer,
        Role::Integration,
    ];
    let mut tokens = Vec::new();
    for role in roles {
        let (_, token) = app
            .user_with_role(
                &format!("u_{}", role.as_str()),
                &role.as_str().to_uppercase(),
            )
            .await;
        tokens.push((role, token));
    }
    let documents = schema.documents();
    assert!(documents.len() >= 10);
    let mut failures = Vec::new();
    for (root, field, doc) in &documents {
        let Some(req) = requirement(root, field) else {
            failures.push(format!(
                "{root}.{field} has no declared requirement in guards::ROOT_FIELDS"
            ));
            continue;
        };
        let subscription = root == "Subscription";
        if !subscription {
            let (_, body) = app.post(doc, json!({}), None).await;
            let got = code(&body);
            let want_unauth = req != Requirement::Public;
            if want_unauth && got.as_deref() != Some("UNAUTHENTICATED") {
                failures.push(format!(
                    "{root}.{field}: anonymous call gave {got:?}, expected UNAUTHENTICATED ({doc})"
                ));
            }
            if !want_unauth
                && got.as_deref() == Some("UNAUTHENTICATED")
                && !["login", "refreshSession", "exchangeApiKey"].contains(&field.as_str())
            {
                failures.push(format!("{root}.{field}: public field refused anonymously"));
            }
        }
        if let Requirement::Capability(cap) = req {
            for (role, token) in &tokens {
                let got = if subscription {
                    over_ws(&app, token, doc).await
                } else {
                    code(&app.post(doc, json!({}), Some(token)).await.1)
                };
                let forbidden = got.as_deref() == Some("FORBIDDEN");
                if role.grants(cap) == forbidden || got.as_deref() == Some("UNAUTHENTICATED") {
                    failures.push(format!(
                        "{root}.{field} as {role}: got {got:?}, but role grants {}: {}",
                        cap.slug(),
                        role.grants(cap)
                    ));
                }
            }
        }
    }
    for (root, field, _) in heldar::graphql::requirements::ROOT_FIELDS {
        if !documents.iter().any(|(r, f, _)| r == root && f == field) {
            failures.push(format!("{root}.{field} is declared but not in the schema"));
        }
    }
    assert!(
        failures.is_empty(),
        "guard failures:\n{}",
        failures.join("\n")
    );
}
both!(every_root_field_is_guarded_as_declared);

async fn camera_scoped_credentials_cannot_manage_users_or_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, token) = app.api_key("manager", Some(vec!["cam_1"])).await;
    for doc in [
        "{ users { edges { node { id } } } }",
        "{ apiKeys { edges { node { id } } } }",
    ] {
        let (_, body) = app.post(doc, json!({}), Some(&token)).await;
        assert_eq!(code(&body).as_deref(), Some("FORBIDDEN"), "{doc}");
    }
    // A scoped reader of the audit log sees only entries about its cameras (none here).
    let log = app
        .gql(
            "{ auditLog { edges { node { action } } } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(log["auditLog"]["edges"], json!([]));
    app.gql(
        r#"{ auditLog(filter: {cameraId: "cam_1"}) { edges { node { action } } } }"#,
        json!({}),
        Some(&token),
    )
    .await;
    // Another camera: refused, with a message that does not depend on whether it exists.
    let doc = "query($c: ID!) { auditLog(filter: {cameraId: $c}) { edges { node { action } } } }";
    let (code_a, message_a) = app.gql_err(doc, json!({"c": "cam_2"}), Some(&token)).await;
    let (code_b, message_b) = app
        .gql_err(doc, json!({"c": "cam_does_not_exist"}), Some(&token))
        .await;
    assert_eq!(
        (code_a.as_str(), code_b.as_str()),
        ("FORBIDDEN", "FORBIDDEN")
    );
    assert_eq!(
        message_a.replace("cam_2", "<id>"),
        message_b.replace("cam_does_not_exist", "<id>")
    );
}
both!(camera_scoped_credentials_cannot_manage_users_or_keys);
