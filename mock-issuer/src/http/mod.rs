//! The issuer's routes: a thin axum layer over [`crate::issuer::Issuer`].
//!
//! Discovery and keys at the root's well-known paths, the endpoints under
//! `/oauth/`, so the issuer can share one origin with the gateway.

pub mod error;

use std::sync::Arc;

use axum::{
    Form, Json, Router,
    extract::{Query, State, rejection::FormRejection, rejection::JsonRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use kit_serve::{activity::What, cors};
use serde::Deserialize;
use tower_http::timeout::TimeoutLayer;

use self::error::Rejection;
use crate::{
    authorize::{AuthorizeError, AuthorizeParams},
    exchange::{TokenError, TokenForm},
    issuer::{DEFAULT_TEST_USER, Issuer, Person},
    page::{self, ConsentOptions},
    passcode::PasscodeError,
    registration::{RegistrationError, RegistrationRequest},
};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A request still arriving or unanswered after this (a stalled form, say)
/// ends with 408 rather than holding its task.
pub(crate) const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn router(issuer: Arc<Issuer>) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oauth/register", post(register))
        .route(
            "/oauth/authorize",
            get(authorize_page).post(authorize_decision),
        )
        .route("/oauth/token", post(token))
        .with_state(issuer)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(cors())
}

async fn metadata(State(issuer): State<Arc<Issuer>>) -> impl IntoResponse {
    issuer.settings.activity.emit(What::MetadataFetched {
        document: "authorization server",
    });
    Json(issuer.metadata())
}

async fn jwks(State(issuer): State<Arc<Issuer>>) -> impl IntoResponse {
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        Json(issuer.jwks(now())),
    )
}

async fn register(
    State(issuer): State<Arc<Issuer>>,
    body: Result<Json<RegistrationRequest>, JsonRejection>,
) -> Result<Response, Rejection> {
    let Json(request) =
        body.map_err(|e| Rejection::Registration(RegistrationError::Malformed(e.body_text())))?;
    let created = issuer
        .register(request, now())
        .map_err(Rejection::Registration)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `AuthorizeError` → page or redirect.
fn refused(e: AuthorizeError, issuer: &Issuer) -> Rejection {
    match e {
        AuthorizeError::Page(message) => Rejection::Page(StatusCode::BAD_REQUEST, message),
        AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } => Rejection::Redirect(crate::authorize::redirect_with(
            &redirect_uri,
            issuer.issuer(),
            state.as_deref(),
            &[("error", error), ("error_description", &description)],
        )),
    }
}

async fn authorize_page(
    State(issuer): State<Arc<Issuer>>,
    query: Result<Query<AuthorizeParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Rejection> {
    let Query(params) =
        query.map_err(|e| Rejection::Page(StatusCode::BAD_REQUEST, e.body_text()))?;
    let request = issuer
        .check_authorize(&params, now())
        .await
        .map_err(|e| refused(e, &issuer))?;
    let settings = &issuer.settings;
    if settings.auto_approve {
        let who = settings.fixed_user.as_deref().unwrap_or(DEFAULT_TEST_USER);
        let person = Person::parse(who)
            .map_err(|e| Rejection::Page(StatusCode::INTERNAL_SERVER_ERROR, e))?;
        return Ok(Redirect::to(&issuer.approve(&request, &person, now())).into_response());
    }
    let options = ConsentOptions {
        problem: None,
        ask_passcode: issuer.asks_passcode(),
        fixed_user: settings.fixed_user.as_deref(),
    };
    settings.activity.emit(What::AuthorizePage {
        client_id: request.client.client_id.clone(),
    });
    Ok(no_store(
        Html(page::consent(&params, &request, &options)).into_response(),
    ))
}

/// The consent form's answer: the request again, plus who and what they decided.
#[derive(Debug, Deserialize)]
struct Decision {
    #[serde(flatten)]
    params: AuthorizeParams,
    #[serde(default)]
    who: Option<String>,
    #[serde(default)]
    passcode: Option<String>,
    decision: String,
}

async fn authorize_decision(
    State(issuer): State<Arc<Issuer>>,
    form: Result<Form<Decision>, FormRejection>,
) -> Result<Response, Rejection> {
    let Form(decision) =
        form.map_err(|e| Rejection::Page(StatusCode::BAD_REQUEST, e.body_text()))?;
    // Everything is checked again: the hidden fields came back through the browser.
    let request = issuer
        .check_authorize(&decision.params, now())
        .await
        .map_err(|e| refused(e, &issuer))?;
    if decision.decision != "approve" {
        return Ok(Redirect::to(&issuer.deny(&request)).into_response());
    }
    // The form again, saying what was wrong; what was typed is not echoed.
    let again = |status: StatusCode, problem: &str| {
        let options = ConsentOptions {
            problem: Some(problem),
            ask_passcode: issuer.asks_passcode(),
            fixed_user: issuer.settings.fixed_user.as_deref(),
        };
        let page = page::consent(&decision.params, &request, &options);
        Ok(no_store((status, Html(page)).into_response()))
    };
    if let Err(refused) = issuer.check_passcode(decision.passcode.as_deref(), now()) {
        tracing::warn!(client_id = %request.client.client_id, "sign-in refused: {refused}");
        issuer.settings.activity.emit(What::Denied {
            client_id: request.client.client_id.clone(),
            why: refused.to_string(),
        });
        let status = match refused {
            PasscodeError::Wrong { .. } => StatusCode::FORBIDDEN,
            PasscodeError::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
        };
        return again(status, &refused.to_string());
    }
    let who = match (&issuer.settings.fixed_user, &decision.who) {
        (Some(fixed), _) => fixed.clone(),
        (None, Some(who)) => who.clone(),
        (None, None) => String::new(),
    };
    let person = match Person::parse(&who) {
        Ok(person) => person,
        Err(problem) => return again(StatusCode::BAD_REQUEST, &problem),
    };
    tracing::info!(client_id = %request.client.client_id, sub = %person.sub, "sign-in approved");
    Ok(Redirect::to(&issuer.approve(&request, &person, now())).into_response())
}

async fn token(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, Rejection> {
    let Form(form) =
        form.map_err(|e| Rejection::Token(TokenError::InvalidRequest(e.body_text())))?;
    let basic = basic_credentials(&headers).map_err(Rejection::Token)?;
    let response = issuer
        .token(form, basic, now())
        .await
        .map_err(Rejection::Token)?;
    Ok(no_store(Json(response).into_response()))
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || TokenError::InvalidRequest("malformed Basic credentials".into());
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(bad)
    };
    Ok(Some((decode(id)?, decode(secret)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%20client:s%3Acret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).expect("h"),
        );
        assert_eq!(
            basic_credentials(&headers),
            Ok(Some(("my client".to_owned(), "s:cret".to_owned())))
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(basic_credentials(&headers).is_err());
    }
}
