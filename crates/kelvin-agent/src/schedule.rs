//! Every source on its own schedule: a timer thread hands due polls to a pool of workers, so a
//! source that hangs holds one worker until its timeout and delays no other; a source whose
//! previous poll is still running skips the tick (counted as an overrun). Each source starts at
//! a random offset within its interval, so a thousand targets do not all fire at once, then
//! keeps its interval without drift.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sources::{Health, PollError, Polled, Source};

/// What a worker hands the engine: a source's poll and when it ended.
#[derive(Debug)]
pub struct Delivery {
    /// Index of the source.
    pub source: usize,
    /// What the poll produced.
    pub polled: Vec<Polled>,
}

/// The running schedule: its threads and the sources' health.
#[derive(Debug)]
pub struct Scheduler {
    /// Each source's health, by index.
    pub health: Arc<Vec<Mutex<Health>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Scheduler {
    /// Each source's health, fresh, for [`Scheduler::start`].
    pub fn new_health(n: usize) -> Arc<Vec<Mutex<Health>>> {
        Arc::new((0..n).map(|_| Mutex::default()).collect())
    }

    /// Starts polling `sources` with `workers` workers, recording into `health` (one entry a
    /// source); deliveries go to the returned receiver (bounded: when the engine falls behind,
    /// workers wait).
    pub fn start(
        sources: Vec<Source>,
        workers: usize,
        health: Arc<Vec<Mutex<Health>>>,
    ) -> (Scheduler, Receiver<Delivery>) {
        let sources: Arc<Vec<Source>> = Arc::new(sources);
        let busy: Arc<Vec<AtomicBool>> =
            Arc::new(sources.iter().map(|_| AtomicBool::new(false)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let (out_tx, out_rx) = sync_channel::<Delivery>(256);
        let (job_tx, job_rx) = sync_channel::<usize>(sources.len().max(1));
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut threads = Vec::new();
        for i in 0..workers.max(1) {
            let ctx = Worker {
                sources: sources.clone(),
                health: health.clone(),
                busy: busy.clone(),
                jobs: job_rx.clone(),
                out: out_tx.clone(),
            };
            let t = std::thread::Builder::new()
                .name(format!("kelvin-poll-{i}"))
                .spawn(move || ctx.run());
            if let Ok(t) = t {
                threads.push(t);
            }
        }
        let timer = Timer {
            sources: sources.clone(),
            health: health.clone(),
            busy,
            jobs: job_tx,
            stop: stop.clone(),
        };
        if let Ok(t) = std::thread::Builder::new()
            .name("kelvin-timer".into())
            .spawn(move || timer.run())
        {
            threads.push(t);
        }
        (
            Scheduler {
                health,
                stop,
                threads,
            },
            out_rx,
        )
    }

    /// Stops the timer and the workers (each finishes its poll first).
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

struct Worker {
    sources: Arc<Vec<Source>>,
    health: Arc<Vec<Mutex<Health>>>,
    busy: Arc<Vec<AtomicBool>>,
    jobs: Arc<Mutex<Receiver<usize>>>,
    out: SyncSender<Delivery>,
}

impl Worker {
    fn run(self) {
        loop {
            let job = match self.jobs.lock() {
                Ok(rx) => rx.recv(),
                Err(_) => return,
            };
            let Ok(i) = job else { return };
            let started = Instant::now();
            let result = self.sources[i].poll();
            let took = started.elapsed();
            if let Ok(mut h) = self.health[i].lock() {
                let was = (h.polls > 0).then_some(h.up);
                h.record(took, result.as_ref().map(|_| ()).map_err(|e: &PollError| e));
                // A log line when a source changes state, not one per failed poll.
                let name = &self.sources[i].spec.name;
                match (&result, was) {
                    (Err(e), None | Some(true)) => {
                        eprintln!("kelvin-agent: source {name} down: {}", e.message)
                    }
                    (Ok(_), Some(false)) => eprintln!("kelvin-agent: source {name} up again"),
                    _ => {}
                }
            }
            self.busy[i].store(false, Ordering::SeqCst);
            if let Ok(polled) = result
                && self.out.send(Delivery { source: i, polled }).is_err()
            {
                return;
            }
        }
    }
}

struct Timer {
    sources: Arc<Vec<Source>>,
    health: Arc<Vec<Mutex<Health>>>,
    busy: Arc<Vec<AtomicBool>>,
    jobs: SyncSender<usize>,
    stop: Arc<AtomicBool>,
}

impl Timer {
    fn run(self) {
        let start = Instant::now();
        // A random offset within each interval: a randomly seeded hash of the index.
        let seed = std::collections::hash_map::RandomState::new();
        let mut due: BinaryHeap<Reverse<(Instant, usize)>> = self
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let iv = s.spec.schedule.interval.as_secs_f64();
                let u =
                    (std::hash::BuildHasher::hash_one(&seed, i) >> 11) as f64 / (1u64 << 53) as f64;
                let offset = Duration::from_secs_f64(u * iv);
                Reverse((start + offset, i))
            })
            .collect();
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let Some(Reverse((t, i))) = due.peek().copied() else {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            if t > now {
                std::thread::sleep((t - now).min(Duration::from_millis(100)));
                continue;
            }
            due.pop();
            if self.busy[i].swap(true, Ordering::SeqCst) {
                if let Ok(mut h) = self.health[i].lock() {
                    h.overruns += 1;
                }
            } else if self.jobs.try_send(i).is_err() {
                // Every worker is busy and the queue is full: skipped, as an overrun.
                self.busy[i].store(false, Ordering::SeqCst);
                if let Ok(mut h) = self.health[i].lock() {
                    h.overruns += 1;
                }
            }
            // The next tick keeps the grid, skipping ticks already past.
            let iv = self.sources[i].spec.schedule.interval;
            let mut next = t + iv;
            while next <= now {
                next += iv;
            }
            due.push(Reverse((next, i)));
        }
    }
}
