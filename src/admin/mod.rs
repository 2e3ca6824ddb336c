//! The admin API (JSON under `/admin/`), open only to client_credentials tokens
//! of admin clients (see [`AdminCaller`]). Its OpenAPI document is generated from the handlers'
//! annotations and served at `/admin/openapi.json`.

mod audit;
mod auth;
mod clients;
mod factors;
mod mail;
mod sessions;
mod users;

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::http::error::{ErrorBody, method_not_allowed};
use crate::http::{Error, paths};

pub use auth::AdminCaller;
pub use sessions::SessionView;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse admin API",
        description = "Manage OAuth clients and users. Every call needs a Bearer access token \
                       with the `gatehouse:admin` scope, obtained with the client_credentials \
                       grant by an admin client (`gatehouse client create --admin`)."
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody)),
    tags(
        (name = "clients", description = "OAuth client registry"),
        (name = "users", description = "People who sign in"),
        (name = "audit", description = "Security-relevant events"),
        (name = "mail", description = "The outbox of messages sent by mail")
    )
)]
struct AdminApi;

/// A JSON body whose rejections use the admin API's error shape.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(Error))]
struct ApiJson<T>(T);

/// Query parameters whose rejections use the admin API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(Query), rejection(Error))]
struct ApiQuery<T>(T);

/// Path parameters (ids) whose rejections use the admin API's error shape. An
/// id that cannot name anything — not UTF-8, or holding a NUL byte (`%00`,
/// which PostgreSQL cannot even compare) — is `404 not_found`, so odd ids get
/// the same answer as unknown ones and never reach the store.
struct ApiPath<T>(T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Error> {
        let path = parts.uri.path().to_ascii_lowercase();
        if path.contains("%00") {
            return Err(Error::NotFound);
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(_) => Err(Error::NotFound),
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Documents the errors every admin operation can answer, all with the
/// [`ErrorBody`] shape: 401 and 403 (every operation needs an admin token),
/// 400 for a malformed query, and 400, 413 and 415 for a malformed, oversize or
/// non-JSON body; the statuses an operation lists itself get the shape too.
struct ErrorResponses;

impl ErrorResponses {
    fn document(operation: &mut Operation) {
        let mut statuses = vec![
            (
                "401",
                "missing, invalid, expired or revoked bearer token, or one without admin power",
            ),
            ("403", "the token lacks the gatehouse:admin scope"),
        ];
        let has_query = operation.parameters.as_ref().is_some_and(|params| {
            params
                .iter()
                .any(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
        });
        if has_query || operation.request_body.is_some() {
            statuses.push(("400", "the request is malformed or breaks a rule"));
        }
        if operation.request_body.is_some() {
            statuses.push(("413", "the body is larger than max_body_bytes"));
            statuses.push(("415", "the body is not application/json"));
        }
        for (status, description) in statuses {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| {
                    RefOr::T(ResponseBuilder::new().description(description).build())
                });
        }
        for (status, response) in operation.responses.responses.iter_mut() {
            if let (true, RefOr::T(response)) = (status.as_str() >= "400", response) {
                response.content.insert(
                    "application/json".to_owned(),
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                );
            }
        }
    }
}

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                Self::document(operation);
            }
        }
    }
}

/// The OpenAPI document as JSON, with the registration rules that tie fields
/// together (which utoipa's derive cannot state) added to `ClientSpec`.
fn document_json(api: &utoipa::openapi::OpenApi) -> Vec<u8> {
    let Ok(mut document) = serde_json::to_value(api) else {
        return Vec::new();
    };
    if let Some(spec) = document.pointer_mut("/components/schemas/ClientSpec")
        && let Some(spec) = spec.as_object_mut()
    {
        spec.insert("allOf".to_owned(), crate::clients::spec_rules_schema());
    }
    serde_json::to_vec_pretty(&document).unwrap_or_default()
}

/// The admin routes plus the OpenAPI document describing them.
pub fn router() -> Router<AppState> {
    let (router, api) = OpenApiRouter::with_openapi(AdminApi::openapi())
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::show, clients::update, clients::delete))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::update, users::delete))
        .routes(routes!(users::disable))
        .routes(routes!(users::enable))
        .routes(routes!(users::sign_out))
        .routes(routes!(sessions::list))
        .routes(routes!(factors::show, factors::reset))
        .routes(routes!(sessions::end))
        .routes(routes!(audit::list))
        .routes(routes!(mail::list))
        .routes(routes!(mail::retry))
        .split_for_parts();
    let mut api = api;
    ErrorResponses.modify(&mut api);
    let document = Bytes::from(document_json(&api));
    router
        .route(
            paths::ADMIN_OPENAPI,
            get(move || {
                std::future::ready(([(CONTENT_TYPE, "application/json")], document.clone()))
            }),
        )
        .method_not_allowed_fallback(method_not_allowed)
}
