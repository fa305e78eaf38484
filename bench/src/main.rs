//! `heldar-bench <scenario>`: starts a release `heldar` server, drives it over real sockets,
//! prints medians and ratios, and records them in `BENCHMARKS.md`. Run it through `bench/run`,
//! which builds both binaries and pins the server and the load generator to different cores.
//! Each scenario is a module of [`scenarios`]; what they share is in [`harness`].

mod harness;
mod scenarios;

use clap::{Parser, ValueEnum};

/// What a scenario returns on failure.
pub(crate) type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
    /// An authenticated GraphQL query against a plain axum JSON route of the same binary.
    GraphqlVsRaw,
    /// Sign-in throughput and latency (argon2id-bound).
    Login,
    /// In-process cost of verifying an access token and of the revocation lookup.
    TokenVerify,
    /// Coverage and timeline queries over up to 525,600 segments.
    Footage,
    /// One-hour clip exports against a raw ffmpeg concat of the same files.
    Export,
    /// Ingest throughput (in-process client and wrk), delivery to `--subscribers` websocket
    /// subscribers, memory per subscription.
    Perception,
    /// Sampler decode cost, frame pulls, capture-to-event latency.
    Workers,
    /// Webhook delivery rate and delay, MQTT publish delay, memory per SSE subscriber.
    Integrations,
    /// Playback URLs and playlists over 525,600 segments, 100 recorded and 50 live viewers,
    /// time to first frame and live delay in Chromium.
    Watch,
    /// The operator console in Chromium: first load, script size, the 30-day timeline of 16
    /// cameras, scrolling 10,000 review items and 10,000 live events.
    Console,
}

/// Settings of a run.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "heldar-bench",
    about = "Benchmarks of Heldar (run through bench/run)"
)]
pub(crate) struct Options {
    /// The scenario to run.
    #[arg(value_enum)]
    pub(crate) scenario: Scenario,
    /// Seconds per load run.
    #[arg(long, default_value_t = 5)]
    pub(crate) seconds: u64,
    /// Concurrent keep-alive connections of a load run.
    #[arg(long, default_value_t = 32)]
    pub(crate) connections: usize,
    /// Websocket subscribers of the perception scenario (100 per camera).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) subscribers: usize,
    /// Rounds to take the median of.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
    /// Print the figures without writing them into BENCHMARKS.md.
    #[arg(long = "no-write", action = clap::ArgAction::SetFalse)]
    pub(crate) write: bool,
}

impl Scenario {
    /// Runs the scenario; its summary in Markdown.
    async fn run(self, options: &Options) -> Result<String, BenchError> {
        match self {
            Scenario::GraphqlVsRaw => scenarios::graphql_vs_raw::graphql_vs_raw(options).await,
            Scenario::Login => scenarios::login::login(options).await,
            Scenario::TokenVerify => scenarios::token_verify::token_verify(options).await,
            Scenario::Footage => scenarios::footage::footage(options).await,
            Scenario::Export => scenarios::export::export(options).await,
            Scenario::Perception => scenarios::perception::perception(options).await,
            Scenario::Workers => scenarios::workers::workers(options).await,
            Scenario::Integrations => scenarios::integrations::integrations(options).await,
            Scenario::Watch => scenarios::watch::watch(options).await,
            Scenario::Console => scenarios::console::console(options).await,
        }
    }

    /// The command line that reproduces the run, as BENCHMARKS.md quotes it.
    fn command_line(self, options: &Options) -> String {
        let name = self
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        let (seconds, rounds) = (options.seconds, options.rounds);
        match self {
            Scenario::TokenVerify | Scenario::Export | Scenario::Console => {
                format!("bench/run {name} --rounds {rounds}")
            }
            Scenario::Footage => {
                "bench/run footage (HELDAR_TEST_DATABASE_URL set for the PostgreSQL rows)"
                    .to_owned()
            }
            Scenario::Workers => format!("bench/run workers --seconds {seconds}"),
            Scenario::Perception => format!(
                "bench/run {name} --seconds {seconds} --rounds {rounds} --subscribers {}",
                options.subscribers
            ),
            Scenario::Login | Scenario::Integrations | Scenario::Watch => {
                format!("bench/run {name} --seconds {seconds} --rounds {rounds}")
            }
            Scenario::GraphqlVsRaw => format!(
                "bench/run {name} --seconds {seconds} --connections {} --rounds {rounds}",
                options.connections
            ),
        }
    }
}

fn main() -> std::process::ExitCode {
    let options = Options::parse();
    // The export scenario runs the job runner beside the queries, as the server does.
    let runtime = if options.scenario == Scenario::Export {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(options.scenario.run(&options)) {
        Ok(summary) => {
            println!("\n{summary}");
            let name = options
                .scenario
                .to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default();
            let command = options.scenario.command_line(&options);
            if options.write
                && let Err(err) = harness::report::record(&name, &command, &summary)
            {
                eprintln!("could not write BENCHMARKS.md: {err}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bench failed: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
