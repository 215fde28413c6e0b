//! The lease store's writes on the control executor, through io_uring: the journal and
//! the lease file (opened by the store at start-up, while still privileged) as glommio
//! buffered files, and each of the store's plans (`dhcp::lease_store::DiskPlan`) done
//! step by step. While a commit's fdatasync is in flight the executor goes on with its
//! other work (TFTP transfers); the DHCP server, awaiting it, answers no one until its
//! group is on disk.

use crate::dhcp::lease_store::{DiskFile, DiskOutcome, DiskPlan, DiskStep, LeaseStore};
use glommio::io::BufferedFile;
use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

/// The store's two files, as the executor writes them.
pub struct LeaseDisk {
    journal: BufferedFile,
    lease_file: BufferedFile,
}

/// Most bytes handed to the kernel in one write.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

impl LeaseDisk {
    /// The files of `store`, from descriptors of their own (the store keeps its own);
    /// None for a store in memory.
    pub fn of(store: &LeaseStore) -> io::Result<Option<LeaseDisk>> {
        let Some((journal, lease_file)) = store.descriptors() else {
            return Ok(None);
        };
        let own = |fd: BorrowedFd<'_>| -> io::Result<BufferedFile> {
            let fd: OwnedFd = fd.try_clone_to_owned()?;
            // SAFETY: the descriptor is new and handed over whole to the buffered file.
            Ok(unsafe { BufferedFile::from_raw_fd(fd.into_raw_fd()) })
        };
        Ok(Some(LeaseDisk {
            journal: own(journal)?,
            lease_file: own(lease_file)?,
        }))
    }

    fn file(&self, which: DiskFile) -> &BufferedFile {
        match which {
            DiskFile::Journal => &self.journal,
            DiskFile::LeaseFile => &self.lease_file,
        }
    }

    /// Do `steps` in order, stopping at the first that fails.
    async fn run(&self, steps: Vec<DiskStep>) -> DiskOutcome {
        for (n, step) in steps.into_iter().enumerate() {
            let done = match step {
                DiskStep::Write(f, at, bytes) => self.write_all_at(f, &bytes, at).await,
                DiskStep::SetLen(f, len) => self.file(f).truncate(len).await.map_err(Into::into),
                DiskStep::Sync(f) => self.file(f).fdatasync().await.map_err(Into::into),
            };
            done.map_err(|e| (n, e))?;
        }
        Ok(())
    }

    /// Write all of `bytes` at `at`, a chunk at a time (each chunk a copy handed to the
    /// kernel, so that a short write can go on from where it stopped).
    async fn write_all_at(&self, which: DiskFile, bytes: &[u8], at: u64) -> io::Result<()> {
        let file = self.file(which);
        let mut done = 0;
        while done < bytes.len() {
            let chunk = &bytes[done..bytes.len().min(done + WRITE_CHUNK_BYTES)];
            let wrote = file
                .write_at(chunk.to_vec(), at + done as u64)
                .await
                .map_err(io::Error::from)?;
            if wrote == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote nothing"));
            }
            done += wrote;
        }
        Ok(())
    }

    /// Do `plan` and tell `store` how far it got; on a failure, undo what part of it was
    /// written before returning the error.
    pub async fn apply(&self, store: &mut LeaseStore, plan: DiskPlan) -> io::Result<()> {
        let outcome = self.run(plan.steps).await;
        match store.finish(plan.purpose, outcome) {
            Ok(()) => Ok(()),
            Err(failure) => {
                let _ = self.run(failure.undo).await;
                Err(failure.error)
            }
        }
    }

    /// Put the store's pending changes on disk (see `LeaseStore::commit_plan`).
    pub async fn commit(&self, store: &mut LeaseStore) -> io::Result<()> {
        match store.commit_plan() {
            Some(plan) => self.apply(store, plan).await,
            None => Ok(()),
        }
    }

    /// Rewrite the lease file if the store says it is due; true if it was.
    pub async fn compact_if_due(&self, store: &mut LeaseStore) -> io::Result<bool> {
        if !store.compaction_due() {
            return Ok(false);
        }
        match store.compaction_plan() {
            Some(plan) => self.apply(store, plan).await.map(|()| true),
            None => Ok(false),
        }
    }
}
