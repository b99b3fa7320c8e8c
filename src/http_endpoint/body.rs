//! Streaming decoders for what an HttpPostEndpoint receives: chunked transfer coding (RFC 9112
//! 7.1) and the file part of a multipart/form-data body (RFC 7578), as browsers' forms and
//! `curl -F` send them. Sans-I/O: bytes in, file bytes out, in pieces of any size; nothing is
//! trusted and nothing panics.

/// Why a body cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub &'static str);

/// Longest chunk-size line or part header block we accept.
const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// Decodes `Transfer-Encoding: chunked`.
#[derive(Debug)]
pub struct Chunked {
    state: ChunkState,
    line: Vec<u8>,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: ChunkState::Size,
            line: Vec::new(),
        }
    }
}

impl Chunked {
    /// Appends the data of `input` to `out`; `Ok(true)` once the last chunk and trailers are in.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<bool, BodyError> {
        while !input.is_empty() {
            match self.state {
                ChunkState::Done => return Ok(true),
                ChunkState::Data(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                    let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                        self.push_line(input)?;
                        return Ok(false);
                    };
                    self.push_line(&input[..nl])?;
                    input = &input[nl + 1..];
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = match self.state {
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => {
                            return Err(BodyError("chunk data longer than its size"))
                        }
                        ChunkState::Trailer if line.is_empty() => ChunkState::Done,
                        ChunkState::Trailer => ChunkState::Trailer,
                        _ => {
                            let size = line.split(|&b| b == b';').next().unwrap_or(&[]);
                            let size = std::str::from_utf8(size)
                                .ok()
                                .map(str::trim)
                                .filter(|s| !s.is_empty() && s.len() <= 16)
                                .and_then(|s| u64::from_str_radix(s, 16).ok())
                                .ok_or(BodyError("bad chunk size"))?;
                            if size == 0 {
                                ChunkState::Trailer
                            } else {
                                ChunkState::Data(size)
                            }
                        }
                    };
                }
            }
        }
        Ok(self.state == ChunkState::Done)
    }

    fn push_line(&mut self, b: &[u8]) -> Result<(), BodyError> {
        if self.line.len() + b.len() > MAX_LINE {
            return Err(BodyError("chunk line too long"));
        }
        self.line.extend_from_slice(b);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartState {
    /// Looking for the first delimiter.
    Preamble,
    /// Inside the first part's headers.
    Headers,
    /// Inside the first part's content.
    Content,
    Done,
}

/// Extracts the first part's content of a multipart/form-data body.
#[derive(Debug)]
pub struct Multipart {
    /// "\r\n--" + boundary: what ends a part's content.
    delimiter: Vec<u8>,
    state: PartState,
    buf: Vec<u8>,
}

impl Multipart {
    /// `content_type` is the request's Content-Type header; `None` when it is not
    /// multipart/form-data with a usable boundary.
    pub fn from_content_type(content_type: &str) -> Option<Result<Multipart, BodyError>> {
        let mut parts = content_type.split(';');
        let mime = parts.next()?.trim();
        if !mime.eq_ignore_ascii_case("multipart/form-data") {
            return None;
        }
        let boundary = parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"').to_string())
        });
        Some(match boundary {
            Some(b) if !b.is_empty() && b.len() <= 70 => Ok(Multipart {
                delimiter: format!("\r\n--{b}").into_bytes(),
                state: PartState::Preamble,
                // The body starts with "--boundary": seen as the delimiter after a CRLF.
                buf: b"\r\n".to_vec(),
            }),
            _ => Err(BodyError("multipart/form-data without a valid boundary")),
        })
    }

    /// Appends the first part's content found in `input` to `out`; `Ok(true)` once it is complete.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, BodyError> {
        if self.state == PartState::Done {
            return Ok(true);
        }
        self.buf.extend_from_slice(input);
        loop {
            match self.state {
                PartState::Done => return Ok(true),
                PartState::Preamble => match find(&self.buf, &self.delimiter) {
                    Some(i) => {
                        self.buf.drain(..i + self.delimiter.len());
                        self.state = PartState::Headers;
                    }
                    None => {
                        if self.buf.len() > MAX_LINE {
                            return Err(BodyError("no multipart boundary"));
                        }
                        return Ok(false);
                    }
                },
                // What follows the first delimiter: "--" would end the body with no part.
                PartState::Headers if self.buf.starts_with(b"--") => {
                    return Err(BodyError("multipart body with no part"));
                }
                PartState::Headers => match find(&self.buf, b"\r\n\r\n") {
                    Some(i) => {
                        self.buf.drain(..i + 4);
                        self.state = PartState::Content;
                    }
                    None => {
                        if self.buf.len() > MAX_LINE {
                            return Err(BodyError("multipart part headers too long"));
                        }
                        return Ok(false);
                    }
                },
                PartState::Content => match find(&self.buf, &self.delimiter) {
                    Some(i) => {
                        out.extend_from_slice(&self.buf[..i]);
                        self.buf.clear();
                        self.state = PartState::Done;
                    }
                    None => {
                        // Keep what could be the start of a delimiter split across reads.
                        let keep = self.delimiter.len() - 1;
                        if self.buf.len() > keep {
                            let n = self.buf.len() - keep;
                            out.extend_from_slice(&self.buf[..n]);
                            self.buf.drain(..n);
                        }
                        return Ok(false);
                    }
                },
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; (output, done, error).
    fn run<F: FnMut(&[u8], &mut Vec<u8>) -> Result<bool, BodyError>>(
        input: &[u8],
        step: usize,
        mut feed: F,
    ) -> (Vec<u8>, bool, Option<BodyError>) {
        let mut out = Vec::new();
        let mut done = false;
        for piece in input.chunks(step.max(1)) {
            match feed(piece, &mut out) {
                Ok(d) => done = d,
                Err(e) => return (out, false, Some(e)),
            }
        }
        (out, done, None)
    }

    #[test]
    fn chunked_bodies_in_pieces_of_every_size() {
        // (body, decoded data or an error, complete)
        type Row<'a> = (&'a [u8], Result<&'a [u8], ()>, bool);
        let table: &[Row] = &[
            (
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                Ok(b"hello world"),
                true,
            ),
            (
                b"A;ext=1\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n",
                Ok(b"0123456789"),
                true,
            ),
            (b"5\r\nhel", Ok(b"hel"), false),
            (b"zz\r\n", Err(()), false),
            (b"\r\n", Err(()), false),
            (b"5\r\nhelloEXTRA\r\n", Err(()), false),
            (b"fffffffffffffffffffff\r\n", Err(()), false),
            (b"-1\r\n", Err(()), false),
        ];
        for (i, (input, want, want_done)) in table.iter().enumerate() {
            for step in [1, 2, 3, 7, 1000] {
                let mut c = Chunked::default();
                let (out, done, err) = run(input, step, |b, o| c.feed(b, o));
                match want {
                    Ok(w) => {
                        assert_eq!(err, None, "row {i} step {step}");
                        assert_eq!(&out[..], *w, "row {i} step {step}");
                        assert_eq!(done, *want_done, "row {i} step {step}");
                    }
                    Err(()) => assert!(err.is_some(), "row {i} step {step}: {out:?}"),
                }
            }
        }
        let mut c = Chunked::default();
        let long = vec![b'1'; MAX_LINE + 10];
        assert!(
            c.feed(&long, &mut Vec::new()).is_err(),
            "an endless size line is refused"
        );
    }

    #[test]
    fn multipart_file_part_in_pieces_of_every_size() {
        let file: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.webm\"\r\nContent-Type: video/webm\r\n\r\n".to_vec();
        body.extend_from_slice(&file);
        body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nignored\r\n--XyZ--\r\n");
        for step in [1, 2, 5, 9, 64, 4096] {
            let mut m = Multipart::from_content_type("multipart/form-data; boundary=XyZ")
                .unwrap()
                .unwrap();
            let (out, done, err) = run(&body, step, |b, o| m.feed(b, o));
            assert_eq!(err, None, "step {step}");
            assert!(done, "step {step}");
            assert_eq!(out, file, "step {step}");
        }
    }

    #[test]
    fn multipart_hostile_input_is_an_error_never_a_panic() {
        assert!(Multipart::from_content_type("video/webm").is_none());
        assert!(Multipart::from_content_type("multipart/form-data")
            .unwrap()
            .is_err());
        assert!(
            Multipart::from_content_type("multipart/form-data; boundary=")
                .unwrap()
                .is_err()
        );
        assert!(Multipart::from_content_type(&format!(
            "multipart/form-data; boundary={}",
            "x".repeat(71)
        ))
        .unwrap()
        .is_err());
        let ok = |b: &str| {
            Multipart::from_content_type(&format!("multipart/form-data; boundary=\"{b}\""))
                .unwrap()
                .unwrap()
        };
        let cases: &[&[u8]] = &[
            b"--b--\r\n",            // no part at all
            &[b'x'; MAX_LINE + 100], // never a boundary
        ];
        for c in cases {
            let mut m = ok("b");
            let (_, done, err) = run(c, 3, |x, o| m.feed(x, o));
            assert!(err.is_some() && !done, "{:?}", &c[..c.len().min(20)]);
        }
        let mut headers = b"--b\r\n".to_vec();
        headers.extend(std::iter::repeat_n(b'h', MAX_LINE + 10));
        let mut m = ok("b");
        assert!(
            run(&headers, 100, |x, o| m.feed(x, o)).2.is_some(),
            "endless part headers"
        );
        // A body cut short is not complete (the endpoint waits, then ends the stream).
        let mut m = ok("b");
        let (out, done, err) = run(b"--b\r\n\r\nabcdef", 2, |x, o| m.feed(x, o));
        assert!(err.is_none() && !done);
        assert!(b"abcdef".starts_with(&out));
    }
}
