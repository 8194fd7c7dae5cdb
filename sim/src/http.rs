//! The HTTP listener: image upload, the web page, stored images and the control API.
//!
//! Control API, for people and for test programs in any language:
//!
//! * `GET /api/received[?service_name=X][&after=SEQ]`: the records, as a JSON array of
//!   `{seq, link, park_id, service_name, data, answer}`.
//! * `GET /api/pushed[?after=SEQ]`: the pushes, as `{seq, park_id, message, sessions}`.
//! * `POST /api/push?park_id=X` with a JSON message as the body: pushes it, answers
//!   `{"sessions":N}`.
//! * `GET /api/status`: the parks with their live sessions, and how much was received.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::state::Shared;
use crate::{page, upload};

/// The largest request body. Above the image limit on purpose: an oversized image must reach
/// the upload check, which refuses it with a message that names the limit.
const MAX_BODY: usize = 4 * 1024 * 1024;

type SharedState = State<Arc<Shared>>;

/// Serves HTTP until the runtime stops.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let router = Router::new()
        .route("/", get(index))
        .route("/images/:id", get(image))
        .route("/upload/carimgupload", post(upload_image))
        .route("/zld/carpicsup.do", post(upload_image_legacy))
        .route("/api/received", get(api_received))
        .route("/api/pushed", get(api_pushed))
        .route("/api/push", post(api_push))
        .route("/api/status", get(api_status))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared);

    if let Err(error) = axum::serve(listener, router.into_make_service()).await {
        eprintln!("bolink-sim: the HTTP listener stopped: {error}");
    }
}

async fn index(State(shared): SharedState) -> Html<String> {
    Html(page::render(&shared))
}

async fn image(State(shared): SharedState, Path(id): Path<String>) -> Response {
    let found = id.parse::<u64>().ok().and_then(|id| {
        let mut state = shared.lock();
        state.prune_images(shared.config.image_retention);
        state.images.iter().find(|image| image.id == id).cloned()
    });
    match found {
        Some(image) => {
            let content_type = if image.pic_type == "png" {
                "image/png"
            } else {
                "image/jpeg"
            };
            ([(header::CONTENT_TYPE, content_type)], image.bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such image\n").into_response(),
    }
}

async fn upload_image(State(shared): SharedState, body: Bytes) -> Json<Value> {
    Json(upload::receive(&shared, &body))
}

/// The 2018 server's address for the same upload: `/zld/carpicsup.do?action=receivepic`.
async fn upload_image_legacy(
    State(shared): SharedState,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Json<Value> {
    match query.get("action").map(String::as_str) {
        Some("receivepic") | None => Json(upload::receive(&shared, &body)),
        Some(_) => Json(json!({"state":0,"errmsg":"error:action无效"})),
    }
}

async fn api_received(
    State(shared): SharedState,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let after = match query.get("after").map(|after| after.parse::<u64>()) {
        None => 0,
        Some(Ok(after)) => after,
        Some(Err(_)) => return bad_request("after must be a record number"),
    };
    let service_name = query.get("service_name");

    let state = shared.lock();
    let records: Vec<Value> = state
        .received
        .iter()
        .filter(|record| record.seq > after)
        .filter(|record| service_name.is_none_or(|name| *name == record.service_name))
        .map(|record| {
            json!({
                "seq": record.seq,
                "link": record.link.as_str(),
                "park_id": record.park_id,
                "service_name": record.service_name,
                "data": record.data,
                "answer": record.answer,
            })
        })
        .collect();
    Json(Value::Array(records)).into_response()
}

async fn api_pushed(
    State(shared): SharedState,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let after = match query.get("after").map(|after| after.parse::<u64>()) {
        None => 0,
        Some(Ok(after)) => after,
        Some(Err(_)) => return bad_request("after must be a push number"),
    };

    let state = shared.lock();
    let pushes: Vec<Value> = state
        .pushed
        .iter()
        .filter(|push| push.seq > after)
        .map(|push| {
            json!({
                "seq": push.seq,
                "park_id": push.park_id,
                "message": push.message,
                "sessions": push.sessions,
            })
        })
        .collect();
    Json(Value::Array(pushes)).into_response()
}

async fn api_push(
    State(shared): SharedState,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let Some(park_id) = query.get("park_id") else {
        return bad_request("park_id is missing from the query");
    };
    let message = match serde_json::from_slice::<Value>(&body) {
        Ok(message @ Value::Object(_)) => message,
        _ => return bad_request("the body must be a JSON object"),
    };

    let sessions = shared.update(|state| state.push(park_id, &message));
    Json(json!({"sessions":sessions})).into_response()
}

async fn api_status(State(shared): SharedState) -> Json<Value> {
    let mut state = shared.lock();
    state.prune_images(shared.config.image_retention);
    let sessions = state.sessions();
    let parks: Vec<Value> = shared
        .config
        .parks
        .iter()
        .map(|park| {
            let online: Vec<Value> = sessions
                .iter()
                .filter(|session| session.park_id == park.park_id)
                .map(|session| json!({"link":session.link.as_str(),"local_id":session.local_id}))
                .collect();
            json!({
                "union_id": park.union_id,
                "park_id": park.park_id,
                "logged_in": online.len(),
                "sessions": online,
            })
        })
        .collect();
    Json(json!({
        "parks": parks,
        "received": state.received.len(),
        "pushed": state.pushed.len(),
        "images": state.images.len(),
    }))
}

fn bad_request(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error":why}))).into_response()
}
