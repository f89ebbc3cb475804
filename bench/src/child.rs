//! Child processes the bench starts (the gateway, the two references): never
//! left behind, and measured from the outside through `/proc`.

use std::{
    net::{SocketAddr, TcpListener},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use bytes::Bytes;
use serde::Serialize;
use tokio::process::Command;

use crate::load::{Call, Connection};

/// How long a server may take to answer its first call. Generous: a debug
/// build of the gateway migrates its database before it listens.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running child that is killed however the bench exits: on drop, on an
/// early `?` return, on a panic. `kill_on_drop` alone would do; the explicit
/// `Drop` makes the intent visible where the type is declared.
#[derive(Debug)]
pub struct Child {
    name: &'static str,
    inner: tokio::process::Child,
    pid: u32,
    /// Taken just before the spawn: start-up time is measured from here.
    spawned_at: Instant,
}

impl Child {
    pub fn spawn(name: &'static str, mut command: Command) -> anyhow::Result<Self> {
        command.kill_on_drop(true);
        let spawned_at = Instant::now();
        let inner = command
            .spawn()
            .with_context(|| format!("cannot start the {name}"))?;
        let pid = inner
            .id()
            .with_context(|| format!("the {name} exited at once"))?;
        Ok(Self {
            name,
            inner,
            pid,
            spawned_at,
        })
    }

    /// Fails if the process has exited (a bad configuration, a crash).
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        match self.inner.try_wait()? {
            None => Ok(()),
            Some(status) => bail!("the {} exited ({status})", self.name),
        }
    }

    /// Polls `call` every millisecond until it succeeds; returns the time
    /// from spawn to that success and the reply body.
    pub async fn first_success(
        &mut self,
        addr: SocketAddr,
        call: &Call,
    ) -> anyhow::Result<(Duration, Bytes)> {
        let mut last_problem = String::from("no answer yet");
        while self.spawned_at.elapsed() < START_DEADLINE {
            self.ensure_running()?;
            // A refused connection comes back at once, so this loop is tight.
            match Connection::open(addr).await {
                Ok(mut connection) => match connection.send(call.request()).await {
                    Ok(reply) => match reply.verdict() {
                        Ok(()) => return Ok((self.spawned_at.elapsed(), reply.body)),
                        Err(problem) => last_problem = problem,
                    },
                    Err(e) => last_problem = format!("{e:#}"),
                },
                Err(e) => last_problem = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        bail!(
            "the {} gave no successful answer within {START_DEADLINE:?}: {last_problem}",
            self.name
        )
    }

    /// Resident memory now and at its peak.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .with_context(|| format!("cannot read /proc for the {}", self.name))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{}/status", self.pid))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }

    /// The CPU time the process has used so far, user and system, over all
    /// its threads.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .with_context(|| format!("cannot read /proc for the {}", self.name))?;
        cpu_time_of(&stat, rustix::param::clock_ticks_per_second())
            .with_context(|| format!("unexpected /proc/{}/stat: {stat}", self.pid))
    }

    /// Kills the process and waits until it is gone (so its database can be dropped).
    pub async fn stop(mut self) {
        let _ = self.inner.start_kill();
        let _ = self.inner.wait().await;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.inner.start_kill();
    }
}

/// Memory from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the most that was ever resident.
    pub peak_kib: u64,
}

/// `utime + stime` from a `/proc/<pid>/stat` line, whose fields are counted
/// after the command name (in parentheses, and itself free to hold spaces
/// and parentheses): `utime` is the 14th field of the line, the 12th after it.
fn cpu_time_of(stat: &str, ticks_per_second: u64) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let mut ticks = || fields.next()?.parse::<u64>().ok();
    let total = ticks()? + ticks()?;
    Some(Duration::from_nanos(
        total * 1_000_000_000 / ticks_per_second.max(1),
    ))
}

/// A port no one listens on right now. The child binds it a moment later;
/// the bench needs the number first, to mint tokens for that exact URL.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name may hold spaces and parentheses; the fields count after its last `)`.
    #[test]
    fn cpu_time_is_utime_plus_stime_after_the_name() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(cpu_time_of(stat, 100), Some(Duration::from_secs(3)));
        assert_eq!(cpu_time_of(stat, 1000), Some(Duration::from_millis(300)));
        assert_eq!(cpu_time_of("4242 (gateway) S 1 2", 100), None);
    }

    #[test]
    fn a_running_childs_cpu_time_is_read_from_proc() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut command = Command::new("sh");
            command.args([
                "-c",
                "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 30",
            ]);
            let child = Child::spawn("busy shell", command).expect("spawn sh");
            let mut used = Duration::ZERO;
            for _ in 0..200 {
                used = child.cpu_time().expect("cpu time");
                if used > Duration::ZERO {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(used > Duration::ZERO, "the busy child used no CPU time");
            child.stop().await;
        });
    }
}
