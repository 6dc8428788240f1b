//! The standard `process_*` metrics and `memory_usage_bytes` (the resident set), read from `/proc` at
//! scrape time (Linux; elsewhere only what the platform gives portably).

use super::encode::{Encoder, Kind};

/// What a scrape reads of the process.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ProcessStats {
    pub(crate) cpu_seconds: f64,
    pub(crate) resident_bytes: u64,
    pub(crate) virtual_bytes: u64,
    pub(crate) start_time_seconds: f64,
    pub(crate) threads: u64,
    pub(crate) open_fds: Option<u64>,
    pub(crate) max_fds: Option<u64>,
}

pub(crate) fn encode(encoder: &mut Encoder) {
    let Some(stats) = read() else { return };
    encoder.family("memory_usage_bytes", Kind::Gauge, "Memory usage in bytes (resident set size)");
    encoder.sample("memory_usage_bytes", &[], stats.resident_bytes as f64);
    encoder.family("process_cpu_seconds_total", Kind::Counter, "Total user and system CPU time spent in seconds.");
    encoder.sample("process_cpu_seconds_total", &[], stats.cpu_seconds);
    encoder.family("process_resident_memory_bytes", Kind::Gauge, "Resident memory size in bytes.");
    encoder.sample("process_resident_memory_bytes", &[], stats.resident_bytes as f64);
    encoder.family("process_virtual_memory_bytes", Kind::Gauge, "Virtual memory size in bytes.");
    encoder.sample("process_virtual_memory_bytes", &[], stats.virtual_bytes as f64);
    encoder.family("process_start_time_seconds", Kind::Gauge, "Start time of the process since unix epoch in seconds.");
    encoder.sample("process_start_time_seconds", &[], stats.start_time_seconds);
    encoder.family("process_threads", Kind::Gauge, "Number of OS threads in the process.");
    encoder.sample("process_threads", &[], stats.threads as f64);
    if let Some(open) = stats.open_fds {
        encoder.family("process_open_fds", Kind::Gauge, "Number of open file descriptors.");
        encoder.sample("process_open_fds", &[], open as f64);
    }
    if let Some(max) = stats.max_fds {
        encoder.family("process_max_fds", Kind::Gauge, "Maximum number of open file descriptors.");
        encoder.sample("process_max_fds", &[], max as f64);
    }
}

#[cfg(target_os = "linux")]
pub(crate) fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| stat.lines().find_map(|line| line.strip_prefix("btime ")?.trim().parse::<u64>().ok()))?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|dir| dir.count() as u64);
    let max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|limits| parse_max_fds(&limits));
    // USER_HZ is 100 on every Linux ABI; the page size is read from the aux vector via /proc.
    let page_size = page_size().unwrap_or(4096);
    parse_stat(&stat, 100, page_size, boot_time).map(|stats| ProcessStats { open_fds, max_fds, ..stats })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn read() -> Option<ProcessStats> {
    None
}

#[cfg(target_os = "linux")]
fn page_size() -> Option<u64> {
    // AT_PAGESZ (6) in /proc/self/auxv: pairs of native-endian u64 (type, value).
    let auxv = std::fs::read("/proc/self/auxv").ok()?;
    auxv.chunks_exact(16).find_map(|pair| {
        let key = u64::from_ne_bytes(pair[..8].try_into().ok()?);
        let value = u64::from_ne_bytes(pair[8..].try_into().ok()?);
        (key == 6).then_some(value)
    })
}

/// Parses `/proc/self/stat`. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
fn parse_stat(stat: &str, ticks_per_second: u64, page_size: u64, boot_time: u64) -> Option<ProcessStats> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is index 0 here; utime is field 14, so index 11.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    let ticks = ticks_per_second as f64;
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        threads: field(20)?,
        start_time_seconds: boot_time as f64 + field(22)? as f64 / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page_size,
        open_fds: None,
        max_fds: None,
    })
}

fn parse_max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_the_name_parses() {
        let stat = "4242 (my (weird) proc) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 7 0 \
                    1000 123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let stats = parse_stat(stat, 100, 4096, 1_700_000_000).expect("parses");
        assert_eq!(stats.cpu_seconds, 3.0);
        assert_eq!(stats.threads, 7);
        assert_eq!(stats.start_time_seconds, 1_700_000_010.0);
        assert_eq!(stats.virtual_bytes, 123_456_789);
        assert_eq!(stats.resident_bytes, 300 * 4096);
    }

    #[test]
    fn max_open_files_is_the_soft_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_fds(limits), Some(1024));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads() {
        let stats = read().expect("linux has /proc");
        assert!(stats.resident_bytes > 0 && stats.threads >= 1 && stats.open_fds.is_some());
    }
}
