//! SIP (placeholder; the signalling helper owns this file).

// Until the signalling side that calls it is merged, the media leg is used only by its tests.
#[allow(dead_code, unused_imports)]
pub(crate) mod media;
