//! The listener `App::run` serves: a TCP listener whose connections read through
//! `target::Framing`, so request-targets with raw `"` and other bytes `http::Uri` refuses
//! reach the router percent-encoded instead of failing inside hyper with an empty 400.
//! Writes, shutdown and the peer address pass through untouched.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::target::Framing;

/// Bytes read from the socket at a time before rewriting.
const READ_CHUNK: usize = 8 * 1024;

/// A TCP listener handing out `TargetRepair` connections (for `axum::serve`).
pub struct RepairingListener(pub TcpListener);

impl axum::serve::Listener for RepairingListener {
    type Io = TargetRepair<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop: logs and retries accept errors (e.g. EMFILE).
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (TargetRepair::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection whose inbound request lines are repaired before hyper parses them.
pub struct TargetRepair<S> {
    inner: S,
    framing: Framing,
    scratch: Box<[u8]>,
    /// Rewritten bytes not yet handed to hyper, from `pos`.
    out: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<S> TargetRepair<S> {
    pub fn new(inner: S) -> Self {
        TargetRepair {
            inner,
            framing: Framing::default(),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            out: Vec::new(),
            pos: 0,
            eof: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TargetRepair<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.pos);
                buf.put_slice(&this.out[this.pos..this.pos + n]);
                this.pos += n;
                if this.pos == this.out.len() {
                    this.out.clear();
                    this.pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if this.framing.is_passthrough() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut tmp = ReadBuf::new(&mut this.scratch);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut tmp))?;
            match tmp.filled() {
                [] => {
                    this.eof = true;
                    this.framing.finish(&mut this.out);
                }
                got => this.framing.feed(got, &mut this.out),
            }
            // Bytes held in a partial line produce no output yet: read on (never a
            // zero-byte read, which hyper would take for the end of the stream).
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TargetRepair<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
