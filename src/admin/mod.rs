//! The admin API (JSON under `/admin/`), protected by access tokens carrying the
//! `gatehouse:admin` scope. Its OpenAPI document is generated from the handlers'
//! annotations and served at `/admin/openapi.json`.

mod audit;
mod auth;
mod clients;
mod users;

use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::http::{Error, paths};

pub use auth::AdminCaller;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse admin API",
        description = "Manage OAuth clients and users. Every call needs a Bearer access token \
                       with the `gatehouse:admin` scope, from a client created with \
                       `gatehouse client create --admin`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "clients", description = "OAuth client registry"),
        (name = "users", description = "People who sign in"),
        (name = "audit", description = "Security-relevant events")
    )
)]
struct AdminApi;

/// A JSON body whose rejections use the admin API's error shape.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(Error))]
struct ApiJson<T>(T);

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
        .routes(routes!(audit::list))
        .split_for_parts();
    let document = Bytes::from(api.to_pretty_json().unwrap_or_default());
    router.route(
        paths::ADMIN_OPENAPI,
        get(move || std::future::ready(([(CONTENT_TYPE, "application/json")], document.clone()))),
    )
}
