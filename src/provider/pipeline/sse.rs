//! A line-based Server-Sent Events parser for streamed chat completions: bytes in (split
//! anywhere, even inside a UTF-8 character or a `\r\n`), the `data` of each complete event out.
//! Comments and the `event`, `id` and `retry` fields are ignored; nothing here knows JSON.

/// Longest line accepted; a longer one means the peer is not speaking SSE.
const MAX_LINE: usize = 1 << 20;

/// A line longer than [`MAX_LINE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("server-sent event line too long")]
pub(super) struct LineTooLong;

/// Parser state between chunks.
#[derive(Debug, Default)]
pub(super) struct SseParser {
    line: Vec<u8>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds bytes; returns the data of every event they complete, in order.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, LineTooLong> {
        let mut events = Vec::new();
        let mut rest = bytes;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..newline]);
            rest = &rest[newline + 1..];
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, &mut events);
        }
        self.line.extend_from_slice(rest);
        if self.line.len() > MAX_LINE {
            return Err(LineTooLong);
        }
        Ok(events)
    }

    /// The stream ended: the data of an event left without its blank line, if any.
    pub(super) fn finish(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.line);
        let mut events = Vec::new();
        self.line_done(&line, &mut events);
        self.line_done(b"", &mut events);
        events.pop()
    }

    fn line_done(&mut self, line: &[u8], events: &mut Vec<String>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            events.extend(self.data.take());
            return;
        }
        if line.starts_with(b":") {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        if field != b"data" {
            return;
        }
        let value = String::from_utf8_lossy(value);
        match &mut self.data {
            Some(data) => {
                data.push('\n');
                data.push_str(&value);
            }
            None => self.data = Some(value.into_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = ": keep-alive\r\n\r\nevent: chunk\r\ndata: {\"a\":\"é\"}\r\n\r\ndata:{\"b\":2}\n\ndata: line one\ndata: line two\n\nid: 7\nretry: 10\n\ndata: [DONE]\n\n";

    fn parse_split(bytes: &[u8], at: usize) -> Vec<String> {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for chunk in bytes.chunks(at) {
            events.extend(parser.push(chunk).expect("short lines"));
        }
        events.extend(parser.finish());
        events
    }

    #[test]
    fn events_come_out_whole_however_the_bytes_are_split() {
        let expected = ["{\"a\":\"é\"}", "{\"b\":2}", "line one\nline two", "[DONE]"];
        for at in 1..=STREAM.len() {
            assert_eq!(
                parse_split(STREAM.as_bytes(), at),
                expected,
                "split every {at}"
            );
        }
    }

    #[test]
    fn an_event_cut_off_by_the_end_of_the_stream_is_still_returned() {
        assert_eq!(parse_split(b"data: {\"x\":1}", 4), ["{\"x\":1}"]);
        assert!(parse_split(b": only a comment\n", 3).is_empty());
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut parser = SseParser::default();
        let chunk = vec![b'x'; MAX_LINE / 2 + 1];
        assert!(parser.push(&chunk).is_ok());
        assert_eq!(parser.push(&chunk), Err(LineTooLong));
    }
}
