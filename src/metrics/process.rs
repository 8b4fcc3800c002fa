//! The process's CPU time, memory, threads and open files, read from `/proc/self` when
//! scraped, under the names Prometheus' own clients use (`process_*`). Elsewhere than Linux
//! nothing is reported.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// `AT_CLKTCK` and `AT_PAGESZ` of the auxiliary vector (the kernel's `auxvec.h`).
const AT_CLKTCK: u64 = 17;
const AT_PAGESZ: u64 = 6;

/// What `/proc/self/stat` and friends say.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ProcessStats {
    pub(super) cpu_seconds: f64,
    pub(super) resident_bytes: u64,
    pub(super) virtual_bytes: u64,
    pub(super) threads: u64,
    pub(super) start_time_seconds: Option<f64>,
}

/// Reads `/proc/self/stat`: its fields after the command name, which may hold spaces and
/// parentheses, so the text is split after the last `)`.
pub(super) fn parse_stat(
    stat: &str,
    ticks_per_second: u64,
    page_size: u64,
    boot_time: Option<u64>,
) -> Option<ProcessStats> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 of proc(5) (state)
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ticks = ticks_per_second.max(1) as f64;
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        threads: field(20)?,
        start_time_seconds: boot_time
            .zip(field(22))
            .map(|(boot, start)| boot as f64 + start as f64 / ticks),
        virtual_bytes: field(23)?,
        resident_bytes: field(24)?.saturating_mul(page_size),
    })
}

/// A value of the auxiliary vector (native-endian pairs of machine words).
fn auxv_value(auxv: &[u8], key: u64) -> Option<u64> {
    const WORD: usize = std::mem::size_of::<usize>();
    auxv.chunks_exact(2 * WORD).find_map(|pair| {
        let word = |b: &[u8]| -> Option<u64> {
            let mut buf = [0u8; 8];
            buf.get_mut(..WORD)?.copy_from_slice(b.get(..WORD)?);
            Some(if cfg!(target_endian = "little") {
                u64::from_le_bytes(buf)
            } else {
                u64::from_be_bytes(buf) >> (8 * (8 - WORD))
            })
        };
        (word(pair)? == key).then(|| word(&pair[WORD..])).flatten()
    })
}

#[derive(Debug)]
pub(super) struct ProcessCollector {
    ticks_per_second: u64,
    page_size: u64,
    boot_time: Option<u64>,
}

impl ProcessCollector {
    pub(super) fn new() -> Self {
        let auxv = std::fs::read("/proc/self/auxv").unwrap_or_default();
        let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse().ok())
        });
        Self {
            // USER_HZ and the page size of the common Linux machines, if auxv is unreadable
            ticks_per_second: auxv_value(&auxv, AT_CLKTCK).unwrap_or(100),
            page_size: auxv_value(&auxv, AT_PAGESZ).unwrap_or(4096),
            boot_time,
        }
    }

    fn read(&self) -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse_stat(&stat, self.ticks_per_second, self.page_size, self.boot_time)
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(stats) = self.read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(stats.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size, bytes",
                stats.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size, bytes",
                stats.virtual_bytes as f64,
            ),
            ("process_threads", "OS threads", stats.threads as f64),
        ];
        for (name, help, value) in gauges {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            let g = ConstGauge::new(fds.count() as i64);
            g.encode(encoder.encode_descriptor(
                "process_open_fds",
                "Open file descriptors",
                None,
                g.metric_type(),
            )?)?;
        }
        if let Some(start) = stats.start_time_seconds {
            let g = ConstGauge::new(start);
            g.encode(encoder.encode_descriptor(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, seconds",
                None,
                g.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        // proc(5) layout; the command name holds a space and a parenthesis
        let stat = "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 150 0 0 20 0 7 0 12300 104857600 2560 18446744073709551615 \
                    1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let s = parse_stat(stat, 100, 4096, Some(1_700_000_000)).expect("parses");
        assert_eq!(
            s,
            ProcessStats {
                cpu_seconds: 4.0,
                resident_bytes: 2560 * 4096,
                virtual_bytes: 104_857_600,
                threads: 7,
                start_time_seconds: Some(1_700_000_123.0),
            }
        );
        assert_eq!(parse_stat("4242 (truncated) S 1 2", 100, 4096, None), None);
        assert_eq!(parse_stat("", 100, 4096, None), None);
    }

    #[test]
    fn this_process_reports_itself() {
        let c = ProcessCollector::new();
        let s = c.read().expect("/proc/self/stat on Linux");
        assert!(s.threads >= 1);
        assert!(s.resident_bytes > 1 << 20, "{s:?}");
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let vm_rss_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        // Two readings of a moving value, through two files: close, not equal.
        let ratio = s.resident_bytes as f64 / (vm_rss_kb * 1024) as f64;
        assert!(
            (0.5..2.0).contains(&ratio),
            "stat {s:?} vs VmRSS {vm_rss_kb} kB"
        );
        assert_eq!(c.ticks_per_second, 100, "USER_HZ from the auxiliary vector");
    }
}
