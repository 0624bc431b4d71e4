//! The request pipeline for paths under the base path, in Better Auth's
//! order (spec README): rate limit → route → body → origin → endpoint.
//! Endpoint modules mirror the wire paths.

mod account;
mod email_otp;
mod email_password;
mod outcome;
mod phone_number;
mod session;

pub(crate) use outcome::Outcome;

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;
use time::OffsetDateTime;
use tracing::Instrument;

use crate::clock::now_ms;
use crate::cookies;
use crate::crypto;
use crate::error::{ApiError, ErrorCode};
use crate::hooks::Channel;
use crate::observe;
use crate::otp::CodeKey;
use crate::router::{self, Route};
use crate::shared::{DONT_REMEMBER_LIFETIME, Shared};
use crate::store::{Session, SessionWithUser};

pub(crate) type Reply = Response<Full<Bytes>>;
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Answers one request under the base path; never fails, every error is a response.
pub(crate) async fn handle<B>(shared: Arc<Shared>, request: Request<B>) -> Reply
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let path = request.uri().path().get(shared.base_path.len()..).unwrap_or("").to_owned();
    // DEBUG, as tower-http's `TraceLayer`: an INFO span per request costs more than the auth work.
    let span = tracing::debug_span!(
        "kernia.request",
        path = %path,
        route = tracing::field::Empty,
        status = tracing::field::Empty,
        error = tracing::field::Empty
    );
    async move {
        let response = match within_timeout(&shared, pipeline(&shared, &path, request)).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        };
        let span = tracing::Span::current();
        span.record("status", response.status().as_u16());
        if let Some(code) = response.extensions().get::<ErrorCode>().and_then(|c| c.wire_code()) {
            span.record("error", code);
        }
        response
    }
    .instrument(span)
    .await
}

async fn within_timeout(
    shared: &Shared,
    work: impl Future<Output = Result<Reply, ApiError>>,
) -> Result<Reply, ApiError> {
    let Some(limit) = shared.request_timeout else { return work.await };
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        tracing::warn!(target: "kernia", timeout_ms = limit.as_millis(), "auth request timed out");
        Err(ErrorCode::ServiceUnavailable.into())
    })
}

async fn pipeline<B>(shared: &Shared, path: &str, request: Request<B>) -> Result<Reply, ApiError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let now = now_ms(shared.clock.as_ref());
    shared.maybe_sweep(now);
    let ip = shared.client_ip.resolve(&parts.headers, &parts.extensions);
    if let Some(limiter) = &shared.rate_limiter {
        let key_path = path.trim_end_matches('/');
        let ip_key = ip.as_deref().unwrap_or("no-trusted-ip");
        let millis = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        if let Err(error) = limiter.check(ip_key, key_path, millis).await {
            let route = router::route(&parts.method, key_path).map_or("other", Route::as_str);
            observe::rate_limited("ip", route);
            return Err(error);
        }
    }
    let Some(route) = router::route(&parts.method, path).filter(|r| shared.serves(*r)) else {
        return Ok(not_found());
    };
    tracing::Span::current().record("route", route.as_str());
    let body = if route.reads_body() { read_json(shared, &parts, body).await? } else { None };
    if shared.origin_check && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        shared.origins.check(&parts.headers, body.as_ref(), shared.csrf_check).inspect_err(refused)?;
    }
    let ctx = Ctx { shared, parts, body, ip, now, route };
    dispatch(route, &ctx).await
}

async fn dispatch(route: Route, ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    match route {
        Route::Ok => crate::wire::json(&serde_json::json!({ "ok": true })),
        Route::GetSession => session::get_session(ctx).await,
        Route::PostGetSession => Err(ErrorCode::MethodNotAllowedDeferSessionRequired.into()),
        Route::SignOut => session::sign_out(ctx).await,
        Route::ListSessions => session::list_sessions(ctx).await,
        Route::RevokeSession => session::revoke_session(ctx).await,
        Route::RevokeSessions => session::revoke_sessions(ctx).await,
        Route::RevokeOtherSessions => session::revoke_other_sessions(ctx).await,
        Route::SignUpEmail => email_password::sign_up(ctx).await,
        Route::SignInEmail => email_password::sign_in(ctx).await,
        Route::ChangePassword => account::change_password(ctx).await,
        Route::UpdateUser => account::update_user(ctx).await,
        _ => dispatch_plugin(route, ctx).await,
    }
}

async fn dispatch_plugin(route: Route, ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    if let Some(p) = &ctx.shared.email_otp {
        match route {
            Route::EmailOtpSend => return email_otp::send_verification_otp(ctx, p).await,
            Route::EmailOtpCheck => return email_otp::check_verification_otp(ctx, p).await,
            Route::EmailOtpVerifyEmail => return email_otp::verify_email(ctx, p).await,
            Route::SignInEmailOtp => return email_otp::sign_in(ctx, p).await,
            Route::EmailOtpRequestPasswordReset | Route::ForgetPasswordEmailOtp => {
                return email_otp::request_password_reset(ctx, p).await;
            }
            Route::EmailOtpResetPassword => return email_otp::reset_password(ctx, p).await,
            Route::EmailOtpRequestEmailChange => return email_otp::request_email_change(ctx, p).await,
            Route::EmailOtpChangeEmail => return email_otp::change_email(ctx, p).await,
            Route::SendVerificationEmail => return email_otp::send_verification_email(ctx, p).await,
            _ => {}
        }
    }
    if let Some(p) = &ctx.shared.phone_number {
        match route {
            Route::PhoneSendOtp => return phone_number::send_otp(ctx, p).await,
            Route::PhoneVerify => return phone_number::verify(ctx, p).await,
            Route::SignInPhoneNumber => return phone_number::sign_in(ctx, p).await,
            Route::PhoneRequestPasswordReset => return phone_number::request_password_reset(ctx, p).await,
            Route::PhoneResetPassword => return phone_number::reset_password(ctx, p).await,
            _ => {}
        }
    }
    Ok(not_found())
}

fn refused(error: &ApiError) {
    observe::origin_refused(error.code());
}

/// Better Auth's 404: no body, no content type.
pub(crate) fn not_found() -> Reply {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// Reads a JSON body within the size cap: `None` when the body is empty.
async fn read_json<B>(shared: &Shared, parts: &Parts, body: B) -> Result<Option<Value>, ApiError>
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let too_large = || ApiError::new(ErrorCode::PayloadTooLarge);
    let declared =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > shared.max_body_bytes as u64) {
        return Err(too_large());
    }
    let bytes = match Limited::new(body, shared.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(_) => return Err(ErrorCode::BadRequest.into()),
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    let content_type = parts.headers.get(header::CONTENT_TYPE);
    match content_type.map(|v| (v, is_json(v))) {
        None => Err(ErrorCode::UnsupportedMediaType.into()),
        Some((_, true)) => serde_json::from_slice(&bytes).map(Some).map_err(|_| ErrorCode::BadRequest.into()),
        Some((raw, false)) => Err(ApiError::new(ErrorCode::UnsupportedMediaType).with_message(format!(
            "Content-Type \"{}\" is not allowed. Allowed types: application/json",
            String::from_utf8_lossy(raw.as_bytes())
        ))),
    }
}

fn is_json(content_type: &HeaderValue) -> bool {
    let media = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("");
    media.trim().eq_ignore_ascii_case("application/json")
}

/// How a new session cookie treats "remember me".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Remember {
    /// The endpoint has a `rememberMe` field (absent = true).
    Explicit(bool),
    /// No such field: follow the request's `dont_remember` cookie.
    Inherit,
}

/// One request under the base path, parsed.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) parts: Parts,
    pub(crate) body: Option<Value>,
    pub(crate) ip: Option<String>,
    pub(crate) now: OffsetDateTime,
    pub(crate) route: Route,
}

impl Ctx<'_> {
    /// The token inside a validly signed session cookie.
    pub(crate) fn session_token(&self) -> Option<String> {
        let raw = cookies::find(&self.parts.headers, &self.shared.cookies.session_token)?;
        cookies::verify_signed(&raw, &self.shared.signer).map(str::to_owned)
    }

    /// Whether the request carries a validly signed `dont_remember` cookie.
    pub(crate) fn dont_remember(&self) -> bool {
        cookies::find(&self.parts.headers, &self.shared.cookies.dont_remember)
            .is_some_and(|raw| cookies::verify_signed(&raw, &self.shared.signer).is_some())
    }

    /// The current session, read from the store.
    pub(crate) async fn session(&self) -> Result<Option<SessionWithUser>, ApiError> {
        let Some(token) = self.session_token() else {
            return Ok(None);
        };
        self.shared
            .store
            .find_session(&token, self.now)
            .await
            .map_err(|e| ApiError::internal("find session", &e))
    }

    /// The current session, or 401.
    pub(crate) async fn require_session(&self) -> Result<SessionWithUser, ApiError> {
        self.session().await?.ok_or_else(|| ErrorCode::Unauthorized.into())
    }

    /// Creates and stores a new session for `user_id`.
    pub(crate) async fn create_session(
        &self,
        user_id: &str,
        remember: Remember,
    ) -> Result<Session, ApiError> {
        let lifetime = match remember {
            Remember::Explicit(false) => DONT_REMEMBER_LIFETIME,
            _ => self.shared.session.expires_in,
        };
        let header = |name| self.parts.headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
        let session = Session {
            id: crypto::random_id()?,
            token: crypto::random_id()?,
            user_id: user_id.to_owned(),
            expires_at: self.now + lifetime,
            created_at: self.now,
            updated_at: self.now,
            ip_address: Some(self.ip.clone().unwrap_or_default()),
            user_agent: Some(header(header::USER_AGENT).unwrap_or_default().to_owned()),
        };
        self.shared
            .store
            .create_session(session.clone())
            .await
            .map_err(|e| ApiError::internal("create session", &e))?;
        Ok(session)
    }

    /// Signs a user in after a code check that did not spend the code: the
    /// session is written first and the code spent last, so a failure in
    /// between leaves the code usable rather than spent without a session;
    /// a spend lost to a concurrent request takes the session back.
    pub(crate) async fn session_then_spend(
        &self,
        otp: &crate::otp::Otp<'_>,
        key: &CodeKey<'_>,
        code: &str,
        user_id: &str,
    ) -> Result<Session, ApiError> {
        let session = self.create_session(user_id, Remember::Inherit).await?;
        if let Err(error) = otp.consume(key, code).await {
            self.take_back(&session).await;
            return Err(error);
        }
        Ok(session)
    }

    /// Adds the `Set-Cookie` headers for a session token (core.md §7).
    pub(crate) fn set_session_cookie(&self, response: &mut Reply, token: &str, remember: Remember) {
        let jar = &self.shared.cookies;
        let signer = &self.shared.signer;
        let max_age = u64::try_from(self.shared.session.expires_in.whole_seconds()).unwrap_or(0);
        let carries_dont_remember = self.dont_remember();
        let forget = match remember {
            Remember::Explicit(remember) => !remember,
            Remember::Inherit => carries_dont_remember,
        };
        let headers = response.headers_mut();
        if forget {
            headers.append(header::SET_COOKIE, jar.set_signed(&jar.session_token, token, signer, None));
            headers.append(header::SET_COOKIE, jar.set_signed(&jar.dont_remember, "true", signer, None));
        } else {
            headers
                .append(header::SET_COOKIE, jar.set_signed(&jar.session_token, token, signer, Some(max_age)));
            if matches!(remember, Remember::Explicit(true)) && carries_dont_remember {
                headers.append(header::SET_COOKIE, jar.clear(&jar.dont_remember));
            }
        }
    }

    /// Adds the headers that delete the session cookies.
    pub(crate) fn clear_session_cookies(&self, response: &mut Reply) {
        for value in self.shared.cookies.clear_session() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }

    /// The form-CSRF check of first-login endpoints (after validation).
    pub(crate) fn check_first_login(&self) -> Result<(), ApiError> {
        if self.shared.csrf_check {
            self.shared.origins.check_first_login(&self.parts.headers).inspect_err(refused)
        } else {
            Ok(())
        }
    }
}

impl Ctx<'_> {
    /// The code state machine under `policy`.
    pub(crate) fn otp<'p>(&'p self, policy: &'p crate::otp::OtpPolicy) -> crate::otp::Otp<'p> {
        crate::otp::Otp {
            policy,
            store: self.shared.store.as_ref(),
            signer: &self.shared.signer,
            sealer: &self.shared.sealer,
            now: self.now,
        }
    }

    /// Per-recipient send limits (fixed windows), while rate limiting is on.
    /// `channel` names the key space (`email`, `sms`, `sms-budget`).
    pub(crate) async fn limit_recipient(
        &self,
        channel: &str,
        address: &str,
        rules: &[crate::rate_limit::Rule],
    ) -> Result<(), ApiError> {
        let Some(limiter) = &self.shared.rate_limiter else { return Ok(()) };
        let millis = i64::try_from(self.now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        for rule in rules {
            let key = format!("{channel}|{address}|{}", rule.window_secs);
            if let Err(error) = limiter.enforce(&key, *rule, millis).await {
                let scope = if channel == "sms-budget" { "budget" } else { "recipient" };
                observe::rate_limited(scope, self.route.as_str());
                return Err(error);
            }
        }
        Ok(())
    }

    /// Writes a reset password and, when configured, ends every session.
    pub(crate) async fn set_password_after_reset(
        &self,
        user_id: &str,
        hash: String,
        channel: Channel,
    ) -> Result<(), ApiError> {
        let store = &self.shared.store;
        if self.shared.revoke_sessions_on_password_reset {
            store.delete_user_sessions(user_id, None).await.map_err(store_error("revoke sessions"))?;
        }
        store.set_password(user_id, hash, self.now).await.map_err(store_error("set password"))?;
        observe::password_reset(channel, user_id);
        Ok(())
    }

    /// With the phone plugin, numbers are only set by verifying them.
    pub(crate) fn forbid_phone_number_in_body(&self) -> Result<(), ApiError> {
        let sets_number = self.shared.phone_number.is_some()
            && self.body.as_ref().and_then(|b| b.get("phoneNumber")).is_some_and(|v| !v.is_null());
        if sets_number { Err(ErrorCode::PhoneNumberCannotBeSet.into()) } else { Ok(()) }
    }
}

/// Maps a store failure to the generic 500.
pub(crate) fn store_error(context: &'static str) -> impl Fn(crate::store::StoreError) -> ApiError {
    move |e| ApiError::internal(context, &e)
}
