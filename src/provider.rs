//! Model providers: the OpenAI Realtime GA client (`openai_realtime`), the async
//! speech-to-text → LLM → text-to-speech pipeline that stands in for it (`pipeline`), and the
//! local provider simulator (`sim`) that speaks the same protocols for tests and key-less runs.
//!
//! Every provider is driven through the same [`ProviderLink`]: `ProviderCommand`s in,
//! `ProviderEvent`s out, so the call's session does not know which one it talks to.

pub mod directory;
pub mod openai_realtime;
pub mod pipeline;
pub mod probe;
pub mod sim;

/// The call's side of a running provider, whichever kind it is (realtime or pipeline).
pub type ProviderLink = openai_realtime::RealtimeLink;
