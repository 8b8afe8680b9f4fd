//! The windowing core's state index: every (key, window) state and the event-time timer queue, indexed so
//! that a record, a watermark step and a firing cost O(1) or O(log n) whatever the number n of open windows.
//!
//! A key is stored once, in a slab of keys found through a hash table of key ids (so the rest of the index
//! and the timers name a key by a 4-byte id instead of a copy of it). Window states live in a slab; a slot
//! id names a state while it exists. A key's newest state is found from its key entry, its others through
//! a hash table on (key id, window): most keys hold one window at a time (fixed windows under a watermark
//! that keeps up), and they need no entry in that table, which saves its memory and a cache-missing probe
//! on every insert and removal; consecutive records of a key mostly go to its newest window, and a newest
//! window that ends after all of the key's others ([`ENDS_LAST`]) answers "not here" for any later window
//! without a probe. Beyond the caches, what a state costs is cache misses, so the index avoids those that
//! are not needed: a full hash table is rebuilt by reading the slabs front to back (the tables' own
//! growth reads their entries' keys and states in bucket order, a miss each), and a watermark step that
//! removes at least half as many states as were ever held at once (the end of input) rebuilds the tables
//! from what remains instead of probing them once per removed state. The event-time timers are buckets of
//! slot ids ordered by time, so a watermark step takes only the buckets that are due. The earliest window
//! start is kept as a count per start. Nothing here decides what fires or in which order: that is the
//! core's ([`super`]), which sorts what is due into its canonical order.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash};
use std::ops::{Index, IndexMut};

use foldhash::fast::RandomState;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::WindowState;
use crate::time::Timestamp;
use crate::window::Window;

/// A key's id in the [`Store`]: valid while the key holds a window state, then reused.
pub(super) type KeyId = u32;

/// A window state's id in the [`Store`]: valid while the state exists, then reused.
pub(super) type SlotId = u32;

/// One key, how many window states it holds (the key goes when the last one does), and its newest state.
struct KeyEntry<K> {
    key: K,
    windows: u32,
    /// The key's most recently inserted state, which is not in the window table, or [`NO_SLOT`] (when
    /// that state has gone; the key's other states stay in the table).
    newest: SlotId,
}

/// No state.
const NO_SLOT: SlotId = SlotId::MAX;

/// The store's bit in [`WindowState`]'s flags, set on a key's newest state only: no state of the key ends
/// after it. Then a window that ends later is not the key's, with no probe of the window table: the
/// common case of a key whose records come in time order, each new window the newest and the latest.
pub(super) const ENDS_LAST: u8 = 1 << 7;

impl<K> KeyEntry<K> {
    /// How many of the key's states are in the window table.
    fn indexed(&self) -> u32 {
        self.windows - u32::from(self.newest != NO_SLOT)
    }
}

/// Every (key, window) state of a core, indexed by key and window.
pub(super) struct Store<K, A> {
    keys: Chunked<Option<KeyEntry<K>>>,
    free_keys: Vec<KeyId>,
    /// Key ids, hashed by their key with foldhash: several times faster than SipHash on short ids, and
    /// seeded per process, so colliding keys cannot be prepared in advance. It is only minimally
    /// DoS-resistant (its docs: not against someone who studies a long-running process to recover its
    /// seed); SipHash's `RandomState` is the stronger choice if keys come from a hostile source.
    key_index: HashTable<KeyId>,
    key_hasher: RandomState,
    states: Chunked<Option<WindowState<A>>>,
    free_states: Vec<SlotId>,
    /// Slot ids of every state but the keys' newest, hashed by (key id, window).
    window_index: HashTable<SlotId>,
    /// How many states start at each instant (for the earliest start).
    starts: BTreeMap<Timestamp, u32>,
    len: usize,
    /// How many states are their key's newest (each state is that or in `window_index`).
    newest: usize,
}

/// A growable array in fixed chunks: growing never moves what is stored, so a table of a million states
/// is neither copied on growth nor held twice while it is (a `Vec` doubling from 64 to 128 MB holds both
/// for a moment, and the allocator may keep the old block resident).
struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

/// Elements per chunk: a power of two (an index splits with a shift and a mask).
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    fn len(&self) -> usize {
        self.len
    }

    /// Elements the allocated chunks can hold.
    fn capacity(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum()
    }

    fn push(&mut self, value: T) {
        if self.len % CHUNK == 0 {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("a chunk with room").push(value);
        self.len += 1;
    }

    fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index >> CHUNK_BITS)?.get(index & (CHUNK - 1))
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;

    #[inline]
    fn index(&self, index: usize) -> &T {
        &self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }
}

impl<T> IndexMut<usize> for Chunked<T> {
    #[inline]
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }
}

/// Where a (key, window) goes in the window table. A key's windows of one length that follow each other
/// go in runs of 8 to neighbouring buckets (one cache line of control bytes, one of slots), each run to a
/// place of its own: a key that moves on from window to window (every key of a recording under a perfect
/// watermark) touches a new place in the table once every 8 windows instead of on every one. The table
/// tells entries in one place apart by their tag (the hash's top 7 bits), which mixes in the exact start.
fn window_hash(key: KeyId, window: &Window) -> u64 {
    let start = window.start().millis();
    let length = window.end().millis().saturating_sub(start).max(1);
    // Fixed windows: the window's number; sliding ones: several windows share one.
    let ordinal = start.div_euclid(length) as u64;
    let run = FxBuildHasher.hash_one((key, length, ordinal >> 3));
    let tag = FxBuildHasher.hash_one(start) & (0x7f << 57);
    (run.wrapping_add(ordinal & 7)) ^ tag
}

/// The room to rebuild a full hash table of `len` entries with: a quarter more, so that the next rebuild is
/// at least `len / 4` inserts away (each costs O(len), so O(1) per insert). A table full of live entries
/// doubles its buckets, as its own growth would; one that is full because removals left tombstones is
/// rebuilt in its own buckets when they have that room.
fn grown(len: usize) -> usize {
    len + len / 4 + 1
}

/// `table` emptied and refilled with `entries` (hash, id; each id once), with room for `capacity`: in its
/// own allocation when its buckets have that room (cleared, a table has room for as many entries as its
/// buckets hold; removals leave tombstones that take room until then), else in a new one.
fn refilled(mut table: HashTable<u32>, capacity: usize, entries: impl Iterator<Item = (u64, u32)>) -> HashTable<u32> {
    table.clear();
    if table.capacity() < capacity {
        table = HashTable::with_capacity(capacity);
    }
    for (hash, id) in entries {
        table.insert_unique(hash, id, |_| unreachable!("the table was given room for every entry"));
    }
    table
}

fn id(index: usize, what: &str) -> u32 {
    u32::try_from(index).unwrap_or_else(|_| panic!("more than 2^32 {what} at once"))
}

impl<K: Hash + Eq, A> Store<K, A> {
    /// An empty index.
    pub fn new() -> Self {
        Store {
            keys: Chunked::default(),
            free_keys: Vec::new(),
            key_index: HashTable::new(),
            key_hasher: RandomState::default(),
            states: Chunked::default(),
            free_states: Vec::new(),
            window_index: HashTable::new(),
            starts: BTreeMap::new(),
            len: 0,
            newest: 0,
        }
    }

    /// How many (key, window) states exist.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The key with id `key`.
    pub fn key(&self, key: KeyId) -> &K {
        &self.keys[key as usize].as_ref().expect("a live key id").key
    }

    /// The id of `key`, if it holds any window state.
    pub fn find_key(&self, key: &K) -> Option<KeyId> {
        let keys = &self.keys;
        self.key_index
            .find(self.key_hasher.hash_one(key), |&id| {
                keys[id as usize].as_ref().is_some_and(|e| e.key == *key)
            })
            .copied()
    }

    /// The id of `key`, adding the key if it has none (`make` turns the borrowed key into an owned one).
    #[inline]
    pub fn intern<Q>(&mut self, key: Q, make: impl FnOnce(Q) -> K) -> KeyId
    where
        Q: std::borrow::Borrow<K>,
    {
        let hash = self.key_hasher.hash_one(key.borrow());
        let keys = &self.keys;
        if let Some(&id) = self.key_index.find(hash, |&id| {
            keys[id as usize].as_ref().is_some_and(|e| e.key == *key.borrow())
        }) {
            return id;
        }
        if self.key_index.len() == self.key_index.capacity() {
            // Before the new key is in the slab, which the rebuild reads. The slab is never longer than
            // the most keys held at once, which the table held too.
            self.rebuild_key_index(grown(self.key_index.len()));
        }
        let entry = KeyEntry {
            key: make(key),
            windows: 0,
            newest: NO_SLOT,
        };
        let id = match self.free_keys.pop() {
            Some(id) => {
                self.keys[id as usize] = Some(entry);
                id
            }
            None => {
                self.keys.push(Some(entry));
                id(self.keys.len() - 1, "keys")
            }
        };
        let (keys, hasher) = (&self.keys, &self.key_hasher);
        self.key_index.insert_unique(hash, id, |&id| {
            hasher.hash_one(&keys[id as usize].as_ref().expect("indexed keys are live").key)
        });
        id
    }

    /// The state of `window` of `key`, if there is one.
    #[inline]
    pub fn find(&self, key: KeyId, window: &Window) -> Option<SlotId> {
        let entry = self.keys[key as usize].as_ref().expect("a live key id");
        if let Some(Some(newest)) = self.states.get(entry.newest as usize) {
            debug_assert_eq!(newest.key, key, "a key's newest state is its own");
            if newest.window == *window {
                return Some(entry.newest);
            }
            if newest.flags & ENDS_LAST != 0 && window.end() > newest.window.end() {
                return None;
            }
        }
        if entry.indexed() == 0 {
            return None;
        }
        let states = &self.states;
        self.window_index
            .find(window_hash(key, window), |&slot| {
                let s = states[slot as usize].as_ref().expect("indexed states are live");
                s.key == key && s.window == *window
            })
            .copied()
    }

    /// The state in `slot`, if the slot holds one.
    pub fn get_live(&self, slot: SlotId) -> Option<&WindowState<A>> {
        self.states.get(slot as usize).and_then(Option::as_ref)
    }

    /// The state in `slot`.
    #[inline]
    pub fn get(&self, slot: SlotId) -> &WindowState<A> {
        self.states[slot as usize].as_ref().expect("a live slot")
    }

    /// The state in `slot` for changing, and its key.
    #[inline]
    pub fn get_with_key(&mut self, slot: SlotId) -> (&K, &mut WindowState<A>) {
        let state = self.states[slot as usize].as_mut().expect("a live slot");
        let key = &self.keys[state.key as usize].as_ref().expect("a live key id").key;
        (key, state)
    }

    /// Adds `state` (of a (key, window) that has none) and returns its slot: the key's newest state, so
    /// its previous newest one moves into the window table.
    pub fn insert(&mut self, mut state: WindowState<A>) -> SlotId {
        let key = state.key;
        let entry = self.keys[key as usize].as_ref().expect("a live key id");
        // The new state ends last if the key's states all end no later than its newest (so all of them
        // do when it is the only one) and the new state ends no earlier.
        let ends_last = match self.states.get(entry.newest as usize) {
            Some(Some(newest)) => {
                (newest.flags & ENDS_LAST != 0 || entry.windows == 1) && state.window.end() >= newest.window.end()
            }
            _ => entry.windows == 0,
        };
        state.flags = (state.flags & !ENDS_LAST) | if ends_last { ENDS_LAST } else { 0 };
        let has_newest = entry.newest != NO_SLOT;
        let capacity = self.window_index.capacity();
        // Before the new state is in the slab and its key's newest, which the rebuild reads; and only
        // when the table is not much smaller than the slab, which it reads whole.
        if has_newest && self.window_index.len() == capacity && self.states.len() <= 2 * capacity {
            self.rebuild_window_index(grown(capacity));
        }
        *self.starts.entry(state.window.start()).or_default() += 1;
        let slot = match self.free_states.pop() {
            Some(slot) => {
                self.states[slot as usize] = Some(state);
                slot
            }
            None => {
                self.states.push(Some(state));
                id(self.states.len() - 1, "window states")
            }
        };
        let entry = self.keys[key as usize].as_mut().expect("a live key id");
        entry.windows += 1;
        let previous = std::mem::replace(&mut entry.newest, slot);
        if previous == NO_SLOT {
            self.newest += 1;
        } else {
            // Only a key's newest state says whether it ends last.
            self.states[previous as usize]
                .as_mut()
                .expect("a key's newest state is live")
                .flags &= !ENDS_LAST;
            let states = &self.states;
            let s = states[previous as usize]
                .as_ref()
                .expect("a key's newest state is live");
            self.window_index
                .insert_unique(window_hash(s.key, &s.window), previous, |&slot| {
                    let s = states[slot as usize].as_ref().expect("indexed states are live");
                    window_hash(s.key, &s.window)
                });
        }
        self.len += 1;
        self.assert_every_state_found_once();
        slot
    }

    fn assert_every_state_found_once(&self) {
        assert_eq!(
            self.window_index.len() + self.newest,
            self.len,
            "every state is its key's newest or in the window table"
        );
    }

    /// Takes the state in `slot` out; the key goes too when it was its last state.
    pub fn remove(&mut self, slot: SlotId) -> WindowState<A> {
        let state = self.take_out(slot, true);
        self.assert_every_state_found_once();
        state
    }

    /// Takes the state in `slot` out of the slabs and counts, and with `unindex` out of the hash tables
    /// (a batch removal rebuilds them instead); the key goes too when it was its last state.
    fn take_out(&mut self, slot: SlotId, unindex: bool) -> WindowState<A> {
        let state = self.states[slot as usize].take().expect("a live slot, removed once");
        self.free_states.push(slot);
        self.uncount_start(state.window.start());
        let entry = self.keys[state.key as usize].as_mut().expect("a live key id");
        if entry.newest == slot {
            entry.newest = NO_SLOT;
            self.newest -= 1;
        } else if unindex {
            let removed = self
                .window_index
                .find_entry(window_hash(state.key, &state.window), |&s| s == slot)
                .map(|entry| entry.remove())
                .is_ok();
            assert!(removed, "the state of {:?} was indexed", state.window);
        }
        entry.windows -= 1;
        if entry.windows == 0 {
            let id = state.key;
            if unindex {
                let hash = self.key_hasher.hash_one(&entry.key);
                self.key_index
                    .find_entry(hash, |&k| k == id)
                    .map(|entry| entry.remove())
                    .unwrap_or_else(|_| unreachable!("a live key is indexed"));
            }
            self.keys[id as usize] = None;
            self.free_keys.push(id);
        }
        self.len -= 1;
        state
    }

    /// Takes the states in `slots` out (each once; the order does not matter), as [`Store::remove`] would
    /// one by one, and drops them. When they are at least half of the states slab (the most states held
    /// at once: the end of input, or a watermark that passes most windows at once), the hash tables are
    /// not probed once per state (a cache miss each, in the order the windows fired) but rebuilt from the
    /// states and keys that remain, read in slab order: work proportional to the states removed either
    /// way.
    pub fn remove_many(&mut self, slots: &mut [SlotId]) {
        if slots.is_empty() {
            return;
        }
        if slots.len() * 2 < self.states.len() {
            for &slot in slots.iter() {
                self.remove(slot);
            }
            return;
        }
        // Slab order: the states, their keys and the freed keys are read front to back.
        slots.sort_unstable();
        for &slot in slots.iter() {
            self.take_out(slot, false);
        }
        self.rebuild_key_index(self.key_index.capacity());
        self.rebuild_window_index(self.window_index.capacity());
        assert_eq!(
            self.key_index.len(),
            self.keys.len() - self.free_keys.len(),
            "every live key is indexed"
        );
        self.assert_every_state_found_once();
    }

    /// Refills the key table from the live keys, in slab order, with room for `capacity` keys. Growing the
    /// table this way reads each key once, front to back, where the table's own rehash reads them in its
    /// bucket order: a cache miss for the entry and another for the key's bytes, per key, once the keys
    /// outgrow the caches.
    fn rebuild_key_index(&mut self, capacity: usize) {
        let (keys, hasher) = (&self.keys, &self.key_hasher);
        let live = (0..keys.len()).filter_map(|id| {
            let entry = keys[id].as_ref()?;
            Some((hasher.hash_one(&entry.key), id as KeyId))
        });
        self.key_index = refilled(std::mem::take(&mut self.key_index), capacity, live);
    }

    /// Refills the window table from the live states that are not their key's newest, in slab order, with
    /// room for `capacity` of them (see [`Store::rebuild_key_index`]).
    fn rebuild_window_index(&mut self, capacity: usize) {
        let (states, keys) = (&self.states, &self.keys);
        let indexed = (0..states.len()).filter_map(|slot| {
            let state = states[slot].as_ref()?;
            let entry = keys[state.key as usize].as_ref().expect("a live state's key is live");
            (entry.newest != slot as SlotId).then(|| (window_hash(state.key, &state.window), slot as SlotId))
        });
        self.window_index = refilled(std::mem::take(&mut self.window_index), capacity, indexed);
    }

    fn uncount_start(&mut self, start: Timestamp) {
        match self.starts.entry(start) {
            Entry::Occupied(mut e) if *e.get() > 1 => *e.get_mut() -= 1,
            Entry::Occupied(e) => {
                e.remove();
            }
            Entry::Vacant(_) => unreachable!("every state's start is counted"),
        }
    }

    /// Bytes the index's own tables hold (capacities; a B-tree entry counted at its size), less the
    /// keys' inline part: the keys' and accumulators' own heap blocks are not counted.
    pub fn table_bytes(&self) -> usize {
        use std::mem::size_of;
        self.keys.capacity() * size_of::<Option<KeyEntry<K>>>() - self.keys.len() * size_of::<K>()
            + self.keys.chunks.capacity() * size_of::<Vec<Option<KeyEntry<K>>>>()
            + self.free_keys.capacity() * size_of::<KeyId>()
            + self.key_index.allocation_size()
            + self.states.capacity() * size_of::<Option<WindowState<A>>>()
            + self.states.chunks.capacity() * size_of::<Vec<Option<WindowState<A>>>>()
            + self.free_states.capacity() * size_of::<SlotId>()
            + self.window_index.allocation_size()
            + self.starts.len() * size_of::<(Timestamp, u32)>()
    }

    /// The earliest start among the states.
    pub fn earliest_start(&self) -> Option<Timestamp> {
        self.starts.first_key_value().map(|(t, _)| *t)
    }

    /// Sorts `slots` into the canonical firing order: window end, window start, key.
    pub fn sort_in_firing_order(&self, slots: &mut [SlotId])
    where
        K: Ord,
    {
        let order = |slot: SlotId| {
            let s = self.get(slot);
            (s.window.end(), s.window.start(), self.key(s.key))
        };
        // A bundle's few windows sort in place, with no allocation.
        if slots.len() <= 32 {
            slots.sort_unstable_by(|&a, &b| order(a).cmp(&order(b)));
        } else {
            // Each state and key read once, not twice per comparison: with a million windows due at the
            // end of a run, each read is a cache miss, and the sort took a third of the run.
            slots.sort_by_cached_key(|&slot| order(slot));
        }
    }
}

/// Pending event-time timers (end of window, garbage collection): the slots they wake, bucketed by time.
/// Many windows share a timer's time (fixed windows end together for every key), so a bucket costs a few
/// bytes per window. The order within a bucket means nothing: the core sorts what is due.
///
/// Cancelling a timer costs O(log n) whatever the number of timers sharing its time: the entry stays in
/// its bucket, only the bucket's count of live timers goes down (a bucket goes when its count reaches 0).
/// A cancelled entry goes with its bucket, when the bucket's last live timer is cancelled or the watermark
/// passes its time: it costs 4 bytes until then.
/// Taking the due timers out asks the core which entries are still live (a window queues one timer at a
/// time, so an entry is live when its slot's state still waits for a timer at that time); a live entry
/// and a cancelled one for the same slot and time wake the window once, as the core dedups what is due.
#[derive(Default)]
pub(super) struct TimerQueue {
    buckets: BTreeMap<Timestamp, Bucket>,
}

#[derive(Default)]
struct Bucket {
    slots: Vec<SlotId>,
    /// Timers set at this time and not cancelled (`slots` may hold cancelled ones too).
    live: u32,
}

impl TimerQueue {
    /// Sets a timer for `slot` at `time`.
    pub fn insert(&mut self, time: Timestamp, slot: SlotId) {
        let bucket = self.buckets.entry(time).or_default();
        bucket.slots.push(slot);
        bucket.live += 1;
    }

    /// Cancels the timer of `slot` at `time`, which must be pending.
    pub fn remove(&mut self, time: Timestamp, slot: SlotId) {
        let Entry::Occupied(mut bucket) = self.buckets.entry(time) else {
            unreachable!("no timer at {time:?} to cancel for slot {slot}");
        };
        bucket.get_mut().live -= 1;
        if bucket.get().live == 0 {
            bucket.remove();
        }
    }

    /// Bytes the queue holds (bucket capacities; a bucket's B-tree entry counted at its size).
    pub fn table_bytes(&self) -> usize {
        self.buckets
            .values()
            .map(|b| std::mem::size_of::<(Timestamp, Bucket)>() + b.slots.capacity() * std::mem::size_of::<SlotId>())
            .sum()
    }

    /// The earliest pending timer's time.
    pub fn first(&self) -> Option<Timestamp> {
        self.buckets.first_key_value().map(|(t, _)| *t)
    }

    /// Takes every timer strictly before `to` out, pushing the slot of each onto `due` when
    /// `live(slot, time)` says the entry was not cancelled.
    pub fn pop_before(&mut self, to: Timestamp, due: &mut Vec<SlotId>, live: impl Fn(SlotId, Timestamp) -> bool) {
        while let Some(bucket) = self.buckets.first_entry() {
            let time = *bucket.key();
            if time >= to {
                break;
            }
            let bucket = bucket.remove();
            let before = due.len();
            due.extend(bucket.slots.into_iter().filter(|&slot| live(slot, time)));
            debug_assert!(
                due.len() - before >= bucket.live as usize,
                "every live timer at {time:?} is found live"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_timer_is_not_due_and_a_bucket_of_cancelled_timers_is_not_the_first() {
        let (t1, t2) = (Timestamp::from_millis(10), Timestamp::from_millis(20));
        let mut queue = TimerQueue::default();
        queue.insert(t1, 1);
        queue.insert(t2, 2);
        queue.insert(t2, 3);
        queue.remove(t1, 1);
        assert_eq!(
            queue.first(),
            Some(t2),
            "the bucket at 10 went with its last live timer"
        );
        queue.remove(t2, 2);
        assert_eq!(queue.first(), Some(t2));
        // The core says which entries are live: slot 2's was cancelled.
        let mut due = Vec::new();
        queue.pop_before(Timestamp::from_millis(21), &mut due, |slot, _| slot != 2);
        assert_eq!(due, [3]);
        assert_eq!(queue.first(), None);
    }

    fn state(key: KeyId, start: i64) -> WindowState<u64> {
        WindowState {
            window: Window::new(Timestamp::from_millis(start), Timestamp::from_millis(start + 10)),
            accumulator: 0,
            inputs_since_last_pane: 0,
            clear_since: 0,
            trigger: Default::default(),
            key,
            panes: 0,
            early_panes: 0,
            active: true,
            flags: 0,
        }
    }

    proptest::proptest! {
        /// Whatever the order of inserts, removals and batch removals over a few keys and windows, every
        /// state is found by its (key, window), nothing else is, and keys come and go with their states:
        /// a key's newest state lives outside the window table, its others inside, and a removal of
        /// either kind leaves the rest findable. Enough states for the tables to grow by rebuilding, and
        /// batches of every size, so that a batch takes either path (one removal at a time, or a sweep
        /// and a rebuild).
        #[test]
        fn every_state_is_found_by_its_key_and_window_whatever_the_order_of_inserts_and_removals(
            ops in proptest::collection::vec((0u8..4, 0u8..6, 0i64..8, proptest::num::u64::ANY), 1..300)
        ) {
            const KEYS: u8 = 6;
            const STARTS: i64 = 8;
            let mut store: Store<u8, u64> = Store::new();
            let mut model: BTreeMap<(u8, i64), SlotId> = BTreeMap::new();
            for (op, key, start, mask) in ops {
                let start = start * 10;
                let present = model.contains_key(&(key, start));
                match op {
                    0 | 1 if !present => {
                        let id = store.intern(key, |k| k);
                        model.insert((key, start), store.insert(state(id, start)));
                    }
                    2 if present => {
                        let slot = model.remove(&(key, start)).expect("present");
                        let removed = store.remove(slot);
                        proptest::prop_assert_eq!(removed.window.start(), Timestamp::from_millis(start));
                    }
                    3 => {
                        // The states whose bit is set in `mask` (by their place in the model), in a
                        // scrambled order.
                        let chosen: Vec<(u8, i64)> = model
                            .keys()
                            .enumerate()
                            .filter(|&(i, _)| mask & (1 << (i % 64)) != 0)
                            .map(|(_, &k)| k)
                            .collect();
                        let mut slots: Vec<SlotId> = chosen.iter().map(|k| model.remove(k).expect("present")).collect();
                        slots.reverse();
                        store.remove_many(&mut slots);
                    }
                    _ => {}
                }
                proptest::prop_assert_eq!(store.len(), model.len());
                for key in 0..KEYS {
                    let id = store.find_key(&key);
                    let has_states = model.keys().any(|&(k, _)| k == key);
                    proptest::prop_assert_eq!(id.is_some(), has_states, "key {} is indexed while it has states", key);
                    let Some(id) = id else { continue };
                    proptest::prop_assert_eq!(*store.key(id), key);
                    for start in (0..STARTS).map(|s| s * 10) {
                        let window = state(id, start).window;
                        proptest::prop_assert_eq!(
                            store.find(id, &window),
                            model.get(&(key, start)).copied(),
                            "key {} window at {}", key, start
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn slots_sort_by_window_end_then_start_then_key_in_small_and_large_sorts() {
        for n in [5u32, 33, 500] {
            let mut store: Store<String, u64> = Store::new();
            let mut slots = Vec::new();
            let mut expected = Vec::new();
            // Keys and windows in a scrambled order, with windows of two lengths (so end and start disagree).
            for i in 0..n {
                let key = format!("k{}", (i * 7919) % n);
                let start = i64::from((i * 31) % 5) * 10;
                let end = start + if i % 3 == 0 { 10 } else { 25 };
                let id = store.intern(key.clone(), |k| k);
                let mut state = state(id, 0);
                state.window = Window::new(Timestamp::from_millis(start), Timestamp::from_millis(end));
                if store.find(id, &state.window).is_some() {
                    continue;
                }
                let slot = store.insert(state);
                slots.push(slot);
                expected.push((end, start, key, slot));
            }
            expected.sort();
            store.sort_in_firing_order(&mut slots);
            let expected: Vec<SlotId> = expected.into_iter().map(|(_, _, _, slot)| slot).collect();
            assert_eq!(slots, expected, "{n} states");
        }
    }

    #[test]
    fn a_count_window_state_takes_64_bytes_and_a_free_slot_no_more() {
        assert_eq!(std::mem::size_of::<WindowState<u64>>(), 64);
        assert_eq!(std::mem::size_of::<Option<WindowState<u64>>>(), 64);
    }
}
