//! The control plane: the REST API with its OpenAPI document ([`api`]),
//! authentication ([`auth`]), secrets at rest ([`secrets`]), the runner
//! pool ([`pool`]) with per-attempt log capture ([`capture`]), metrics, and
//! [`runner`], which runs one task with its state (watermark in, run
//! recorded, watermark saved after the publish) — shared by `ferry run` and
//! the runner pool. [`client`] is the typed client the CLI uses; [`https`]
//! serves the API over TLS.
#![deny(missing_docs)]

pub mod api;
pub mod app;
pub mod auth;
pub mod capture;
pub mod client;
pub mod config;
pub mod engines;
pub mod https;
pub mod metrics;
pub mod pool;
pub mod runner;
pub mod sample;
pub mod scheduler;
pub mod secrets;
pub mod server;
pub mod service;
pub mod state;
