//! Model providers: the OpenAI Realtime GA client (`openai_realtime`) and the local provider
//! simulator (`sim`) that speaks the same protocol for tests and key-less runs.

pub mod openai_realtime;
pub mod sim;
