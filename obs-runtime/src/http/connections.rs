//! The open connections of the embedded server: who holds a slot, whether it is doing useful
//! work, and which one gives its slot up when a newcomer needs it.
//!
//! A full server never refuses a newcomer while some connection only holds its slot: an idle
//! keep-alive connection, a client still sending its headers, or one whose response has not moved
//! for [`STALLED_AFTER`] (it stopped reading) is evicted instead, the one that has gone longest
//! without starting a request first. A newcomer is refused only when every slot is serving a
//! request that makes progress.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sync;

use tokio::sync::Notify;

/// A response write that has not moved for this long is stalled: its connection may be evicted.
pub(crate) const STALLED_AFTER: Duration = Duration::from_secs(1);
/// A connection that started its last request (or connected) less than this ago is evicted only
/// when no older one can go.
const YOUNG: Duration = Duration::from_millis(500);

/// What one connection is doing, shared by its task, its I/O wrapper and the table.
#[derive(Debug)]
pub(crate) struct Conn {
    epoch: Instant,
    /// Nanoseconds since `epoch` when the connection was accepted or last started a request.
    last_request: AtomicU64,
    /// Requests inside the service now (0 or 1 for HTTP/1).
    handling: AtomicUsize,
    /// Nanoseconds since `epoch` + 1 when a write started waiting for the client; 0 when none waits.
    write_blocked_since: AtomicU64,
    /// Bytes of a next request arrived since the last request started (a timeout then is a
    /// header timeout, not an idle one).
    partial_request: AtomicBool,
    /// Set when the write deadline closed the connection.
    write_timed_out: AtomicBool,
    evicted: Notify,
}

impl Conn {
    fn new(epoch: Instant) -> Conn {
        Conn {
            epoch,
            last_request: AtomicU64::new(nanos_since(epoch)),
            handling: AtomicUsize::new(0),
            write_blocked_since: AtomicU64::new(0),
            partial_request: AtomicBool::new(false),
            write_timed_out: AtomicBool::new(false),
            evicted: Notify::new(),
        }
    }

    /// Request bytes arrived.
    pub(crate) fn read_some(&self) {
        self.partial_request.store(true, Ordering::Relaxed);
    }

    /// A write waits for the client to read (the first time since it last moved).
    pub(crate) fn write_blocked(&self) {
        if self.write_blocked_since.load(Ordering::Relaxed) == 0 {
            self.write_blocked_since.store(nanos_since(self.epoch) + 1, Ordering::Relaxed);
        }
    }

    /// A write moved.
    pub(crate) fn write_moved(&self) {
        self.write_blocked_since.store(0, Ordering::Relaxed);
    }

    pub(crate) fn set_write_timed_out(&self) {
        self.write_timed_out.store(true, Ordering::Relaxed);
    }

    pub(crate) fn write_timed_out(&self) -> bool {
        self.write_timed_out.load(Ordering::Relaxed)
    }

    /// Whether the connection was waiting between requests (rather than inside one) when it ended.
    pub(crate) fn was_idle(&self) -> bool {
        !self.partial_request.load(Ordering::Relaxed) && self.handling.load(Ordering::Relaxed) == 0
    }

    /// Whether the connection waits for a request (idle, or still receiving its headers): no
    /// request is in the service and no response is being written.
    pub(crate) fn waits_for_request(&self) -> bool {
        self.handling.load(Ordering::Relaxed) == 0 && self.write_blocked_since.load(Ordering::Relaxed) == 0
    }

    /// Marks a request as being served until the returned guard drops.
    pub(crate) fn serving(self: &Arc<Conn>) -> Serving {
        self.handling.fetch_add(1, Ordering::Relaxed);
        self.partial_request.store(false, Ordering::Relaxed);
        self.last_request.store(nanos_since(self.epoch), Ordering::Relaxed);
        Serving(self.clone())
    }

    /// Resolves when the table took this connection's slot for a newcomer.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// Whether the connection only holds its slot: no request in the service and no response
    /// write making progress.
    fn evictable(&self, now: u64) -> bool {
        if self.handling.load(Ordering::Relaxed) > 0 {
            return false;
        }
        match self.write_blocked_since.load(Ordering::Relaxed) {
            0 => true,
            since => now.saturating_sub(since - 1) >= STALLED_AFTER.as_nanos() as u64,
        }
    }
}

/// A request in the service; dropping it ends it.
#[derive(Debug)]
pub(crate) struct Serving(Arc<Conn>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.handling.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The address a peer is capped by: an IPv4 address, or an IPv6 /64 (one host or subscriber
/// usually holds a whole /64, and picks a new address in it at will).
fn peer_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Why a newcomer was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every slot serves a request that makes progress.
    Limit,
    /// Every slot of this peer address does.
    PeerLimit,
}

/// What admitting a newcomer did besides admitting it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// Connections evicted to make room (0 or 1 for the peer cap, 0 or 1 for the total).
    pub(crate) evicted: u32,
}

/// The open connections.
#[derive(Debug)]
pub(crate) struct Table {
    epoch: Instant,
    max: usize,
    max_per_peer: Option<usize>,
    inner: Mutex<Inner>,
    /// Woken when the last connection gives its slot back.
    emptied: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Slot>,
    per_peer: HashMap<IpAddr, usize>,
}

#[derive(Debug)]
struct Slot {
    peer: IpAddr,
    conn: Arc<Conn>,
}

/// A slot in the table, given back when dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    table: Arc<Table>,
    id: u64,
    pub(crate) conn: Arc<Conn>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = sync::lock(&self.table.inner);
        inner.remove(self.id);
        super::self_metrics::open(inner.open.len());
        if inner.open.is_empty() {
            self.table.emptied.notify_waiters();
        }
    }
}

impl Inner {
    fn remove(&mut self, id: u64) -> Option<Slot> {
        let slot = self.open.remove(&id)?;
        if let Some(count) = self.per_peer.get_mut(&slot.peer) {
            *count -= 1;
            if *count == 0 {
                self.per_peer.remove(&slot.peer);
            }
        }
        Some(slot)
    }

    /// The evictable connection (of `peer`, if given) to close for a newcomer: one past its
    /// first [`YOUNG`] moments before a younger one (a client that just connected has not had
    /// the time to send its request), then one of the peer holding the most slots (a flood comes
    /// from few addresses, a scraper holds one), then the one gone longest without starting a
    /// request.
    fn victim(&self, peer: Option<IpAddr>, now: u64) -> Option<u64> {
        let young = YOUNG.as_nanos() as u64;
        self.open
            .iter()
            .filter(|(_, slot)| peer.is_none_or(|peer| slot.peer == peer) && slot.conn.evictable(now))
            .max_by_key(|(_, slot)| {
                let last_request = slot.conn.last_request.load(Ordering::Relaxed);
                let settled = now.saturating_sub(last_request) >= young;
                let holds = self.per_peer.get(&slot.peer).copied().unwrap_or(0);
                (settled, holds, std::cmp::Reverse(last_request))
            })
            .map(|(id, _)| *id)
    }

    fn evict(&mut self, id: u64) {
        if let Some(slot) = self.remove(id) {
            // A permit is stored if its task is not waiting yet: it sees it at its next poll.
            slot.conn.evicted.notify_one();
        }
    }
}

impl Table {
    pub(crate) fn new(max: usize, max_per_peer: Option<usize>) -> Table {
        Table { epoch: Instant::now(), max, max_per_peer, inner: Mutex::new(Inner::default()), emptied: Notify::new() }
    }

    /// Resolves once no connection holds a slot.
    pub(crate) async fn all_closed(&self) {
        loop {
            let emptied = self.emptied.notified();
            let mut emptied = std::pin::pin!(emptied);
            emptied.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            emptied.await;
        }
    }

    /// Connections holding a slot now.
    pub(crate) fn open(&self) -> usize {
        sync::lock(&self.inner).open.len()
    }

    /// A slot for a connection from `peer`, evicting an idle or stalled connection when the
    /// peer's cap or the total is reached; refused only when no connection can give way.
    pub(crate) fn admit(self: &Arc<Table>, peer: IpAddr) -> Result<(Ticket, Admitted), Refused> {
        let peer = peer_key(peer);
        let mut inner = sync::lock(&self.inner);
        let now = nanos_since(self.epoch);
        let mut admitted = Admitted::default();
        if let Some(cap) = self.max_per_peer
            && inner.per_peer.get(&peer).copied().unwrap_or(0) >= cap
        {
            let victim = inner.victim(Some(peer), now).ok_or(Refused::PeerLimit)?;
            inner.evict(victim);
            admitted.evicted += 1;
        }
        if inner.open.len() >= self.max {
            let victim = inner.victim(None, now).ok_or(Refused::Limit)?;
            inner.evict(victim);
            admitted.evicted += 1;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let conn = Arc::new(Conn::new(self.epoch));
        inner.open.insert(id, Slot { peer, conn: conn.clone() });
        *inner.per_peer.entry(peer).or_insert(0) += 1;
        super::self_metrics::open(inner.open.len());
        drop(inner);
        Ok((Ticket { table: self.clone(), id, conn }, admitted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_full_table_evicts_the_connection_idle_longest() {
        let table = Arc::new(Table::new(2, None));
        let (first, _) = table.admit(ip(2)).expect("room");
        let (second, _) = table.admit(ip(3)).expect("room");
        // Both past their first moments.
        let settled = nanos_since(table.epoch).saturating_sub(YOUNG.as_nanos() as u64 * 2);
        for ticket in [&first, &second] {
            ticket.conn.last_request.store(settled, Ordering::Relaxed);
        }
        // The first starts a request later than the second: the second has been idle longest.
        first.conn.last_request.store(settled + 1, Ordering::Relaxed);
        let (_third, admitted) = table.admit(ip(4)).expect("an idle one gives way");
        assert_eq!(admitted, Admitted { evicted: 1 });
        assert_eq!(table.open(), 2);
        // The evicted one is told (the permit waits for its task).
        let waker = futures_noop_poll(second.conn.evicted());
        assert!(waker, "the second connection was evicted");
        assert!(!futures_noop_poll(first.conn.evicted()), "the first was not");
    }

    #[test]
    fn a_newcomer_is_refused_only_when_every_slot_is_serving() {
        let table = Arc::new(Table::new(1, None));
        let (busy, _) = table.admit(ip(2)).expect("room");
        let _serving = busy.conn.serving();
        assert_eq!(table.admit(ip(3)).err(), Some(Refused::Limit));
        drop(_serving);
        assert!(table.admit(ip(3)).is_ok());
    }

    #[test]
    fn a_stalled_write_makes_a_connection_evictable_and_a_moving_one_does_not() {
        // A table started a while ago, so that "blocked longer than STALLED_AFTER" can be set.
        let epoch = Instant::now().checked_sub(Duration::from_secs(10)).expect("the machine is up for 10 s");
        let table = Arc::new(Table { epoch, ..Table::new(1, None) });
        let (writing, _) = table.admit(ip(2)).expect("room");
        writing.conn.write_blocked();
        assert_eq!(table.admit(ip(3)).err(), Some(Refused::Limit), "blocked only just now: still active");
        // Stalled for longer than STALLED_AFTER.
        let long_ago = nanos_since(table.epoch).saturating_sub(STALLED_AFTER.as_nanos() as u64 + 1);
        writing.conn.write_blocked_since.store(long_ago + 1, Ordering::Relaxed);
        assert!(table.admit(ip(3)).is_ok());
    }

    #[test]
    fn the_peer_cap_evicts_the_peers_own_connection_or_refuses() {
        let table = Arc::new(Table::new(10, Some(2)));
        let (a, _) = table.admit(ip(2)).expect("room");
        let (b, _) = table.admit(ip(2)).expect("room");
        let (other, _) = table.admit(ip(3)).expect("another peer");
        let (_c, admitted) = table.admit(ip(2)).expect("its own oldest gives way");
        assert_eq!(admitted.evicted, 1);
        assert!(futures_noop_poll(a.conn.evicted()));
        assert!(!futures_noop_poll(other.conn.evicted()), "another peer's connection is never taken");
        // With every connection of the peer serving, the peer is refused; others are not.
        let _serving = (b.conn.serving(), _c.conn.serving());
        assert_eq!(table.admit(ip(2)).err(), Some(Refused::PeerLimit));
        assert!(table.admit(ip(4)).is_ok());
        drop(b);
        assert!(table.admit(ip(2)).is_ok(), "a closed connection gives its slot back");
    }

    #[test]
    fn a_flooding_peer_gives_way_before_a_lone_client_and_the_young_last() {
        let epoch = Instant::now().checked_sub(Duration::from_secs(10)).expect("the machine is up for 10 s");
        let table = Arc::new(Table { epoch, ..Table::new(4, None) });
        let long_ago = nanos_since(epoch) - YOUNG.as_nanos() as u64 * 4;
        let (lone, _) = table.admit(ip(1)).expect("room");
        lone.conn.last_request.store(long_ago, Ordering::Relaxed);
        let flood: Vec<Ticket> = (0..3).map(|_| table.admit(ip(9)).expect("room").0).collect();
        flood[0].conn.last_request.store(long_ago + 1, Ordering::Relaxed);
        flood[1].conn.last_request.store(long_ago + 2, Ordering::Relaxed);
        // flood[2] just connected: young. The lone client is the oldest, but its peer holds one slot.
        table.admit(ip(5)).expect("room is made");
        assert!(futures_noop_poll(flood[0].conn.evicted()), "the flood's oldest settled connection went");
        assert!(!futures_noop_poll(lone.conn.evicted()));
        assert!(!futures_noop_poll(flood[2].conn.evicted()), "the young one stays");
    }

    #[test]
    fn an_ipv6_peer_is_capped_by_its_64_and_a_mapped_ipv4_peer_by_its_address() {
        let table = Arc::new(Table::new(10, Some(1)));
        let v6 = |last: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, last]);
        let (first, _) = table.admit(v6(1)).expect("room");
        let (_second, admitted) = table.admit(v6(2)).expect("the /64's own connection gives way");
        assert_eq!(admitted.evicted, 1);
        assert!(futures_noop_poll(first.conn.evicted()));
        let (mapped, _) = table.admit("::ffff:127.0.0.9".parse().expect("an address")).expect("room");
        let (_plain, admitted) = table.admit(ip(9)).expect("the same peer");
        assert_eq!(admitted.evicted, 1);
        assert!(futures_noop_poll(mapped.conn.evicted()));
    }

    /// Polls `future` once with a no-op waker: whether it is ready.
    fn futures_noop_poll(future: impl std::future::Future<Output = ()>) -> bool {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        future.as_mut().poll(&mut context).is_ready()
    }
}
