//! Request-target repair below hyper. Microsoft's SCIM validator and Entra send filters with
//! raw double quotes (`?filter=userName+eq+"a%40b"`); httparse accepts them, but hyper then
//! builds an `http::Uri`, whose parser refuses `"`, `<`, `>`, `` ` `` and non-UTF-8 bytes
//! and hyper answers an empty 400 before any of idbridge's code runs. `Framing` reads the
//! byte stream of one connection ahead of hyper and percent-encodes, in the request-target
//! of each request line only, every byte RFC 3986 does not allow there, so such a request is
//! answered exactly like its encoded form.
//!
//! To touch only request lines it follows HTTP/1.1 message framing (RFC 9112 §6) the way
//! hyper 1.x does (src/proto/h1/role.rs, decode.rs): Content-Length bodies, chunked bodies
//! with extensions and trailers, keep-alive and pipelined requests. Whatever it cannot frame
//! exactly as hyper would (an unknown transfer coding, differing lengths, an upgrade, a line
//! over `MAX_LINE`) switches the connection to pass-through: from then on bytes reach hyper
//! unchanged, which refuses or frames them itself. Memory is bounded by one head line.

/// Longest head line (request line or header field) held to inspect it. Secure default:
/// hyper refuses request-targets over 65534 bytes (414); a longer line is passed on
/// unchanged and the connection is no longer rewritten.
pub const MAX_LINE: usize = 64 * 1024 + 64;

/// Where the reader is in the stream of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a request line; empty lines before it are passed on (RFC 9112 §2.2).
    RequestLine,
    /// Reading the header fields of a head.
    Headers,
    /// This many Content-Length body bytes are still to come (RFC 9112 §6.2).
    Length(u64),
    /// Inside a chunked body (RFC 9112 §7.1).
    Chunked(Chunk),
    /// Bytes are passed on unchanged for the rest of the connection.
    Passthrough,
}

/// The chunked-body states of hyper's decoder, byte for byte (decode.rs `ChunkedState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Start,
    Size(u64),
    SizeLws(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    /// After the last chunk, or after a trailer field: CR of the end, or a trailer field.
    EndCr,
    Trailer,
    TrailerLf,
    EndLf,
}

/// What the head seen so far says about the body that follows it.
#[derive(Debug, Default)]
struct Head {
    http11: bool,
    /// CONNECT, or `Upgrade` on HTTP/1.1: hyper may hand the connection over.
    upgrade: bool,
    te: bool,
    /// Whether the last Transfer-Encoding field ends in `chunked` (hyper's `is_chunked_`).
    chunked: bool,
    cl_seen: bool,
    length: Option<u64>,
    /// A Content-Length hyper refuses (not digits, or differing values).
    bad_length: bool,
}

/// The request-target rewriter of one connection's inbound bytes.
#[derive(Debug)]
pub struct Framing {
    state: State,
    line: Vec<u8>,
    head: Head,
}

impl Default for Framing {
    fn default() -> Self {
        Framing { state: State::RequestLine, line: Vec::new(), head: Head::default() }
    }
}

impl Framing {
    /// True once nothing more will be rewritten on this connection.
    pub fn is_passthrough(&self) -> bool {
        self.state == State::Passthrough
    }

    /// Consume `input`, appending what hyper should read to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match self.state {
                State::Passthrough => {
                    out.extend_from_slice(input);
                    return;
                }
                State::Length(n) | State::Chunked(Chunk::Data(n)) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let left = n - take as u64;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::RequestLine,
                        (State::Length(_), l) => State::Length(l),
                        (_, 0) => State::Chunked(Chunk::DataCr),
                        (_, l) => State::Chunked(Chunk::Data(l)),
                    };
                }
                State::Chunked(c) => {
                    out.push(input[0]);
                    self.state = chunk_step(c, input[0]);
                    input = &input[1..];
                }
                State::RequestLine | State::Headers => {
                    let end = input.iter().position(|&b| b == b'\n');
                    let take = end.map_or(input.len(), |i| i + 1);
                    if self.line.len() + take > MAX_LINE {
                        self.give_up(out);
                        continue;
                    }
                    self.line.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if end.is_some() {
                        self.end_of_line(out);
                    }
                }
            }
        }
    }

    /// The peer closed its side: pass on a partial line unchanged (hyper reports it).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.line);
    }

    fn give_up(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.line);
        self.line = Vec::new();
        self.state = State::Passthrough;
    }

    fn end_of_line(&mut self, out: &mut Vec<u8>) {
        let mut line = std::mem::take(&mut self.line);
        let empty = line == b"\r\n" || line == b"\n";
        self.state = match (self.state, empty) {
            (State::RequestLine, true) => {
                out.extend_from_slice(&line);
                State::RequestLine
            }
            (State::RequestLine, false) => match request_line(&line) {
                Some((rewritten, http11, connect)) => {
                    out.extend_from_slice(&rewritten);
                    self.head = Head { http11, upgrade: connect, ..Head::default() };
                    State::Headers
                }
                None => {
                    out.extend_from_slice(&line);
                    State::Passthrough
                }
            },
            (_, true) => {
                out.extend_from_slice(&line);
                self.body_framing()
            }
            (_, false) => {
                out.extend_from_slice(&line);
                match self.header_field(&line) {
                    true => State::Headers,
                    false => State::Passthrough,
                }
            }
        };
        // Keep the allocation for the next line.
        line.clear();
        self.line = line;
    }

    /// Record what a header field says about framing; false if httparse would refuse it.
    fn header_field(&mut self, line: &[u8]) -> bool {
        let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return false;
        }
        let value = trim(&line[colon + 1..]);
        let h = &mut self.head;
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            h.te = true;
            h.chunked = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.rsplit(',').next())
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            h.cl_seen = true;
            if !h.te {
                match (digits(value), h.length) {
                    (Some(n), None) => h.length = Some(n),
                    (Some(n), Some(prev)) if n == prev => {}
                    _ => h.bad_length = true,
                }
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            h.upgrade = h.http11;
        }
        true
    }

    /// RFC 9112 §6.3, as hyper applies it to requests: Transfer-Encoding (HTTP/1.1 only,
    /// ending in chunked) wins over Content-Length; else Content-Length; else no body.
    fn body_framing(&self) -> State {
        let h = &self.head;
        if h.upgrade || h.bad_length {
            return State::Passthrough;
        }
        if h.te {
            // Not HTTP/1.1, or not chunked: hyper answers 400 and closes. With a
            // Content-Length as well it closes after this request.
            return match h.http11 && h.chunked && !h.cl_seen {
                true => State::Chunked(Chunk::Start),
                false => State::Passthrough,
            };
        }
        match h.length {
            Some(n) if n > 0 => State::Length(n),
            _ => State::RequestLine,
        }
    }
}

/// One byte of a chunked body (RFC 9112 §7.1), with hyper's leniencies and refusals.
fn chunk_step(c: Chunk, b: u8) -> State {
    let hex = |size: u64| {
        let d = (b as char).to_digit(16)?;
        size.checked_mul(16)?.checked_add(u64::from(d))
    };
    let next = match (c, b) {
        (Chunk::Start, _) => hex(0).map(Chunk::Size),
        (Chunk::Size(s), b'\t' | b' ') | (Chunk::SizeLws(s), b'\t' | b' ') => Some(Chunk::SizeLws(s)),
        (Chunk::Size(s), b';') | (Chunk::SizeLws(s), b';') => Some(Chunk::Extension(s)),
        (Chunk::Size(s), b'\r') | (Chunk::SizeLws(s), b'\r') | (Chunk::Extension(s), b'\r') => {
            Some(Chunk::SizeLf(s))
        }
        (Chunk::Size(s), _) => hex(s).map(Chunk::Size),
        (Chunk::SizeLws(_), _) => None,
        // hyper refuses a bare LF inside an extension.
        (Chunk::Extension(_), b'\n') => None,
        (Chunk::Extension(s), _) => Some(Chunk::Extension(s)),
        (Chunk::SizeLf(0), b'\n') => Some(Chunk::EndCr),
        (Chunk::SizeLf(s), b'\n') => Some(Chunk::Data(s)),
        (Chunk::SizeLf(_), _) => None,
        (Chunk::Data(_), _) => None,
        (Chunk::DataCr, b'\r') => Some(Chunk::DataLf),
        (Chunk::DataLf, b'\n') => Some(Chunk::Start),
        (Chunk::DataCr | Chunk::DataLf, _) => None,
        (Chunk::EndCr, b'\r') => Some(Chunk::EndLf),
        (Chunk::EndCr, _) => Some(Chunk::Trailer),
        (Chunk::Trailer, b'\r') => Some(Chunk::TrailerLf),
        (Chunk::Trailer, _) => Some(Chunk::Trailer),
        (Chunk::TrailerLf, b'\n') => Some(Chunk::EndCr),
        (Chunk::TrailerLf, _) => None,
        (Chunk::EndLf, b'\n') => return State::RequestLine,
        (Chunk::EndLf, _) => None,
    };
    next.map_or(State::Passthrough, State::Chunked)
}

/// Split `method SP request-target SP HTTP-version CRLF` (RFC 9112 §3) and percent-encode
/// the target; with the version (true: HTTP/1.1) and whether the method is CONNECT. None
/// when the line is not one httparse accepts: it is then passed on for hyper to refuse.
fn request_line(line: &[u8]) -> Option<(Vec<u8>, bool, bool)> {
    let body = line.strip_suffix(b"\n")?;
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let sp = body.iter().position(|&b| b == b' ')?;
    let (method, rest) = (&body[..sp], &body[sp + 1..]);
    let sp = rest.iter().position(|&b| b == b' ')?;
    let (target, version) = (&rest[..sp], &rest[sp + 1..]);
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        _ => return None,
    };
    let uri_byte = |b: u8| (b'!'..=b'~').contains(&b) || b >= 0x80;
    if method.is_empty() || !method.iter().all(|&b| is_token(b)) {
        return None;
    }
    if target.is_empty() || !target.iter().all(|&b| uri_byte(b)) {
        return None;
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    out.extend_from_slice(&line[..method.len() + 1]);
    // Only the origin form (RFC 9112 §3.2.1) is repaired; the absolute form's authority
    // may need its brackets (`http://[::1]/`), and `*` and the authority form have no query.
    if target[0] == b'/' {
        for &b in target {
            match allowed_in_target(b) {
                true => out.push(b),
                false => out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
            }
        }
    } else {
        out.extend_from_slice(target);
    }
    out.extend_from_slice(&line[method.len() + 1 + target.len()..]);
    Some((out, http11, method == b"CONNECT"))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// RFC 3986 §3.3/§3.4: `pchar = unreserved / pct-encoded / sub-delims / ":" / "@"`, plus
/// `/` and `?`; `%` is kept as written (pct-encoded). `#` is encoded too: a request-target
/// carries no fragment (RFC 9112 §3.2), so a raw `#` is part of the client's data.
pub fn allowed_in_target(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// `tchar` of RFC 9110 §5.6.2, as httparse checks methods and field names.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A field value without the line end and surrounding whitespace (RFC 9112 §5.1).
fn trim(v: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = v.iter().position(|b| !ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    &v[start..end]
}

/// Content-Length as hyper parses it: ASCII digits only, no sign, no overflow.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
