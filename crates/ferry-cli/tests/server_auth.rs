//! Authentication and authorization, enumerated from the OpenAPI document:
//! every operation refuses a missing or bad token with 401 (except the
//! health probes), and each role gets 403 exactly where the role table
//! says so. An operation missing from the table fails the test, so a new
//! route cannot ship without its rule.
#![allow(clippy::unwrap_used)]

mod srv;

use std::collections::BTreeMap;

use serde_json::json;
use srv::*;

/// Which roles may call each operation (by utoipa's operation id).
fn rules() -> BTreeMap<&'static str, &'static [&'static str]> {
    const ALL: &[&str] = &["admin", "approver", "operator", "viewer"];
    const OPERATE: &[&str] = &["admin", "operator"];
    const APPROVE: &[&str] = &["admin", "approver"];
    const ADMIN: &[&str] = &["admin"];
    BTreeMap::from([
        ("healthz", ALL),
        ("readyz", ALL),
        ("metrics", ALL),
        ("me", ALL),
        ("list_users", ADMIN),
        ("create_user", ADMIN),
        ("update_user", ADMIN),
        // Tokens: admins for anyone; others only for themselves (the test
        // calls them on another user, so only admin passes).
        ("list_tokens", ADMIN),
        ("create_token", ADMIN),
        ("revoke_token", ADMIN),
        ("list_connections", ALL),
        ("create_connection", OPERATE),
        ("get_connection", ALL),
        ("update_connection", OPERATE),
        ("delete_connection", OPERATE),
        ("test_connection", OPERATE),
        ("list_tables", ALL),
        ("list_tasks", ALL),
        ("create_task", OPERATE),
        ("get_task", ALL),
        ("update_task", OPERATE),
        ("delete_task", OPERATE),
        ("list_versions", ALL),
        ("list_approvals", ALL),
        ("get_schedule", ALL),
        ("get_engine", ALL),
        ("put_schedule", OPERATE),
        ("preview_schedule", ALL),
        ("submit_task", OPERATE),
        ("approve_task", APPROVE),
        ("reject_task", APPROVE),
        ("pause_task", OPERATE),
        ("resume_task", OPERATE),
        ("start_instance", OPERATE),
        ("backfill", OPERATE),
        ("list_instances", ALL),
        ("get_instance", ALL),
        ("rerun_instance", OPERATE),
        ("stop_instance", OPERATE),
        ("instance_logs", ALL),
        ("stream_logs", ALL),
        ("instance_errors", ALL),
        ("instance_dirty", ALL),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_a_token_and_roles_are_enforced() {
    let backend = Backend::Sqlite;
    let s = Server::simple(&backend, "auth");
    let doc = reqwest::get(format!("{}/api/openapi.json", s.base))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(
        doc["openapi"].as_str().unwrap().get(..3),
        Some("3.1"),
        "OpenAPI 3.1"
    );
    let mut tokens = BTreeMap::new();
    tokens.insert("admin", ADMIN.to_string());
    for role in ["approver", "operator", "viewer"] {
        tokens.insert(role, s.user(&format!("u_{role}"), role).await);
    }
    // A user the token routes are called on (not the caller).
    s.user("someone", "viewer").await;
    let rules = rules();
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            let allowed = rules
                .get(id)
                .unwrap_or_else(|| panic!("no role rule for operation {id} ({method} {path})"));
            let public = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            let concrete = path
                .replace("{id}", "someone")
                .replace("{token_id}", "nope");
            let body = match method.as_str() {
                "post" | "put" | "patch" => Some(json!({})),
                _ => None,
            };
            let m = method.to_uppercase();
            let (status, v) = s.call(&m, &concrete, None, body.clone()).await;
            let (bad, _) = s
                .call(&m, &concrete, Some("fry_not-a-real-token"), body.clone())
                .await;
            if public {
                assert_ne!(status, 401, "{m} {path} is public: {v}");
                continue;
            }
            assert_eq!(status, 401, "{m} {path} without a token: {v}");
            assert_eq!(v["type"], "urn:ferry:unauthenticated", "{m} {path}: {v}");
            assert_eq!(bad, 401, "{m} {path} with a bad token");
            for (role, token) in &tokens {
                let (status, v) = s.call(&m, &concrete, Some(token), body.clone()).await;
                if allowed.contains(role) {
                    assert!(
                        status != 401 && status != 403,
                        "{m} {path} as {role} must be allowed, got {status}: {v}"
                    );
                } else {
                    assert_eq!(status, 403, "{m} {path} as {role}: {v}");
                }
                assert!(status < 500, "{m} {path} as {role}: server error {v}");
            }
            seen += 1;
        }
    }
    assert_eq!(seen + 2, rules.len(), "every rule names a real operation");
    // A disabled user's token stops working.
    let (status, _) = s
        .call("GET", "/api/v1/users/me", Some(&tokens["viewer"]), None)
        .await;
    assert_eq!(status, 200);
    s.ok(
        "PATCH",
        "/api/v1/users/u_viewer",
        ADMIN,
        Some(json!({"role": "viewer", "disabled": true})),
        200,
    )
    .await;
    let (status, _) = s
        .call("GET", "/api/v1/users/me", Some(&tokens["viewer"]), None)
        .await;
    assert_eq!(status, 401);
}
