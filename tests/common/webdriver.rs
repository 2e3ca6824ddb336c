//! A small W3C WebDriver client over reqwest, and a guard that runs Debian's
//! `chromedriver` (which starts headless Chromium) for one test. Only the
//! handful of commands the browser test needs: no extra crates.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

const INSTALL_HINT: &str = "the browser test needs Debian's Chromium and its driver: \
     run `apt-get install -y chromium chromium-driver` (or point CHROMEDRIVER / CHROMIUM at them)";

/// A binary from `env_var`, else `default`; panics with the install hint if it is missing.
fn binary(env_var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env_var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found at {} — {INSTALL_HINT}",
        env_var.to_lowercase(),
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (free when asked; chromedriver takes it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `chromedriver`; dropping it shuts the driver (and so its
/// browsers) down, then kills the process if it is still there.
pub struct Chromedriver {
    child: Child,
    port: u16,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The Chromium binary sessions should start.
    pub chromium: PathBuf,
    log: tempfile::NamedTempFile,
}

impl Chromedriver {
    /// Starts chromedriver (`CHROMEDRIVER`, else `/usr/bin/chromedriver`) on a
    /// free port and waits until it is ready.
    pub async fn start() -> Self {
        let driver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} — {INSTALL_HINT}", driver.display()));
        let mut this = Self {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            log,
        };
        this.wait_ready().await;
        this
    }

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "chromedriver exited early ({status}); its log:\n{}",
                    self.log_text()
                );
            }
            if let Ok(response) = http.get(format!("{}/status", self.url)).send().await
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready in 20 s; its log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What chromedriver logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// A new headless Chromium session with a fresh profile in `profile` and
    /// the window `width`×`height`.
    pub async fn session(&self, profile: &Path, width: u32, height: u32) -> Session {
        self.session_as(profile, width, height, None).await
    }

    /// [`Self::session`], sending `user_agent` instead of Chromium's own when given.
    pub async fn session_as(
        &self,
        profile: &Path,
        width: u32,
        height: u32,
        user_agent: Option<&str>,
    ) -> Session {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
        ];
        if let Some(agent) = user_agent {
            args.push(format!("--user-agent={agent}"));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{}/session", self.url))
            .json(&capabilities)
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        let Some(id) = body["value"]["sessionId"].as_str() else {
            panic!(
                "chromedriver could not start Chromium: {body}\nchromedriver log:\n{}",
                self.log_text()
            );
        };
        Session {
            http,
            base: format!("{}/session/{id}", self.url),
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // `GET /shutdown` makes chromedriver quit its browsers and exit; a plain
        // blocking request, since Drop may run while the async runtime unwinds.
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.write_all(
                b"GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            );
            let _ = stream.read(&mut [0; 512]);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session (one browser).
pub struct Session {
    http: reqwest::Client,
    base: String,
}

/// A reference to an element on the current page.
pub struct Element(String);

impl Session {
    /// Sends a command; returns its `value`, panicking on a WebDriver error.
    pub async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == reqwest::Method::POST {
            request = request.json(&json!({}));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(
            status.is_success(),
            "WebDriver {method} {path} failed ({status}): {}",
            body["value"]
        );
        body["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None).await
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// The current page's URL.
    pub async fn current_url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_owned()
    }

    /// The current page's title.
    pub async fn title(&self) -> String {
        self.get("/title").await.as_str().unwrap().to_owned()
    }

    /// Emulates a viewport of `width`×`height` CSS pixels (`mobile`: a phone,
    /// honouring `<meta name=viewport>`, at 3 device pixels per CSS pixel).
    /// Through DevTools, because headless Chromium will not make a window
    /// narrower than 500 pixels.
    pub async fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        let scale = if mobile { 3 } else { 1 };
        self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile}}),
        )
        .await;
    }

    /// The first element matching the CSS `selector` (panics if none).
    pub async fn find(&self, selector: &str) -> Element {
        let value = self
            .post(
                "/element",
                json!({"using": "css selector", "value": selector}),
            )
            .await;
        let Some(id) = value[ELEMENT].as_str() else {
            panic!("no element {selector:?}: {value}");
        };
        Element(id.to_owned())
    }

    /// Types `text` into `element`.
    pub async fn type_into(&self, element: &Element, text: &str) {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({"text": text}),
        )
        .await;
    }

    /// Clicks `element`.
    pub async fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// Adds a virtual WebAuthn authenticator (the WebDriver WebAuthn
    /// extension): a platform authenticator (CTAP2, internal transport) with
    /// resident keys that verifies the user and answers every ceremony at
    /// once. Returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let id = self
            .post(
                "/webauthn/authenticator",
                json!({"protocol": "ctap2", "transport": "internal",
                    "hasResidentKey": true, "hasUserVerification": true,
                    "isUserVerified": true, "automaticPresenceSimulation": true}),
            )
            .await;
        id.as_str().unwrap().to_owned()
    }

    /// The credentials the virtual authenticator `id` holds.
    pub async fn virtual_credentials(&self, id: &str) -> Vec<Value> {
        self.get(&format!("/webauthn/authenticator/{id}/credentials"))
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    /// Runs the DevTools command `cmd` with `params` on the current tab.
    pub async fn devtools(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
    }

    /// Deletes every cookie of the current page's domain (a signed-out browser).
    pub async fn delete_cookies(&self) {
        self.command(reqwest::Method::DELETE, "/cookie", None).await;
    }

    /// The cookies the current page's URL would send (including `HttpOnly` ones).
    pub async fn cookies(&self) -> Vec<Value> {
        self.get("/cookie").await.as_array().unwrap().clone()
    }

    /// Browser console messages since the last call (chromedriver's `goog:loggingPrefs`).
    pub async fn console_log(&self) -> Vec<Value> {
        self.post("/se/log", json!({"type": "browser"}))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// A PNG screenshot of the viewport, written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let encoded = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        std::fs::write(path, png).unwrap();
    }

    /// Waits up to `timeout` for the current URL to satisfy `done`; returns it.
    pub async fn wait_for_url(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let url = self.current_url().await;
            if done(&url) {
                return url;
            }
            assert!(
                Instant::now() < deadline,
                "still on {url} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the session (closes the browser).
    pub async fn quit(self) {
        self.command(reqwest::Method::DELETE, "", None).await;
    }
}
