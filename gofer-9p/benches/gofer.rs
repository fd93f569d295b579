//! Throughput and latency of client+server over a socketpair, next to the
//! same operations done natively on the same files. Prints ratios.
//!
//! Run: `cargo bench -p gofer-9p --bench gofer`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gofer_9p::messages::getattr;
use gofer_9p::{oflags, Client, Server};

const TOTAL: usize = 64 << 20;
const OP: usize = 128 << 10;
const MSIZE: u32 = (OP as u32) + 4096;
const GETATTRS: usize = 20_000;

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn best_of<F: FnMut() -> Duration>(n: usize, mut f: F) -> Duration {
    (0..n).map(|_| f()).min().unwrap_or_default()
}

/// Seconds per round trip of a 16-byte message between two threads over a
/// socketpair: the floor for any request/reply protocol on this host.
fn ping_pong() -> f64 {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || {
        let mut x = [0u8; 16];
        while b.read_exact(&mut x).is_ok() {
            if b.write_all(&x).is_err() {
                break;
            }
        }
    });
    let mut x = [0u8; 16];
    let n = 5000;
    let start = Instant::now();
    for _ in 0..n {
        a.write_all(&x).unwrap();
        a.read_exact(&mut x).unwrap();
    }
    let d = start.elapsed().as_secs_f64() / n as f64;
    drop(a);
    let _ = t.join();
    d
}

fn main() {
    let dir: PathBuf = std::env::temp_dir().join(format!("gofer9p-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("data");
    let buf: Vec<u8> = (0..OP).map(|i| (i % 251) as u8).collect();

    let root: OwnedFd = File::open(&dir).unwrap().into();
    let server = Server::new(root, false).unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let srv = std::thread::spawn(move || server.serve(a));
    let client = Client::connect(b, MSIZE).unwrap();
    let (root_fid, _) = client.attach("bench", "", 0).unwrap();

    // --- sequential write ---
    let native_write = best_of(3, || {
        let mut f = File::create(&file).unwrap();
        let t = Instant::now();
        for _ in 0..TOTAL / OP {
            f.write_all(&buf).unwrap();
        }
        t.elapsed()
    });
    let p9_write = best_of(3, || {
        let _ = std::fs::remove_file(&file);
        let (f, _) = client.walk(&root_fid, &[] as &[&str]).unwrap();
        client.create(&f, "data", oflags::WRONLY, 0o644, u32::MAX).unwrap();
        let t = Instant::now();
        let mut off = 0u64;
        for _ in 0..TOTAL / OP {
            assert_eq!(client.write(&f, off, &buf).unwrap(), OP);
            off += OP as u64;
        }
        t.elapsed()
    });
    assert_eq!(std::fs::metadata(&file).unwrap().len(), TOTAL as u64);

    // --- sequential read (page cache warm for both) ---
    let mut rbuf = vec![0u8; OP];
    let native_read = best_of(3, || {
        let mut f = File::open(&file).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let t = Instant::now();
        for _ in 0..TOTAL / OP {
            f.read_exact(&mut rbuf).unwrap();
        }
        t.elapsed()
    });
    let (rf, _) = client.walk(&root_fid, &["data"]).unwrap();
    client.open(&rf, oflags::RDONLY).unwrap();
    let p9_read = best_of(3, || {
        let t = Instant::now();
        let mut off = 0u64;
        for _ in 0..TOTAL / OP {
            assert_eq!(client.read(&rf, off, &mut rbuf).unwrap(), OP);
            off += OP as u64;
        }
        t.elapsed()
    });
    // Large reads let the client pipeline several Treads.
    let mut big = vec![0u8; 4 << 20];
    let p9_read_4m = best_of(3, || {
        let t = Instant::now();
        let mut off = 0u64;
        for _ in 0..TOTAL / big.len() {
            assert_eq!(client.read(&rf, off, &mut big).unwrap(), big.len());
            off += big.len() as u64;
        }
        t.elapsed()
    });
    let nf = File::open(&file).unwrap();
    let native_read_4m = best_of(3, || {
        let t = Instant::now();
        let mut off = 0u64;
        for _ in 0..TOTAL / big.len() {
            nf.read_exact_at(&mut big, off).unwrap();
            off += big.len() as u64;
        }
        t.elapsed()
    });

    // --- getattr round trips vs fstat ---
    let native_stat = best_of(3, || {
        let t = Instant::now();
        for _ in 0..GETATTRS {
            let st = nix::sys::stat::fstat(nf.as_raw_fd()).unwrap();
            std::hint::black_box(st);
        }
        t.elapsed()
    });
    let p9_stat = best_of(3, || {
        let t = Instant::now();
        for _ in 0..GETATTRS {
            std::hint::black_box(client.getattr(&rf, getattr::BASIC).unwrap());
        }
        t.elapsed()
    });
    // Same, from 4 threads at once (requests in flight concurrently).
    let p9_stat_mt = best_of(3, || {
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..GETATTRS / 4 {
                        std::hint::black_box(client.getattr(&rf, getattr::BASIC).unwrap());
                    }
                });
            }
        });
        t.elapsed()
    });

    println!("gofer-9p benchmark: {} MiB in {} KiB ops, msize {}", TOTAL >> 20, OP >> 10, MSIZE);
    println!(
        "seq write     : 9p {:8.1} MiB/s  native {:8.1} MiB/s  ratio 9p/native {:.3}",
        mib_s(TOTAL, p9_write),
        mib_s(TOTAL, native_write),
        native_write.as_secs_f64() / p9_write.as_secs_f64()
    );
    println!(
        "seq read      : 9p {:8.1} MiB/s  native {:8.1} MiB/s  ratio 9p/native {:.3}",
        mib_s(TOTAL, p9_read),
        mib_s(TOTAL, native_read),
        native_read.as_secs_f64() / p9_read.as_secs_f64()
    );
    println!(
        "read 4MiB ops : 9p {:8.1} MiB/s  native {:8.1} MiB/s  ratio 9p/native {:.3}",
        mib_s(TOTAL, p9_read_4m),
        mib_s(TOTAL, native_read_4m),
        native_read_4m.as_secs_f64() / p9_read_4m.as_secs_f64()
    );
    let per = |d: Duration| d.as_secs_f64() * 1e6 / GETATTRS as f64;
    println!(
        "getattr       : 9p {:8.2} us/op  native fstat {:8.3} us/op  ratio 9p/native {:.1}x slower",
        per(p9_stat),
        per(native_stat),
        p9_stat.as_secs_f64() / native_stat.as_secs_f64()
    );
    println!("getattr 4 thr : 9p {:8.2} us/op (aggregate)", per(p9_stat_mt));
    let pp = ping_pong();
    println!(
        "floor         : bare socketpair ping-pong between two threads {:.2} us; getattr / ping-pong {:.2}",
        pp * 1e6,
        p9_stat.as_secs_f64() / GETATTRS as f64 / pp
    );

    drop(rf);
    drop(root_fid);
    drop(client);
    let _ = srv.join();
    let _ = std::fs::remove_dir_all(&dir);
}
