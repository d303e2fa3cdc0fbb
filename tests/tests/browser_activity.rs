//! Browser tests of the Activity and Sessions views (issue 22): real headless Chromium against
//! a real `maestro-server`, events posted to its webhook. Plus the activity API's answers to
//! queries it cannot run.

use maestro_tests::browser::Browser;
use maestro_tests::server::{TestServer, OPERATOR_TOKEN};
use maestro_tests::ui::{
    choose, copy_to_docs, count, js_errors, rt, serial, wait_text, wait_true, Sender,
};
use serde_json::{json, Value};

/// GET with the operator token: (status, JSON body).
fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let resp = server
        .client()
        .get(format!("{}{}", server.url, path))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .expect("GET");
    let code = resp.status().as_u16();
    (code, resp.json().unwrap_or(Value::Null))
}

/// Three sessions on two hosts, 300+ events: Bash commands, prompts, failures with error text.
fn workload(server: &TestServer) -> (Sender<'_>, Sender<'_>, Sender<'_>) {
    let a = Sender::new(server, "build-box", "/work/api");
    let b = Sender::new(server, "build-box", "/work/web");
    let c = Sender::new(server, "laptop", "/home/me/notes");
    a.start();
    a.prompt("Add rate limiting to the public API");
    b.start();
    b.prompt("Fix the flaky websocket test");
    c.start();
    c.prompt("Tidy up the release notes");
    for i in 0..100 {
        a.bash(&format!("cargo test -p api step{i}"));
        b.bash(&format!("npm run lint -- file{i}.ts"));
        if i % 10 == 0 {
            c.bash(&format!("git log --oneline -n {i}"));
        }
    }
    a.read_fails(
        "/etc/shadow",
        "EACCES: permission denied, open '/etc/shadow'",
    );
    b.read_fails("/work/web/missing.ts", "File does not exist.");
    (a, b, c)
}

/// The API refuses what it cannot run with a 400 that says why, and runs FTS5 syntax as text.
#[test]
fn activity_api_answers_400_for_queries_it_cannot_run() {
    let server = TestServer::start();
    let s = Sender::new(&server, "h1", "/p");
    s.bash("echo hello");
    for (q, code, needle) in [
        ("%22unterminated", 400, "unterminated quote"),
        ("-only", 400, "needs a term"),
        ("%26%26", 400, "nothing to search"),
        ("hello&status=bogus", 400, "unknown status"),
        ("hello&limit=0", 400, "limit"),
        ("hello&before=notanumber", 400, ""),
    ] {
        let (got, body) = get(&server, &format!("/api/activity?q={q}"));
        assert_eq!(got, code, "{q}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{q}: {body}");
        assert!(body["error"]["code"].is_string(), "{q}: {body}");
    }
    // FTS5 operators, column filters and functions are searched as words: no error, no match.
    for q in [
        "hello%20OR%20x",
        "text%3Ahello",
        "NEAR(hello)",
        "hello%22%22",
        "*hello",
    ] {
        let (got, body) = get(&server, &format!("/api/activity?q={q}"));
        assert_eq!(got, 200, "{q}: {body}");
    }
    let (_, body) = get(&server, "/api/activity?q=hel*");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
    let (_, body) = get(&server, "/api/activity?q=echo%20OR%20x");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(0), "{body}");
    // Accents do not count, on either side, on both stores.
    s.prompt("Le café de Zürich");
    for q in ["cafe%20zurich", "CAF%C3%89", "z%C3%BCrich"] {
        let (got, body) = get(&server, &format!("/api/activity?q={q}"));
        assert_eq!(got, 200, "{q}: {body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 1, "{q}: {body}");
        assert!(
            items[0].to_string().contains("Zürich"),
            "{q}: the text keeps its accents: {body}"
        );
    }
}

/// Search and filters over a few hundred events; keyset "load older"; the URL carries the
/// query and the filters, and a reload opens the same results; new events arrive live; event
/// text is shown as text.
#[test]
fn activity_view_searches_filters_and_deep_links() {
    let _g = serial();
    let server = TestServer::start();
    let (a, _b, c) = workload(&server);
    // Event text that must stay text: markup and a right-to-left override.
    a.bash("echo '<img src=x onerror=alert(1)>' \u{202e}gnp.exe");
    rt().block_on(async {
        let b = Browser::start().await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        b.route("#/activity").await.expect("route");
        wait_true(
            &b,
            "the first page of 50 events",
            "return document.querySelectorAll('#activity-list .act-row').length === 50",
            vec![],
        )
        .await;
        // Live rows may re-render the list (and its button) between finding and clicking the
        // button: click again while the first page is all there is.
        wait_true(
            &b,
            "two pages",
            "const n = document.querySelectorAll('#activity-list .act-row').length; \
             const more = document.querySelector('#activity-more'); \
             if (n === 50 && more && !(Date.now() - (window.__moreAt || 0) < 2000)) \
               { window.__moreAt = Date.now(); more.click(); } \
             return n === 100",
            vec![],
        )
        .await;
        let seqs = b
            .js("return [...document.querySelectorAll('#activity-list .act-row')].map(r => +r.dataset.seq)")
            .await
            .expect("seqs");
        let seqs: Vec<i64> = serde_json::from_value(seqs).expect("numbers");
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first, no repeat: {seqs:?}");

        // Full-text search: the error text of one failure.
        let q = b.wait_find("#activity-q", maestro_tests::ui::T).await.expect("search box");
        q.send_keys("shadow").await.expect("type");
        wait_true(
            &b,
            "one result for `shadow`",
            "const rows = document.querySelectorAll('#activity-list .act-row'); \
             return rows.length === 1 && rows[0].querySelector('mark') !== null && location.hash.includes('q=shadow')",
            vec![],
        )
        .await;
        wait_text(&b, "#activity-list .act-row", "permission denied").await;

        // A filter: tool + status, then a host; the URL follows.
        q.clear().await.expect("clear");
        q.send_keys("cargo").await.expect("type");
        choose(&b, "#f-host", "laptop").await;
        wait_true(
            &b,
            "no `cargo` on the laptop",
            "return document.querySelectorAll('#activity-list .act-row').length === 0 && !document.getElementById('activity-empty').hidden",
            vec![],
        )
        .await;
        choose(&b, "#f-host", "build-box").await;
        choose(&b, "#f-tool", "Bash").await;
        wait_true(
            &b,
            "a page of cargo commands on build-box",
            "const rows = [...document.querySelectorAll('#activity-list .act-row')]; \
             return rows.length === 50 && rows.every(r => r.textContent.includes('cargo') && r.textContent.includes('build-box'))",
            vec![],
        )
        .await;
        let hash = b.js("return location.hash").await.expect("hash");
        let hash = hash.as_str().unwrap_or("");
        for part in ["#/activity?", "q=cargo", "host=build-box", "tool=Bash"] {
            assert!(hash.contains(part), "{hash}");
        }

        // Reload: the same view, query, filters and results.
        b.client.refresh().await.expect("reload");
        wait_true(
            &b,
            "the filtered view after reload",
            "const q = document.getElementById('activity-q'); const h = document.getElementById('f-host'); \
             const t = document.getElementById('f-tool'); \
             return q && q.value === 'cargo' && h && h.value === 'build-box' && t && t.value === 'Bash' \
               && document.querySelectorAll('#activity-list .act-row').length === 50",
            vec![],
        )
        .await;

        // Live: a new matching event shows up at the top without a reload.
        let q = b
            .wait_find("#activity-q", maestro_tests::ui::T)
            .await
            .expect("search box");
        choose(&b, "#f-host", "").await;
        choose(&b, "#f-tool", "").await;
        q.clear().await.expect("clear");
        q.send_keys("zebra").await.expect("type");
        wait_true(
            &b,
            "no zebra yet",
            "return location.hash.includes('q=zebra') && !document.getElementById('activity-empty').hidden",
            vec![],
        )
        .await;
        tokio::task::block_in_place(|| c.bash("grep -r zebra docs/"));
        wait_text(&b, "#activity-list .act-row", "grep -r zebra docs/").await;

        // A query the syntax cannot parse: a clear message, not a broken page.
        q.clear().await.expect("clear");
        q.send_keys("\"unfinished").await.expect("type");
        wait_text(&b, "#activity-error", "unterminated quote").await;

        // Event text is text: no element from it, invisible characters revealed.
        q.clear().await.expect("clear");
        q.send_keys("onerror").await.expect("type");
        wait_text(&b, "#activity-list .act-row", "<img src=x onerror=alert(1)>").await;
        wait_text(&b, "#activity-list .act-row", "⟪U+202E⟫").await;
        assert_eq!(count(&b, "#activity-list img").await, 0);
        assert!(b.open_alert().await.is_none(), "no script ran");

        // The screenshot for the README: a search with highlights.
        q.clear().await.expect("clear");
        q.send_keys("test").await.expect("type");
        wait_true(
            &b,
            "results for `test`",
            "return location.hash.includes('q=test') && document.querySelectorAll('#activity-list mark').length > 3",
            vec![],
        )
        .await;
        let shot = b.screenshot("activity-view").await.expect("screenshot");
        copy_to_docs(&shot);
        assert_eq!(js_errors(&b).await, json!([]));
        b.close().await;
    });
}

/// The sessions view: every session with its first prompt, tool calls and failures; filters
/// and sorting in the URL; a reload keeps them.
#[test]
fn sessions_view_lists_what_each_session_was_asked() {
    let _g = serial();
    let server = TestServer::start();
    let (a, _b, _c) = workload(&server);
    rt().block_on(async {
        let b = Browser::start().await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        b.route("#/sessions").await.expect("route");
        wait_true(
            &b,
            "three sessions with their prompts",
            "return document.querySelectorAll('#sessions-rows .session-row').length === 3 && \
             [...document.querySelectorAll('.sr-first-prompt')].every(e => e.textContent.length > 5 && e.textContent !== '…')",
            vec![],
        )
        .await;
        // The API session (a): 101 Bash calls + 1 failed Read; 1 failure, linked to Activity.
        let row = wait_true(
            &b,
            "the API session's counts",
            "const r = [...document.querySelectorAll('#sessions-rows .session-row')] \
               .find(r => r.textContent.includes('Add rate limiting')); \
             if (!r) return null; \
             return {tools: r.querySelector('.sr-tools').textContent, failures: r.querySelector('.sr-failures').textContent, \
                     link: (r.querySelector('.sr-failures a') || {}).hash || ''};",
            vec![],
        )
        .await;
        assert_eq!(row["tools"], json!("101"), "{row}");
        assert_eq!(row["failures"], json!("1"), "{row}");
        assert!(row["link"].as_str().unwrap_or("").contains("status=error"), "{row}");

        // Sorted by last activity: the API session (sent its failure after the others'
        // last events... b sent its failure last).
        tokio::task::block_in_place(|| a.bash("cargo fmt"));
        wait_true(
            &b,
            "the API session first after its new event",
            "const first = document.querySelector('#sessions-rows .session-row'); \
             return first && first.textContent.includes('Add rate limiting') && first.querySelector('.sr-tools').textContent === '102'",
            vec![],
        )
        .await;

        choose(&b, "#s-host", "laptop").await;
        wait_true(
            &b,
            "only the laptop session",
            "const rows = document.querySelectorAll('#sessions-rows .session-row'); \
             return rows.length === 1 && rows[0].textContent.includes('release notes') && location.hash.includes('host=laptop')",
            vec![],
        )
        .await;
        choose(&b, "#s-sort", "events").await;
        b.client.refresh().await.expect("reload");
        wait_true(
            &b,
            "the same filter after reload",
            "const h = document.getElementById('s-host'); const s = document.getElementById('s-sort'); \
             return h && h.value === 'laptop' && s && s.value === 'events' && \
               document.querySelectorAll('#sessions-rows .session-row').length === 1",
            vec![],
        )
        .await;
        // Failures link opens Activity filtered to the session's errors.
        choose(&b, "#s-host", "").await;
        b.click("#sessions-rows .sr-failures a").await.expect("failures link");
        wait_true(
            &b,
            "the session's failures in Activity",
            "const rows = document.querySelectorAll('#activity-list .act-row'); \
             return location.hash.startsWith('#/activity') && rows.length === 1 && \
               document.getElementById('f-status').value === 'error'",
            vec![],
        )
        .await;
        assert_eq!(js_errors(&b).await, json!([]));
        b.close().await;
    });
}

const HOLD_POLICY: &str = maestro_tests::HOLD_DEPLOYS_POLICY;

/// Elements of the page wider than the viewport, or starting/ending outside it (the first
/// few), for a readable failure.
const OVERFLOW: &str = r#"
const w = document.documentElement.clientWidth;
const out = [];
if (document.documentElement.scrollWidth > w + 1) out.push(`page ${document.documentElement.scrollWidth}px wide > ${w}px`);
for (const sel of arguments[0]) {
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < -1 || r.right > w + 1) out.push(`${sel} at ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
}
return out;
"#;

/// Whether `css` is inside the viewport and is what a tap on its centre hits.
const TAPPABLE: &str = r#"
const el = document.querySelector(arguments[0]);
if (!el) return 'missing';
const r = el.getBoundingClientRect();
const w = document.documentElement.clientWidth, h = window.innerHeight;
if (r.left < 0 || r.top < 0 || r.right > w || r.bottom > h) return `outside: ${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.right)},${Math.round(r.bottom)} in ${w}x${h}`;
const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
return hit && (hit === el || el.contains(hit)) ? 'ok' : `covered by ${hit ? hit.outerHTML.slice(0, 80) : 'nothing'}`;
"#;

/// At 390 and 360 px every view fits the width and every top-bar action is on screen; at 390
/// px the approval modal's Approve button is inside the viewport and a tap on it approves.
#[test]
fn phone_width_keeps_every_action_reachable() {
    let _g = serial();
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, HOLD_POLICY).expect("policy file");
    let policy = policy.display().to_string();
    let server = TestServer::start_with_env(&[("MAESTRO_POLICY_FILE", policy.as_str())]);
    let (code, task) = server.post(
        "/api/tasks",
        &json!({"title": "Ship the billing fix to production before Friday", "status": "in_progress", "description": ""}),
    );
    assert_eq!(code, 201, "{task}");
    let task_id = task["id"].as_str().expect("task id").to_string();
    let agent = Sender::for_task(&server, "build-box", "/work/billing", &task_id);
    agent.start();
    agent.prompt("Fix the rounding error in invoice totals and ship it");
    agent.bash("cargo test -p billing -- --include-ignored invoice::totals::rounding_of_very_long_test_names_does_not_widen_the_page");
    let _ = workload(&server);
    let top_bar = [
        "#topbar .brand",
        "#nav-board",
        "#nav-activity",
        "#nav-sessions",
        "#nav-webhooks",
        "#pending-btn",
        "#conn",
        "#logout-btn",
    ];
    for width in [390u32, 360] {
        rt().block_on(async {
            let b = Browser::start_sized(width, 844).await.expect("browser");
            b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
            wait_text(&b, "#conn", "Live").await;
            wait_text(&b, ".card", "Ship the billing fix").await;
            for (route, ready) in [
                ("#/board", ".card"),
                ("#/activity", "#activity-list .act-row"),
                ("#/sessions", "#sessions-rows .session-row"),
                ("#/webhooks", "#webhook-add"),
            ] {
                b.route(route).await.expect("route");
                wait_true(&b, ready, "return !!document.querySelector(arguments[0])", vec![json!(ready)]).await;
                let mut sels: Vec<&str> = top_bar.to_vec();
                sels.extend([".card", ".act-row", ".session-row", ".filters select", "#activity-q", "#webhook-add"]);
                let out = b.js_args(OVERFLOW, vec![json!(sels)]).await.expect("overflow");
                assert_eq!(out, json!([]), "{width}px {route}");
            }
            if width == 390 {
                b.route("#/board").await.expect("route");
                let shot = b.screenshot("phone-board").await.expect("shot");
                copy_to_docs(&shot);
                // A held call: the hook's request waits for the decision.
                let env = agent.envelope(
                    "PreToolUse",
                    json!({"tool_name": "Bash", "tool_input": {"command": "deploy production --service billing", "description": "deploy"}}),
                );
                let url = format!("{}/api/webhooks/hook-event", server.url);
                let held = std::thread::spawn(move || {
                    let resp = reqwest::blocking::Client::builder()
                        .timeout(std::time::Duration::from_secs(120))
                        .build()
                        .expect("client")
                        .post(url)
                        .bearer_auth(maestro_tests::server::INGEST_TOKEN)
                        .json(&env)
                        .send()
                        .expect("held POST");
                    resp.json::<Value>().unwrap_or(Value::Null)
                });
                wait_text(&b, "#pending-label", "1 pending").await;
                assert_eq!(b.js_args(TAPPABLE, vec![json!("#pending-btn")]).await.expect("tap"), json!("ok"));
                b.click("#pending-btn").await.expect("pending");
                wait_true(&b, "the pending panel", "return !document.getElementById('pending-panel').hidden", vec![]).await;
                let out = b.js_args(OVERFLOW, vec![json!(["#pending-panel", ".pending-item"])]).await.expect("overflow");
                assert_eq!(out, json!([]), "the pending panel at {width}px");
                b.click(".pending-item").await.expect("open");
                wait_text(&b, "dialog[open]", "deploy production --service billing").await;
                let shot = b.screenshot("phone-approval").await.expect("shot");
                copy_to_docs(&shot);
                assert_eq!(b.js_args(TAPPABLE, vec![json!("#approval-approve")]).await.expect("tap"), json!("ok"));
                b.click("#approval-approve").await.expect("approve");
                // The modal closes, and the focus goes back to the pending button (the list
                // item it was opened from is gone), not to <body>.
                wait_true(
                    &b,
                    "the modal to close with the focus on the pending button",
                    "return !document.querySelector('dialog[open]') && document.activeElement && document.activeElement.id === 'pending-btn'",
                    vec![],
                )
                .await;
                let answer = tokio::task::block_in_place(|| held.join().expect("held thread"));
                assert_eq!(answer["stdout"].as_str().map(|s| s.contains("allow")), Some(true), "{answer}");
            }
            assert_eq!(js_errors(&b).await, json!([]));
            b.close().await;
        });
    }
}

/// 100 tasks and 200 sessions: the page height stays bounded (each column scrolls on its
/// own), done tasks are collapsed to a few with a "Show all" toggle, cards are compact, and a
/// burst of failures makes at most a few toasts, one per session with a count.
#[test]
fn board_stays_usable_at_100_tasks_and_200_sessions() {
    let _g = serial();
    let server = TestServer::start();
    let statuses = ["todo", "in_progress", "blocked", "done"];
    let mut tasks = Vec::new();
    for i in 0..100 {
        // 40 done, 30 in progress, 20 to do, 10 blocked.
        let status = match i % 10 {
            0..=3 => statuses[3],
            4..=6 => statuses[1],
            7 | 8 => statuses[0],
            _ => statuses[2],
        };
        let (code, t) = server.post(
            "/api/tasks",
            &json!({"title": format!("Task {i:03}: refactor module {i}"), "status": status, "description": ""}),
        );
        assert_eq!(code, 201, "{t}");
        tasks.push(t["id"].as_str().expect("id").to_string());
    }
    // Sessions make their tasks "in progress": they go to the 40 tasks that are neither done
    // nor to do.
    let busy: Vec<&String> = tasks
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(i % 10, 4..=6 | 9))
        .map(|(_, t)| t)
        .collect();
    let senders: Vec<Sender<'_>> = (0..200)
        .map(|i| {
            Sender::for_task(
                &server,
                "host",
                &format!("/work/m{i}"),
                busy[i % busy.len()],
            )
        })
        .collect();
    for (i, s) in senders.iter().enumerate() {
        s.start();
        s.bash(&format!("cargo test -p m{i}"));
    }
    rt().block_on(async {
        let b = Browser::start_sized(1440, 900).await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        wait_text(&b, "#conn", "Live").await;
        wait_true(
            &b,
            "the cards and the done toggle",
            "return document.querySelectorAll('.card').length >= 60 && !!document.getElementById('done-toggle')",
            vec![],
        )
        .await;
        let layout = b
            .js("const cols = [...document.querySelectorAll('.col-list')].map(l => ({s: l.dataset.status, scroll: l.scrollHeight, client: l.clientHeight})); \
                 return {page: document.documentElement.scrollHeight, view: window.innerHeight, cols, \
                         compact: document.getElementById('board').classList.contains('compact'), \
                         done: document.querySelectorAll('.col-list[data-status=done] .card').length, \
                         doneCount: document.querySelector('.col-done .col-count').textContent}")
            .await
            .expect("layout");
        let page = layout["page"].as_f64().unwrap_or(f64::MAX);
        let view = layout["view"].as_f64().unwrap_or(0.0);
        assert!(page <= view * 1.5, "the page grows with the tasks: {layout}");
        assert_eq!(layout["compact"], json!(true), "{layout}");
        assert_eq!(layout["done"], json!(5), "{layout}");
        assert_eq!(layout["doneCount"], json!("40"), "{layout}");
        let in_progress = layout["cols"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["s"] == "in_progress"))
            .cloned()
            .unwrap_or(Value::Null);
        assert!(
            in_progress["scroll"].as_f64().unwrap_or(0.0) > in_progress["client"].as_f64().unwrap_or(f64::MAX),
            "the busy column scrolls on its own: {layout}"
        );
        let shot = b.screenshot("board-100-tasks").await.expect("shot");
        copy_to_docs(&shot);

        // Show all done tasks, then fewer again; the toggle keeps the focus.
        b.click("#done-toggle").await.expect("toggle");
        wait_true(&b, "all 40 done cards", "return document.querySelectorAll('.col-list[data-status=done] .card').length === 40 && document.activeElement.id === 'done-toggle'", vec![]).await;
        b.click("#done-toggle").await.expect("toggle");
        wait_true(&b, "5 done cards again", "return document.querySelectorAll('.col-list[data-status=done] .card').length === 5", vec![]).await;

        // A burst of failures from 6 sessions, 5 each: at most 4 toasts, each counting.
        tokio::task::block_in_place(|| {
            for round in 0..5 {
                for s in senders.iter().take(6) {
                    s.read_fails(&format!("/work/x{round}.rs"), "File does not exist.");
                }
            }
        });
        wait_true(
            &b,
            "grouped failure toasts",
            "const ts = [...document.querySelectorAll('#toasts .toast-error')]; \
             return ts.length > 0 && ts.some(t => t.dataset.count === '5') ? ts.length : 0",
            vec![],
        )
        .await;
        assert!(count(&b, "#toasts .toast").await <= 4, "toasts are capped");

        // Keyboard: moving a card with its button keeps the focus on the card.
        let card = format!(".card[data-task-id='{}']", tasks[7]);
        b.js_args(
            "document.querySelector(arguments[0] + ' .move-right').focus(); return true;",
            vec![json!(card)],
        )
        .await
        .expect("focus");
        b.js_args(
            "document.querySelector(arguments[0] + ' .move-right').click(); return true;",
            vec![json!(card)],
        )
        .await
        .expect("move");
        wait_true(
            &b,
            "the card moved with the focus on it",
            "const c = document.querySelector(arguments[0]); \
             return c && c.closest('.col-list').dataset.status === 'in_progress' && c.contains(document.activeElement)",
            vec![json!(card)],
        )
        .await;
        assert_eq!(js_errors(&b).await, json!([]));
        b.close().await;
    });
}

/// The Notification API stubbed at the browser level (it only stands in for the browser's
/// permission prompt and the OS pop-up; Maestro's firing logic is what runs).
const STUB_NOTIFICATION: &str = r#"
window.__notes = [];
window.Notification = class {
  constructor(title, opts) { this.title = title; this.body = (opts || {}).body; window.__notes.push({ title, body: this.body }); (window.__noteObjs = window.__noteObjs || []).push(this); new BroadcastChannel('maestro-test-notes').postMessage(title); }
  close() {}
  static get permission() { return window.__granted ? 'granted' : 'default'; }
  static requestPermission() { window.__granted = true; return Promise.resolve('granted'); }
};
return true;
"#;

/// Opt-in desktop notifications: off until turned on; with the tab in the background, a held
/// call raises "Permission needed" (a click opens its approval, where it is approved) and a
/// finished session raises "Session finished"; with the tab in front nothing is raised.
#[test]
fn desktop_notifications_fire_when_the_tab_is_in_the_background() {
    let _g = serial();
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, HOLD_POLICY).expect("policy file");
    let policy = policy.display().to_string();
    let server = TestServer::start_with_env(&[("MAESTRO_POLICY_FILE", policy.as_str())]);
    let (code, task) = server.post(
        "/api/tasks",
        &json!({"title": "Ship the billing fix", "status": "in_progress", "description": ""}),
    );
    assert_eq!(code, 201, "{task}");
    let task_id = task["id"].as_str().expect("task id").to_string();
    let agent = Sender::for_task(&server, "build-box", "/work/billing", &task_id);
    agent.start();
    agent.prompt("Ship it");
    rt().block_on(async {
        let b = Browser::start().await.expect("browser");
        b.login(&server.url, OPERATOR_TOKEN).await.expect("login");
        wait_text(&b, "#conn", "Live").await;
        b.js(STUB_NOTIFICATION).await.expect("stub");
        assert_eq!(
            b.js("return document.getElementById('notify-btn').getAttribute('aria-pressed')").await.expect("state"),
            json!("false"),
            "off until the operator turns it on"
        );
        b.click("#notify-btn").await.expect("turn on");
        wait_true(
            &b,
            "notifications on, the sound toggle shown, focus kept",
            "const n = document.getElementById('notify-btn'); return n.getAttribute('aria-pressed') === 'true' && !document.getElementById('sound-btn').hidden && document.activeElement === n",
            vec![],
        )
        .await;
        b.click("#sound-btn").await.expect("sound on");
        wait_true(&b, "sound on", "return document.getElementById('sound-btn').getAttribute('aria-pressed') === 'true'", vec![]).await;

        // In front: a session finishing raises nothing (the page shows it).
        let other = Sender::new(&server, "h2", "/p");
        tokio::task::block_in_place(|| {
            other.start();
            other.send("SessionEnd", json!({"reason": "prompt_input_exit"}));
        });
        b.route("#/sessions?state=completed").await.expect("route");
        wait_true(
            &b,
            "the other session completed",
            "return document.querySelectorAll('#sessions-rows .session-row').length === 1",
            vec![],
        )
        .await;
        assert_eq!(b.js("return window.__notes").await.expect("notes"), json!([]));
        b.route("#/board").await.expect("route");

        // To the background: another tab in front.
        let main = b.client.window().await.expect("window");
        let tab = b.client.new_window(true).await.expect("new tab");
        b.client.switch_to_window(tab.handle).await.expect("switch");
        // A page of the same origin in front; it hears (through a BroadcastChannel the stub
        // posts to) when the Maestro tab has raised its notifications.
        b.client
            .goto(&format!("{}/healthz", server.url))
            .await
            .expect("front page");
        b.js("window.__heard = []; window.__ch = new BroadcastChannel('maestro-test-notes'); window.__ch.onmessage = (e) => window.__heard.push(e.data); return true;")
            .await
            .expect("listen");
        let env = agent.envelope(
            "PreToolUse",
            json!({"tool_name": "Bash", "tool_input": {"command": "deploy production --service billing", "description": "deploy"}}),
        );
        let tool_use_id = env["payload"]["tool_use_id"].clone();
        let session_id = env["maestro"]["session_id"].as_str().unwrap_or("").to_string();
        let url = format!("{}/api/webhooks/hook-event", server.url);
        let held = std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .expect("client")
                .post(url)
                .bearer_auth(maestro_tests::server::INGEST_TOKEN)
                .json(&env)
                .send()
                .expect("held POST")
                .json::<Value>()
                .unwrap_or(Value::Null)
        });
        // The session finishing while away.
        let done = Sender::for_task(&server, "build-box", "/work/billing", &task_id);
        tokio::task::block_in_place(|| {
            done.start();
            done.send("SessionEnd", json!({"reason": "prompt_input_exit"}));
        });
        wait_true(
            &b,
            "two notifications raised by the background tab",
            "return window.__heard.length >= 2",
            vec![],
        )
        .await;
        b.client.switch_to_window(main).await.expect("back");
        let notes = wait_true(
            &b,
            "a permission and a finished-session notification",
            "const n = window.__notes || []; \
             return n.some(x => x.title.startsWith('Permission needed · Ship the billing fix') && x.body.includes('deploy production')) \
               && n.some(x => x.title.startsWith('Session finished')) ? n : null",
            vec![],
        )
        .await;
        assert_eq!(notes.as_array().map(Vec::len), Some(2), "{notes}");
        // Its click opens the approval, where it is approved.
        b.js("window.__noteObjs.find(n => n.title.startsWith('Permission needed')).onclick(); return true;")
            .await
            .expect("click the notification");
        wait_text(&b, "dialog[open]", "deploy production --service billing").await;
        b.click("#approval-approve").await.expect("approve");
        let answer = tokio::task::block_in_place(|| held.join().expect("held thread"));
        assert_eq!(
            answer["stdout"].as_str().map(|s| s.contains("allow")),
            Some(true),
            "{answer}"
        );
        // One toast for the decision, though both the HTTP answer and the feed's
        // approval:resolved tell this page about it.
        wait_text(&b, "#pending-label", "No pending approvals").await;
        wait_true(
            &b,
            "the approval resolved in the page and its toast",
            "return !window.__maestroFeed || window.__maestroFeed.applied > 0 ? document.querySelectorAll('#toasts .toast').length > 0 : false",
            vec![],
        )
        .await;
        let decision_toasts = b
            .js("return [...document.querySelectorAll('#toasts .toast')].filter(t => /Approved|Request approved/.test(t.textContent)).length")
            .await
            .expect("toasts");
        assert_eq!(decision_toasts, json!(1), "one toast per decision");

        // The call runs after its approval: its line reads after "Approved", in the order
        // things happened.
        tokio::task::block_in_place(|| {
            agent.send(
                "PostToolUse",
                json!({"tool_name": "Bash", "tool_use_id": tool_use_id,
                       "tool_input": {"command": "deploy production --service billing", "description": "deploy"},
                       "tool_response": {"stdout": "deployed", "stderr": "", "interrupted": false}}),
            );
            let lines = server.get(&format!("/api/sessions/{session_id}/timeline"));
            let summaries: Vec<String> = lines
                .as_array()
                .map(|a| a.iter().map(|l| l["summary"].as_str().unwrap_or("").to_string()).collect())
                .unwrap_or_default();
            let at = |needle: &str| {
                summaries
                    .iter()
                    .position(|l| l.contains(needle))
                    .unwrap_or_else(|| panic!("no `{needle}` line in {summaries:?}"))
            };
            // One line for the approval, from held to decided, then the call.
            let approval = at("Approved by operator: Bash deploy production");
            assert!(summaries[approval].contains("(held "), "{summaries:?}");
            assert!(!summaries.iter().any(|l| l.starts_with("Held for approval")), "{summaries:?}");
            assert!(approval < at("Executed: deploy"), "{summaries:?}");
        });
        assert_eq!(js_errors(&b).await, json!([]));
        b.close().await;
    });
}

/// A subagent's lines read in the order things happened: delegated, subagent started, its
/// tool call, subagent stopped, and only then the Agent call's "Subagent finished" (its line
/// moves to the time of its final phase).
#[test]
fn a_subagent_timeline_reads_in_the_order_things_happened() {
    let server = TestServer::start();
    let s = Sender::new(&server, "h1", "/p");
    s.start();
    let agent_call = json!({"tool_name": "Agent", "tool_use_id": "toolu_agent_1",
        "tool_input": {"description": "Run sub echo", "prompt": "run echo", "subagent_type": "general-purpose"}});
    s.send("PreToolUse", agent_call.clone());
    let sub = json!({"agent_id": "af32c41fdea1219d5", "agent_type": "general-purpose"});
    s.send("SubagentStart", sub.clone());
    let mut bash = json!({"tool_name": "Bash", "tool_input": {"command": "echo from-subagent"},
        "tool_response": {"stdout": "from-subagent", "stderr": "", "interrupted": false}});
    bash["agent_id"] = sub["agent_id"].clone();
    s.send("PostToolUse", bash);
    let mut stop = sub.clone();
    stop["last_assistant_message"] = json!("done");
    s.send("SubagentStop", stop);
    let mut post = agent_call;
    post["tool_response"] = json!({"content": [{"type": "text", "text": "from-subagent"}]});
    s.send("PostToolUse", post);
    let (_, sessions) = get(&server, "/api/sessions");
    let sid = sessions[0]["id"].as_str().expect("session").to_string();
    let (_, lines) = get(&server, &format!("/api/sessions/{sid}/timeline"));
    let summaries: Vec<String> = lines
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| l["summary"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    let at = |needle: &str| {
        summaries
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` line in {summaries:?}"))
    };
    let order = [
        at("Subagent started"),
        at("echo from-subagent"),
        at("Subagent finished (general-purpose)"),
        at("Subagent finished: Run sub echo"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{summaries:?}");
}
