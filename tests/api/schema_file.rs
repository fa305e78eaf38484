//! `schema.graphql` is the contract: it must equal the built schema and `heldar schema`.

use std::path::Path;

#[test]
fn schema_graphql_matches_the_built_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let built = heldar::schema::sdl();
    if std::env::var("HELDAR_UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &built).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != built {
        let diff: Vec<String> = diff_lines(&committed, &built);
        panic!(
            "schema.graphql is stale; review and rewrite it with `HELDAR_UPDATE_SCHEMA=1 cargo test --test api schema_file`:\n{}",
            diff.join("\n")
        );
    }
}

#[test]
fn the_schema_command_prints_the_same_sdl() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_heldar"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        heldar::schema::sdl()
    );
}

#[tokio::test]
async fn every_type_field_argument_and_enum_value_is_described() {
    let limits = heldar::schema::SchemaLimits {
        max_depth: 64,
        max_complexity: 1_000_000,
        introspection: true,
    };
    let schema = heldar::schema::build_schema(None, limits);
    let query = "{ __schema { types { name kind description
        fields { name description args { name description } }
        inputFields { name description }
        enumValues { name description } } } }";
    let response = schema.execute(query).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
    let described = |v: &serde_json::Value| {
        v["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty())
    };
    let mut missing = Vec::new();
    for ty in data["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        // async-graphql's Relay `Connection` types carry no description of their own.
        if !described(ty) && !name.ends_with("Connection") {
            missing.push(name.to_owned());
        }
        for field in ty["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(ty["inputFields"].as_array().into_iter().flatten())
        {
            if !described(field) {
                missing.push(format!("{name}.{}", field["name"]));
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if !described(arg) {
                    missing.push(format!("{name}.{}({})", field["name"], arg["name"]));
                }
            }
        }
        for value in ty["enumValues"].as_array().into_iter().flatten() {
            if !described(value) {
                missing.push(format!("{name}.{}", value["name"]));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented schema items: {missing:?}");
}

fn diff_lines(old: &str, new: &str) -> Vec<String> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let mut out = Vec::new();
    for line in &old {
        if !new.contains(line) {
            out.push(format!("- {line}"));
        }
    }
    for line in &new {
        if !old.contains(line) {
            out.push(format!("+ {line}"));
        }
    }
    out
}
