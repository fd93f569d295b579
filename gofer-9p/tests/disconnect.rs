//! A disconnecting client releases all of its fids on the server.
//! (Own test binary: it counts this process's open descriptors.)

mod common;

use common::Harness;
use gofer_9p::oflags;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn disconnect_releases_fids() {
    let before = open_fds();
    let h = Harness::with_setup(false, 8192, |root| {
        for i in 0..50 {
            std::fs::write(root.join(format!("f{i}")), b"x").unwrap();
        }
    });
    let root = h.attach();
    let mut fids = Vec::new();
    for i in 0..50 {
        let (f, _) = h.c().walk(&root, &[format!("f{i}")]).unwrap();
        h.c().open(&f, oflags::RDONLY).unwrap();
        fids.push(f);
    }
    assert!(open_fds() >= before + 100, "server holds path and open fds");
    // Forget the client-side handles without clunking: only the disconnect
    // can release them on the server.
    for f in fids {
        std::mem::forget(f);
    }
    std::mem::forget(root);
    // The leaked Fids keep the client connection alive; shut it down from
    // the server side by dropping the harness' client and serving thread.
    let res = h.finish_forced();
    assert!(res.is_ok(), "{res:?}");
    assert!(open_fds() <= before + 2, "fds leaked: before {before}, after {}", open_fds());
}
