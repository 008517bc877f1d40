//! SIP messages (RFC 3261 §7): parsing one UDP datagram into a start line, headers and body,
//! and writing requests and responses back out.
//!
//! The parser is strict about structure and lenient about content: it never panics on any
//! input (a property test feeds it arbitrary and mutated bytes), caps header count and size,
//! expands compact header names (`v`, `f`, `t`, `i`, `m`, `l`, `c`, `k`), unfolds continuation
//! lines and takes exactly `Content-Length` body bytes. Whether a request has what a UAS needs
//! (Via branch, From tag, CSeq...) is checked by [`Message::check_request`]. Owns no state.

use std::fmt::Write as _;

/// Most headers one message may carry.
const MAX_HEADERS: usize = 100;

/// Why a datagram is not a SIP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No blank line ends the headers.
    #[error("no end of headers")]
    Truncated,
    /// The start line is neither a request line nor a status line.
    #[error("bad start line")]
    StartLine,
    /// The header section is not UTF-8 or has a line without a colon.
    #[error("bad header")]
    Header,
    /// More than [`MAX_HEADERS`] headers.
    #[error("too many headers")]
    TooManyHeaders,
}

/// The first line of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD uri SIP/2.0`.
    Request {
        /// Upper-case method name as sent.
        method: String,
        /// The Request-URI.
        uri: String,
    },
    /// `SIP/2.0 code reason`.
    Response {
        /// Status code, 100-699.
        code: u16,
    },
}

/// One parsed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Request or status line.
    pub start: StartLine,
    /// Headers in order, names in their long canonical form when compact.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
    /// False when `Content-Length` was unreadable or larger than what arrived (the body is then
    /// empty and the request gets a 400).
    pub length_ok: bool,
}

/// Why a parsed request can't be handled; answered with 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestProblem {
    /// A mandatory header is missing or unusable.
    #[error("missing or bad {0} header")]
    Header(&'static str),
    /// The CSeq method differs from the request method.
    #[error("CSeq method does not match the request")]
    CSeqMethod,
}

fn expand(name: &str) -> &str {
    match name {
        "v" | "V" => "Via",
        "f" | "F" => "From",
        "t" | "T" => "To",
        "i" | "I" => "Call-ID",
        "m" | "M" => "Contact",
        "l" | "L" => "Content-Length",
        "c" | "C" => "Content-Type",
        "k" | "K" => "Supported",
        "s" | "S" => "Subject",
        "e" | "E" => "Content-Encoding",
        "r" | "R" => "Refer-To",
        other => other,
    }
}

fn header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) if b + 1 < a => Some((b, b + 2)),
        (Some(a), _) => Some((a, a + 4)),
        (None, Some(b)) => Some((b, b + 2)),
        (None, None) => None,
    }
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

fn parse_start(line: &str) -> Result<StartLine, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let code = rest.get(..3).and_then(|c| c.parse::<u16>().ok());
        return match code {
            Some(code) if (100..=699).contains(&code) => Ok(StartLine::Response { code }),
            _ => Err(ParseError::StartLine),
        };
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some("SIP/2.0"), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine);
    };
    if !is_token(method) || uri.is_empty() || !uri.contains(':') {
        return Err(ParseError::StartLine);
    }
    Ok(StartLine::Request {
        method: method.to_owned(),
        uri: uri.to_owned(),
    })
}

impl Message {
    /// Parses one datagram.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let (end, body_start) = header_end(bytes).ok_or(ParseError::Truncated)?;
        let head = std::str::from_utf8(&bytes[..end]).map_err(|_| ParseError::Header)?;
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let start = parse_start(lines.next().unwrap_or_default())?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().ok_or(ParseError::Header)?;
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(ParseError::Header)?;
            let name = name.trim();
            if !is_token(name) {
                return Err(ParseError::Header);
            }
            if headers.len() == MAX_HEADERS {
                return Err(ParseError::TooManyHeaders);
            }
            headers.push((expand(name).to_owned(), value.trim().to_owned()));
        }
        let rest = &bytes[body_start..];
        let declared = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
            .map(|(_, value)| value.parse::<usize>().ok());
        let body = match declared {
            Some(Some(length)) => rest.get(..length).map(<[u8]>::to_vec),
            Some(None) => None,
            None => Some(rest.to_vec()),
        };
        Ok(Self {
            start,
            headers,
            length_ok: body.is_some(),
            body: body.unwrap_or_default(),
        })
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The top Via's `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        let top = self.header("Via")?.split(',').next()?;
        param(top, "branch")
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let (number, method) = self.header("CSeq")?.split_once(char::is_whitespace)?;
        Some((number.trim().parse().ok()?, method.trim()))
    }

    /// Checks what every request must carry to be answered and matched (RFC 3261 §8.1.1).
    pub fn check_request(&self) -> Result<(), RequestProblem> {
        let method = self.method().ok_or(RequestProblem::Header("start"))?;
        if !self.length_ok {
            return Err(RequestProblem::Header("Content-Length"));
        }
        if self.branch().is_none_or(str::is_empty) {
            return Err(RequestProblem::Header("Via"));
        }
        let from = self.header("From").ok_or(RequestProblem::Header("From"))?;
        if NameAddr::parse(from).is_none() {
            return Err(RequestProblem::Header("From"));
        }
        let to = self.header("To").ok_or(RequestProblem::Header("To"))?;
        if NameAddr::parse(to).is_none() {
            return Err(RequestProblem::Header("To"));
        }
        if self.header("Call-ID").is_none_or(str::is_empty) {
            return Err(RequestProblem::Header("Call-ID"));
        }
        let (_, cseq_method) = self.cseq().ok_or(RequestProblem::Header("CSeq"))?;
        if cseq_method != method && !(method == "ACK" || method == "CANCEL") {
            return Err(RequestProblem::CSeqMethod);
        }
        Ok(())
    }

    /// Whether enough headers are present to address a response (all of Via, From, To,
    /// Call-ID and CSeq).
    pub fn answerable(&self) -> bool {
        ["Via", "From", "To", "Call-ID", "CSeq"]
            .iter()
            .all(|name| self.header(name).is_some())
    }
}

/// A `;name=value` parameter of a header value (the first one named so).
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|part| {
        let (key, val) = part.split_once('=').unwrap_or((part, ""));
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| val.trim().trim_matches('"'))
    })
}

/// A From, To or Contact value: `"Name" <uri>;params` or `uri;params`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The URI.
    pub uri: &'a str,
    /// The parameters after the URI (`;tag=...`), with the leading `;`.
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    /// Parses a header value; `None` when no URI can be found.
    pub fn parse(value: &'a str) -> Option<Self> {
        let value = value.trim();
        let (uri, params) = match value.find('<') {
            Some(open) => {
                let close = open + value[open..].find('>')?;
                (&value[open + 1..close], &value[close + 1..])
            }
            None => match value.find(';') {
                Some(semi) => (&value[..semi], &value[semi..]),
                None => (value, ""),
            },
        };
        let uri = uri.trim();
        (!uri.is_empty() && uri.contains(':')).then_some(Self { uri, params })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        param(self.params, "tag").filter(|tag| !tag.is_empty())
    }
}

/// The user part of a SIP or tel URI (`sip:+15550100@host;user=phone` → `+15550100`).
pub fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri.split_once(':')?.1;
    let user = match rest.split_once('@') {
        Some((user, _)) => user,
        None if uri.starts_with("tel:") => rest,
        None => return None,
    };
    let user = user.split([';', ':']).next()?;
    (!user.is_empty()).then_some(user)
}

/// Builds an outgoing message line by line.
#[derive(Debug)]
pub struct Writer {
    text: String,
}

impl Writer {
    /// A request line.
    pub fn request(method: &str, uri: &str) -> Self {
        Self {
            text: format!("{method} {uri} SIP/2.0\r\n"),
        }
    }

    /// A status line.
    pub fn response(code: u16, reason: &str) -> Self {
        Self {
            text: format!("SIP/2.0 {code} {reason}\r\n"),
        }
    }

    /// One header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let _ = write!(self.text, "{name}: {value}\r\n");
        self
    }

    /// Ends the headers with `Content-Length` (and `Content-Type` when there is a body).
    pub fn body(mut self, content_type: &str, body: &[u8]) -> Vec<u8> {
        if !body.is_empty() {
            let _ = write!(self.text, "Content-Type: {content_type}\r\n");
        }
        let _ = write!(self.text, "Content-Length: {}\r\n\r\n", body.len());
        let mut bytes = self.text.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    /// Ends the headers with no body.
    pub fn finish(self) -> Vec<u8> {
        self.body("", &[])
    }
}

/// The reason phrase of a status code voxgate sends.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests;
