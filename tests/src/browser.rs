//! Headless Chromium driven through chromedriver (WebDriver) with fantoccini, for the UI
//! tests. Every [`Browser`] owns its own chromedriver child (random loopback port, own
//! process group) and its own throwaway Chromium profile; both are ended when the browser is
//! closed or dropped. Screenshots go to `tests/artifacts/`.

use anyhow::{anyhow, Context};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The chromedriver binary (override with `MAESTRO_CHROMEDRIVER`).
pub fn chromedriver_path() -> PathBuf {
    std::env::var_os("MAESTRO_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

/// The Chromium binary (override with `MAESTRO_CHROMIUM`).
pub fn chromium_path() -> PathBuf {
    std::env::var_os("MAESTRO_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// `tests/artifacts/` (created on demand).
pub fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A headless Chromium session.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Option<Child>,
    _profile: tempfile::TempDir,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`x`height` window.
    pub async fn start_sized(width: u32, height: u32) -> anyhow::Result<Browser> {
        Self::start_with(width, height, &[]).await
    }

    /// Starts a headless Chromium whose system theme is dark (`prefers-color-scheme: dark`).
    pub async fn start_dark(width: u32, height: u32) -> anyhow::Result<Browser> {
        Self::start_with(
            width,
            height,
            &[
                "--force-dark-mode",
                "--blink-settings=preferredColorScheme=0",
            ],
        )
        .await
    }

    /// Starts a headless Chromium with extra command-line switches.
    pub async fn start_with(width: u32, height: u32, extra: &[&str]) -> anyhow::Result<Browser> {
        let port = free_port()?;
        let mut cmd = Command::new(chromedriver_path());
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Own process group, so Chromium (its child) can be ended with it.
            .process_group(0);
        let mut driver = cmd
            .spawn()
            .with_context(|| format!("starting {}", chromedriver_path().display()))?;
        let profile = tempfile::tempdir()?;
        let client = match connect_with_retry(port, &profile, width, height, extra).await {
            Ok(c) => c,
            Err(e) => {
                kill_group(driver.id());
                let _ = driver.kill();
                let _ = driver.wait();
                return Err(e);
            }
        };
        let browser = Browser {
            client,
            driver: Some(driver),
            _profile: profile,
        };
        browser
            .client
            .set_window_size(width, height)
            .await
            .map_err(|e| anyhow!("set window size: {e}"))?;
        Ok(browser)
    }

    /// Starts a 1440x900 browser.
    pub async fn start() -> anyhow::Result<Browser> {
        Self::start_sized(1440, 900).await
    }

    /// Opens `base_url` and logs in with `token` through the login form.
    pub async fn login(&self, base_url: &str, token: &str) -> anyhow::Result<()> {
        self.client.goto(&format!("{base_url}/#/board")).await?;
        let input = self
            .wait_find("#login-token", Duration::from_secs(20))
            .await?;
        input.send_keys(token).await?;
        self.client
            .find(Locator::Css("#login-btn"))
            .await?
            .click()
            .await?;
        self.wait_js(
            "the board after login",
            "return document.querySelector('#board') !== null",
            Duration::from_secs(20),
        )
        .await?;
        Ok(())
    }

    /// Goes to a hash route (`#/session/ID`) of the already loaded app.
    pub async fn route(&self, hash: &str) -> anyhow::Result<()> {
        self.client
            .execute(
                "location.hash = arguments[0]; return true;",
                vec![json!(hash)],
            )
            .await?;
        Ok(())
    }

    /// Runs `script` (a function body) and returns its value.
    pub async fn js(&self, script: &str) -> anyhow::Result<Value> {
        Ok(self.client.execute(script, Vec::new()).await?)
    }

    /// Runs `script` with arguments.
    pub async fn js_args(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        Ok(self.client.execute(script, args).await?)
    }

    /// Polls `script` every 10 ms until it returns something truthy (not null/false/0/""),
    /// which is returned; fails after `timeout`.
    pub async fn wait_js(
        &self,
        what: &str,
        script: &str,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        self.wait_js_args(what, script, Vec::new(), timeout).await
    }

    /// [`Browser::wait_js`] with arguments.
    pub async fn wait_js_args(
        &self,
        what: &str,
        script: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            match self.client.execute(script, args.clone()).await {
                Ok(v) if truthy(&v) => return Ok(v),
                Ok(v) => last = v,
                Err(e) => last = json!(e.to_string()),
            }
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "timed out after {timeout:?} waiting for {what} (last: {last})"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for a CSS selector to match a displayed element.
    pub async fn wait_find(
        &self,
        css: &str,
        timeout: Duration,
    ) -> anyhow::Result<fantoccini::elements::Element> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if el.is_displayed().await.unwrap_or(false) {
                    return Ok(el);
                }
            }
            if Instant::now() > deadline {
                return Err(anyhow!("timed out after {timeout:?} waiting for `{css}`"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Clicks the first element matching `css` (waiting for it).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.wait_find(css, Duration::from_secs(20))
            .await?
            .click()
            .await?;
        Ok(())
    }

    /// Saves a PNG screenshot as `tests/artifacts/<name>.png` and returns the path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Saves a screenshot of the whole page (the window grows to the document's height for
    /// the shot, then goes back to `width`x`height`).
    pub async fn screenshot_full(
        &self,
        name: &str,
        width: u32,
        height: u32,
    ) -> anyhow::Result<PathBuf> {
        let doc = self
            .js("return Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight))")
            .await?
            .as_u64()
            .unwrap_or(u64::from(height));
        let inner = self
            .js("return window.innerHeight")
            .await?
            .as_u64()
            .unwrap_or(u64::from(height));
        let chrome = u64::from(height).saturating_sub(inner);
        let full = (doc + chrome).clamp(u64::from(height), 4000) as u32;
        self.client.set_window_size(width, full).await?;
        let shot = self.screenshot(name).await;
        self.client.set_window_size(width, height).await?;
        shot
    }

    /// The text of a JavaScript alert if one is open (an XSS that ran), else None.
    pub async fn open_alert(&self) -> Option<String> {
        self.client.get_alert_text().await.ok()
    }

    /// Ends the WebDriver session, then chromedriver and anything left in its group.
    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.driver.take() {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}

fn kill_group(pid: u32) {
    // SAFETY: kill(2) on the process group we created for our own chromedriver child.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

async fn connect_with_retry(
    port: u16,
    profile: &tempfile::TempDir,
    width: u32,
    height: u32,
    extra: &[&str],
) -> anyhow::Result<Client> {
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-extensions".into(),
        "--hide-scrollbars".into(),
        format!("--window-size={width},{height}"),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let caps = json!({
        "browserName": "chrome",
        "unhandledPromptBehavior": "ignore",
        "goog:chromeOptions": {
            "binary": chromium_path().to_string_lossy(),
            "args": args,
        }
    });
    let caps: serde_json::Map<String, Value> = match caps {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    // With both of rustls's providers compiled in, none is chosen by itself (an error here
    // only means one is installed already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    loop {
        let attempt = ClientBuilder::rustls()?
            .capabilities(caps.clone())
            .connect(&url)
            .await;
        match attempt {
            Ok(c) => return Ok(c),
            Err(e) => {
                if Instant::now() > deadline {
                    return Err(anyhow!("connecting to chromedriver on {url}: {e}"));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
