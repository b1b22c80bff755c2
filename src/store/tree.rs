//! A sled tree whose writes are journaled. Reads go straight to sled (through `Deref`); the
//! write methods shadow sled's and also append to the [`Journal`], so store code writes as it
//! would to sled and stays durable through [`super::Storage::sync`]. (The execution log, written
//! on every delivery, is a [`super::log_tree::LogTree`] instead.)

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
