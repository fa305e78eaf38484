//! The event bus: every stored event, in sequence order, to this instance's subscribers; on
//! PostgreSQL, events written by other instances sharing the database too.

use entity::event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::state::AppState;

/// New events for this instance's subscribers, and the lock that keeps them in order.
#[derive(Debug)]
pub struct EventBus {
    /// Every stored event, in sequence order.
    pub sender: tokio::sync::broadcast::Sender<event::Model>,
    /// Held while an event is inserted and sent, so sequence order is delivery order.
    pub write: tokio::sync::Mutex<()>,
}

impl EventBus {
    /// A bus with room for `buffer` events per live subscriber.
    pub fn new(buffer: usize) -> EventBus {
        EventBus {
            sender: tokio::sync::broadcast::channel(buffer.max(4)).0,
            write: tokio::sync::Mutex::new(()),
        }
    }
}

/// PostgreSQL: broadcasts every new event row after `last`, whichever instance wrote it, in
/// sequence order. On each notification, and at least every 5 s (a reconnect can drop
/// notifications silently), it reads every row after the last one sent, so a missed
/// notification delays an event but never loses it. Returns at once on SQLite. Start it with
/// the sequence read before serving, so no event falls between start-up and the listener.
pub async fn listen(state: AppState, mut last: i64) {
    use sea_orm::DatabaseBackend;
    if state.db.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    loop {
        let pool = state.db.get_postgres_connection_pool();
        if pool.is_closed() {
            return; // shutting down
        }
        let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "event listener cannot connect; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(err) = listener.listen("heldar_events").await {
            tracing::warn!(error = %err, "cannot LISTEN for events; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        loop {
            // Everything newer than what was sent, in pages.
            loop {
                match event::Entity::find()
                    .filter(event::Column::Seq.gt(last))
                    .order_by_asc(event::Column::Seq)
                    .limit(1000)
                    .all(&state.db)
                    .await
                {
                    Ok(rows) => {
                        let full = rows.len() == 1000;
                        for row in rows {
                            last = row.seq;
                            let _ = state.events.sender.send(row);
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(_) if pool.is_closed() => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "event listener could not read new events");
                        break;
                    }
                }
            }
            match tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(_)) if pool.is_closed() => return,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "event listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}
