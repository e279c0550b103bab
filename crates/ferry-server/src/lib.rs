//! The control plane: task, approval and instance services, the REST API with
//! its OpenAPI document, authentication, metrics and the runner pool.
//!
//! So far: [`runner`], which runs one task with its state (watermark in,
//! run recorded, watermark saved after the publish) — shared by `ferry run`
//! and, with the control-plane issue, the server's runner pool.
#![deny(missing_docs)]

pub mod runner;
pub mod state;
