//! Model providers: the realtime provider simulator (and, next, the OpenAI Realtime client).
pub mod openai_realtime;
