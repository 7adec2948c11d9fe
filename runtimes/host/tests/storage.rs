//! Storage: every filesystem request beneath the root, and no way out of it.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{download, list, socket_pair, stat, vp, Tree};
use thinftp::{FileKind, FsError, FsOp, FsReply, Listing, TransferError, TransferKind};
use thinftp_host::storage::TEMP_PREFIX;
use thinftp_host::{run_transfer, AbortHandle, Storage};

fn list_names(storage: &dyn Storage, path: &str) -> Result<Listing, FsError> {
    match storage.execute(&FsOp::ListNames(vp(path)))? {
        FsReply::Listing(l) => Ok(l),
        other => panic!("unexpected reply {other:?}"),
    }
}

#[test]
fn symlink_to_etc_is_refused_but_listed() {
    let tree = Tree::new();
    tree.symlink("/etc", "etc");
    let s = &tree.storage;
    assert_eq!(stat(s, "/etc"), Err(FsError::NotFound));
    assert_eq!(stat(s, "/etc/passwd"), Err(FsError::NotFound));
    assert_eq!(list(s, "/etc"), Err(FsError::NotFound));
    assert_eq!(
        download(s, "/etc/passwd"),
        Err(TransferError::Fs(FsError::NotFound))
    );
    // The link itself shows in its directory, as a link, but not where it leads: `/etc` is a
    // path on the host.
    let listing = list(s, "/").unwrap();
    let entry = listing
        .entries
        .iter()
        .find(|e| e.name == "etc")
        .expect("link listed");
    assert_eq!(entry.metadata.kind, FileKind::Symlink);
    assert_eq!(entry.metadata.symlink_target, None);
}

#[test]
fn dotdot_symlinks_cannot_climb_above_the_root() {
    let tree = Tree::new();
    tree.symlink("..", "up");
    tree.symlink("../outside/secret.txt", "rel");
    tree.write("sub/file", b"x");
    tree.symlink("..", "sub/up");
    let s = &tree.storage;
    assert_eq!(stat(s, "/up"), Err(FsError::NotFound));
    assert_eq!(list(s, "/up"), Err(FsError::NotFound));
    assert_eq!(stat(s, "/up/outside/secret.txt"), Err(FsError::NotFound));
    assert_eq!(
        download(s, "/rel"),
        Err(TransferError::Fs(FsError::NotFound))
    );
    // A `..` link that stays inside works, and is a directory for CWD.
    assert_eq!(stat(s, "/sub/up").unwrap().kind, FileKind::Dir);
    assert_eq!(download(s, "/sub/up/sub/file").unwrap(), b"x");
}

#[test]
fn intermediate_symlinked_directory_pointing_outside_is_refused() {
    let tree = Tree::new();
    tree.symlink(tree.outside(), "out");
    tree.write("a.txt", b"inside");
    let s = &tree.storage;
    assert_eq!(stat(s, "/out/secret.txt"), Err(FsError::NotFound));
    assert_eq!(
        download(s, "/out/secret.txt"),
        Err(TransferError::Fs(FsError::NotFound))
    );
    assert_eq!(
        s.execute(&FsOp::MakeDir(vp("/out/new"))),
        Err(FsError::NotFound)
    );
    assert_eq!(
        s.execute(&FsOp::RemoveFile(vp("/out/secret.txt"))),
        Err(FsError::NotFound)
    );
    let steal = FsOp::Rename {
        from: vp("/out/secret.txt"),
        to: vp("/stolen"),
    };
    assert_eq!(s.execute(&steal), Err(FsError::NotFound));
    let plant = FsOp::Rename {
        from: vp("/a.txt"),
        to: vp("/out/a.txt"),
    };
    assert_eq!(s.execute(&plant), Err(FsError::NotFound));
    assert_eq!(
        s.execute(&FsOp::CreateUnique { dir: vp("/out") }),
        Err(FsError::NotFound)
    );
    // Uploads cannot land outside either.
    let (client, server) = socket_pair();
    drop(client);
    let kind = TransferKind::ReceiveFile {
        path: vp("/out/planted"),
        mode: thinftp::WriteMode::Replace,
        ascii: false,
    };
    let result = run_transfer(s, &kind, server, &AbortHandle::new());
    assert_eq!(result, Err(TransferError::Fs(FsError::NotFound)));
    // Nothing outside changed.
    let mut outside: Vec<_> = fs::read_dir(tree.outside())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    outside.sort();
    assert_eq!(outside, ["secret.txt"]);
    assert_eq!(
        fs::read(tree.outside().join("secret.txt")).unwrap(),
        b"SECRET"
    );
    assert_eq!(tree.read("a.txt"), b"inside");
}

#[test]
fn symlinks_that_stay_inside_work() {
    let tree = Tree::new();
    tree.write("sub/f.txt", b"hello");
    tree.symlink("sub", "dirlink");
    tree.symlink("sub/f.txt", "filelink");
    let s = &tree.storage;
    assert_eq!(stat(s, "/dirlink").unwrap().kind, FileKind::Dir);
    assert_eq!(stat(s, "/filelink").unwrap().kind, FileKind::File);
    assert_eq!(stat(s, "/filelink").unwrap().size, 5);
    assert_eq!(download(s, "/filelink").unwrap(), b"hello");
    assert_eq!(download(s, "/dirlink/f.txt").unwrap(), b"hello");
    let names: Vec<_> = list(s, "/dirlink")
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["f.txt"]);
}

#[test]
fn absolute_path_tricks_stay_beneath_the_root() {
    let tree = Tree::new();
    let s = &tree.storage;
    // The core resolves these lexically; whatever comes out is looked up beneath the root.
    for trick in [
        "/../../etc/passwd",
        "/../outside/secret.txt",
        "//etc//passwd",
        "/./../..",
    ] {
        let path = thinftp::VirtualPath::root().resolve(trick).unwrap();
        let found = s.execute(&FsOp::Stat(path.clone()));
        if path.is_root() {
            assert!(found.is_ok());
        } else {
            assert_eq!(found, Err(FsError::NotFound), "{trick}");
        }
    }
}

#[test]
fn a_directory_swapped_for_an_outside_symlink_never_leaks() {
    // Another process keeps swapping /sw between a real directory and a symlink to the outside
    // directory while files are read through it. cap-std resolves every access beneath the root
    // in one go, so the secret must never come back, however the race falls.
    let tree = Tree::new();
    let root = tree.root();
    fs::create_dir(root.join("real")).unwrap();
    fs::write(root.join("real/secret.txt"), b"public").unwrap();
    std::os::unix::fs::symlink(tree.outside(), root.join("evil")).unwrap();
    fs::rename(root.join("real"), root.join("sw")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, root) = (Arc::clone(&stop), root.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // sw is real: park it, put the link there, then swap back.
                let _ = fs::rename(root.join("sw"), root.join("real"));
                let _ = fs::rename(root.join("evil"), root.join("sw"));
                let _ = fs::rename(root.join("sw"), root.join("evil"));
                let _ = fs::rename(root.join("real"), root.join("sw"));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_millis(1500);
    let (mut reads, mut public) = (0, 0);
    while Instant::now() < deadline {
        reads += 1;
        if let Ok(data) = download(&tree.storage, "/sw/secret.txt") {
            assert_ne!(
                data, b"SECRET",
                "read the outside file through a swapped-in symlink"
            );
            public += 1;
        }
        if let Ok(m) = stat(&tree.storage, "/sw/secret.txt") {
            assert_eq!(m.size, 6);
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    assert!(reads > 50, "too few attempts to mean anything: {reads}");
    assert!(
        public > 0,
        "the real directory was never read: {reads} tries"
    );
}

#[test]
fn stat_reports_files_and_directories() {
    let tree = Tree::new();
    tree.write("f.bin", &[7u8; 1234]);
    fs::set_permissions(tree.root().join("f.bin"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::create_dir(tree.root().join("d")).unwrap();
    let s = &tree.storage;
    let f = stat(s, "/f.bin").unwrap();
    assert_eq!(
        (f.kind, f.size, f.mode, f.nlink),
        (FileKind::File, 1234, 0o640, 1)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let modified = f.modified.expect("mtime");
    assert!((modified - now.as_secs() as i64).abs() < 60, "{modified}");
    let (dev, ino) = f.unique.expect("unique");
    let disk = fs::metadata(tree.root().join("f.bin")).unwrap();
    assert_eq!(
        (dev, ino),
        (
            std::os::unix::fs::MetadataExt::dev(&disk),
            std::os::unix::fs::MetadataExt::ino(&disk)
        )
    );
    assert_eq!(stat(s, "/d").unwrap().kind, FileKind::Dir);
    assert_eq!(stat(s, "/").unwrap().kind, FileKind::Dir);
    assert_eq!(stat(s, "/missing"), Err(FsError::NotFound));
    assert_eq!(stat(s, "/f.bin/below"), Err(FsError::NotADirectory));
}

#[test]
fn listing_has_every_fact_and_hides_temporary_uploads() {
    let tree = Tree::new();
    tree.write("a.txt", b"abc");
    tree.write("d/inner", b"");
    tree.write(&format!("{TEMP_PREFIX}0123"), b"partial upload");
    tree.symlink("a.txt", "link");
    let listing = list(&tree.storage, "/").unwrap();
    let mut names: Vec<_> = listing.entries.iter().map(|e| e.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["a.txt", "d", "link"]);
    let get = |n: &str| {
        &listing
            .entries
            .iter()
            .find(|e| e.name == n)
            .unwrap()
            .metadata
    };
    assert_eq!((get("a.txt").kind, get("a.txt").size), (FileKind::File, 3));
    assert_eq!(get("d").kind, FileKind::Dir);
    assert_eq!(get("link").kind, FileKind::Symlink);
    assert_eq!(get("link").symlink_target.as_deref(), Some("a.txt"));
    assert!(get("a.txt").unique.is_some() && get("a.txt").modified.is_some());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!((listing.now - now.as_secs() as i64).abs() < 60);
    // The temporary file cannot be named either.
    assert_eq!(
        stat(&tree.storage, &format!("/{TEMP_PREFIX}0123")),
        Err(FsError::NotFound)
    );
    let remove = FsOp::RemoveFile(vp(&format!("/{TEMP_PREFIX}0123")));
    assert_eq!(tree.storage.execute(&remove), Err(FsError::NotFound));
    assert_eq!(list(&tree.storage, "/a.txt"), Err(FsError::NotADirectory));
}

#[test]
fn names_listing_has_the_same_names_without_reading_metadata() {
    let tree = Tree::new();
    tree.write("a.txt", b"abc");
    tree.write("d/inner", b"");
    tree.write(&format!("{TEMP_PREFIX}0123"), b"partial upload");
    tree.write(&format!("d/{TEMP_PREFIX}4567"), b"partial upload");
    tree.symlink("a.txt", "link");
    tree.symlink(tree.outside(), "out");
    tree.symlink("..", "up");
    let s = &tree.storage;
    let names = |listing: &Listing| {
        let mut names: Vec<_> = listing.entries.iter().map(|e| e.name.clone()).collect();
        names.sort();
        names
    };
    // The same entries as the full listing, temporary uploads hidden in subdirectories too.
    let listing = list_names(s, "/").unwrap();
    assert_eq!(names(&listing), ["a.txt", "d", "link", "out", "up"]);
    assert_eq!(names(&listing), names(&list(s, "/").unwrap()));
    assert_eq!(names(&list_names(s, "/d").unwrap()), ["inner"]);
    let get = |n: &str| {
        &listing
            .entries
            .iter()
            .find(|e| e.name == n)
            .unwrap()
            .metadata
    };
    // The kind comes from the directory entry; links are not followed.
    assert_eq!(get("d").kind, FileKind::Dir);
    assert_eq!(get("link").kind, FileKind::Symlink);
    assert_eq!(get("out").kind, FileKind::Symlink);
    // Nothing was read per entry: the size, time, identity and link text are the defaults.
    let a = get("a.txt");
    assert_eq!(a.kind, FileKind::File);
    assert_eq!((a.size, a.modified, a.unique), (0, None, None));
    assert_eq!(get("link").symlink_target, None);
    // Still beneath the root, and the same errors as a full listing.
    assert_eq!(list_names(s, "/out"), Err(FsError::NotFound));
    assert_eq!(list_names(s, "/up"), Err(FsError::NotFound));
    assert_eq!(list_names(s, "/missing"), Err(FsError::NotFound));
    assert_eq!(list_names(s, "/a.txt"), Err(FsError::NotADirectory));
    let temp = format!("/{TEMP_PREFIX}0123");
    assert_eq!(list_names(s, &temp), Err(FsError::NotFound));
}

#[test]
fn make_and_remove_directories() {
    let tree = Tree::new();
    let s = &tree.storage;
    assert_eq!(s.execute(&FsOp::MakeDir(vp("/new"))), Ok(FsReply::Done));
    assert!(tree.root().join("new").is_dir());
    assert_eq!(
        s.execute(&FsOp::MakeDir(vp("/new"))),
        Err(FsError::AlreadyExists)
    );
    assert_eq!(
        s.execute(&FsOp::MakeDir(vp("/no/such/parent"))),
        Err(FsError::NotFound)
    );
    tree.write("new/file", b"x");
    assert_eq!(
        s.execute(&FsOp::RemoveDir(vp("/new"))),
        Err(FsError::DirectoryNotEmpty)
    );
    assert_eq!(
        s.execute(&FsOp::RemoveDir(vp("/new/file"))),
        Err(FsError::NotADirectory)
    );
    fs::remove_file(tree.root().join("new/file")).unwrap();
    assert_eq!(s.execute(&FsOp::RemoveDir(vp("/new"))), Ok(FsReply::Done));
    assert!(!tree.root().join("new").exists());
    assert_eq!(
        s.execute(&FsOp::RemoveDir(vp("/new"))),
        Err(FsError::NotFound)
    );
}

#[test]
fn remove_files() {
    let tree = Tree::new();
    tree.write("f", b"x");
    fs::create_dir(tree.root().join("d")).unwrap();
    tree.symlink("/etc/passwd", "link");
    let s = &tree.storage;
    assert_eq!(s.execute(&FsOp::RemoveFile(vp("/f"))), Ok(FsReply::Done));
    assert!(!tree.root().join("f").exists());
    assert_eq!(
        s.execute(&FsOp::RemoveFile(vp("/f"))),
        Err(FsError::NotFound)
    );
    assert_eq!(
        s.execute(&FsOp::RemoveFile(vp("/d"))),
        Err(FsError::IsADirectory)
    );
    // Removing a link removes the link, never what it points to.
    assert_eq!(s.execute(&FsOp::RemoveFile(vp("/link"))), Ok(FsReply::Done));
    assert!(std::path::Path::new("/etc/passwd").exists());
}

#[test]
fn rename_moves_and_replaces_files() {
    let tree = Tree::new();
    tree.write("a", b"new");
    tree.write("b", b"old");
    fs::create_dir(tree.root().join("d")).unwrap();
    let s = &tree.storage;
    let op = |from: &str, to: &str| FsOp::Rename {
        from: vp(from),
        to: vp(to),
    };
    assert_eq!(s.execute(&op("/a", "/b")), Ok(FsReply::Done));
    assert_eq!(tree.read("b"), b"new");
    assert!(!tree.root().join("a").exists());
    assert_eq!(s.execute(&op("/b", "/d/c")), Ok(FsReply::Done));
    assert_eq!(tree.read("d/c"), b"new");
    assert_eq!(s.execute(&op("/missing", "/x")), Err(FsError::NotFound));
    tree.write("e/inner", b"");
    assert_eq!(s.execute(&op("/d", "/e")), Err(FsError::DirectoryNotEmpty));
}

#[test]
fn create_unique_makes_distinct_empty_files() {
    let tree = Tree::new();
    fs::create_dir(tree.root().join("up")).unwrap();
    let s = &tree.storage;
    let mut made = Vec::new();
    for _ in 0..3 {
        match s.execute(&FsOp::CreateUnique { dir: vp("/up") }) {
            Ok(FsReply::Created(path)) => made.push(path),
            other => panic!("{other:?}"),
        }
    }
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 3);
    for path in &made {
        assert_eq!(path.parent().unwrap(), vp("/up"));
        assert_eq!(stat(s, path.as_str()).unwrap().size, 0);
    }
    assert_eq!(
        s.execute(&FsOp::CreateUnique { dir: vp("/none") }),
        Err(FsError::NotFound)
    );
}

#[test]
fn a_fifo_is_refused_without_hanging() {
    let tree = Tree::new();
    let status = std::process::Command::new("mkfifo")
        .arg(tree.root().join("pipe"))
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("mkfifo not available: skipped");
        return;
    }
    assert_eq!(stat(&tree.storage, "/pipe").unwrap().kind, FileKind::Other);
    // Opening a FIFO for reading would block until a writer came: it must fail at once.
    assert_eq!(
        download(&tree.storage, "/pipe"),
        Err(TransferError::Fs(FsError::PermissionDenied))
    );
}

#[test]
fn stale_temp_files_are_removed_without_following_symlinks() {
    let tree = Tree::new();
    tree.write(&format!("{TEMP_PREFIX}0001"), b"left by a crash");
    tree.write(&format!("a/b/c/{TEMP_PREFIX}0002"), b"deep");
    tree.write("a/keep.txt", b"keep");
    fs::create_dir(tree.root().join(format!("{TEMP_PREFIX}dir"))).unwrap();
    fs::write(
        tree.outside().join(format!("{TEMP_PREFIX}0003")),
        b"not ours",
    )
    .unwrap();
    tree.symlink(tree.outside(), "out");
    tree.symlink(
        tree.outside().join(format!("{TEMP_PREFIX}0003")),
        &format!("{TEMP_PREFIX}link"),
    );

    let cleanup = tree.storage.remove_stale_temp_files(1000);
    assert_eq!(cleanup.removed, 2);
    assert!(cleanup.complete);
    assert!(!tree.root().join(format!("{TEMP_PREFIX}0001")).exists());
    assert_eq!(tree.names("a/b/c"), Vec::<String>::new());
    assert_eq!(tree.read("a/keep.txt"), b"keep");
    assert!(
        tree.outside().join(format!("{TEMP_PREFIX}0003")).exists(),
        "outside the root"
    );
    // Only regular files go: a directory or a symlink of that name is someone else's.
    assert!(tree.root().join(format!("{TEMP_PREFIX}dir")).is_dir());
    assert!(fs::symlink_metadata(tree.root().join(format!("{TEMP_PREFIX}link"))).is_ok());

    // Bounded: with a budget of one entry the walk stops and says so.
    tree.write(&format!("x/{TEMP_PREFIX}0004"), b"later");
    let cleanup = tree.storage.remove_stale_temp_files(1);
    assert!(!cleanup.complete);
}

#[test]
fn shutdown_removes_the_temp_files_of_uploads_it_cuts_short() {
    let tree = Tree::new();
    tree.write("alice/keep.bin", b"old contents");
    let alice = tree.storage.for_home(&vp("/alice")).unwrap();
    let (mut client, server) = socket_pair();
    let kind = TransferKind::ReceiveFile {
        path: vp("/alice/keep.bin"),
        mode: thinftp::WriteMode::Replace,
        ascii: false,
    };
    let upload =
        std::thread::spawn(move || run_transfer(&*alice, &kind, server, &AbortHandle::new()));
    std::io::Write::write_all(&mut client, b"new, but cut short").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tree
        .names("alice")
        .iter()
        .any(|n| n.starts_with(TEMP_PREFIX))
    {
        assert!(Instant::now() < deadline, "no temporary file");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The root's storage knows the uploads of every home beneath it.
    assert_eq!(tree.storage.remove_unfinished_uploads(), 1);
    assert_eq!(tree.names("alice"), ["keep.bin"]);
    assert_eq!(tree.storage.remove_unfinished_uploads(), 0, "removed once");
    // The cut upload then fails and the old file stays.
    drop(client);
    assert!(upload.join().unwrap().is_err());
    assert_eq!(tree.read("alice/keep.bin"), b"old contents");
    assert_eq!(tree.names("alice"), ["keep.bin"]);
}
