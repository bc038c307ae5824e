//! ccpa-proxy: the server half of ccpa-optout.
//!
//! It holds the Adobe credentials, learns who is signed in from a token the
//! host's backend minted, and reads or changes that one profile's
//! `ccpaOptOut` in Adobe Campaign, and nothing else.

pub mod audit;
pub mod browser;
pub mod campaign;
pub mod clients;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod email;
pub mod error;
pub mod front;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod privacy_service;
pub mod routes;
pub mod startup;
pub mod store;
pub mod telemetry;
