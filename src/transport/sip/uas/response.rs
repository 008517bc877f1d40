//! How a response is built from the request it answers (RFC 3261 §8.2.6): Via, From, Call-ID
//! and CSeq copied; To copied with our tag added when it has none; Record-Route copied into
//! the responses that set up or run in a dialog (§12.1.1). Pure text, no state.

use super::{
    super::message::{Message, NameAddr, Writer, reason},
    random_token,
};

/// A response to `request`: Via, From, To (with `tag`, else a random one, added when To has
/// none and `code` > 100), Call-ID and CSeq copied, Record-Route copied for 101-299 to INVITE
/// and in-dialog requests, then `extra`, then the body (SDP when not empty).
pub(super) fn response(
    request: &Message,
    code: u16,
    tag: Option<&str>,
    extra: &[(&str, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut writer = Writer::response(code, reason(code));
    for via in request.headers_named("Via") {
        writer = writer.header("Via", via);
    }
    let to = request.header("To").unwrap_or_default();
    let has_tag = NameAddr::parse(to).and_then(|t| t.tag()).is_some();
    let to = if has_tag || code <= 100 {
        to.to_owned()
    } else {
        let tag = tag.map_or_else(random_token, str::to_owned);
        format!("{to};tag={tag}")
    };
    writer = writer
        .header("From", request.header("From").unwrap_or_default())
        .header("To", &to)
        .header("Call-ID", request.header("Call-ID").unwrap_or_default())
        .header("CSeq", request.header("CSeq").unwrap_or_default());
    let dialog_request = has_tag || request.method() == Some("INVITE");
    if (101..300).contains(&code) && dialog_request {
        for route in request.headers_named("Record-Route") {
            writer = writer.header("Record-Route", route);
        }
    }
    writer = writer.header("Server", "voxgate");
    for (name, value) in extra {
        writer = writer.header(name, value);
    }
    writer.body("application/sdp", body)
}
