//! A minimal browser for the sign-in pages: keeps cookies, never follows
//! redirects on its own (each hop is asserted), and reads hidden form fields.

use std::collections::HashMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};

/// A page or redirect as the browser saw it.
#[derive(Clone)]
pub struct Seen {
    /// HTTP status.
    pub status: StatusCode,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// The body text.
    pub body: String,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Seen {
    /// The value of the hidden input `name` in the page.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in page:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&#47;", "/")
    }

    /// The query parameter `name` of the redirect target.
    pub fn redirect_param(&self, name: &str) -> Option<String> {
        let location = url::Url::parse(self.location.as_ref().expect("a redirect")).unwrap();
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Cookies and an HTTP client that does not follow redirects.
#[derive(Clone)]
pub struct Browser {
    http: reqwest::Client,
    /// Cookie name → value.
    pub cookies: HashMap<String, String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> Self {
        Self::with_user_agent("")
    }

    /// A browser with no cookies that sends `user_agent` (none when empty).
    pub fn with_user_agent(user_agent: &str) -> Self {
        let mut http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if !user_agent.is_empty() {
            http = http.user_agent(user_agent.to_owned());
        }
        Self {
            http: http.build().unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn see(&mut self, response: Response) -> Seen {
        for set in response.headers().get_all(SET_COOKIE) {
            let text = set.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        Seen {
            status,
            location,
            body: response.text().await.unwrap(),
            headers,
        }
    }

    /// GET `url`.
    pub async fn get(&mut self, url: &str) -> Seen {
        let response = self
            .http
            .get(url)
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.see(response).await
    }

    /// POST a form to `url`.
    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Seen {
        let response = self
            .http
            .post(url)
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.see(response).await
    }

    /// Follows the one redirect the engine's forms answer with — back to the
    /// interaction's purpose on this server — and returns what that shows.
    pub async fn resume(&mut self, base: &str, answer: Seen) -> Seen {
        match answer.location.as_deref() {
            Some(path)
                if answer.status == StatusCode::SEE_OTHER
                    && (path.starts_with("/authorize/resume?")
                        || path.starts_with("/account/")) =>
            {
                self.get(&format!("{base}{path}")).await
            }
            _ => answer,
        }
    }

    /// Fills in the sign-in page `page`, submits it and follows the engine
    /// back to the purpose.
    pub async fn sign_in(&mut self, base: &str, page: &Seen, email: &str, password: &str) -> Seen {
        let answer = self.submit_sign_in(base, page, email, password).await;
        self.resume(base, answer).await
    }

    /// Fills in the sign-in page `page` and submits it, without following
    /// where it sends the browser.
    pub async fn submit_sign_in(
        &mut self,
        base: &str,
        page: &Seen,
        email: &str,
        password: &str,
    ) -> Seen {
        let (request, csrf) = (page.field("request"), page.field("csrf"));
        self.post(
            &format!("{base}/login"),
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// Answers the consent page `page` with `decision` ("allow" or "deny")
    /// and follows the engine back to the purpose.
    pub async fn consent(&mut self, base: &str, page: &Seen, decision: &str) -> Seen {
        let (request, csrf) = (page.field("request"), page.field("csrf"));
        let answer = self
            .post(
                &format!("{base}/consent"),
                &[
                    ("request", &request),
                    ("csrf", &csrf),
                    ("decision", decision),
                ],
            )
            .await;
        self.resume(base, answer).await
    }
}

/// The HTTP client the `openidconnect` relying party uses: reqwest, no redirects.
pub async fn rp_http(
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut builder = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(builder.body(body).unwrap())
}
