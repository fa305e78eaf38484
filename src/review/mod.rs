//! The review queue: zone events grouped per camera into review items (an item opens on its
//! first event and grows while events keep coming within a quiet gap), ALERT or DETECTION from
//! the zones' severity, reviewed per user.

pub mod graphql;
pub mod model;
pub mod store;

use std::time::Duration;

use crate::state::AppState;

/// Zone events grouped per pass.
const PAGE: u64 = 500;

/// The grouper: follows the event log from its stored cursor and groups zone events into
/// review items, telling `reviewItems` subscribers of every item opened or grown. Instances
/// sharing a database group in turn (the cursor decides); each tells its own subscribers of
/// the items grouped since it last looked, whoever grouped them.
pub async fn run(state: AppState) {
    let mut bus = state.events.sender.subscribe();
    let gap = chrono::Duration::seconds(i64::try_from(state.config.review_gap_secs).unwrap_or(30));
    let mut seen = loop {
        match store::grouped_to(&state.db).await {
            Ok(to) => break to,
            Err(err) => {
                tracing::warn!(error = %err, "review grouping cannot start; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        match store::group(&state.db, gap, PAGE).await {
            Ok(more) => {
                match store::grouped_since(&state.db, seen).await {
                    Ok((items, to)) => {
                        for item in items {
                            let _ = state.review_updates.send(item);
                        }
                        seen = to;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "could not read the grouped review items")
                    }
                }
                if more {
                    continue;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "review grouping failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        tokio::select! {
            _ = bus.recv() => {
                // Let a burst of events gather: one transaction groups them all.
                tokio::time::sleep(Duration::from_millis(100)).await;
                while bus.try_recv().is_ok() {}
            }
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}
