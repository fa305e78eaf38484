//! Embeds the GraphiQL page, the player page (`/play`), the console (`/`) and their assets
//! (installed by `npm ci --prefix web`, built by `npm run build --prefix web`) into the binary,
//! so they work with no internet access; a script's or style's gzip twin (`web/.gz/`) is
//! embedded as `<name>.gz` beside it. Missing files are reported and left out; the page
//! then explains how to install them.

use std::fmt::Write as _;
use std::path::Path;

/// (URL name under /graphiql/, path under web/, content type)
const GRAPHIQL: &[(&str, &str, &str)] = &[
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

/// (URL name under /play/, path under web/, content type)
const PLAY: &[(&str, &str, &str)] = &[
    ("index.html", "play/index.html", "text/html; charset=utf-8"),
    ("play.js", "play/play.js", "text/javascript; charset=utf-8"),
    ("play.css", "play/play.css", "text/css; charset=utf-8"),
    (
        "hls.min.js",
        "node_modules/hls.js/dist/hls.min.js",
        "text/javascript; charset=utf-8",
    ),
];

/// (URL name under /console/, path under web/, content type); the page itself is `/`.
const CONSOLE: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "console/index.html",
        "text/html; charset=utf-8",
    ),
    (
        "app.js",
        "console/dist/app.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "console.css",
        "console/console.css",
        "text/css; charset=utf-8",
    ),
];

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let web = Path::new(&root).join("web");
    println!(
        "cargo:rerun-if-changed={}",
        web.join("package-lock.json").display()
    );
    embed(&web, GRAPHIQL, "graphiql_assets.rs", "GraphiQL");
    embed(&web, PLAY, "play_assets.rs", "player page");
    embed(&web, CONSOLE, "console_assets.rs", "The console");
}

/// Whether `twin` exists and is at least as new as `original`.
fn fresh(twin: &Path, original: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(twin), modified(original)), (Some(t), Some(o)) if t >= o)
}

/// Writes `OUT_DIR/<out>`: `ASSETS` (name, content type, bytes) and `MISSING` (paths not found).
fn embed(web: &Path, assets: &[(&str, &str, &str)], out: &str, what: &str) {
    let mut code = format!(
        "/// Embedded {what} files: (name, content type, bytes).\npub static ASSETS: &[(&str, &str, &[u8])] = &[\n"
    );
    let mut missing = Vec::new();
    for (name, rel, content_type) in assets {
        let path = web.join(rel);
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_file() {
            let _ = writeln!(
                code,
                "    ({name:?}, {content_type:?}, include_bytes!({:?})),",
                path.display().to_string()
            );
            // Its gzip twin from `npm run build`, when made from this version of the file.
            let gz = web.join(".gz").join(format!("{rel}.gz"));
            println!("cargo:rerun-if-changed={}", gz.display());
            if fresh(&gz, &path) {
                let _ = writeln!(
                    code,
                    "    (\"{name}.gz\", {content_type:?}, include_bytes!({:?})),",
                    gz.display().to_string()
                );
            }
        } else {
            missing.push(*rel);
        }
    }
    code.push_str("];\n");
    let _ = writeln!(
        code,
        "/// Files that were not found at build time (run `npm ci --prefix web`).\npub static MISSING: &[&str] = &{missing:?};"
    );
    if !missing.is_empty() {
        println!(
            "cargo:warning={what} assets missing ({}); run `npm ci --prefix web` and rebuild",
            missing.join(", ")
        );
    }
    let dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    if let Err(err) = std::fs::write(Path::new(&dir).join(out), code) {
        println!("cargo:warning=cannot write {out}: {err}");
    }
}
