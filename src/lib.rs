//! renshaw: a spiking neural network simulator.
pub mod description;
pub mod models;
pub mod time;
pub mod build;
pub mod rng;
