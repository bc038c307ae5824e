//! The proxy's own pace of calls to Campaign: Campaign Standard throttles
//! no one, so the caller must.

use std::time::Duration;

use super::CampaignError;
use crate::limits::refill;

tokio::task_local! {
    /// Set for the retry worker's attempts: they leave customers the last
    /// part of the pace.
    static WORKER: bool;
}

/// Whether the running task is the retry worker's.
pub(super) fn is_worker() -> bool {
    WORKER.try_with(|worker| *worker).unwrap_or(false)
}

/// Runs `attempt` as the retry worker's.
pub fn as_worker<F: Future>(attempt: F) -> impl Future<Output = F::Output> {
    WORKER.scope(true, attempt)
}

/// A token bucket of calls: `per_second` on average, as many at once. The
/// retry worker may not take the last fifth: a customer's call waits for
/// no backlog.
pub(super) struct Pace {
    per_second: f64,
    tokens: std::sync::Mutex<(f64, tokio::time::Instant)>,
    /// Who waits for a token, customers' calls and the worker's apart, each
    /// in order of arrival (tokio's mutex is fair). Without it a waiter that
    /// woke a moment late lost the token to a later one, again and again:
    /// an attempt's second call (the PATCH after its look-up) waited behind
    /// look-ups that came after it, up to its deadline.
    queues: [tokio::sync::Mutex<()>; 2],
}

impl Pace {
    pub(super) fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            tokens: std::sync::Mutex::new((f64::from(per_second), tokio::time::Instant::now())),
            queues: Default::default(),
        }
    }

    /// Takes a call's token, waiting for one until `deadline`.
    pub(super) async fn take(
        &self,
        worker: bool,
        deadline: tokio::time::Instant,
    ) -> Result<(), CampaignError> {
        if self.per_second == 0.0 {
            return Ok(());
        }
        // A fifth, but never so much that the worker could get no turn.
        let floor = if worker {
            (self.per_second / 5.0).min(self.per_second - 1.0)
        } else {
            0.0
        };
        let queue = &self.queues[usize::from(worker)];
        let Ok(_turn) = tokio::time::timeout_at(deadline, queue.lock()).await else {
            let one = Duration::from_secs_f64(1.0 / self.per_second);
            return Err(CampaignError::Paced(one));
        };
        loop {
            let wait = {
                let mut guard = self
                    .tokens
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let (tokens, counted) = &mut *guard;
                let now = tokio::time::Instant::now();
                let elapsed = now.duration_since(*counted);
                *tokens = refill(*tokens, elapsed, self.per_second, self.per_second);
                *counted = now;
                if *tokens >= 1.0 + floor {
                    *tokens -= 1.0;
                    return Ok(());
                }
                Duration::from_secs_f64((1.0 + floor - *tokens) / self.per_second)
            };
            if tokio::time::Instant::now() + wait > deadline {
                return Err(CampaignError::Paced(wait));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Of ten calls a second, the worker may take eight at once: the last
    /// two are a customer's. (The clock stands still: no token comes back.)
    #[tokio::test(start_paused = true)]
    async fn the_worker_leaves_customers_the_last_fifth_of_the_pace() {
        let pace = Pace::new(10);
        let now = tokio::time::Instant::now();
        for _ in 0..8 {
            pace.take(true, now).await.unwrap();
        }
        let refused = pace.take(true, now).await;
        assert!(
            matches!(refused, Err(CampaignError::Paced(_))),
            "{refused:?}"
        );
        pace.take(false, now).await.unwrap();
        pace.take(false, now).await.unwrap();
        assert!(pace.take(false, now).await.is_err(), "then nobody");
        assert!(Pace::new(0).take(true, now).await.is_ok(), "0: no pace");
        let one = Pace::new(1);
        assert!(
            one.take(true, now).await.is_ok(),
            "at 1 a second, the worker still gets its turn"
        );
    }

    /// Calls that wait for the pace get their tokens in the order they
    /// came (docs/performance.md: the flood measured before and after).
    #[tokio::test(start_paused = true)]
    async fn waiting_calls_take_their_tokens_in_order() {
        let pace = Arc::new(Pace::new(1));
        let far = tokio::time::Instant::now() + Duration::from_secs(60);
        pace.take(false, far).await.unwrap();
        let served = Arc::new(std::sync::Mutex::new(Vec::new()));
        let waiters: Vec<_> = (0..5)
            .map(|n| {
                let (pace, served) = (pace.clone(), served.clone());
                tokio::spawn(async move {
                    pace.take(true, far).await.unwrap();
                    served.lock().unwrap().push(n);
                })
            })
            .collect();
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(*served.lock().unwrap(), [0, 1, 2, 3, 4]);
    }
}
