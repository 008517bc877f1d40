//! The real binary: `voxgate serve` with no configuration runs on SQLite + memory and loads the
//! shipped agents; with the environment URLs it runs on Postgres + Redis. Secrets stay out of logs.

use crate::support::{TempDir, TestDatabase, redis_url};
use serde_json::Value;
use std::{path::Path, process::Stdio, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const BINARY: &str = env!("CARGO_BIN_EXE_voxgate");

fn voxgate(data_dir: &Path, extra_env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("VOXGATE_HTTP_ADDR", "127.0.0.1:0")
        .env("VOXGATE_DATA_DIR", data_dir)
        .env(
            "VOXGATE_AGENTS_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("agents"),
        )
        .env("VOXGATE_LOG_FORMAT", "json")
        .envs(extra_env.iter().copied())
        .kill_on_drop(true);
    command
}

/// Starts `voxgate serve`; returns the child, the address it logged, and every log line so far.
pub(crate) async fn serve(
    data_dir: &Path,
    extra_env: &[(&str, &str)],
) -> (Child, String, Vec<String>) {
    let mut child = voxgate(data_dir, extra_env)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("voxgate starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line.clone());
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if event["fields"]["message"] == "voxgate listening." {
                return event["fields"]["addr"].as_str().map(str::to_owned);
            }
        }
        None
    })
    .await;
    let Ok(Some(addr)) = found else {
        panic!(
            "voxgate did not report its address. Its log:\n{}",
            seen.join("\n")
        );
    };
    (child, addr, seen)
}

pub(crate) async fn mint_key(data_dir: &Path, extra_env: &[(&str, &str)]) -> String {
    let output = voxgate(data_dir, extra_env)
        .args(["api-key", "create", "--label", "serve-test"])
        .output()
        .await
        .expect("CLI runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

async fn check_running_server(addr: &str, key: &str, durable: &str, hot: &str) {
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    let ready: Value = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            ready["status"].as_str(),
            ready["durable"]["backend"].as_str(),
            ready["hot"]["backend"].as_str()
        ),
        (Some("ok"), Some(durable), Some(hot))
    );
    let agents: Value = client
        .get(format!("http://{addr}/v1/agents"))
        .bearer_auth(key)
        .send()
        .await
        .expect("agents")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = agents["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec!["clinic-receptionist", "support"],
        "shipped agents load into the default tenant"
    );
}

#[tokio::test]
async fn serve_with_no_configuration_runs_on_sqlite_and_memory() {
    let data = TempDir::new();
    let (mut child, addr, logs) = serve(&data.path, &[]).await;
    assert!(
        data.path.join("voxgate.db").exists(),
        "the SQLite file lives in the data folder"
    );
    assert!(
        logs.iter().any(|l| l.contains("simulator")),
        "the log says the simulator is the provider"
    );
    let key = mint_key(&data.path, &[]).await;
    check_running_server(&addr, &key, "sqlite", "memory").await;
    // SIGTERM is a graceful stop: the process exits by itself, successfully, even though the
    // reader of its log has gone by now (a lost log line must not crash the server).
    let pid = child.id().expect("running").to_string();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("voxgate stops within 10 s of SIGTERM")
        .expect("exit status");
    assert!(status.success(), "{status:?}");
    // A restart finds the agents unchanged (no new versions from re-loading the same files).
    let (mut child, addr, _) = serve(&data.path, &[]).await;
    let client = reqwest::Client::new();
    let agent: Value = client
        .get(format!("http://{addr}/v1/agents/support"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("agent")
        .json()
        .await
        .expect("json");
    assert_eq!(agent["version"], 1);
    child.kill().await.expect("stopped");
}

#[tokio::test]
async fn serve_with_database_and_redis_urls_runs_on_postgres_and_redis() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let Some(redis) = redis_url() else { return };
    let data = TempDir::new();
    let prefix = format!("voxgate_serve_test:{}:", uuid::Uuid::new_v4().simple());
    let env = [
        ("VOXGATE_DATABASE_URL", db.url.as_str()),
        ("VOXGATE_REDIS_URL", redis.as_str()),
        ("VOXGATE_REDIS_KEY_PREFIX", prefix.as_str()),
        ("VOXGATE_ADMIN_KEY", "admin-key-for-the-serve-test-0123"),
    ];
    let (mut child, addr, logs) = serve(&data.path, &env).await;
    assert!(
        !data.path.join("voxgate.db").exists(),
        "no SQLite file when Postgres is configured"
    );
    let key = mint_key(&data.path, &env).await;
    check_running_server(&addr, &key, "postgres", "redis").await;
    child.kill().await.expect("stopped");
    let logs = logs.join("\n");
    for secret in [db.url.as_str(), "admin-key-for-the-serve-test-0123"] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
    db.drop_database().await;
}

#[tokio::test]
async fn a_bad_configuration_is_refused_with_every_problem_listed() {
    let data = TempDir::new();
    let output = voxgate(
        &data.path,
        &[
            ("VOXGATE_HTTP_ADRR", "x"),
            ("VOXGATE_DATABASE_URL", "mysql://nope"),
        ],
    )
    .arg("serve")
    .output()
    .await
    .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("VOXGATE_HTTP_ADRR") && stderr.contains("database.url"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("mysql://nope"),
        "the URL is a secret and is not echoed"
    );
}

type CallSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Mints a call token for the shipped `support` agent and starts a native WebSocket call;
/// returns once the call is up (its `mode` event arrived).
pub(crate) async fn open_call(addr: &str, key: &str) -> CallSocket {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let minted: Value = reqwest::Client::new()
        .post(format!("http://{addr}/v1/call-tokens"))
        .bearer_auth(key)
        .json(&serde_json::json!({"agent": "support"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = minted["token"].as_str().expect("token");
    let url = format!("ws://{addr}/v1/calls/ws?token={token}");
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("call connects");
    let start = serde_json::json!({"type": "start", "sample_rate": 16000}).to_string();
    socket.send(Message::text(start)).await.expect("start");
    let mut started = false;
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Text(text) = message
            && text.as_str().contains("\"mode\"")
        {
            started = true;
            break;
        }
    }
    assert!(started, "the call started");
    socket
}

#[tokio::test]
async fn shutdown_lets_a_call_in_progress_finish() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let data = TempDir::new();
    let (mut child, addr, _) = serve(&data.path, &[]).await;
    let key = mint_key(&data.path, &[]).await;
    let mut socket = open_call(&addr, &key).await;
    let pid = child.id().expect("running").to_string();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(signalled.success());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        child.try_wait().expect("status").is_none(),
        "the server waits for the call"
    );
    let hangup = serde_json::json!({"type": "hangup"}).to_string();
    socket.send(Message::text(hangup)).await.expect("hangup");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the server exits once the call ended")
        .expect("status");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn calls_still_running_after_the_grace_period_are_ended_and_told_why() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let data = TempDir::new();
    let env = [("VOXGATE_SHUTDOWN_GRACE_SECONDS", "1")];
    let (mut child, addr, _) = serve(&data.path, &env).await;
    let key = mint_key(&data.path, &env).await;
    let mut socket = open_call(&addr, &key).await;
    let pid = child.id().expect("running").to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    let mut reason = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        if let Message::Text(text) = message {
            let event: Value = serde_json::from_str(text.as_str()).expect("json");
            if event["type"] == "ended" {
                reason = event["reason"].as_str().map(str::to_owned);
                break;
            }
        }
    }
    assert_eq!(reason.as_deref(), Some("server_shutdown"));
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "{status:?}");
}
