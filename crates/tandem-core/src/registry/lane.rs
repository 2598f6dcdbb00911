//! A document actor's inbound queues: bounded, many senders, one receiver, and nothing allocated
//! until a message waits.
//!
//! A tokio channel allocates its first block of 32 slots with itself (32 × 56-byte messages
//! here: 2.3 kB with its shared state), and every open document holds two (the mailbox and the
//! presence lane), whether or not anyone ever writes to it. A lane is a `VecDeque` behind a mutex:
//! empty, it holds no buffer. Its bound is a semaphore of free places, so a full lane makes a
//! sender wait (fairly, first come first served), as a bounded channel does.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, Semaphore};

/// What the senders and the receiver of one lane share.
struct Shared<T> {
    /// `None` once the receiver closed the lane: nothing more is queued.
    queue: Mutex<Option<VecDeque<T>>>,
    /// Free places. A sender takes one before it queues; the receiver gives one back for each
    /// message it takes.
    room: Semaphore,
    /// Live senders; the receiver ends once none is left and the queue is empty.
    senders: AtomicUsize,
    /// Wakes the receiver; `notify_one` keeps a permit when it is not waiting, so a message
    /// queued between its check and its wait is not missed.
    ready: Notify,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Option<VecDeque<T>>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A lane holding at most `capacity` messages.
pub(crate) fn lane<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Some(VecDeque::new())),
        room: Semaphore::new(capacity.max(1)),
        senders: AtomicUsize::new(1),
        ready: Notify::new(),
    });
    let tx = Sender {
        shared: shared.clone(),
    };
    (tx, Receiver { shared })
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.ready.notify_one();
        }
    }
}

impl<T> Sender<T> {
    /// Queues `msg`, waiting while the lane is full; gives it back if the receiver closed it.
    pub(crate) async fn send(&self, msg: T) -> Result<(), T> {
        match self.shared.room.acquire().await {
            Ok(place) => place.forget(),
            Err(_) => return Err(msg),
        }
        self.push(msg)
    }

    /// Queues `msg` if there is room now.
    pub(crate) fn try_send(&self, msg: T) -> Result<(), T> {
        match self.shared.room.try_acquire() {
            Ok(place) => place.forget(),
            Err(_) => return Err(msg),
        }
        self.push(msg)
    }

    /// Queues a message whose place is taken.
    fn push(&self, msg: T) -> Result<(), T> {
        match self.shared.lock().as_mut() {
            Some(queue) => queue.push_back(msg),
            // Closed after the place was taken: the message goes back, never into a lane
            // nobody reads.
            None => return Err(msg),
        }
        self.shared.ready.notify_one();
        Ok(())
    }
}

impl<T> Receiver<T> {
    /// The next message; `None` once every sender is gone and nothing is left. Cancel-safe: a
    /// message is only taken when it is returned.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(msg) = self.try_recv() {
                return Some(msg);
            }
            if self.shared.senders.load(Ordering::Acquire) == 0 {
                return self.try_recv();
            }
            self.shared.ready.notified().await;
        }
    }

    pub(crate) fn try_recv(&mut self) -> Option<T> {
        let msg = {
            let mut queue = self.shared.lock();
            let queue = queue.as_mut()?;
            let msg = queue.pop_front()?;
            // A burst's room is not kept for good by a document that is quiet again.
            if queue.is_empty() && queue.capacity() > 64 {
                queue.shrink_to(8);
            }
            msg
        };
        self.shared.room.add_permits(1);
        Some(msg)
    }

    /// Refuses every later send (waiting senders get their message back) and drops what is
    /// queued, so whoever waits on an answer inside it hears that the room is gone.
    pub(crate) fn close(&mut self) {
        self.shared.room.close();
        let queued = self.shared.lock().take();
        drop(queued);
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn messages_arrive_in_order_and_the_lane_ends_when_its_senders_are_gone() {
        let (tx, mut rx) = lane(4);
        let tx2 = tx.clone();
        tx.send(1).await.unwrap();
        tx2.try_send(2).unwrap();
        tx.send(3).await.unwrap();
        drop((tx, tx2));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_full_lane_makes_senders_wait_until_a_message_is_taken() {
        let (tx, mut rx) = lane(2);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        assert_eq!(tx.try_send(3), Err(3), "full: try_send refuses");
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(3).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "a sender waits while the lane is full"
        );
        assert_eq!(rx.recv().await, Some(1));
        waiting.await.unwrap().unwrap();
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
    }

    #[tokio::test]
    async fn the_receiver_wakes_for_a_message_sent_while_it_waits() {
        let (tx, mut rx) = lane(2);
        let recv = tokio::spawn(async move { rx.recv().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send(7).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), recv).await;
        assert_eq!(got.unwrap().unwrap(), Some(7));
    }

    #[tokio::test]
    async fn closing_gives_messages_back_and_drops_what_was_queued() {
        let (tx, mut rx) = lane(1);
        let (answer, answered) = tokio::sync::oneshot::channel::<()>();
        tx.send(Some(answer)).await.unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(None).await.is_err() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        rx.close();
        assert!(
            waiting.await.unwrap(),
            "a waiting sender gets its message back"
        );
        assert!(answered.await.is_err(), "the queued request was dropped");
        assert!(tx.try_send(None).is_err());
        assert!(tx.send(None).await.is_err());
        assert!(rx.try_recv().is_none());
    }

    #[tokio::test]
    async fn an_empty_lane_gives_a_bursts_room_back() {
        let (tx, mut rx) = lane(1000);
        for i in 0..500 {
            tx.send(i).await.unwrap();
        }
        while rx.try_recv().is_some() {}
        let capacity = rx.shared.lock().as_ref().unwrap().capacity();
        assert!(capacity <= 64, "kept room for {capacity} messages");
        // The places came back with the messages.
        for i in 0..1000 {
            tx.try_send(i).unwrap();
        }
    }
}
