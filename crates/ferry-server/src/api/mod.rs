//! The REST API: axum handlers, each annotated with its OpenAPI operation,
//! collected into one router and one document (`/api/openapi.json`) so the
//! document cannot drift from the code. Swagger UI (vendored, no network)
//! is served at `/api/docs`.
//!
//! Handlers are thin: they check the caller's role, parse and validate the
//! request, call the store, and shape the response. Every error is a
//! problem detail ([`error`]).

pub mod connections;
pub mod engine;
pub mod error;
pub mod extract;
pub mod instances;
pub mod limits;
pub mod page;
pub mod review;
pub mod runs;
pub mod schedules;
pub mod system;
pub mod tasks;
pub mod users;
pub mod views;

use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub use crate::app::{AppState, Inner};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry",
        description = "Scheduled batch data synchronization: connections, tasks with approval, \
                       instances and their attempts, logs and metrics. Every route except \
                       /healthz and /readyz needs `Authorization: Bearer <token>`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "connections", description = "Named connections; passwords are write-only"),
        (name = "tasks", description = "Tasks, versions, review and operations"),
        (name = "instances", description = "Runs of a task per logical time"),
        (name = "users", description = "Users and API tokens"),
        (name = "system", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The router of every API route, and the OpenAPI document.
pub fn router(state: AppState) -> Router {
    let limits = limits::Limits::of(&state.config);
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::metrics))
        .routes(routes!(users::me))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user))
        .routes(routes!(users::list_tokens, users::create_token))
        .routes(routes!(users::revoke_token))
        .routes(routes!(
            connections::list_connections,
            connections::create_connection
        ))
        .routes(routes!(
            connections::get_connection,
            connections::update_connection,
            connections::delete_connection
        ))
        .routes(routes!(connections::test_connection))
        .routes(routes!(connections::list_tables))
        .routes(routes!(tasks::list_tasks, tasks::create_task))
        .routes(routes!(
            tasks::get_task,
            tasks::update_task,
            tasks::delete_task
        ))
        .routes(routes!(tasks::list_versions))
        .routes(routes!(tasks::list_approvals))
        .routes(routes!(schedules::get_schedule, schedules::put_schedule))
        .routes(routes!(schedules::preview_schedule))
        .routes(routes!(engine::get_engine))
        .routes(routes!(review::submit_task))
        .routes(routes!(review::approve_task))
        .routes(routes!(review::reject_task))
        .routes(routes!(review::pause_task))
        .routes(routes!(review::resume_task))
        .routes(routes!(runs::start_instance))
        .routes(routes!(runs::backfill))
        .routes(routes!(instances::list_instances))
        .routes(routes!(instances::get_instance))
        .routes(routes!(instances::rerun_instance))
        .routes(routes!(instances::stop_instance))
        .routes(routes!(instances::instance_logs))
        .routes(routes!(instances::stream_logs))
        .routes(routes!(instances::instance_errors))
        .routes(routes!(instances::instance_dirty))
        .with_state(state)
        .split_for_parts();
    let doc = tasks::add_task_spec_schema(doc);
    api.merge(SwaggerUi::new("/api/docs").external_url_unchecked("/api/openapi.json", doc))
        .fallback(system::not_found)
        .layer(axum::middleware::from_fn_with_state(
            limits.clone(),
            limits::deadline,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
}
