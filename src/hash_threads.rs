//! Dedicated threads for password hashing, at the lowest CPU priority.
//!
//! scrypt takes tens of milliseconds of CPU per hash. On tokio's blocking
//! pool a storm of password sign-ins would share the cores evenly with the
//! runtime threads, and every other request (an app route, a session check)
//! would wait behind hashes. These threads lower their own priority once
//! (`SCHED_IDLE` on Linux, the lowest priority the platform allows elsewhere; a thread cannot
//! raise it back without privileges, hence threads of their own), so request
//! handling always preempts hashing, and hashing gets every cycle left over.
//! Their number bounds the memory: 32 MiB per hash in flight.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of hashing threads, started on the first job (most servers
/// built in tests never hash) and stopped when the last handle is dropped.
#[derive(Debug)]
pub(crate) struct HashThreads {
    count: usize,
    queue: OnceLock<Sender<Job>>,
}

/// The pool could not start a thread, or a job panicked.
#[derive(Debug)]
pub(crate) struct JobFailed(&'static str);

impl std::fmt::Display for JobFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for JobFailed {}

impl HashThreads {
    pub(crate) fn new(count: usize) -> Self {
        Self { count: count.max(1), queue: OnceLock::new() }
    }

    /// Runs `job` on a hashing thread; jobs beyond the thread count queue up.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, JobFailed> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A panicking job drops `done`: its caller gets an error and the thread lives on.
            if let Ok(value) = std::panic::catch_unwind(AssertUnwindSafe(job)) {
                let _ = done.send(value);
            }
        });
        self.queue()?.send(job).map_err(|_| JobFailed("hashing threads stopped"))?;
        result.await.map_err(|_| JobFailed("password hashing job panicked"))
    }

    fn queue(&self) -> Result<&Sender<Job>, JobFailed> {
        if let Some(queue) = self.queue.get() {
            return Ok(queue);
        }
        let (queue, jobs) = mpsc::channel();
        start(self.count, Arc::new(Mutex::new(jobs)))?;
        // A racing first job may have started its own threads: ours then see
        // their queue closed when `queue` drops here, and exit.
        Ok(self.queue.get_or_init(|| queue))
    }
}

fn start(count: usize, jobs: Arc<Mutex<Receiver<Job>>>) -> Result<(), JobFailed> {
    for i in 0..count {
        let jobs = jobs.clone();
        std::thread::Builder::new()
            .name(format!("kernia-hash-{i}"))
            .spawn(move || work(&jobs))
            .map_err(|_| JobFailed("could not start a password hashing thread"))?;
    }
    Ok(())
}

/// Runs jobs until the queue closes. The lock is held only while waiting
/// for the next job, never while one runs.
fn work(jobs: &Mutex<Receiver<Job>>) {
    lower_own_priority();
    while let Some(job) = jobs.lock().ok().and_then(|jobs| jobs.recv().ok()) {
        job();
    }
}

fn lower_own_priority() {
    use thread_priority::ThreadPriority;
    #[cfg(target_os = "linux")]
    let lowered = {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        thread_priority::set_thread_priority_and_policy(
            thread_priority::thread_native_id(),
            ThreadPriority::Min,
            idle,
        )
    };
    #[cfg(not(target_os = "linux"))]
    let lowered = thread_priority::set_current_thread_priority(ThreadPriority::Min);
    if let Err(error) = lowered {
        tracing::debug!(target: "kernia", ?error, "password hashing runs at normal priority");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    #[allow(clippy::panic)]
    async fn a_panicking_job_fails_alone_and_the_threads_live_on() {
        let threads = HashThreads::new(1);
        let panicked = threads.run(|| -> u32 { panic!("scrypt exploded") }).await;
        assert_eq!(panicked.unwrap_err().to_string(), "password hashing job panicked");
        assert_eq!(threads.run(|| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn no_more_jobs_run_at_once_than_threads() {
        let threads = Arc::new(HashThreads::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let (threads, running, most) = (threads.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                threads
                    .run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            })
        });
        for job in jobs.collect::<Vec<_>>() {
            job.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_idle_priority() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let threads = HashThreads::new(1);
        let (name, policy) = threads
            .run(|| {
                (std::thread::current().name().map(str::to_owned), thread_priority::thread_schedule_policy())
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("kernia-hash-0"));
        assert_eq!(policy.unwrap(), ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle));
    }
}
