//! Proxy integration tests: the real proxy and the real emulator, each on
//! its own loopback port, talking HTTP.

mod auth;
mod durable;
mod helpers;
mod idor;
mod logs;
mod opt_out;
mod upstream;
mod validation;
