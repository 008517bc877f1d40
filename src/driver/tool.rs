//! Tool calls: the driver runs each one as its own task (a webhook POST), so a slow tool never
//! holds up the call's audio; the result comes back on a channel into the run loop.
//!
//! Webhooks go through `outbound::webhook_client`: no internal addresses, no redirects. A tool
//! without a webhook, a refused address, a timeout, a non-2xx answer or an oversized body gives
//! the model an error object to speak around, and the driver records a `tool_failure` incident.

use serde_json::{Value, json};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::mpsc;
use voxgate_core::session::ToolRequest;

/// How long a tool webhook may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest tool answer passed to the model.
const MAX_OUTPUT_BYTES: usize = 16 * 1024;

/// Tool name → webhook URL (None: declared without one).
pub type ToolWebhooks = Arc<HashMap<String, Option<String>>>;

/// A finished tool call.
#[derive(Debug)]
pub(super) struct ToolDone {
    pub(super) call_id: String,
    pub(super) output: String,
    /// Why it failed, as a stable code, if it did.
    pub(super) failure: Option<&'static str>,
}

/// Runs `request` in its own task; the result arrives on `done`.
pub(super) fn spawn(
    request: ToolRequest,
    call_id: uuid::Uuid,
    webhooks: &ToolWebhooks,
    done: mpsc::Sender<ToolDone>,
) {
    let webhook = webhooks.get(&request.name).cloned().flatten();
    tokio::spawn(async move {
        let result = match webhook {
            Some(url) => call_webhook(&url, call_id, &request).await,
            None => Err("tool.no_webhook"),
        };
        let finished = match result {
            Ok(output) => ToolDone {
                call_id: request.call_id,
                output,
                failure: None,
            },
            Err(code) => ToolDone {
                call_id: request.call_id,
                output: json!({"error": "the tool is unavailable right now", "code": code})
                    .to_string(),
                failure: Some(code),
            },
        };
        let _ = done.send(finished).await;
    });
}

async fn call_webhook(
    url: &str,
    call_id: uuid::Uuid,
    request: &ToolRequest,
) -> Result<String, &'static str> {
    let arguments = serde_json::from_str::<Value>(&request.arguments)
        .unwrap_or_else(|_| Value::String(request.arguments.clone()));
    let body = json!({"call_id": call_id, "tool": request.name, "arguments": arguments});
    let client = crate::outbound::webhook_client(url).await?;
    let response = client
        .post(url)
        .timeout(TOOL_TIMEOUT)
        .json(&body)
        .send()
        .await
        .map_err(|error| match error.is_timeout() {
            true => "tool.timeout",
            false => "tool.unreachable",
        })?;
    if !response.status().is_success() {
        return Err("tool.http_error");
    }
    let text = response.text().await.map_err(|_| "tool.unreadable")?;
    if text.len() > MAX_OUTPUT_BYTES {
        return Err("tool.output_too_large");
    }
    Ok(text)
}
