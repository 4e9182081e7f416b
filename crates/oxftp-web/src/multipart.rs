//! Multipart uploads read with bounded memory.
//!
//! multer (which axum's extractor wraps) streams a part's *content*, but it
//! buffers everything before a part's content whole: the preamble, the
//! boundary line and the part's headers, until it finds the blank line that
//! ends them. A request whose `filename="AAAA…` never ends would make it
//! buffer without limit (and rescan the buffer each time: about five times
//! the header size in memory). It has no setting for that, so this module
//! feeds it through a guard:
//!
//! - while multer looks for the next part's headers, the guard hands it the
//!   body in small pieces, one per poll, so it parses after each piece and
//!   stops asking once the headers are complete; each piece is counted, and
//!   once the headers and boundary have had their allowance and multer still
//!   asks for more, the guard fails the stream;
//! - while a part's content is read, the body passes through untouched (and
//!   multer hands out everything it buffers).
//!
//! So multer never holds more than the allowance, a piece, and what it had
//! pulled while reading the previous part's content.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

/// Bytes handed to multer at a time while it reads part headers.
const PIECE: usize = 1024;

/// The guard's state, shared with the reader that switches its modes.
#[derive(Debug)]
struct Framing {
    reading_headers: AtomicBool,
    used: AtomicUsize,
    allowance: usize,
    exceeded: AtomicBool,
}

/// The upload reader's handle on the guard.
#[derive(Debug, Clone)]
pub(crate) struct HeaderBudget(Arc<Framing>);

impl HeaderBudget {
    /// Multer is about to look for the next part: count from zero.
    pub(crate) fn start_headers(&self) {
        self.0.used.store(0, Ordering::Relaxed);
        self.0.reading_headers.store(true, Ordering::Release);
    }

    /// A part's headers were read: its content passes freely.
    pub(crate) fn end_headers(&self) {
        self.0.reading_headers.store(false, Ordering::Release);
    }

    /// Whether the stream was failed for headers over the allowance.
    pub(crate) fn exceeded(&self) -> bool {
        self.0.exceeded.load(Ordering::Acquire)
    }
}

/// Why the guard ended the body.
#[derive(Debug, thiserror::Error)]
#[error("multipart part headers are longer than allowed")]
pub(crate) struct HeadersTooLong;

/// `body` behind a guard allowing `max_header` bytes of part headers (plus
/// the boundary line before them); returns the guarded stream for multer
/// and the handle that switches its modes.
pub(crate) fn guard<S>(body: S, boundary: &str, max_header: usize) -> (GuardedBody<S>, HeaderBudget) {
    // "\r\n--" boundary "\r\n" before the headers; "\r\n\r\n" ends them.
    let allowance = max_header + boundary.len() + 8;
    let framing = Arc::new(Framing {
        reading_headers: AtomicBool::new(true),
        used: AtomicUsize::new(0),
        allowance,
        exceeded: AtomicBool::new(false),
    });
    (GuardedBody { inner: body, framing: framing.clone(), pending: None, just_gave: false }, HeaderBudget(framing))
}

/// The request body as multer sees it (see the module docs).
pub(crate) struct GuardedBody<S> {
    inner: S,
    framing: Arc<Framing>,
    /// The rest of a chunk that was handed out piece by piece.
    pending: Option<Bytes>,
    /// A piece was just handed out: let multer parse before the next one.
    just_gave: bool,
}

impl<S, E> Stream for GuardedBody<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !this.framing.reading_headers.load(Ordering::Acquire) {
            this.just_gave = false;
            if let Some(rest) = this.pending.take() {
                return Poll::Ready(Some(Ok(rest)));
            }
            return Pin::new(&mut this.inner).poll_next(cx).map(|item| item.map(|r| r.map_err(Into::into)));
        }
        if this.just_gave {
            // multer reads until the stream is pending, then parses: stop it
            // after each piece so it sees the end of the headers as soon as
            // it has it, and come back at once.
            this.just_gave = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.framing.used.load(Ordering::Relaxed) >= this.framing.allowance {
            this.framing.exceeded.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(Box::new(HeadersTooLong))));
        }
        let chunk = match this.pending.take() {
            Some(chunk) => chunk,
            None => match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => chunk,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            },
        };
        let mut piece = chunk;
        if piece.len() > PIECE {
            this.pending = Some(piece.split_off(PIECE));
        }
        this.framing.used.fetch_add(piece.len(), Ordering::Relaxed);
        this.just_gave = true;
        Poll::Ready(Some(Ok(piece)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    /// A body of `head` followed by `filler` bytes of `b'A'` in 64 KiB chunks, counting what was read.
    fn body(
        head: &'static [u8],
        filler: usize,
        read: Arc<AtomicUsize>,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        let chunks = std::iter::once(Bytes::from_static(head))
            .chain((0..filler.div_ceil(65536)).map(|_| Bytes::from(vec![b'A'; 65536])));
        futures::stream::iter(chunks).map(move |c| {
            read.fetch_add(c.len(), Ordering::Relaxed);
            Ok(c)
        })
    }

    #[tokio::test]
    async fn endless_part_headers_stop_at_the_allowance() {
        let read = Arc::new(AtomicUsize::new(0));
        let head = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"";
        let (guarded, budget) = guard(body(head, 64 << 20, read.clone()), "XyZ", 8192);
        let mut form = multer::Multipart::new(guarded, "XyZ");
        budget.start_headers();
        assert!(form.next_field().await.is_err());
        assert!(budget.exceeded());
        // One 64 KiB chunk was taken from the body (then handed out piecemeal), not 64 MiB.
        assert!(read.load(Ordering::Relaxed) <= 2 * 65536, "{} bytes read", read.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn normal_parts_stream_through_whole() {
        let mut text = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\
Content-Type: application/octet-stream\r\n\r\n"
            .to_vec();
        text.extend(std::iter::repeat_n(b'x', 300_000));
        text.extend_from_slice(
            b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"g\"; filename=\"b.txt\"\r\n\r\nhi\r\n--XyZ--\r\n",
        );
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            text.chunks(100_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let (guarded, budget) = guard(futures::stream::iter(chunks), "XyZ", 200);
        let mut form = multer::Multipart::new(guarded, "XyZ");
        let mut sizes = Vec::new();
        loop {
            budget.start_headers();
            let field = form.next_field().await.unwrap();
            budget.end_headers();
            let Some(mut field) = field else { break };
            let name = field.file_name().unwrap().to_string();
            let mut n = 0;
            while let Some(chunk) = field.chunk().await.unwrap() {
                n += chunk.len();
            }
            sizes.push((name, n));
        }
        assert_eq!(sizes, [("a.bin".to_string(), 300_000), ("b.txt".to_string(), 2)]);
        assert!(!budget.exceeded());
    }
}
