//! The control plane: task, approval and instance services, the REST API with
//! its OpenAPI document, authentication, metrics and the runner pool.
//!
//! Thin for now: it arrives with the control-plane issue. The crate exists so
//! the layering is enforced from the start.
#![deny(missing_docs)]
