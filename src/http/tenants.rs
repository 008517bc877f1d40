//! Tenants and API keys: `POST/GET /v1/tenants`, `POST /v1/api-keys`, `DELETE /v1/api-keys/{id}`.

use super::{
    AppState,
    auth::{AdminAuth, Principal},
    body::{JsonBody, PathParam},
    error::{ApiError, ErrorBody},
};
use crate::{api_key, store::Tenant};
use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Body of `POST /v1/tenants`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTenant {
    /// Unique name: lowercase letters, digits and dashes.
    name: String,
}

/// Body of `POST /v1/api-keys`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewApiKey {
    /// The tenant (admin key only; a tenant key mints for its own tenant).
    #[serde(default)]
    tenant_id: Option<Uuid>,
    /// A label to recognise the key by.
    #[serde(default)]
    label: Option<String>,
}

/// A new API key. `key` is shown only in this response.
#[derive(Serialize, ToSchema)]
pub(super) struct CreatedApiKey {
    /// Key id (for revocation).
    id: Uuid,
    /// The tenant.
    tenant_id: Uuid,
    /// The label.
    label: String,
    /// The key itself. Store it now: voxgate keeps only a salted hash.
    key: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// A list of tenants.
#[derive(Serialize, ToSchema)]
pub(super) struct TenantList {
    items: Vec<Tenant>,
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Creates a tenant.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = NewTenant,
    responses((status = 201, body = Tenant), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn create_tenant(
    State(state): State<AppState>,
    _admin: AdminAuth,
    JsonBody(body): JsonBody<NewTenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    if !valid_name(&body.name) {
        return Err(ApiError::invalid(
            "tenant.invalid",
            "the tenant is invalid",
            vec![voxgate_core::FieldError::new(
                "name",
                "must be 1-64 lowercase letters, digits or dashes",
            )],
        ));
    }
    let tenant = state.durable.create_tenant(&body.name).await?;
    tracing::info!(tenant_id = %tenant.id, "Tenant created.");
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// Lists tenants: all of them for the admin key, the caller's own for a tenant key.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants",
    responses((status = 200, body = TenantList), (status = 401, body = ErrorBody)))]
pub(super) async fn list_tenants(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<TenantList>, ApiError> {
    let items = match principal {
        Principal::Admin => state.durable.list_tenants().await?,
        Principal::Tenant { tenant_id, .. } => vec![state.durable.get_tenant(tenant_id).await?],
    };
    Ok(Json(TenantList { items }))
}

/// Mints an API key. The admin key names the tenant; a tenant key mints for its own tenant.
#[utoipa::path(post, path = "/v1/api-keys", tag = "tenants", request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let tenant_id = match (principal, body.tenant_id) {
        (Principal::Admin, Some(tenant)) => tenant,
        (Principal::Admin, None) => {
            return Err(ApiError::invalid(
                "api_key.invalid",
                "the admin key must say which tenant the key is for",
                vec![voxgate_core::FieldError::new("tenant_id", "is required")],
            ));
        }
        (Principal::Tenant { tenant_id, .. }, None) => tenant_id,
        (Principal::Tenant { tenant_id, .. }, Some(asked)) if asked == tenant_id => tenant_id,
        (Principal::Tenant { .. }, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "auth.other_tenant",
                "a tenant key can mint keys only for its own tenant",
            ));
        }
    };
    let tenant = state
        .durable
        .get_tenant(tenant_id)
        .await
        .map_err(|error| match error {
            crate::store::StoreError::NotFound => ApiError::not_found("tenant.not_found", "tenant"),
            other => other.into(),
        })?;
    let label = body.label.unwrap_or_else(|| "api".to_owned());
    let minted = api_key::mint(tenant.id, &label, crate::store::now());
    state.durable.insert_api_key(&minted.record).await?;
    tracing::info!(tenant_id = %tenant.id, key_id = %minted.record.id, "API key minted.");
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            id: minted.record.id,
            tenant_id: tenant.id,
            label,
            key: minted.key.expose().to_owned(),
            created_at: minted.record.created_at,
        }),
    ))
}

/// Revokes an API key of the caller's tenant (any tenant's, with the admin key).
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "tenants",
    params(("id" = Uuid, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(super) async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    PathParam(id): PathParam<Uuid>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::not_found("api_key.not_found", "API key");
    let tenant_id = match principal {
        Principal::Tenant { tenant_id, .. } => tenant_id,
        Principal::Admin => match state.durable.find_api_key(id).await? {
            Some(record) => record.tenant_id,
            None => return Err(not_found()),
        },
    };
    state
        .durable
        .revoke_api_key(tenant_id, id, crate::store::now())
        .await
        .map_err(|error| match error {
            crate::store::StoreError::NotFound => not_found(),
            other => other.into(),
        })?;
    tracing::info!(%tenant_id, key_id = %id, "API key revoked.");
    Ok(StatusCode::NO_CONTENT)
}
