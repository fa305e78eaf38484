//! `BENCHMARKS.md`: each scenario's section replaced by its latest figures.

use std::path::Path;

pub(crate) fn record(scenario: &str, command: &str, summary: &str) -> std::io::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Benchmarks\n\nFigures from `bench/run` on the project's 2-core machine: server pinned to core 0, load \
         generator to core 1, over loopback, response bodies validated. The machine is shared and noisy: \
         compare ratios from one run, not absolute numbers across runs.\n"
            .to_owned()
    });
    let start = format!("<!-- bench:{scenario} -->");
    let end = format!("<!-- /bench:{scenario} -->");
    let when = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let section = format!("{start}\n## {scenario}\n\n`{command}` ({when})\n\n{summary}\n{end}");
    let updated = match (existing.find(&start), existing.find(&end)) {
        (Some(a), Some(b)) if b > a => format!(
            "{}{}{}",
            &existing[..a],
            section,
            &existing[b + end.len()..]
        ),
        _ => format!("{}\n{}\n", existing.trim_end(), section),
    };
    std::fs::write(path, updated)
}
