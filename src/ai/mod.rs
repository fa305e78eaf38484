//! The worker contract: AI tasks, leases shared among a credential's workers, the frame
//! samplers and their budget, frame pulls, and the tickets that vouch for a batch's frame.

pub mod allocation;
pub mod frames;
pub mod graphql;
pub mod leases;
pub mod sampler;
pub mod tasks;
pub mod tickets;

/// The worker contract's state: the samplers, the ticket key, and when each credential was last
/// warned about unticketed batches.
#[derive(Debug)]
pub struct Ai {
    /// The frame samplers.
    pub samplers: sampler::Samplers,
    /// Signs and checks frame tickets.
    pub tickets: tickets::TicketKey,
    /// Credential → when its last `INGEST_UNTICKETED` warning was logged (one an hour).
    pub unticketed_warnings:
        std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl Ai {
    /// State whose tickets are keyed from the server secret.
    pub fn new(secret: &[u8]) -> Ai {
        Ai {
            samplers: Default::default(),
            tickets: tickets::TicketKey::derive(secret),
            unticketed_warnings: Default::default(),
        }
    }
}
