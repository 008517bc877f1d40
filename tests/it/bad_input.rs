//! Bad input never panics: thousands of mutated agent specs (JSON and TOML) and config files go
//! through the same parsers and validators the server uses, and each gets a result, not a crash.
//! A deterministic generator keeps failures reproducible without a fuzzing dependency.

use serde_json::json;
use voxgate::{agent_file, config::Config};
use voxgate_core::AgentSpec;

/// xorshift64*: small, deterministic, good enough to mutate bytes.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Flips, inserts, deletes or duplicates a few bytes, sometimes splicing in a nasty token.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        const TOKENS: &[&[u8]] = &[
            b"\"",
            b"{",
            b"}",
            b"[",
            b"]",
            b"null",
            b"-1",
            b"1e999",
            b"\\u0000",
            b"\xff\xfe",
            b"\"type\": \"object\"",
            b"\"$ref\": \"#/x\"",
            b"18446744073709551616",
            b"=",
            b"\n[x]\n",
        ];
        let mut bytes = seed.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(bytes.len() + 1);
            match self.below(5) {
                0 if at < bytes.len() => bytes[at] ^= 1 << self.below(8),
                1 => bytes.insert(at, self.next() as u8),
                2 if at < bytes.len() => {
                    bytes.remove(at);
                }
                3 => {
                    let token = TOKENS[self.below(TOKENS.len())];
                    bytes.splice(at..at, token.iter().copied());
                }
                _ => {
                    let end = (at + self.below(16)).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(at..at, copy);
                }
            }
        }
        bytes
    }
}

fn seed_spec() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "name": "desk",
        "instructions": "Be brief.",
        "latency": {"first_audio_ms": 1500, "filler_after_ms": 400},
        "guard": {"deny_phrases": ["guaranteed cure"]},
        "budget": {"max_call_seconds": 600, "daily_usd": 5.0},
        "tools": [{"name": "book", "description": "Book", "parameters": {
            "type": "object", "required": ["day"],
            "properties": {"day": {"type": "string", "format": "date", "pattern": "^[0-9-]+$"}}
        }}],
        "knowledge": {"path": "desk/kb"}
    }))
    .expect("seed serialises")
}

#[test]
fn mutated_agent_specs_are_rejected_or_validated_without_panicking() {
    let seed = seed_spec();
    let mut mutator = Mutator(0x5EED_1234_ABCD_0001);
    let (mut parsed, mut valid) = (0, 0);
    for _ in 0..5_000 {
        let bytes = mutator.mutate(&seed);
        if let Ok(spec) = serde_json::from_slice::<AgentSpec>(&bytes) {
            parsed += 1;
            let problems = spec.validate();
            valid += usize::from(problems.is_empty());
            assert!(
                problems
                    .iter()
                    .all(|p| !p.field.is_empty() && !p.message.is_empty())
            );
        }
    }
    // The mutations must reach both sides of the parser, or this test proves nothing.
    assert!(parsed > 100 && parsed < 5_000, "parsed {parsed}");
    assert!(valid > 0, "no mutated spec was valid");
}

#[test]
fn mutated_agent_files_and_configs_get_errors_not_panics() {
    let dir = crate::support::TempDir::new();
    std::fs::create_dir_all(dir.path.join("desk/kb")).expect("kb dir");
    let agent_toml = b"instructions = \"Be brief.\"\nvoice = \"alloy\"\n[latency]\nfirst_audio_ms = 1500\n[[tools]]\nname = \"book\"\ndescription = \"Book\"\n[tools.parameters]\ntype = \"object\"\n";
    let config_toml = b"admin_key = \"0123456789abcdef0123456789\"\n[http]\naddr = \"127.0.0.1:8080\"\nbody_limit_bytes = 65536\n[database]\nmax_connections = 5\n[log]\nformat = \"json\"\n";
    let mut mutator = Mutator(0xC0FF_EE00_1234_5678);
    let (mut files_ok, mut configs_ok) = (0, 0);
    for round in 0..2_000 {
        let file = dir.path.join("desk.toml");
        std::fs::write(&file, mutator.mutate(agent_toml)).expect("write");
        if let Ok(spec) = agent_file::load_file(&file, &dir.path) {
            files_ok += 1;
            assert_eq!(spec.name, "desk", "round {round}");
        }
        let text = String::from_utf8_lossy(&mutator.mutate(config_toml)).into_owned();
        if let Err(error) = Config::parse(&text, Vec::new()) {
            assert!(!error.to_string().is_empty());
        } else {
            configs_ok += 1;
        }
    }
    assert!(
        files_ok > 0 && files_ok < 2_000,
        "agent files accepted: {files_ok}"
    );
    assert!(
        configs_ok > 0 && configs_ok < 2_000,
        "configs accepted: {configs_ok}"
    );
}
