//! Bearer authentication: who is calling, and may they.
//!
//! The admin key (from config) administers tenants and keys and reads `/metrics`; a tenant API key
//! acts inside its tenant only. Keys are checked against their salted hash in constant time; a
//! wrong, revoked or malformed key gets the same 401 so that responses reveal nothing.

use super::{AppState, error::ApiError};
use crate::{api_key, secret::Secret};
use axum::{
    extract::FromRequestParts,
    http::{StatusCode, header::AUTHORIZATION, request::Parts},
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use uuid::Uuid;

/// Who is calling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Principal {
    /// The deployment's admin key.
    Admin,
    /// A tenant API key.
    Tenant {
        /// The key's tenant.
        tenant_id: Uuid,
        /// The key.
        key_id: Uuid,
    },
}

/// A caller acting for a tenant; admin keys are refused (they belong to no tenant).
#[derive(Clone, Copy, Debug)]
pub(super) struct TenantAuth {
    /// The tenant.
    pub tenant_id: Uuid,
}

/// A caller holding the admin key.
#[derive(Clone, Copy, Debug)]
pub(super) struct AdminAuth;

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "auth.invalid_key", message)
}

/// Compares digests, so that neither the content nor the length of the admin key leaks through
/// timing (a slice comparison returns early on a length mismatch).
fn is_admin_key(presented: &str, admin: &Secret) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let admin = Sha256::digest(admin.expose().as_bytes());
    bool::from(presented.as_slice().ct_eq(admin.as_slice()))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "auth.missing",
                    "send `Authorization: Bearer <api key>`",
                )
            })?
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not valid text"))?;
        let presented = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthorized("the Authorization header must use the Bearer scheme"))?
            .trim();
        if let Some(admin) = &state.admin_key
            && is_admin_key(presented, admin)
        {
            return Ok(Self::Admin);
        }
        let (id, secret) =
            api_key::parse(presented).ok_or_else(|| unauthorized("the API key is not valid"))?;
        let record = state.durable.find_api_key(id).await?;
        match record {
            Some(record) if api_key::verify(&record, secret) => Ok(Self::Tenant {
                tenant_id: record.tenant_id,
                key_id: record.id,
            }),
            _ => Err(unauthorized("the API key is not valid")),
        }
    }
}

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Tenant { tenant_id, .. } => Ok(Self { tenant_id }),
            Principal::Admin => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "auth.tenant_key_required",
                "this route acts inside a tenant: use one of the tenant's API keys",
            )),
        }
    }
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Admin => Ok(Self),
            Principal::Tenant { .. } => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "auth.admin_key_required",
                "this route needs the admin key",
            )),
        }
    }
}

/// Adds the bearer scheme to the OpenAPI document.
pub(super) struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
