//! What Linux's `/proc` says about a process: CPU time and resident memory (for the
//! peer nodes' `bench:stats` and the benchmark's readings of other processes).

fn path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// `(user µs, system µs)` of CPU time used so far by process `pid` (`None`: this
/// process), from `/proc/<pid>/stat`, in steps of 10 ms (USER_HZ is 100 on Linux).
/// `None` when it cannot be read (the process is gone, not Linux).
pub fn cpu_micros(pid: Option<u32>) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(path(pid, "stat")).ok()?;
    // Fields after the command name (in parentheses, may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after ')'.
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? * 10_000, ticks(12)? * 10_000))
}

/// Resident set size of process `pid` (`None`: this process) in bytes, `VmRSS` of
/// `/proc/<pid>/status`. `None` when it cannot be read.
pub fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    std::fs::read_to_string(path(pid, "status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(super::rss_bytes(None).is_some_and(|b| b > 0));
            assert!(super::cpu_micros(None).is_some());
            assert_eq!(super::cpu_micros(Some(u32::MAX)), None);
        }
    }
}
