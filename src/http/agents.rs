//! Agents: `POST/GET /v1/agents`, `GET/PUT/DELETE /v1/agents/{name}`.
//!
//! Every change makes a new version. Responses carry `ETag: "<version>"`; `PUT` must send the
//! version it was based on in `If-Match` and gets 409 `agent.version_conflict` when it is stale.
//! `POST` with an `Idempotency-Key` creates at most once.

use super::{
    AppState,
    auth::TenantAuth,
    body::{JsonBody, PathParam},
    error::{ApiError, ErrorBody},
};
use crate::store::{AgentRecord, NewAgent, StoreError};
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use voxgate_core::{AgentSpec, FieldError};

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A list of agents.
#[derive(Serialize, ToSchema)]
pub(super) struct AgentList {
    items: Vec<AgentRecord>,
}

fn with_etag(status: StatusCode, agent: AgentRecord) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", agent.version));
    let mut response = (status, Json(agent)).into_response();
    if let Ok(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

fn validated(spec: &AgentSpec) -> Result<(), ApiError> {
    let problems = spec.validate();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "agent.invalid",
            "the agent spec is invalid",
            problems,
        ))
    }
}

fn agent_not_found(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::not_found("agent.not_found", "agent"),
        other => other.into(),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::bad_request(
            "request.invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        )),
    }
}

fn request_hash(spec: &AgentSpec) -> Result<String, ApiError> {
    let canonical = serde_json::to_vec(spec).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    })?;
    Ok(hex::encode(Sha256::digest(canonical)))
}

fn expected_version(headers: &HeaderMap) -> Result<i64, ApiError> {
    let value = headers.get(header::IF_MATCH).ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "agent.version_required",
            "send the version you are updating in If-Match (the ETag of your last read)",
        )
    })?;
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "request.invalid_if_match",
                "If-Match must be an agent version such as \"3\"",
            )
        })
}

/// Creates an agent at version 1.
#[utoipa::path(post, path = "/v1/agents", tag = "agents",
    request_body(content = Object, description = "An agent spec (see docs/agents.md)"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Create at most once")),
    responses((status = 201, body = AgentRecord), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_agent(
    State(state): State<AppState>,
    auth: TenantAuth,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<AgentSpec>,
) -> Result<Response, ApiError> {
    validated(&spec)?;
    let key = idempotency_key(&headers)?;
    let hash = request_hash(&spec)?;
    let agent = state
        .durable
        .create_agent(NewAgent {
            tenant: auth.tenant_id,
            spec: &spec,
            idempotency: key.as_deref().map(|key| (key, hash.as_str())),
            at: crate::store::now(),
        })
        .await
        // A replayed key whose agent was deleted since.
        .map_err(agent_not_found)?;
    Ok(with_etag(StatusCode::CREATED, agent))
}

/// Lists the tenant's agents.
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    responses((status = 200, body = AgentList), (status = 401, body = ErrorBody)))]
pub(super) async fn list_agents(
    State(state): State<AppState>,
    auth: TenantAuth,
) -> Result<Json<AgentList>, ApiError> {
    let items = state.durable.list_agents(auth.tenant_id).await?;
    Ok(Json(AgentList { items }))
}

/// One agent at its current version.
#[utoipa::path(get, path = "/v1/agents/{name}", tag = "agents",
    params(("name" = String, Path, description = "Agent name")),
    responses((status = 200, body = AgentRecord), (status = 404, body = ErrorBody)))]
pub(super) async fn get_agent(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParam(name): PathParam<String>,
) -> Result<Response, ApiError> {
    let agent = state
        .durable
        .get_agent(auth.tenant_id, &name)
        .await
        .map_err(agent_not_found)?;
    Ok(with_etag(StatusCode::OK, agent))
}

/// Replaces an agent's spec; needs `If-Match` with the current version.
#[utoipa::path(put, path = "/v1/agents/{name}", tag = "agents",
    request_body(content = Object, description = "The full new agent spec"),
    params(("name" = String, Path, description = "Agent name"),
           ("If-Match" = String, Header, description = "The version being updated")),
    responses((status = 200, body = AgentRecord), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 428, body = ErrorBody)))]
pub(super) async fn update_agent(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParam(name): PathParam<String>,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<AgentSpec>,
) -> Result<Response, ApiError> {
    if spec.name != name {
        return Err(ApiError::invalid(
            "agent.invalid",
            "the agent spec is invalid",
            vec![FieldError::new(
                "name",
                "must equal the name in the URL (agents cannot be renamed)",
            )],
        ));
    }
    validated(&spec)?;
    let expected = expected_version(&headers)?;
    let agent = state
        .durable
        .update_agent(auth.tenant_id, &spec, expected, crate::store::now())
        .await
        .map_err(agent_not_found)?;
    Ok(with_etag(StatusCode::OK, agent))
}

/// Deletes an agent and its history.
#[utoipa::path(delete, path = "/v1/agents/{name}", tag = "agents",
    params(("name" = String, Path, description = "Agent name")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_agent(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParam(name): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    state
        .durable
        .delete_agent(auth.tenant_id, &name)
        .await
        .map_err(agent_not_found)?;
    Ok(StatusCode::NO_CONTENT)
}
