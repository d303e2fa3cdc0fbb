//! Notification destinations managed through the API (and so the UI): list, add, change,
//! remove, send a test message. Those of the config file are listed and can be tested, never
//! changed here. Every change is in the audit with the operator's name.

use super::body;
use crate::auth::Operator;
use crate::error::{HttpError, HttpResult};
use crate::notify::{Destination, DestinationView, Format, Kind, Registry};
use crate::store::SharedStore;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the destination handlers need.
#[derive(Clone)]
pub struct Desk {
    /// Where API destinations are kept.
    pub store: SharedStore,
    /// The destinations in force.
    pub registry: Arc<Registry>,
    /// The server's public URL (links in test messages).
    pub public_url: String,
}

/// Longest destination name.
const MAX_NAME: usize = 64;

/// A destination as sent by the UI. On a change, an absent field keeps the stored value (the
/// API never shows `url` and `secret` back); an empty `secret` removes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationInput {
    /// Unique name (creation only; a change names it in the path).
    pub name: Option<String>,
    /// Where to POST.
    pub url: Option<String>,
    /// Body format (default JSON).
    pub format: Option<Format>,
    /// HMAC-SHA256 key (JSON format).
    pub secret: Option<String>,
    /// What to send (default: everything).
    pub on: Option<Vec<Kind>>,
    /// Only these task ids.
    pub tasks: Option<Vec<String>>,
    /// Only these project dirs.
    pub projects: Option<Vec<String>>,
}

/// The outcome of a test message.
#[derive(Debug, Serialize)]
pub struct TestOutcome {
    /// The receiver answered 2xx.
    pub delivered: bool,
    /// Why not.
    pub error: Option<String>,
}

/// `GET /api/notify/destinations`.
pub async fn list(State(desk): State<Desk>) -> Json<Vec<DestinationView>> {
    Json(desk.registry.views())
}

/// `POST /api/notify/destinations`: 201 with the destination as listed.
pub async fn create(
    State(desk): State<Desk>,
    Extension(operator): Extension<Operator>,
    b: Result<Json<DestinationInput>, JsonRejection>,
) -> HttpResult<(StatusCode, Json<DestinationView>)> {
    let input = body(b)?;
    let name = input.name.clone().unwrap_or_default().trim().to_string();
    let url = input
        .url
        .clone()
        .ok_or_else(|| HttpError::unprocessable("invalid_destination", "`url` is required"))?;
    let dest = build(
        &desk,
        Destination {
            name,
            url,
            format: input.format.unwrap_or_default(),
            secret: input.secret.filter(|s| !s.is_empty()),
            on: input.on.unwrap_or_else(|| Kind::ALL.to_vec()),
            tasks: input.tasks.unwrap_or_default(),
            projects: input.projects.unwrap_or_default(),
        },
    )?;
    let _edit = desk.registry.edit.lock().await;
    desk.store
        .save_notify_destination(dest.clone(), true, operator.0)
        .await?;
    reload(&desk).await?;
    Ok((StatusCode::CREATED, Json(view_of(&desk, &dest.name)?)))
}

/// `PUT /api/notify/destinations/{name}`.
pub async fn update(
    State(desk): State<Desk>,
    Extension(operator): Extension<Operator>,
    Path(name): Path<String>,
    b: Result<Json<DestinationInput>, JsonRejection>,
) -> HttpResult<Json<DestinationView>> {
    let input = body(b)?;
    refuse_config(&desk, &name)?;
    if input.name.as_deref().is_some_and(|n| n.trim() != name) {
        return Err(HttpError::unprocessable(
            "invalid_destination",
            "a destination cannot be renamed: remove it and add it under the new name",
        ));
    }
    let _edit = desk.registry.edit.lock().await;
    let old = desk.registry.find(&name).ok_or_else(|| {
        HttpError::not_found(format!("notification destination {name:?} not found"))
    })?;
    let dest = build(
        &desk,
        Destination {
            name,
            url: input.url.unwrap_or(old.url),
            format: input.format.unwrap_or(old.format),
            secret: match input.secret.as_deref() {
                None => old.secret,
                Some("") => None,
                Some(s) => Some(s.to_string()),
            },
            on: input.on.unwrap_or(old.on),
            tasks: input.tasks.unwrap_or(old.tasks),
            projects: input.projects.unwrap_or(old.projects),
        },
    )?;
    desk.store
        .save_notify_destination(dest.clone(), false, operator.0)
        .await?;
    reload(&desk).await?;
    Ok(Json(view_of(&desk, &dest.name)?))
}

/// `DELETE /api/notify/destinations/{name}`: 204; its queued deliveries are given up.
pub async fn delete(
    State(desk): State<Desk>,
    Extension(operator): Extension<Operator>,
    Path(name): Path<String>,
) -> HttpResult<StatusCode> {
    refuse_config(&desk, &name)?;
    let _edit = desk.registry.edit.lock().await;
    desk.store
        .delete_notify_destination(name, operator.0)
        .await?;
    reload(&desk).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/notify/destinations/{name}/test`: sends a test message now and says whether the
/// receiver took it (200 either way: the outcome is the answer).
pub async fn test(
    State(desk): State<Desk>,
    Extension(operator): Extension<Operator>,
    Path(name): Path<String>,
) -> HttpResult<Json<TestOutcome>> {
    let dest = desk.registry.find(&name).ok_or_else(|| {
        HttpError::not_found(format!("notification destination {name:?} not found"))
    })?;
    let outcome = crate::notify::send_test(&dest, &operator.0, &desk.public_url).await;
    Ok(Json(TestOutcome {
        delivered: outcome.is_ok(),
        error: outcome.err(),
    }))
}

/// The destination cleaned up and checked against every other destination in force.
fn build(desk: &Desk, mut dest: Destination) -> HttpResult<Destination> {
    let invalid = |m: String| HttpError::unprocessable("invalid_destination", m);
    let name = &dest.name;
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "`name` must be 1 to {MAX_NAME} characters, without control characters"
        )));
    }
    if dest.on.contains(&Kind::Test) {
        return Err(invalid("`on` cannot contain `test`".into()));
    }
    dest.url = dest.url.trim().to_string();
    dest.tasks = clean(std::mem::take(&mut dest.tasks));
    dest.projects = clean(std::mem::take(&mut dest.projects));
    let mut all: Vec<Destination> = desk
        .registry
        .current()
        .iter()
        .filter(|d| d.name != dest.name || desk.registry.is_config(&d.name))
        .cloned()
        .collect();
    all.push(dest.clone());
    Destination::validate(&all).map_err(|m| {
        if desk.registry.is_config(&dest.name) {
            HttpError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "`{}` is a destination of the config file; choose another name",
                    dest.name
                ),
            )
        } else {
            invalid(m)
        }
    })?;
    Ok(dest)
}

/// Trimmed, without empty entries.
fn clean(list: Vec<String>) -> Vec<String> {
    list.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// 409 for a destination of the config file.
fn refuse_config(desk: &Desk, name: &str) -> HttpResult<()> {
    if desk.registry.is_config(name) {
        return Err(HttpError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("`{name}` is defined in the config file: change it there"),
        ));
    }
    Ok(())
}

/// Reads the stored destinations back into the registry (after a change).
async fn reload(desk: &Desk) -> HttpResult<()> {
    let stored = desk.store.notify_destinations().await?;
    desk.registry.set_stored(stored);
    Ok(())
}

fn view_of(desk: &Desk, name: &str) -> HttpResult<DestinationView> {
    desk.registry
        .views()
        .into_iter()
        .find(|v| v.name == name)
        .ok_or_else(|| HttpError::not_found(format!("notification destination {name:?} not found")))
}
