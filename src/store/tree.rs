//! A sled tree whose writes are journaled. Reads go straight to sled (through `Deref`); the
//! write methods shadow sled's and also append to the [`Journal`], so store code writes as it
//! would to sled and stays durable through [`super::Store::sync`].

use std::ops::Deref;
use std::sync::Arc;

use super::journal::{Journal, Op};

pub(super) struct Tree {
    tree: sled::Tree,
    tag: u8,
    journal: Arc<Journal>,
}

impl Deref for Tree {
    type Target = sled::Tree;
    fn deref(&self) -> &sled::Tree {
        &self.tree
    }
}

/// Writes applied to one tree together.
#[derive(Debug, Default)]
pub(super) struct Batch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub(super) fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.ops
            .push((key.as_ref().to_vec(), Some(value.as_ref().to_vec())));
    }

    pub(super) fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.ops.push((key.as_ref().to_vec(), None));
    }
}

impl Tree {
    pub(super) fn new(tree: sled::Tree, tag: u8, journal: Arc<Journal>) -> Self {
        Self { tree, tag, journal }
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Op {
        Op::Put {
            tree: self.tag,
            key: key.to_vec(),
            value: value.to_vec(),
        }
    }

    fn del(&self, key: &[u8]) -> Op {
        Op::Remove {
            tree: self.tag,
            key: key.to_vec(),
        }
    }

    pub(super) fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> sled::Result<Option<sled::IVec>> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.journal
            .write(|| Ok((self.tree.insert(key, value)?, vec![self.put(key, value)])))
    }

    pub(super) fn remove(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<sled::IVec>> {
        let key = key.as_ref();
        self.journal
            .write(|| Ok((self.tree.remove(key)?, vec![self.del(key)])))
    }

    /// Applies the writes in order and journals them as one record, which a replay applies
    /// whole. They are separate writes in sled (its atomic batches take a global lock and are
    /// several times slower): a reader may briefly see some of them, and a crash can leave some
    /// in sled whose record never reached the journal, so callers order them to make a partial
    /// batch harmless.
    pub(super) fn apply_batch(&self, batch: Batch) -> sled::Result<()> {
        let mut ops = Vec::with_capacity(batch.ops.len());
        self.journal.write(|| {
            for (key, value) in batch.ops {
                match value {
                    Some(value) => {
                        self.tree.insert(key.as_slice(), value.as_slice())?;
                        ops.push(Op::Put {
                            tree: self.tag,
                            key,
                            value,
                        });
                    }
                    None => {
                        self.tree.remove(key.as_slice())?;
                        ops.push(Op::Remove {
                            tree: self.tag,
                            key,
                        });
                    }
                }
            }
            Ok(((), ops))
        })
    }

    /// sled's compare-and-swap; the new value is journaled only when the swap happened.
    pub(super) fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        old: Option<impl AsRef<[u8]>>,
        new: Option<impl AsRef<[u8]>>,
    ) -> sled::Result<Result<(), sled::CompareAndSwapError>> {
        let key = key.as_ref();
        let old = old.as_ref().map(|v| v.as_ref());
        let new = new.as_ref().map(|v| v.as_ref());
        // Racing swappers are journaled in the order they swapped.
        self.journal.write_ordered(|| {
            let swapped = self.tree.compare_and_swap(key, old, new)?;
            let ops = match (&swapped, new) {
                (Err(_), _) => vec![],
                (Ok(()), Some(value)) => vec![self.put(key, value)],
                (Ok(()), None) => vec![self.del(key)],
            };
            Ok((swapped, ops))
        })
    }
}
