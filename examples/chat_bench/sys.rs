//! What the bench reads from the operating system: open-file limits, and CPU time and memory of
//! a process from /proc (the server's by pid, and the bench's own).

use std::time::Instant;

#[repr(C)]
struct RLimit {
    cur: u64,
    max: u64,
}

// Linux's C library, which every Rust binary on Linux links anyway: no extra crate needed.
extern "C" {
    fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
    fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
    fn sysconf(name: i32) -> i64;
}

const RLIMIT_NOFILE: i32 = 7;
const SC_CLK_TCK: i32 = 2;

/// Raises this process's open-file limit to at least `want` if it can (to the hard limit when
/// not privileged). Returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = RLimit { cur: 0, max: 0 };
    // SAFETY: getrlimit writes one struct of the layout above (rlim_t is 64-bit on Linux).
    if unsafe { getrlimit(RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.cur >= want {
        return lim.cur;
    }
    // first try beyond the hard limit (works for root), then up to it
    for target in [
        RLimit {
            cur: want,
            max: want.max(lim.max),
        },
        RLimit {
            cur: want.min(lim.max),
            max: lim.max,
        },
    ] {
        // SAFETY: setrlimit only reads the struct.
        if unsafe { setrlimit(RLIMIT_NOFILE, &target) } == 0 {
            return target.cur;
        }
    }
    lim.cur
}

/// True for "Too many open files" (EMFILE, ENFILE).
pub fn is_fd_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(24) | Some(23))
}

pub const FD_HINT: &str = "too many open files: raise the limit first (`ulimit -n 65536`, as root \
                           if needed) for both the bench and the server";

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { sysconf(SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

#[derive(Debug, Clone)]
pub struct ProcSample {
    pub cpu_secs: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub threads: u64,
    pub at: Instant,
}

/// CPU time and memory of `pid` ("self" for this process).
pub fn sample(pid: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name may hold spaces and parentheses: fields start after the last ')'
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // field 3 of stat is fields[0]; utime and stime are fields 14 and 15
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        cpu_secs: (utime + stime) as f64 / clk_tck(),
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        threads: field("Threads:"),
        at: Instant::now(),
    })
}

/// Percent of one core used between two samples.
pub fn cpu_pct(a: &ProcSample, b: &ProcSample) -> f64 {
    let wall = b.at.duration_since(a.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    (b.cpu_secs - a.cpu_secs) / wall * 100.0
}

/// Whole-machine (busy, total) jiffies from /proc/stat.
pub fn machine() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let nums: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    let total: u64 = nums.iter().sum();
    // idle + iowait
    let idle = nums.get(3).copied().unwrap_or(0) + nums.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Percent of all cores busy between two machine samples (100 % = every core).
pub fn machine_busy_pct(a: (u64, u64), b: (u64, u64)) -> f64 {
    let total = b.1.saturating_sub(a.1);
    if total == 0 {
        return 0.0;
    }
    b.0.saturating_sub(a.0) as f64 / total as f64 * 100.0
}

pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
