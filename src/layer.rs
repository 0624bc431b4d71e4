//! [`KerniaLayer`] and [`KerniaService`]: answer under the base path, pass
//! everything else through untouched.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::builder::KerniaBuilder;
use crate::cookies;
use crate::endpoints::{self, BoxError};
use crate::future::ResponseFuture;
use crate::session::SessionHandle;
use crate::shared::Shared;

/// A Tower layer that serves the Better Auth protocol under its base path.
///
/// Cloning is cheap (one `Arc`). Build it with [`KerniaLayer::builder`].
#[derive(Clone)]
pub struct KerniaLayer {
    pub(crate) shared: Arc<Shared>,
}

impl KerniaLayer {
    /// A builder with secure defaults; only the secret is required.
    pub fn builder() -> KerniaBuilder {
        KerniaBuilder::new()
    }

    /// The base path the layer answers under (e.g. `/api/auth`).
    pub fn base_path(&self) -> &str {
        &self.shared.base_path
    }
}

impl std::fmt::Debug for KerniaLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerniaLayer").field("shared", &self.shared).finish()
    }
}

impl<S> Layer<S> for KerniaLayer {
    type Service = KerniaService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KerniaService { inner, shared: self.shared.clone() }
    }
}

/// The service made by [`KerniaLayer`].
#[derive(Clone)]
pub struct KerniaService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> KerniaService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for KerniaService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerniaService").field("inner", &self.inner).finish_non_exhaustive()
    }
}

/// Whether `path` is at or below `base` (`/api/auth`, `/api/auth/...`).
fn is_under(path: &str, base: &str) -> bool {
    match path.strip_prefix(base) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for KerniaService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if is_under(request.uri().path(), &self.shared.base_path) {
            let future = endpoints::handle(self.shared.clone(), request);
            return ResponseFuture::kernia(Box::pin(future));
        }
        // Only requests that carry the session cookie get a handle, so plain
        // pass-through traffic costs a header scan and nothing else.
        let name = &self.shared.cookies.session_token;
        if cookies::mentions(request.headers(), name)
            && let Some(raw) = cookies::find(request.headers(), name)
        {
            let handle = SessionHandle::new(self.shared.clone(), raw.into_owned());
            request.extensions_mut().insert(handle);
        }
        ResponseFuture::inner(self.inner.call(request))
    }
}
