//! Large transfers split by msize, big directories, concurrency.

mod common;

use std::collections::BTreeSet;

use common::Harness;
use gofer_9p::messages::{getattr, Tmessage};
use gofer_9p::{oflags, Rmessage};

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed).collect()
}

#[test]
fn one_mib_with_small_msize() {
    let h = Harness::new(false, 8192);
    assert_eq!(h.c().msize(), 8192);
    let root = h.attach();
    let data = pattern(1 << 20, 7);
    let (f, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    h.c().create(&f, "big", oflags::RDWR, 0o644, u32::MAX).unwrap();
    assert_eq!(h.c().write(&f, 0, &data).unwrap(), data.len());
    assert_eq!(std::fs::read(h.root.join("big")).unwrap(), data);
    let mut back = vec![0u8; data.len() + 100];
    let n = h.c().read(&f, 0, &mut back).unwrap();
    assert_eq!(n, data.len());
    assert_eq!(&back[..n], &data[..]);
    // Unaligned offset, read crossing EOF.
    let n = h.c().read(&f, 12345, &mut back).unwrap();
    assert_eq!(n, data.len() - 12345);
    assert_eq!(&back[..n], &data[12345..]);
    // Native write, client read.
    let data2 = pattern(1 << 20, 99);
    std::fs::write(h.root.join("big2"), &data2).unwrap();
    let (g, _) = h.c().walk(&root, &["big2"]).unwrap();
    h.c().open(&g, oflags::RDONLY).unwrap();
    let mut back = vec![0u8; data2.len()];
    assert_eq!(h.c().read(&g, 0, &mut back).unwrap(), data2.len());
    assert_eq!(back, data2);
    // Each single Tread is capped by the server to fit msize.
    let r = h.c().rpc(&Tmessage::Read { fid: g.id(), offset: 0, count: 1 << 20 }).unwrap();
    match r {
        Rmessage::Read { data } => assert_eq!(data.len(), 8192 - 11),
        other => panic!("{other:?}"),
    }
}

#[test]
fn directory_with_5000_entries() {
    let h = Harness::with_setup(false, 8192, |root| {
        std::fs::create_dir(root.join("big")).unwrap();
        for i in 0..5000 {
            std::fs::write(root.join(format!("big/entry-{i:05}-{}", "x".repeat(i % 40))), b"").unwrap();
        }
    });
    let root = h.attach();
    let (d, _) = h.c().walk(&root, &["big"]).unwrap();
    h.c().open(&d, oflags::RDONLY).unwrap();
    let mut seen = BTreeSet::new();
    for e in h.c().read_dir(&d) {
        let e = e.unwrap();
        let name = String::from_utf8(e.name).unwrap();
        if name == "." || name == ".." {
            continue;
        }
        assert!(!e.qid.is_dir());
        assert!(seen.insert(name), "duplicate entry");
    }
    let expected: BTreeSet<String> =
        std::fs::read_dir(h.root.join("big")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(seen.len(), 5000);
    assert_eq!(seen, expected);
    // Small count: one entry at a time still makes progress.
    let first = h.c().readdir(&d, 0, 40).unwrap();
    assert_eq!(first.len(), 1);
    let second = h.c().readdir(&d, first[0].offset, 40).unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].name, second[0].name);
}

#[test]
fn eight_concurrent_threads() {
    let h = Harness::new(false, 16 * 1024);
    let client = h.c();
    let root = h.attach();
    std::thread::scope(|s| {
        for t in 0..8u8 {
            let root = &root;
            s.spawn(move || {
                let (dir, _) = client.walk(root, &[] as &[&str]).unwrap();
                client.mkdir(&dir, format!("t{t}"), 0o755, u32::MAX).unwrap();
                let (sub, _) = client.walk(root, &[format!("t{t}")]).unwrap();
                for i in 0..20 {
                    let (f, _) = client.walk(&sub, &[] as &[&str]).unwrap();
                    let data = pattern(50_000 + i * 7, t);
                    client.create(&f, format!("f{i}"), oflags::RDWR, 0o600, u32::MAX).unwrap();
                    assert_eq!(client.write(&f, 0, &data).unwrap(), data.len());
                    let mut back = vec![0u8; data.len()];
                    assert_eq!(client.read(&f, 0, &mut back).unwrap(), data.len());
                    assert_eq!(back, data);
                    let st = client.getattr(&f, getattr::ALL).unwrap();
                    assert_eq!(st.size, data.len() as u64);
                }
                let (d, _) = client.walk(&sub, &[] as &[&str]).unwrap();
                client.open(&d, oflags::RDONLY).unwrap();
                let n = client.read_dir(&d).filter(|e| !e.as_ref().unwrap().name.starts_with(b".")).count();
                assert_eq!(n, 20);
            });
        }
    });
    for t in 0..8 {
        assert_eq!(std::fs::read_dir(h.root.join(format!("t{t}"))).unwrap().count(), 20);
    }
}

#[test]
fn many_requests_in_flight() {
    let h = Harness::new(false, 8192);
    let root = h.attach();
    let c = h.c();
    let reqs: Vec<_> =
        (0..500).map(|_| c.start(&Tmessage::Getattr { fid: root.id(), request_mask: getattr::ALL }).unwrap()).collect();
    let tags: BTreeSet<u16> = reqs.iter().map(|r| r.tag()).collect();
    assert_eq!(tags.len(), 500, "tags are unique while in flight");
    for r in reqs {
        assert!(matches!(r.wait().unwrap(), Rmessage::Getattr(_)));
    }
    assert_eq!(c.in_flight(), 0);
}

#[test]
fn dropped_fids_are_clunked_and_reused() {
    let h = Harness::new(false, 8192);
    let root = h.attach();
    let mut ids = BTreeSet::new();
    for _ in 0..2000 {
        let (f, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
        ids.insert(f.id());
    }
    // Numbers come back after the server confirmed the clunk.
    assert!(ids.len() < 2000, "fid numbers were never reused");
    // Wait for outstanding async clunks to settle, then nothing is leaked.
    for _ in 0..1000 {
        if h.c().in_flight() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(h.c().in_flight(), 0);
}
