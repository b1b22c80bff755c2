//! A delivery's two deadlines on one timer. The route bounds the whole delivery by
//! `server.requestTimeout` (408). Within it, the wait for the disk to confirm the executions is
//! given up [`ANSWER_MARGIN`] earlier, refused 503 and taken back, so that refusal reaches the
//! sender before the route's own timeout or the sender gives up.
//!
//! [`Deadline::run`] holds the one timer, set for the earlier deadline. When it fires, the
//! deadline is marked passed and the timer moved to the later one; the work inside
//! [`Deadline::bounded`] sees the mark and gives up. Two timers (a `timeout` in each place)
//! cost a delivery a second registration in tokio's timer wheel and its removal, which under
//! saturation meant a lock shared by both worker threads (BENCHMARKS.md).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

/// How long before `server.requestTimeout` a delivery still waiting on the disk is refused.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// One delivery's deadlines (see the module doc).
#[derive(Debug, Default)]
pub struct Deadline {
    /// The earlier deadline has passed.
    passed: AtomicBool,
}

impl Deadline {
    /// `receive`'s output, or `None` once `request_timeout` has passed without it. At
    /// `request_timeout` less [`ANSWER_MARGIN`], what runs in [`Deadline::bounded`] gives up.
    /// `receive` is pinned where the caller made it: a delivery's future is large, and moving
    /// it in here copied it once more.
    pub async fn run<F: Future>(
        &self,
        request_timeout: Duration,
        mut receive: Pin<&mut F>,
    ) -> Option<F::Output> {
        let start = Instant::now();
        let mut timer = pin!(tokio::time::sleep_until(
            start + request_timeout.saturating_sub(ANSWER_MARGIN)
        ));
        poll_fn(|cx| {
            loop {
                if let Poll::Ready(output) = receive.as_mut().poll(cx) {
                    return Poll::Ready(Some(output));
                }
                match timer.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) if self.passed.swap(true, Ordering::Relaxed) => {
                        return Poll::Ready(None);
                    }
                    // Polled again at once, so what is bounded gives up now.
                    Poll::Ready(()) => timer.as_mut().reset(start + request_timeout),
                }
            }
        })
        .await
    }

    /// `work`'s output, or `None` when it is not done by the earlier deadline (see
    /// [`Deadline::run`]). Polled first each time, so work done in time always counts.
    pub async fn bounded<F: Future>(&self, work: F) -> Option<F::Output> {
        let mut work = pin!(work);
        poll_fn(|cx| match work.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending if self.passed.load(Ordering::Relaxed) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn work_done_in_time_is_answered() {
        let deadline = Deadline::default();
        let receive = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            deadline.bounded(async { 7 }).await
        };
        assert_eq!(deadline.run(TIMEOUT, pin!(receive)).await, Some(Some(7)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_bounded_wait_gives_up_at_the_margin_and_the_delivery_is_answered() {
        let deadline = Deadline::default();
        let started = Instant::now();
        let receive = async {
            let waited = deadline.bounded(std::future::pending::<()>()).await;
            (waited, started.elapsed())
        };
        let (waited, after) = deadline
            .run(TIMEOUT, pin!(receive))
            .await
            .expect("answered");
        assert_eq!(waited, None);
        assert_eq!(after, TIMEOUT - ANSWER_MARGIN);
    }

    #[tokio::test(start_paused = true)]
    async fn work_that_is_not_bounded_runs_to_the_request_timeout() {
        let deadline = Deadline::default();
        let started = Instant::now();
        let receive = async {
            tokio::time::sleep(TIMEOUT - Duration::from_millis(500)).await;
            // Past the margin: a wait for the disk starting now gives up unless done at once.
            let at_once = deadline.bounded(async { 1 }).await;
            let waiting = deadline.bounded(std::future::pending::<()>()).await;
            (at_once, waiting)
        };
        assert_eq!(
            deadline.run(TIMEOUT, pin!(receive)).await,
            Some((Some(1), None))
        );
        let deadline = Deadline::default();
        let stuck = deadline
            .run(TIMEOUT, pin!(std::future::pending::<()>()))
            .await;
        assert_eq!(stuck, None);
        assert_eq!(started.elapsed(), TIMEOUT * 2 - Duration::from_millis(500));
    }
}
