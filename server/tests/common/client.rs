//! A typed client of dpe's REST API, for tests: one server, one way of
//! signing in (the session cookie, or a bearer token), and a method for
//! each thing the tests do (deploy, wait for a task or a state, read and
//! delete an instance). Every call answers `(status, JSON body)`, so a test
//! reads as its assertions; `http()` is the raw client for anything else
//! (headers, forms, pages).

#![allow(dead_code)] // each test binary uses a different part

use std::time::{Duration, Instant};

use reqwest::header::LINK;
use reqwest::redirect::Policy;
use reqwest::{Client, Method, RequestBuilder, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// How long `wait_task` and `wait_state` wait unless told otherwise
/// (`patient`): enough for any task on a fake host or the test driver.
pub const WAIT: Duration = Duration::from_secs(10);

/// The `(status, body)` of an answer, for one-line assertions; a body that
/// is not JSON is a JSON string.
pub async fn status_json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// What a 202 for a deploy (or an action, without `id`) carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub id: i64,
    pub task_id: i64,
}

impl Accepted {
    /// The ids in an accepted deploy's body (the test fails without them).
    pub fn of(body: &Value) -> Accepted {
        Accepted {
            id: body["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("no id: {body}")),
            task_id: started_task(body),
        }
    }
}

/// The task id in a 202's body, of a deploy or an action (the test
/// fails without it).
pub fn started_task(body: &Value) -> i64 {
    body["task_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no task_id: {body}"))
}

/// The body of a deploy of a tiny instance `name` of the test stack.
pub fn deploy_body(name: &str) -> Value {
    json!({"name": name, "size": "tiny", "params": {"title": "Tést <wiki> & 'co'"}})
}

/// A client of the dpe at `base` (`http://127.0.0.1:PORT`, no path).
#[derive(Clone)]
pub struct Api {
    http: Client,
    base: String,
    token: Option<String>,
    wait: Duration,
}

impl Api {
    /// Through `http`, which keeps whatever it keeps (cookies, roots).
    pub fn new(http: Client, base: impl Into<String>) -> Api {
        Api {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            token: None,
            wait: WAIT,
        }
    }

    /// A browser-like client: keeps cookies, does not follow redirects,
    /// and fails a request that hangs instead of stalling the run.
    pub fn browser(base: impl Into<String>) -> Api {
        Api::new(browser_client(), base)
    }

    /// The same client, sending `Authorization: Bearer TOKEN` with every
    /// request.
    pub fn bearer(mut self, token: &str) -> Api {
        self.token = Some(token.to_owned());
        self
    }

    /// This client, waiting up to `limit` for tasks and states.
    pub fn patient(&self, limit: Duration) -> Api {
        Api {
            wait: limit,
            ..self.clone()
        }
    }

    /// The raw client (its cookies are this client's session).
    pub fn http(&self) -> &Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path`, with the bearer token if there is one.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `METHOD path` with an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        status_json(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// A POST without a body (actions, sign-out, server functions).
    pub async fn post_empty(&self, path: &str) -> (u16, Value) {
        self.call(Method::POST, path, None).await
    }

    /// A form post, as the portal's server functions take it.
    pub async fn post_form<F: Serialize + ?Sized>(&self, path: &str, form: &F) -> (u16, Value) {
        let request = self.request(Method::POST, path).form(form);
        status_json(request.send().await.unwrap()).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// GETs `path` until `done` holds for its JSON body; fails the test
    /// with the last body after `limit`.
    pub async fn poll(&self, path: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (_, body) = self.get(path).await;
            if done(&body) {
                return body;
            }
            assert!(start.elapsed() < limit, "gave up on {path}: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Sessions and tokens.
impl Api {
    /// `POST /api/v1/login`; the session cookie stays in this client.
    pub async fn sign_in(&self, username: &str, password: &str) -> (u16, Value) {
        let body = json!({ "username": username, "password": password });
        self.post("/api/v1/login", body).await
    }

    /// This client, signed in as `username` (the test fails otherwise).
    pub async fn signed_in(self, username: &str, password: &str) -> Api {
        let (status, body) = self.sign_in(username, password).await;
        assert_eq!(status, 200, "sign-in as {username}: {body}");
        self
    }

    pub async fn sign_out(&self) -> u16 {
        self.post_empty("/api/v1/logout").await.0
    }

    /// `GET /api/v1/me`.
    pub async fn me(&self) -> (u16, Value) {
        self.get("/api/v1/me").await
    }

    /// A new API token of this client's account, named `name`: its secret.
    pub async fn create_token(&self, name: &str) -> String {
        let (status, body) = self.post("/api/v1/tokens", json!({ "name": name })).await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// `GET /api/v1/me` with `token` instead of this client's session, from
    /// a client without cookies.
    pub async fn me_with_token(&self, token: &str) -> (u16, Value) {
        let plain = Api::new(self.http_without_cookies(), self.base.clone()).bearer(token);
        plain.me().await
    }

    fn http_without_cookies(&self) -> Client {
        // The same roots as this client would be nicer; tests over TLS
        // build their own client and use `bearer` instead.
        Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }
}

/// Instances and tasks.
impl Api {
    /// Deploys a tiny instance `name` (`deploy_body`).
    pub async fn deploy(&self, name: &str) -> (u16, Value) {
        self.deploy_with(deploy_body(name)).await
    }

    /// `POST /api/v1/instances` with `body`.
    pub async fn deploy_with(&self, body: Value) -> (u16, Value) {
        self.post("/api/v1/instances", body).await
    }

    /// Deploys `name` and expects it accepted.
    pub async fn deployed(&self, name: &str) -> Accepted {
        let (status, body) = self.deploy(name).await;
        assert_eq!(status, 202, "deploy {name}: {body}");
        Accepted::of(&body)
    }

    pub async fn instances(&self) -> (u16, Value) {
        self.get("/api/v1/instances").await
    }

    pub async fn instance(&self, id: i64) -> (u16, Value) {
        self.get(&format!("/api/v1/instances/{id}")).await
    }

    /// `POST /api/v1/instances/{id}/{action}` (start, shutdown, reboot,
    /// poweroff).
    pub async fn act(&self, id: i64, action: &str) -> (u16, Value) {
        self.post_empty(&format!("/api/v1/instances/{id}/{action}"))
            .await
    }

    /// `DELETE /api/v1/instances/{id}`.
    pub async fn delete_instance(&self, id: i64) -> (u16, Value) {
        self.delete(&format!("/api/v1/instances/{id}")).await
    }

    pub async fn task(&self, task_id: i64) -> (u16, Value) {
        self.get(&format!("/api/v1/tasks/{task_id}")).await
    }

    /// The body of a 202 answer whose task then succeeds (the test fails
    /// on another answer, or a task that fails or runs longer than this
    /// client waits).
    pub async fn succeeds(&self, (status, body): (u16, Value)) -> Value {
        assert_eq!(status, 202, "{body}");
        let task = self.wait_task(started_task(&body)).await;
        assert_eq!(task["state"], "succeeded", "{task}");
        body
    }

    /// Task `task_id` once it has ended (the test fails if it runs longer
    /// than this client waits).
    pub async fn wait_task(&self, task_id: i64) -> Value {
        let path = format!("/api/v1/tasks/{task_id}");
        self.poll(&path, self.wait, |task| task["state"] != "running")
            .await
    }

    /// Instance `id` once `done` holds for it, within `limit`.
    pub async fn wait_instance(
        &self,
        id: i64,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        self.poll(&format!("/api/v1/instances/{id}"), limit, done)
            .await
    }

    /// Waits until instance `id` is in `state` (`running`, `shut_off`, …).
    pub async fn wait_state(&self, id: i64, state: &str) -> Value {
        self.wait_instance(id, self.wait, |i| i["state"] == state)
            .await
    }

    /// Deletes instance `id`: accepted, and its task succeeds.
    pub async fn remove(&self, id: i64) {
        let (status, started) = self.delete_instance(id).await;
        assert_eq!(status, 202, "{started}");
        let task = self.wait_task(started_task(&started)).await;
        assert_eq!(task["state"], "succeeded", "{task}");
    }
}

/// Where applications open.
impl Api {
    /// Applications open under `domain` (`NAME.DOMAIN` on the portal's
    /// port), the portal at `portal_origin`; the test fails otherwise.
    pub async fn open_apps_under(&self, portal_origin: &str, domain: &str) {
        let body = json!({"portal_origin": portal_origin,
                          "addressing": {"mode": "domain", "domain": domain}});
        let (status, apps) = self.put("/api/v1/settings/apps", body).await;
        assert_eq!(status, 200, "{apps}");
    }
}

/// Departments and their members.
impl Api {
    /// Creates department `name` below `parent`: its id.
    pub async fn create_department(&self, name: &str, parent: Option<i64>) -> i64 {
        let body = json!({"name": name, "parent_id": parent});
        let (status, department) = self.post("/api/v1/departments", body).await;
        assert_eq!(status, 201, "{department}");
        department["id"].as_i64().unwrap()
    }

    /// Creates local account `username` in `department` (its admin when
    /// `department_admin`): its id.
    pub async fn create_member(
        &self,
        username: &str,
        password: &str,
        department: i64,
        department_admin: bool,
    ) -> i64 {
        let body = json!({"username": username, "password": password,
            "department_id": department, "department_admin": department_admin});
        let (status, member) = self.post("/api/v1/users", body).await;
        assert_eq!(status, 201, "{member}");
        member["id"].as_i64().unwrap()
    }

    /// `PATCH /api/v1/users/{id}`.
    pub async fn update_member(&self, id: i64, body: Value) -> (u16, Value) {
        self.patch(&format!("/api/v1/users/{id}"), body).await
    }

    /// `PATCH /api/v1/departments/{id}`.
    pub async fn update_department(&self, id: i64, body: Value) -> (u16, Value) {
        self.patch(&format!("/api/v1/departments/{id}"), body).await
    }

    /// The accounts `GET /api/v1/users` lists, by name (the test fails if
    /// `username` is not among them).
    pub async fn member_named(&self, username: &str) -> Value {
        let (status, users) = self.get(&format!("/api/v1/users?q={username}")).await;
        assert_eq!(status, 200, "{users}");
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == username)
            .unwrap_or_else(|| panic!("no {username} in {users}"))
            .clone()
    }
}

/// Paged lists: one page, or every page through `Link: <...>; rel="next"`.
impl Api {
    /// The portal's page at `path`, as the server renders it (the test
    /// fails on any answer but 200).
    pub async fn html(&self, path: &str) -> String {
        let response = self.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.text().await.unwrap()
    }

    /// One page of the list at `path`: each item's `key` (a string
    /// field), and the next page's path.
    pub async fn page(&self, key: &str, path: &str) -> (Vec<String>, Option<String>) {
        let response = self.request(Method::GET, path).send().await.unwrap();
        let next = response.headers().get(LINK).map(|link| {
            let link = link.to_str().unwrap();
            let (target, rel) = link.split_once("; ").unwrap();
            assert_eq!(rel, "rel=\"next\"");
            target
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        });
        let (status, body) = status_json(response).await;
        assert_eq!(status, 200, "{path}: {body}");
        let keys = body
            .as_array()
            .unwrap()
            .iter()
            .map(|item| match &item[key] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect();
        (keys, next)
    }

    /// Every page from `path` on, following `Link`; the test fails if a
    /// page holds more than `limit`.
    pub async fn every_page(&self, key: &str, path: &str, limit: usize) -> Vec<String> {
        let mut all = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next {
            let (keys, after) = self.page(key, &path).await;
            assert!(keys.len() <= limit, "{path}: {keys:?}");
            all.extend(keys);
            next = after;
        }
        all
    }
}

/// What `Api::browser` uses.
pub fn browser_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}
