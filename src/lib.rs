//! pipeline: the county's investment project pipeline over gRPC.
//!
//! `app::run` is the seam: it serves on a given listener until a shutdown signal, which is
//! what `main` and the integration tests both use.

pub mod admin;
pub mod api;
pub mod app;
pub mod config;
pub mod demo;
pub mod domain;
pub mod events;
pub mod ledger;
pub mod proto;
pub mod scanner;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod transport;
pub mod web;
