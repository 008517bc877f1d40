use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn problem_fields(result: Result<Config, ConfigError>) -> Vec<String> {
    match result {
        Err(ConfigError::Invalid(problems)) => problems.into_iter().map(|p| p.field).collect(),
        other => panic!("expected invalid config, got {other:?}"),
    }
}

#[test]
fn no_file_and_no_environment_gives_the_embedded_defaults() {
    let config = Config::parse("", env(&[])).expect("defaults are valid");
    assert_eq!(config.http.addr.to_string(), "127.0.0.1:8080");
    assert!(config.database.url.is_none() && config.redis.url.is_none());
    assert_eq!(config.data_dir(), PathBuf::from("./data"));
}

#[test]
fn environment_overrides_the_file() {
    let file = "[http]\naddr = \"0.0.0.0:9000\"\n";
    let config = Config::parse(
        file,
        env(&[
            ("VOXGATE_HTTP_ADDR", "127.0.0.1:7000"),
            ("VOXGATE_DATABASE_URL", "postgres://u:p@localhost/db"),
            ("VOXGATE_DATABASE_MAX_CONNECTIONS", "4"),
            ("PATH", "/bin"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.http.addr.to_string(), "127.0.0.1:7000");
    assert_eq!(config.database.max_connections, 4);
    assert_eq!(
        config.database.url.as_ref().map(Secret::expose),
        Some("postgres://u:p@localhost/db")
    );
}

#[test]
fn unknown_file_key_is_rejected_with_its_path() {
    let fields = problem_fields(Config::parse("[http]\nadress = \"x\"\n", env(&[])));
    assert_eq!(fields, vec!["http.adress"]);
}

#[test]
fn unknown_voxgate_variable_is_rejected_but_test_variables_are_not() {
    let fields = problem_fields(Config::parse(
        "",
        env(&[
            ("VOXGATE_HTTP_ADRR", "x"),
            ("VOXGATE_TEST_DATABASE_URL", "postgres://x"),
        ]),
    ));
    assert_eq!(fields, vec!["VOXGATE_HTTP_ADRR"]);
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let fields = problem_fields(Config::parse(
        "",
        env(&[
            ("VOXGATE_DATABASE_URL", "mysql://x"),
            ("VOXGATE_REDIS_URL", "http://x"),
            ("VOXGATE_ADMIN_KEY", "short"),
            ("VOXGATE_OPENAI_BASE_URL", "ftp://x"),
        ]),
    ));
    assert_eq!(
        fields,
        vec![
            "database.url",
            "redis.url",
            "admin_key",
            "providers.openai.base_url"
        ]
    );
}

#[test]
fn secrets_do_not_appear_in_debug_output() {
    let config = Config::parse(
        "",
        env(&[
            ("VOXGATE_DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("VOXGATE_OPENAI_API_KEY", "sk-topsecret"),
        ]),
    )
    .expect("valid");
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2") && !printed.contains("sk-topsecret"));
}

#[test]
fn every_documented_variable_maps_to_a_real_key() {
    for (name, _) in ENV_KEYS {
        let value = if name.ends_with("URL") && name.contains("DATABASE") {
            "postgres://x"
        } else if name.contains("REDIS_URL") {
            "redis://x"
        } else if name.ends_with("ADDR") {
            "127.0.0.1:1"
        } else if name.ends_with("_IP") {
            "192.0.2.1"
        } else if name.contains("BYTES") {
            "4096"
        } else if name.contains("CONNECTIONS") || name.ends_with("SECONDS") || name.contains("MAX_")
        {
            "5"
        } else if name.ends_with("BASE_URL") || name.ends_with("PUBLIC_URL") {
            "http://x"
        } else if name.ends_with("FORMAT") {
            "json"
        } else if name.ends_with("RTP_PORTS") {
            "20000-20999"
        } else if name.ends_with("ALLOWED_SOURCES") {
            "10.0.0.0/8, 2001:db8::/32"
        } else if name.ends_with("_MS") {
            "5"
        } else {
            "a-value-long-enough-for-an-admin-key"
        };
        // Digest credentials come in pairs.
        let mut vars = vec![(*name, value)];
        if name.starts_with("VOXGATE_SIP_USERNAME") || name.starts_with("VOXGATE_SIP_PASSWORD") {
            vars = vec![
                ("VOXGATE_SIP_USERNAME", "trunk"),
                ("VOXGATE_SIP_PASSWORD", value),
            ];
        }
        let parsed = Config::parse("", env(&vars));
        assert!(parsed.is_ok(), "{name}: {parsed:?}");
    }
}

#[test]
fn operator_defined_providers_are_read_from_the_file_and_checked() {
    let file = "[providers.endpoints.vllm-east]\nbase_url = \"http://vllm.internal:8000/v1\"\napi_key = \"k\"\n";
    let config = Config::parse(file, env(&[])).expect("valid");
    let endpoint = &config.providers.endpoints["vllm-east"];
    assert_eq!(endpoint.base_url, "http://vllm.internal:8000/v1");
    let bad = "[providers.endpoints.Bad_Name]\nbase_url = \"ftp://x\"\napi_key = \" \"\n";
    let mut fields = problem_fields(Config::parse(bad, env(&[])));
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "providers.endpoints.Bad_Name",
            "providers.endpoints.Bad_Name.api_key",
            "providers.endpoints.Bad_Name.base_url",
        ]
    );
}

#[test]
fn webrtc_defaults_suit_local_development_and_the_environment_sets_them() {
    let config = Config::parse("", env(&[])).expect("defaults are valid");
    assert_eq!(config.webrtc.udp_addr.to_string(), "127.0.0.1:0");
    assert_eq!(config.webrtc.public_ip, None);
    assert_eq!(config.webrtc.max_calls_per_tenant, 20);
    let config = Config::parse(
        "",
        env(&[
            ("VOXGATE_WEBRTC_UDP_ADDR", "0.0.0.0:3478"),
            ("VOXGATE_WEBRTC_PUBLIC_IP", "203.0.113.7"),
            ("VOXGATE_WEBRTC_MAX_CALLS_PER_TENANT", "5"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.webrtc.udp_addr.to_string(), "0.0.0.0:3478");
    assert_eq!(
        config.webrtc.public_ip.map(|ip| ip.to_string()).as_deref(),
        Some("203.0.113.7")
    );
    assert_eq!(config.webrtc.max_calls_per_tenant, 5);
}

#[test]
fn webrtc_settings_are_checked() {
    let mut fields = problem_fields(Config::parse(
        "[webrtc]\npublic_ip = \"0.0.0.0\"\nmax_calls_per_tenant = 0\n",
        env(&[]),
    ));
    fields.sort();
    assert_eq!(
        fields,
        vec!["webrtc.max_calls_per_tenant", "webrtc.public_ip"]
    );
    let fields = problem_fields(Config::parse(
        "",
        env(&[("VOXGATE_WEBRTC_PUBLIC_IP", "not-an-ip")]),
    ));
    assert_eq!(fields, vec!["webrtc.public_ip"]);
}
