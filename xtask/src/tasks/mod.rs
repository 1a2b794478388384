//! One module per task; each task's arguments are a `clap::Args` struct with a `run` method.

pub mod analytics;
pub mod bench;
pub mod cache_key;
pub mod ci;
pub mod containers;
pub mod gc;
pub mod maintenance;
pub mod pin;
pub mod publish;
pub mod smoke;
pub mod status;
pub mod summary;
pub mod test;
pub mod verify;
pub mod warm;
pub mod workflows;
