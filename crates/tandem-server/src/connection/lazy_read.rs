//! A connection's read side that holds no buffer while nothing waits to be read.
//!
//! tungstenite reads through a buffer of its own, allocated when the socket is set up and never
//! given back: 4 KiB for every idle connection, the largest part of what one cost. So tungstenite
//! is given a small buffer ([`TUNGSTENITE_READ_BUFFER`]), which also bounds how much it asks for
//! per read, and this wrapper reads from the socket in [`READ_CHUNK`]s into a buffer on the stack,
//! hands over what was asked for and keeps the rest on the heap only until it is taken. An idle
//! connection then holds none of it, and a read from the kernel still takes up to 4 KiB at once.
//! Writes pass straight through.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most read from the socket at once.
pub const READ_CHUNK: usize = 4 << 10;

/// tungstenite's own read buffer, and the most it asks for per read: what a keystroke's or a
/// caret's frame needs. A larger frame is put together from several reads of the bytes kept here.
pub const TUNGSTENITE_READ_BUFFER: usize = 256;

/// `S`, read in [`READ_CHUNK`]s with the bytes not yet asked for kept until they are.
pub struct LazyRead<S> {
    inner: S,
    /// Read from the socket, not yet handed over; empty (no allocation) while idle.
    rest: Bytes,
}

impl<S> LazyRead<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rest: Bytes::new(),
        }
    }

    /// What is waiting to be handed over (for the tests).
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.rest.len()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LazyRead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            if buf.remaining() >= READ_CHUNK {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut read = ReadBuf::uninit(&mut chunk);
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            let read = read.filled();
            let now = read.len().min(buf.remaining());
            buf.put_slice(&read[..now]);
            if now < read.len() {
                this.rest = Bytes::copy_from_slice(&read[now..]);
            }
            return Poll::Ready(Ok(()));
        }
        let now = this.rest.len().min(buf.remaining());
        buf.put_slice(&this.rest[..now]);
        this.rest.advance(now);
        if this.rest.is_empty() {
            this.rest = Bytes::new(); // gives the allocation back
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LazyRead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Small reads of a large message get every byte in order, and once they have taken it all
    /// nothing is kept.
    #[tokio::test]
    async fn small_reads_take_every_byte_and_nothing_is_kept_after() {
        let (mut peer, ours) = tokio::io::duplex(64 << 10);
        let mut ours = LazyRead::new(ours);
        let sent: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        peer.write_all(&sent).await.unwrap();
        let mut got = Vec::new();
        let mut small = [0u8; 100];
        while got.len() < sent.len() {
            let n = ours.read(&mut small).await.unwrap();
            assert!(n > 0 && n <= small.len());
            got.extend_from_slice(&small[..n]);
            assert!(ours.kept() < READ_CHUNK);
        }
        assert_eq!(got, sent);
        assert_eq!(ours.kept(), 0);
    }

    /// A read with room for a whole chunk goes to the socket directly; the end of the stream and
    /// writes pass through.
    #[tokio::test]
    async fn large_reads_end_and_writes_pass_through() {
        let (mut peer, ours) = tokio::io::duplex(64 << 10);
        let mut ours = LazyRead::new(ours);
        peer.write_all(b"hello").await.unwrap();
        let mut big = vec![0u8; READ_CHUNK];
        let n = ours.read(&mut big).await.unwrap();
        assert_eq!(&big[..n], b"hello");
        assert_eq!(ours.kept(), 0);
        ours.write_all(b"back").await.unwrap();
        let mut back = [0u8; 4];
        peer.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"back");
        drop(peer);
        assert_eq!(ours.read(&mut big).await.unwrap(), 0);
    }
}
