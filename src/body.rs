//! [`ResponseBody`]: either Kernia's own JSON or the inner service's body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`crate::KerniaService`].
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Kernia { #[pin] body: Full<Bytes> },
        Inner { #[pin] body: B },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn kernia(body: Full<Bytes>) -> Self {
        Self { kind: Kind::Kernia { body } }
    }

    pub(crate) fn inner(body: B) -> Self {
        Self { kind: Kind::Inner { body } }
    }
}

impl<B: Body<Data = Bytes>> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Kernia { body } => body.poll_frame(cx).map_err(|never| match never {}),
            KindProj::Inner { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Kernia { body } => body.is_end_stream(),
            Kind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Kernia { body } => body.size_hint(),
            Kind::Inner { body } => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod proptests {
    use std::collections::VecDeque;

    use http_body_util::BodyExt;
    use proptest::prelude::*;

    use super::*;

    /// An inner body that yields its chunks one frame at a time.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    fn collect<B: Body<Data = Bytes>>(body: B) -> Option<Bytes> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().ok()?;
        runtime.block_on(body.collect()).ok().map(|c| c.to_bytes())
    }

    proptest! {
        #[test]
        fn kernia_bodies_carry_their_bytes_exactly(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            let body = ResponseBody::<Chunks>::kernia(Full::new(Bytes::from(bytes.clone())));
            prop_assert_eq!(body.size_hint().exact(), Some(bytes.len() as u64));
            prop_assert_eq!(body.is_end_stream(), bytes.is_empty());
            prop_assert_eq!(collect(body), Some(Bytes::from(bytes)));
        }

        #[test]
        fn inner_bodies_pass_through_untouched(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..256), 0..8),
        ) {
            let inner = Chunks(chunks.iter().map(|c| Bytes::from(c.clone())).collect());
            let body = ResponseBody::inner(inner);
            prop_assert_eq!(body.is_end_stream(), chunks.is_empty());
            prop_assert_eq!(collect(body), Some(Bytes::from(chunks.concat())));
        }
    }
}
