//! The receiving slots of uploads: how many bodies are being received at once, in all and per
//! token. Bodies are buffered whole before scrubbing, so the total bounds memory; the share per
//! token keeps one caller (a stalled phone, a script, a stolen token) from holding every slot
//! while others wait. A stalled body loses its slot to the body timeout (see [`super::conn`]).

use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The upload slots, shared by every request.
#[derive(Clone)]
pub struct UploadSlots {
    all: Arc<Semaphore>,
    per_token: usize,
    held: Arc<Mutex<HashMap<String, usize>>>,
    released: Arc<Notify>,
}

/// Why no slot was had.
#[derive(Debug, PartialEq, Eq)]
pub enum NoSlot {
    /// The token already held its share for the whole wait.
    TokenAtLimit(usize),
    /// Every slot stayed taken for the whole wait.
    Busy,
}

/// A slot held; dropping it frees it.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _share: Share,
}

/// One of a token's share, counted out on drop.
struct Share {
    slots: UploadSlots,
    token: String,
}

impl Drop for Share {
    fn drop(&mut self) {
        {
            let mut held = self.slots.held.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = held.get_mut(&self.token) {
                *count -= 1;
                if *count == 0 {
                    held.remove(&self.token);
                }
            }
        }
        self.slots.released.notify_waiters();
    }
}

impl UploadSlots {
    /// `total` slots, of which one token may hold half (at least one).
    pub fn new(total: usize) -> UploadSlots {
        let total = total.max(1);
        UploadSlots {
            all: Arc::new(Semaphore::new(total)),
            per_token: (total / 2).max(1),
            held: Arc::default(),
            released: Arc::default(),
        }
    }

    /// How many slots one token may hold at once.
    pub fn per_token(&self) -> usize {
        self.per_token
    }

    /// A slot for `token_id`, waiting up to `wait` first for the token's share and then for a
    /// free slot: a short wait absorbs a burst (a tutor's batch of uploads queues here rather than
    /// failing), beyond it the client is told to come back.
    pub async fn acquire(&self, token_id: &str, wait: Duration) -> Result<Slot, NoSlot> {
        let deadline = Instant::now() + wait;
        let share = loop {
            let mut released = pin!(self.released.notified());
            released.as_mut().enable();
            if let Some(share) = self.try_share(token_id) {
                break share;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return Err(NoSlot::TokenAtLimit(self.per_token));
            }
        };
        match tokio::time::timeout_at(deadline, self.all.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot { _permit: permit, _share: share }),
            // The semaphore is never closed; a closed one would mean no slots, so busy.
            Ok(Err(_)) | Err(_) => Err(NoSlot::Busy),
        }
    }

    fn try_share(&self, token_id: &str) -> Option<Share> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(token_id.to_string()).or_insert(0);
        if *count >= self.per_token {
            return None;
        }
        *count += 1;
        Some(Share { slots: self.clone(), token: token_id.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_token_holds_at_most_its_share() {
        let slots = UploadSlots::new(4);
        let a1 = slots.acquire("a", Duration::ZERO).await.unwrap();
        let _a2 = slots.acquire("a", Duration::ZERO).await.unwrap();
        assert_eq!(slots.acquire("a", Duration::from_millis(20)).await.err(), Some(NoSlot::TokenAtLimit(2)));
        let _b1 = slots.acquire("b", Duration::ZERO).await.unwrap();
        let _b2 = slots.acquire("b", Duration::ZERO).await.unwrap();
        assert_eq!(slots.acquire("c", Duration::from_millis(20)).await.err(), Some(NoSlot::Busy));
        // A freed share lets a waiting request of the same token in.
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("a", Duration::from_secs(5)).await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a1);
        assert!(waiting.await.unwrap());
        assert!(slots.held.lock().unwrap().get("c").is_none(), "a token without slots leaves no entry");
    }
}
