//! Embeds the GraphiQL page and its assets (installed by `npm ci --prefix web`) into the binary,
//! so GraphiQL works with no internet access. Missing files are reported and left out; the page
//! then explains how to install them.

use std::fmt::Write as _;
use std::path::Path;

/// (URL name under /graphiql/, path under web/, content type)
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "graphiql/index.html",
        "text/html; charset=utf-8",
    ),
    (
        "app.js",
        "graphiql/app.js",
        "text/javascript; charset=utf-8",
    ),
    ("app.css", "graphiql/app.css", "text/css; charset=utf-8"),
    ("favicon.svg", "graphiql/favicon.svg", "image/svg+xml"),
    (
        "graphql-ws.min.js",
        "node_modules/graphql-ws/umd/graphql-ws.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "react.production.min.js",
        "node_modules/react/umd/react.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "react-dom.production.min.js",
        "node_modules/react-dom/umd/react-dom.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphiql.min.js",
        "node_modules/graphiql/graphiql.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphiql.min.css",
        "node_modules/graphiql/graphiql.min.css",
        "text/css; charset=utf-8",
    ),
];

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let web = Path::new(&root).join("web");
    let mut code = String::from(
        "/// Embedded GraphiQL files: (name, content type, bytes).\npub static ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    let mut missing = Vec::new();
    for (name, rel, content_type) in ASSETS {
        let path = web.join(rel);
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_file() {
            let _ = writeln!(
                code,
                "    ({name:?}, {content_type:?}, include_bytes!({:?})),",
                path.display().to_string()
            );
        } else {
            missing.push(*rel);
        }
    }
    code.push_str("];\n");
    let _ = writeln!(
        code,
        "/// Files that were not found at build time (run `npm ci --prefix web`).\npub static MISSING: &[&str] = &{missing:?};"
    );
    println!(
        "cargo:rerun-if-changed={}",
        web.join("package-lock.json").display()
    );
    if !missing.is_empty() {
        println!(
            "cargo:warning=GraphiQL assets missing ({}); run `npm ci --prefix web` and rebuild",
            missing.join(", ")
        );
    }
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    if let Err(err) = std::fs::write(Path::new(&out).join("graphiql_assets.rs"), code) {
        println!("cargo:warning=cannot write graphiql_assets.rs: {err}");
    }
}
