//! A streamed response body (chunked transfer encoding): its chunks paced a little apart, with
//! the stall and drop faults. Owns nothing but the pacing; what the chunks say is the endpoint's.

use super::{super::plan::CHUNK_INTERVAL, EndpointFaults};
use axum::body::{Body, Bytes};
use std::{collections::VecDeque, io};
use tokio::{sync::watch, time::Duration};

/// The state of one streamed body.
struct Paced {
    chunks: VecDeque<Bytes>,
    sent: u32,
    interval: Duration,
    stall_after: Option<u32>,
    stall_for: Option<Duration>,
    drop_after: Option<u32>,
    over: bool,
    stopped: watch::Receiver<bool>,
}

/// A body that sends `chunks` `interval` apart, stalls or aborts as `faults` say, and aborts
/// when the simulator shuts down.
pub(super) fn body(
    chunks: Vec<Bytes>,
    interval: Duration,
    faults: Option<&EndpointFaults>,
    stopped: watch::Receiver<bool>,
) -> Body {
    let faults = faults.cloned().unwrap_or_default();
    let paced = Paced {
        chunks: chunks.into(),
        sent: 0,
        interval,
        stall_after: faults.stall_after_chunks,
        stall_for: faults.stall_for_ms.map(Duration::from_millis),
        drop_after: faults.drop_after_chunks,
        over: false,
        stopped,
    };
    let stream = futures_util::stream::unfold(paced, |mut paced| async move {
        let next = paced.next().await?;
        Some((next, paced))
    });
    Body::from_stream(stream)
}

/// The pacing of speech audio and chat events: five times faster than real time for 100 ms
/// audio chunks, as the realtime simulator streams.
pub(super) const INTERVAL: Duration = CHUNK_INTERVAL;

impl Paced {
    async fn next(&mut self) -> Option<Result<Bytes, io::Error>> {
        if self.over {
            return None;
        }
        if self.drop_after == Some(self.sent) {
            // One interval first, so the server flushes what was sent before the connection goes.
            self.wait(Some(self.interval)).await;
            return self.abort("simulated connection drop");
        }
        let chunk = self.chunks.pop_front()?;
        let pause = if self.stall_after == Some(self.sent) {
            self.stall_for
        } else if self.sent > 0 {
            Some(self.interval)
        } else {
            Some(Duration::ZERO)
        };
        if !self.wait(pause).await {
            return self.abort("simulator shutting down");
        }
        self.sent += 1;
        Some(Ok(chunk))
    }

    /// Waits `pause` (`None`: for ever); false when the simulator stops meanwhile.
    async fn wait(&mut self, pause: Option<Duration>) -> bool {
        if pause == Some(Duration::ZERO) {
            return true;
        }
        let stopped = self.stopped.wait_for(|stop| *stop);
        match pause {
            Some(pause) => tokio::select! {
                _ = stopped => false,
                () = tokio::time::sleep(pause) => true,
            },
            None => {
                let _ = stopped.await;
                false
            }
        }
    }

    /// Ends the body with an error, which makes the server cut the connection without the end
    /// of the chunked stream.
    fn abort(&mut self, why: &str) -> Option<Result<Bytes, io::Error>> {
        self.over = true;
        Some(Err(io::Error::new(io::ErrorKind::ConnectionAborted, why)))
    }
}
