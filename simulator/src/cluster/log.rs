//! The simulated broker's logs: topics of partitions of records, with the visibility rules of Kafka's
//! isolation levels.
//!
//! A record written inside a transaction is *pending* until its transaction commits or aborts; then a
//! control record (the transaction marker) is appended to every partition the transaction wrote. A
//! `read_committed` reader sees committed records up to the last stable offset (the first offset of a
//! still-pending record) and skips aborted ones; a `read_uncommitted` reader sees every data record up to
//! the high watermark, aborted ones included, as in Kafka. Control records occupy offsets and are never
//! delivered, so a consumer's fetch position moves past them.

/// Whether a record is visible, and to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// Written outside a transaction, or in one that committed.
    Committed,
    /// Written in transaction `txn` (a producer's transaction number), not yet decided.
    Pending(u64),
    /// Written in a transaction that aborted.
    Aborted,
    /// A transaction marker.
    Control,
}

/// One record of a partition's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Its offset.
    pub offset: i64,
    /// The key.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Vec<u8>,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Visibility.
    pub state: RecordState,
}

/// How a consumer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Every data record up to the high watermark.
    ReadUncommitted,
    /// Committed data records up to the last stable offset.
    ReadCommitted,
}

/// A partition's log.
#[derive(Debug, Clone, Default)]
pub struct PartitionLog {
    records: Vec<LogRecord>,
}

impl PartitionLog {
    /// The offset the next record gets (the high watermark).
    pub fn high_watermark(&self) -> i64 {
        self.records.len() as i64
    }

    /// The first offset a `read_committed` reader may not pass: the first pending record, or the high
    /// watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.records
            .iter()
            .find(|r| matches!(r.state, RecordState::Pending(_)))
            .map_or(self.high_watermark(), |r| r.offset)
    }

    /// Where a reader with `isolation` may read up to (exclusive).
    pub fn end(&self, isolation: Isolation) -> i64 {
        match isolation {
            Isolation::ReadUncommitted => self.high_watermark(),
            Isolation::ReadCommitted => self.last_stable_offset(),
        }
    }

    /// Appends a record; returns its offset.
    pub fn append(
        &mut self,
        key: Option<Vec<u8>>,
        value: Vec<u8>,
        headers: Vec<(String, Vec<u8>)>,
        state: RecordState,
    ) -> i64 {
        let offset = self.high_watermark();
        self.records.push(LogRecord {
            offset,
            key,
            value,
            headers,
            state,
        });
        offset
    }

    /// Decides every pending record of transaction `txn` and appends its marker, if it wrote here.
    pub fn decide(&mut self, txn: u64, commit: bool) {
        let mut wrote = false;
        for record in &mut self.records {
            if record.state == RecordState::Pending(txn) {
                record.state = if commit {
                    RecordState::Committed
                } else {
                    RecordState::Aborted
                };
                wrote = true;
            }
        }
        if wrote {
            self.append(None, Vec::new(), Vec::new(), RecordState::Control);
        }
    }

    /// Fetches from `position`: at most `max` visible records, and the position after what was read
    /// (past skipped control and aborted records).
    pub fn fetch(&self, position: i64, max: usize, isolation: Isolation) -> (Vec<&LogRecord>, i64) {
        let end = self.end(isolation);
        let mut out = Vec::new();
        let mut next = position.max(0);
        while next < end && out.len() < max {
            let record = &self.records[next as usize];
            next += 1;
            let visible = match (record.state, isolation) {
                (RecordState::Control, _) => false,
                (RecordState::Committed, _) => true,
                (RecordState::Aborted, Isolation::ReadUncommitted) => true,
                (RecordState::Aborted, Isolation::ReadCommitted) => false,
                (RecordState::Pending(_), Isolation::ReadUncommitted) => true,
                (RecordState::Pending(_), Isolation::ReadCommitted) => unreachable!("before the last stable offset"),
            };
            if visible {
                out.push(record);
            }
        }
        (out, next)
    }

    /// Every record, in offset order.
    pub fn records(&self) -> &[LogRecord] {
        &self.records
    }

    /// What a reader with `isolation` reading the whole log sees.
    pub fn visible(&self, isolation: Isolation) -> Vec<&LogRecord> {
        self.fetch(0, usize::MAX, isolation).0
    }
}

/// A topic: its partitions.
#[derive(Debug, Clone)]
pub struct Topic {
    /// The partitions, by number.
    pub partitions: Vec<PartitionLog>,
}

impl Topic {
    /// A topic of `n` empty partitions.
    pub fn new(n: usize) -> Topic {
        Topic {
            partitions: vec![PartitionLog::default(); n],
        }
    }

    /// The partition librdkafka's default partitioner (`consistent_random`) picks for `key`: CRC-32 of the
    /// key modulo the partition count; unkeyed records go round-robin by `sequence`.
    pub fn partition_for(&self, key: Option<&[u8]>, sequence: u64) -> usize {
        let n = self.partitions.len();
        match key {
            Some(key) => crc32fast::hash(key) as usize % n,
            None => (sequence % n as u64) as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_committed_stops_at_the_first_pending_record_and_skips_aborted_ones() {
        let mut log = PartitionLog::default();
        log.append(None, b"a".to_vec(), vec![], RecordState::Committed);
        log.append(None, b"b".to_vec(), vec![], RecordState::Pending(1));
        log.append(None, b"c".to_vec(), vec![], RecordState::Pending(2));
        assert_eq!(log.last_stable_offset(), 1);
        let values = |log: &PartitionLog, i| log.visible(i).iter().map(|r| r.value.clone()).collect::<Vec<_>>();
        assert_eq!(values(&log, Isolation::ReadCommitted), vec![b"a".to_vec()]);
        log.decide(1, false);
        log.decide(2, true);
        assert_eq!(log.high_watermark(), 5, "two markers");
        assert_eq!(
            values(&log, Isolation::ReadCommitted),
            vec![b"a".to_vec(), b"c".to_vec()]
        );
        assert_eq!(
            values(&log, Isolation::ReadUncommitted),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
            "read_uncommitted shows aborted records, as Kafka does"
        );
        let (records, next) = log.fetch(0, 10, Isolation::ReadCommitted);
        assert_eq!((records.len(), next), (2, 5), "the position moves past the markers");
    }

    #[test]
    fn keyed_records_land_where_librdkafka_puts_them() {
        let topic = Topic::new(3);
        // librdkafka's rd_crc32 is the IEEE CRC-32.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926, "the IEEE check value");
        let p = topic.partition_for(Some(b"2142139324490406578"), 0);
        assert_eq!(p, topic.partition_for(Some(b"2142139324490406578"), 99));
        assert_eq!(topic.partition_for(None, 4), 1);
    }
}
