//! Test support: the shared audio fixtures (`VOXGATE_TEST_FIXTURES`, else `../shared/fixtures`
//! beside the repository), as raw audio bytes. A test whose fixture is absent is skipped.

/// A fixture's audio bytes (a WAV file's `data` chunk), or `None` when the fixtures are absent.
#[allow(clippy::disallowed_methods)] // tests read their own settings
pub(in crate::provider::pipeline) fn fixture(name: &str) -> Option<Vec<u8>> {
    let dir = std::env::var("VOXGATE_TEST_FIXTURES")
        .ok()
        .filter(|dir| !dir.is_empty())
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures").to_owned());
    let Ok(bytes) = std::fs::read(format!("{dir}/{name}")) else {
        eprintln!("fixture {name} not found in {dir}: test skipped");
        return None;
    };
    if !name.ends_with(".wav") {
        return Some(bytes);
    }
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let body = at + 8;
        if &bytes[at..at + 4] == b"data" {
            return bytes.get(body..body + len as usize).map(<[u8]>::to_vec);
        }
        at = body + len as usize + (len as usize & 1);
    }
    None
}
