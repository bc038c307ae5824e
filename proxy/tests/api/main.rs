//! Proxy integration tests: the real proxy and the real emulator, each on
//! its own loopback port, talking HTTP.

mod admin;
mod anyone;
mod auth;
mod durable;
mod fair;
mod forwarded;
mod front;
mod fuzz;
mod gpc;
mod helpers;
mod idor;
mod limits;
mod load;
mod logs;
mod misbehaving;
mod openapi;
mod opt_out;
mod privacy;
mod process;
mod sensitive;
mod tenant;
mod tokens;
mod upstream;
mod validation;
