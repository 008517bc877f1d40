//! The per-call session state machine (in progress).
