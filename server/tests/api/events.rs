//! `/api/v1/events`: live updates, each reader's own, resumable, and
//! ended with the reader's rights.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::common::{ADMIN, ADMIN_PASSWORD, Api, TestApp, USER_PASSWORD};

/// One Server-Sent Event.
#[derive(Debug)]
struct Sse {
    name: String,
    id: Option<u64>,
    data: Value,
}

/// A reader of `/api/v1/events`.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(api: &Api, last_event_id: Option<u64>) -> Events {
        let mut request = api.request(Method::GET, "/api/v1/events");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next event within `wait`: `None` when none comes, or the stream
    /// ended (`ended` tells which).
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (None, None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                // Keep-alive comments carry no event.
                if let Some(name) = name {
                    return Some(Sse {
                        name,
                        id,
                        data: serde_json::from_str(&data).unwrap(),
                    });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Whether the server has ended the stream (within `wait`).
    async fn ended(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Events until one satisfies `done` (within 30 s), all of them.
    async fn until(&mut self, done: impl Fn(&Sse) -> bool) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let event = self
                .next(Duration::from_secs(30))
                .await
                .unwrap_or_else(|| panic!("no event came; so far {seen:#?}"));
            let last = done(&event);
            seen.push(event);
            if last {
                return seen;
            }
        }
    }
}

fn is_instance(e: &Sse, name: &str, state: &str) -> bool {
    e.name == "instance" && e.data["name"] == name && e.data["state"] == state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_reader_hears_of_the_instances_it_may_see_as_they_change() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let science = admin.create_department("science", None).await;
    admin
        .create_member("ann", USER_PASSWORD, science, false)
        .await;
    admin
        .create_member("bob", USER_PASSWORD, science, false)
        .await;
    let ann = app.api().signed_in("ann", USER_PASSWORD).await;
    let bob = app.api().signed_in("bob", USER_PASSWORD).await;
    let mut anns = Events::open(&ann, None).await;
    let mut admins = Events::open(&admin, None).await;
    let mut bobs = Events::open(&bob, None).await;

    let notes = ann.deployed("notes").await.id;
    let deploy = anns.until(|e| is_instance(e, "notes", "running")).await;
    assert!(
        deploy
            .iter()
            .any(|e| is_instance(e, "notes", "provisioning"))
    );
    assert!(
        deploy
            .iter()
            .any(|e| e.name == "task" && e.data["kind"] == "deploy")
    );
    let ids: Vec<u64> = deploy.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] <= w[1]), "ids grow: {ids:?}");
    admins.until(|e| is_instance(e, "notes", "running")).await;
    // (The usage loop's ticks, which name no instance, come to everyone.)
    while let Some(e) = bobs.next(Duration::from_millis(500)).await {
        assert_eq!(e.name, "readings", "bob may not see ann's instance: {e:?}");
    }

    // Deleted: told as it goes, and when it is gone.
    let before_delete = ids.last().copied().unwrap();
    let (status, _) = ann.delete_instance(notes).await;
    assert_eq!(status, 202);
    let gone = anns
        .until(|e| e.name == "instance_removed" && e.data["id"] == notes)
        .await;
    assert!(gone.iter().any(|e| is_instance(e, "notes", "deleting")));
    admins
        .until(|e| e.name == "instance_removed" && e.data["id"] == notes)
        .await;

    // A reader that reconnects hears what it missed, after its last id...
    let mut again = Events::open(&ann, Some(before_delete)).await;
    let replayed = again
        .until(|e| e.name == "task" && e.data["kind"] == "delete" && e.data["state"] == "succeeded")
        .await;
    assert!(
        replayed.iter().all(|e| e.id.unwrap() > before_delete),
        "{replayed:#?}"
    );
    // The removal is told on replay too, though the replaying stream never
    // told of the instance (its record is gone, but whose it was goes with
    // the removal): to its owner and its department's admins, and to no
    // one else.
    admin
        .create_member("carol", USER_PASSWORD, science, true)
        .await;
    let carol = app.api().signed_in("carol", USER_PASSWORD).await;
    for reader in [&ann, &carol] {
        Events::open(reader, Some(before_delete))
            .await
            .until(|e| e.name == "instance_removed" && e.data["id"] == notes)
            .await;
    }
    let mut bobs_replay = Events::open(&bob, Some(before_delete)).await;
    while let Some(e) = bobs_replay.next(Duration::from_secs(1)).await {
        assert_ne!(e.name, "instance_removed", "bob may not see ann's instance");
    }
    // ...or, when that is more than is kept, to start over.
    let mut stale = Events::open(&ann, Some(1)).await;
    let first = stale.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.name, "reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_reader_signs_out_or_is_disabled() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let science = admin.create_department("science", None).await;
    admin
        .create_member("ann", USER_PASSWORD, science, false)
        .await;
    let ann = app.api().signed_in("ann", USER_PASSWORD).await;
    let token = ann.create_token("feed").await;
    let by_token = Api::new(reqwest::Client::new(), app.url("")).bearer(&token);

    let mut by_session = Events::open(&ann, None).await;
    let mut with_token = Events::open(&by_token, None).await;
    assert!(!by_session.ended(Duration::from_millis(300)).await);
    assert_eq!(ann.sign_out().await, 204);
    assert!(by_session.ended(Duration::from_secs(5)).await, "signed out");
    assert!(
        !with_token.ended(Duration::from_millis(300)).await,
        "the token still works"
    );

    app.appliance
        .store
        .write(|tx| server::store::users::set_disabled(tx, "ann", true))
        .await
        .unwrap();
    assert!(with_token.ended(Duration::from_secs(5)).await, "disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_hear_when_instances_use_was_read_so_charts_follow_without_polling() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let mut events = Events::open(&admin, None).await;
    // Nothing runs, yet the hosts' own figures are read: the Hosts page's
    // charts follow them.
    events.until(|e| e.name == "readings").await;
    let busy = admin.deployed("busy").await;
    // The usage loop runs every second in tests; a rate needs two
    // readings. A "readings" event comes once the instance's own reading
    // is stored: its newest point is the one the event names.
    let usage = format!("/api/v1/instances/{}/usage", busy.id);
    let mut told = None;
    for _ in 0..30 {
        let seen = events.until(|e| e.name == "readings").await;
        let readings = seen.into_iter().last().unwrap();
        let at = readings.data["at"].as_i64().unwrap();
        let (_, series) = admin.get(&usage).await;
        let newest = series["points"]
            .as_array()
            .and_then(|p| p.last())
            .and_then(|p| p["at"].as_i64());
        // The 10 s tier keeps a reading at the start of its 10 s.
        if newest.is_some_and(|n| n <= at && at - n < 10) {
            told = Some(readings);
            break;
        }
    }
    let readings = told.expect("a readings event told of the instance's reading");
    let at = readings.data["at"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - 60..=now).contains(&at), "{readings:?}");
    assert!(readings.id.is_some(), "resumable like every event");
}
