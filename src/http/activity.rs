//! What calls leave behind: `GET /v1/calls[/{id}]`, `GET /v1/incidents[/summary]`, `GET /v1/usage`.
//!
//! Lists are newest first with keyset pagination: pass the previous page's `next_cursor` as
//! `cursor`. Times are RFC 3339.

use super::{
    AppState,
    auth::TenantAuth,
    body::{PathParam, QueryParams},
    error::{ApiError, ErrorBody},
};
use crate::store::{
    CallRecord, IncidentFilter, IncidentRecord, Page, StoreError, SummaryBucket, SummaryQuery,
    TranscriptItem, UsageDay,
};
use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use voxgate_core::{FailureMode, FieldError};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;
const MAX_BUCKETS: i64 = 10_000;

/// Pagination parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct PageParams {
    /// Page size, 1-500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Incident filters and pagination.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct IncidentParams {
    /// Only this failure mode (snake_case name).
    mode: Option<String>,
    /// Only this agent.
    agent: Option<String>,
    /// Only this call.
    call_id: Option<Uuid>,
    /// At or after this time (RFC 3339).
    from: Option<String>,
    /// Before this time (RFC 3339).
    to: Option<String>,
    /// Page size, 1-500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Time range, and bucket width for the summary.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct RangeParams {
    /// Start, RFC 3339 (default: 24 hours before `to` for incidents, 30 days for usage).
    from: Option<String>,
    /// End, RFC 3339 (default: now).
    to: Option<String>,
    /// Bucket width such as `30s`, `15m`, `1h`, `1d` (summary only; default `1h`).
    bucket: Option<String>,
}

/// A page of items and the cursor of the next one.
#[derive(Serialize, ToSchema)]
pub(super) struct Paged<T> {
    items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// A call with its transcript.
#[derive(Serialize, ToSchema)]
pub(super) struct CallDetail {
    call: CallRecord,
    transcript: Vec<TranscriptItem>,
}

/// Incident counts per mode per bucket.
#[derive(Serialize, ToSchema)]
pub(super) struct IncidentSummary {
    #[serde(with = "time::serde::rfc3339")]
    from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    to: OffsetDateTime,
    bucket_seconds: i64,
    buckets: Vec<SummaryBucket>,
}

/// Usage per agent per UTC day.
#[derive(Serialize, ToSchema)]
pub(super) struct UsageReport {
    items: Vec<UsageDay>,
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        "request.invalid_query",
        "the query string is invalid",
        vec![FieldError::new(field, message)],
    )
}

fn page(limit: Option<u32>, cursor: Option<&str>) -> Result<Page, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 500"));
    }
    let before = cursor
        .map(|cursor| decode_cursor(cursor).ok_or_else(|| invalid("cursor", "is not a cursor")))
        .transpose()?;
    Ok(Page { limit, before })
}

fn decode_cursor(cursor: &str) -> Option<(OffsetDateTime, Uuid)> {
    let (nanos, id) = cursor.split_once('_')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
    Some((at, Uuid::try_parse(id).ok()?))
}

fn paged<T>(items: Vec<T>, limit: u32, key: impl Fn(&T) -> (OffsetDateTime, Uuid)) -> Paged<T> {
    let full = items.len() == limit as usize;
    let next_cursor = items.last().filter(|_| full).map(|last| {
        let (at, id) = key(last);
        format!("{}_{id}", at.unix_timestamp_nanos())
    });
    Paged { items, next_cursor }
}

fn time_param(field: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|text| {
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .ok()
                // In UTC, and within the years the stores can hold.
                .and_then(|at| at.checked_to_offset(time::UtcOffset::UTC))
                .ok_or_else(|| {
                    invalid(
                        field,
                        "must be an RFC 3339 time such as 2026-12-04T10:00:00Z",
                    )
                })
        })
        .transpose()
}

fn range(
    params: &RangeParams,
    default_span: Duration,
) -> Result<(OffsetDateTime, OffsetDateTime), ApiError> {
    let to = time_param("to", params.to.as_deref())?.unwrap_or_else(OffsetDateTime::now_utc);
    let from = time_param("from", params.from.as_deref())?.unwrap_or(to - default_span);
    if from >= to {
        return Err(invalid("from", "must be before `to`"));
    }
    Ok((from, to))
}

/// Parses `30s`, `15m`, `1h`, `1d` into seconds.
fn bucket_seconds(text: &str) -> Option<i64> {
    if !text.is_ascii() {
        return None;
    }
    let split = text.len().checked_sub(1)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(unit_seconds)
}

/// Calls of the tenant, newest first.
#[utoipa::path(get, path = "/v1/calls", tag = "calls", params(PageParams),
    responses((status = 200, body = Paged<CallRecord>), (status = 400, body = ErrorBody)))]
pub(super) async fn list_calls(
    State(state): State<AppState>,
    auth: TenantAuth,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<Paged<CallRecord>>, ApiError> {
    let page = page(params.limit, params.cursor.as_deref())?;
    let items = state.durable.list_calls(auth.tenant_id, &page).await?;
    Ok(Json(paged(items, page.limit, |call| {
        (call.started_at, call.id)
    })))
}

/// One call with its transcript.
#[utoipa::path(get, path = "/v1/calls/{id}", tag = "calls",
    params(("id" = Uuid, Path, description = "Call id")),
    responses((status = 200, body = CallDetail), (status = 404, body = ErrorBody)))]
pub(super) async fn get_call(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<CallDetail>, ApiError> {
    let (call, transcript) = state
        .durable
        .get_call(auth.tenant_id, id)
        .await
        .map_err(|error| match error {
            StoreError::NotFound => ApiError::not_found("call.not_found", "call"),
            other => other.into(),
        })?;
    Ok(Json(CallDetail { call, transcript }))
}

/// Incidents, newest first, filtered by mode, agent, call and time.
#[utoipa::path(get, path = "/v1/incidents", tag = "incidents", params(IncidentParams),
    responses((status = 200, body = Paged<IncidentRecord>), (status = 400, body = ErrorBody)))]
pub(super) async fn list_incidents(
    State(state): State<AppState>,
    auth: TenantAuth,
    QueryParams(params): QueryParams<IncidentParams>,
) -> Result<Json<Paged<IncidentRecord>>, ApiError> {
    let mode = params
        .mode
        .as_deref()
        .map(|mode| {
            mode.parse::<FailureMode>()
                .map_err(|e| invalid("mode", &e.to_string()))
        })
        .transpose()?;
    let filter = IncidentFilter {
        mode,
        agent: params.agent,
        call_id: params.call_id,
        from: time_param("from", params.from.as_deref())?,
        to: time_param("to", params.to.as_deref())?,
        page: page(params.limit, params.cursor.as_deref())?,
    };
    let items = state
        .durable
        .list_incidents(auth.tenant_id, &filter)
        .await?;
    Ok(Json(paged(items, filter.page.limit, |record| {
        (record.incident.at, record.id)
    })))
}

/// How often each failure mode occurred, per time bucket.
#[utoipa::path(get, path = "/v1/incidents/summary", tag = "incidents", params(RangeParams),
    responses((status = 200, body = IncidentSummary), (status = 400, body = ErrorBody)))]
pub(super) async fn incident_summary(
    State(state): State<AppState>,
    auth: TenantAuth,
    QueryParams(params): QueryParams<RangeParams>,
) -> Result<Json<IncidentSummary>, ApiError> {
    let bucket = params.bucket.as_deref().unwrap_or("1h");
    let bucket_seconds = bucket_seconds(bucket)
        .ok_or_else(|| invalid("bucket", "must look like 30s, 15m, 1h or 1d"))?;
    let (from, to) = range(&params, Duration::hours(24))?;
    if (to - from).whole_seconds() / bucket_seconds > MAX_BUCKETS {
        return Err(invalid(
            "bucket",
            "gives more than 10000 buckets for this range",
        ));
    }
    let query = SummaryQuery {
        from,
        to,
        bucket_seconds,
    };
    let buckets = state
        .durable
        .incident_summary(auth.tenant_id, &query)
        .await?;
    Ok(Json(IncidentSummary {
        from,
        to,
        bucket_seconds,
        buckets,
    }))
}

/// Usage and cost per agent per UTC day.
#[utoipa::path(get, path = "/v1/usage", tag = "usage", params(RangeParams),
    responses((status = 200, body = UsageReport), (status = 400, body = ErrorBody)))]
pub(super) async fn usage(
    State(state): State<AppState>,
    auth: TenantAuth,
    QueryParams(params): QueryParams<RangeParams>,
) -> Result<Json<UsageReport>, ApiError> {
    if params.bucket.is_some() {
        return Err(invalid("bucket", "is not a parameter of /v1/usage"));
    }
    let (from, to) = range(&params, Duration::days(30))?;
    let items = state.durable.usage_by_day(auth.tenant_id, from, to).await?;
    Ok(Json(UsageReport { items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_widths_parse_and_nonsense_does_not() {
        assert_eq!(bucket_seconds("1h"), Some(3600));
        assert_eq!(bucket_seconds("15m"), Some(900));
        assert_eq!(bucket_seconds("1d"), Some(86_400));
        for bad in ["", "h", "0h", "-1h", "1w", "1.5h", "1é", "é"] {
            assert_eq!(bucket_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_are_taken_in_utc_and_out_of_range_ones_are_refused() {
        let at = time_param("to", Some("2026-12-04T10:00:00+02:00")).expect("valid");
        assert_eq!(
            at.map(|t| (t.offset(), t.hour())),
            Some((time::UtcOffset::UTC, 8))
        );
        assert!(time_param("to", Some("9999-12-31T23:30:00-01:00")).is_err());
        assert!(time_param("to", Some("yesterday")).is_err());
    }

    #[test]
    fn a_cursor_round_trips() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_733_000_000_123_456_000)
            .expect("valid time");
        let id = Uuid::new_v4();
        let page = paged(vec![(at, id)], 1, |item| *item);
        let cursor = page.next_cursor.expect("a full page has a cursor");
        assert_eq!(decode_cursor(&cursor), Some((at, id)));
        assert!(decode_cursor("nonsense").is_none());
    }
}
