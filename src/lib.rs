//! renshaw: a spiking neural network simulator.
//!
//! A description (TOML or JSON) is validated ([`description`]), built into
//! flat arrays ([`build`]), and simulated by an [`engine`]; [`simulation`]
//! runs the whole path and writes [`output`]. See ARCHITECTURE.md.

pub mod arm;
pub mod bench;
pub mod build;
pub mod closed_loop;
pub mod context;
pub mod description;
pub mod engine;
pub mod models;
pub mod output;
pub mod rng;
pub mod savings;
pub mod sequence;
pub mod simulation;
pub mod spinal;
pub mod sweep;
pub mod time;
pub mod trial_loop;
