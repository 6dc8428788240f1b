//! A connection's socket with a write deadline: a response that the client does not read for
//! `write_timeout` ends the connection, and the table learns when writes stall.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::connections::Conn;

/// `inner`, whose writes fail with `TimedOut` once one has waited `write_timeout` for the client.
#[derive(Debug)]
pub(crate) struct GuardedIo<T> {
    inner: T,
    conn: Arc<Conn>,
    write_timeout: Duration,
    /// Armed while a write waits for the client.
    write_deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> GuardedIo<T> {
    pub(crate) fn new(inner: T, conn: Arc<Conn>, write_timeout: Duration) -> GuardedIo<T> {
        GuardedIo { inner, conn, write_timeout, write_deadline: None }
    }

    /// Turns a write's result into one bounded by the write deadline.
    fn bound<R>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(result) => {
                self.write_deadline = None;
                self.conn.write_moved();
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.conn.write_blocked();
                let timeout = self.write_timeout;
                let deadline = self.write_deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if deadline.as_mut().poll(cx).is_ready() {
                    self.conn.set_write_timed_out();
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client did not read")));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.read_some();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.bound(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.bound(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.bound(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.bound(cx, polled)
    }
}
