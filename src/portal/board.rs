//! The room board, live: one background loop per lab runs every pod's
//! checks (one try each, the execs bounded as `noglab check`'s are) while
//! an instructor's page listens, and pushes each new board to every such
//! page by server-sent events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;

use super::api::{board_now, BoardView};
use super::Shared;

/// The pause between two refreshes of a board.
pub const EVERY: Duration = Duration::from_secs(3);

/// The latest board of a lab, for pages that listen.
pub type Latest = watch::Sender<Option<Arc<BoardView>>>;

/// Refreshes `lab`'s board for as long as the portal runs, only while a
/// page listens.
pub async fn refresh(portal: Shared, lab: String) {
    let Some(latest) = portal.boards.get(&lab).cloned() else {
        return;
    };
    let Some(plan) = portal.plans.get(&lab).cloned() else {
        return;
    };
    loop {
        if latest.receiver_count() == 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let board = board_now(&portal, &lab, &plan).await;
        latest.send_replace(Some(Arc::new(board)));
        tokio::time::sleep(EVERY).await;
    }
}

/// Each board as an event `board` with its JSON, from the latest one on.
pub fn events(latest: &Latest) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = latest.subscribe();
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let board = rx.borrow_and_update().clone();
        let event = match board {
            Some(b) => Event::default()
                .event("board")
                .json_data(&*b)
                .unwrap_or_else(|_| Event::default().comment("unencodable board")),
            None => Event::default().comment("first board under way"),
        };
        Some((Ok(event), (rx, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
