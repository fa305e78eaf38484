//! GraphQL plumbing shared by every feature: context helpers, paging, input checks, the
//! document cache, error-code extension, root-field requirements, multiplexing and the
//! websocket transport. The schema's roots themselves live in [`crate::schema`].

pub mod context;
pub mod cost;
pub mod documents;
pub mod extension;
pub mod input;
pub mod multiplex;
pub mod paging;
pub mod persisted;
pub mod requirements;
pub mod scalars;
pub mod shape;
pub mod ws;

pub use context::ContextExt;
