//! A user's home is a boundary: every access of a logged-in user resolves beneath a handle
//! opened on the home, through symlinks; listings do not show link targets outside it.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::{download, list, stat, upload, vp, Tree};
use thinftp::{
    AuthId, AuthResult, FileKind, FsError, FsOp, FsReply, Input, Listing, Permissions,
    TransferError, WriteMode,
};
use thinftp_host::{LocalStorage, Storage};

fn names(storage: &dyn Storage, path: &str) -> Result<Vec<String>, FsError> {
    match storage.execute(&FsOp::ListNames(vp(path)))? {
        FsReply::Listing(l) => {
            let mut names: Vec<String> = l.entries.into_iter().map(|e| e.name).collect();
            names.sort();
            Ok(names)
        }
        other => panic!("unexpected reply {other:?}"),
    }
}

/// `root/alice` (with `own.txt`, `peek -> ../bob`, `peek-file -> ../bob/secret.txt`) and
/// `root/bob` (with `secret.txt`, `docs/plan.txt`); the storage is alice's.
fn alice_and_bob() -> (Tree, LocalStorage) {
    let tree = Tree::new();
    tree.write("alice/own.txt", b"alice's");
    tree.write("bob/secret.txt", b"bob's secret");
    tree.write("bob/docs/plan.txt", b"bob's plan");
    tree.symlink("../bob", "alice/peek");
    tree.symlink("../bob/secret.txt", "alice/peek-file");
    let alice = tree
        .storage
        .for_local_home(&vp("/alice"))
        .expect("alice's home");
    (tree, alice)
}

#[test]
fn a_symlink_to_another_home_leads_nowhere() {
    let (tree, alice) = alice_and_bob();
    assert_eq!(alice.home(), &vp("/alice"));
    // Through the root storage the link works: that is what a user must not get.
    assert_eq!(
        download(&tree.storage, "/alice/peek/secret.txt").unwrap(),
        b"bob's secret"
    );

    for path in [
        "/alice/peek/secret.txt",
        "/alice/peek-file",
        "/alice/peek/docs/plan.txt",
    ] {
        assert_eq!(stat(&alice, path), Err(FsError::NotFound), "stat {path}");
        assert_eq!(
            download(&alice, path),
            Err(TransferError::Fs(FsError::NotFound)),
            "download {path}"
        );
    }
    assert_eq!(stat(&alice, "/alice/peek"), Err(FsError::NotFound));
    assert_eq!(list(&alice, "/alice/peek").err(), Some(FsError::NotFound));
    assert_eq!(
        names(&alice, "/alice/peek/docs").err(),
        Some(FsError::NotFound)
    );
    for (path, mode) in [
        ("/alice/peek/planted.txt", WriteMode::Replace),
        ("/alice/peek/secret.txt", WriteMode::Replace),
        ("/alice/peek/secret.txt", WriteMode::Append),
        ("/alice/peek/secret.txt", WriteMode::Resume(0)),
        ("/alice/peek-file", WriteMode::Append),
    ] {
        assert!(
            upload(&alice, path, mode, b"x").is_err(),
            "upload {path} {mode:?}"
        );
    }
    let refused = [
        FsOp::MakeDir(vp("/alice/peek/new")),
        FsOp::RemoveFile(vp("/alice/peek/secret.txt")),
        FsOp::RemoveDir(vp("/alice/peek/docs")),
        FsOp::CreateUnique {
            dir: vp("/alice/peek"),
        },
        FsOp::Rename {
            from: vp("/alice/peek/secret.txt"),
            to: vp("/alice/mine.txt"),
        },
        FsOp::Rename {
            from: vp("/alice/own.txt"),
            to: vp("/alice/peek/stolen.txt"),
        },
    ];
    for op in refused {
        assert!(alice.execute(&op).is_err(), "{op:?} was allowed");
    }
    assert_eq!(tree.names("bob"), ["docs", "secret.txt"]);
    assert_eq!(tree.read("bob/secret.txt"), b"bob's secret");
    assert_eq!(tree.read("alice/own.txt"), b"alice's");

    // Her own files work, uploads included.
    assert_eq!(download(&alice, "/alice/own.txt").unwrap(), b"alice's");
    assert_eq!(
        upload(&alice, "/alice/new.txt", WriteMode::Replace, b"new"),
        Ok(3)
    );
    assert_eq!(tree.read("alice/new.txt"), b"new");
}

#[test]
fn paths_outside_the_home_are_refused_even_if_the_core_sent_them() {
    let (_tree, alice) = alice_and_bob();
    for path in ["/bob/secret.txt", "/", "/alicex/own.txt", "/bob"] {
        assert_eq!(stat(&alice, path), Err(FsError::NotFound), "{path}");
    }
    assert_eq!(
        download(&alice, "/bob/secret.txt"),
        Err(TransferError::Fs(FsError::NotFound))
    );
    assert!(alice
        .execute(&FsOp::RemoveFile(vp("/bob/secret.txt")))
        .is_err());
    assert!(stat(&alice, "/alice").unwrap().is_dir());
}

#[test]
fn the_home_is_opened_once_and_stays_the_boundary_if_swapped() {
    let (tree, alice) = alice_and_bob();
    // alice's home is replaced by a symlink to bob's after she logged in: her handle still
    // names the directory she had.
    fs::rename(tree.root().join("alice"), tree.root().join("alice.old")).unwrap();
    symlink("bob", tree.root().join("alice")).unwrap();
    assert_eq!(stat(&alice, "/alice/secret.txt"), Err(FsError::NotFound));
    assert_eq!(download(&alice, "/alice/own.txt").unwrap(), b"alice's");
}

#[test]
fn a_home_that_is_missing_or_leads_outside_cannot_be_opened() {
    let tree = Tree::new();
    assert_eq!(
        tree.storage.for_home(&vp("/nobody")).err(),
        Some(FsError::NotFound)
    );
    tree.write("file", b"x");
    assert!(tree.storage.for_home(&vp("/file")).is_err());
    symlink(tree.outside(), tree.root().join("escape")).unwrap();
    assert_eq!(
        tree.storage.for_home(&vp("/escape")).err(),
        Some(FsError::NotFound)
    );
    // The root as a home is the root.
    let root = tree.storage.for_home(&vp("/")).unwrap();
    assert_eq!(download(&*root, "/file").unwrap(), b"x");
}

#[test]
fn session_storage_switches_to_the_home_at_login_and_refuses_a_login_without_one() {
    let tree = Tree::new();
    tree.write("alice/own.txt", b"alice's");
    tree.write("bob/secret.txt", b"bob's secret");
    tree.symlink("../bob", "alice/peek");
    let options = thinftp_host::Options::try_parse_args([
        "thinftp-test",
        "--root",
        tree.root().to_str().unwrap(),
    ])
    .unwrap();
    let host = thinftp_host::Host::from_options(&options).unwrap();
    let mut session = thinftp_host::SessionStorage::new(&host);
    assert!(session.storage().home().is_root(), "before login");
    let id = AuthId::from_raw(1);
    let accepted = |home: &str| Input::Auth {
        id,
        result: AuthResult::Accepted(Permissions::new(vp(home), true)),
    };
    assert_eq!(session.fed(accepted("/alice")), accepted("/alice"));
    assert_eq!(session.storage().home(), &vp("/alice"));
    assert_eq!(
        stat(&**session.storage(), "/alice/peek/secret.txt"),
        Err(FsError::NotFound)
    );
    // Other inputs pass through unchanged.
    assert_eq!(session.fed(Input::ControlEof), Input::ControlEof);
    // A login whose home cannot be opened is refused.
    let refused = Input::Auth {
        id,
        result: AuthResult::Refused,
    };
    assert_eq!(session.fed(accepted("/missing")), refused);
}

#[test]
fn link_targets_are_shown_only_when_they_stay_in_the_home() {
    let tree = Tree::new();
    tree.write("alice/own.txt", b"x");
    tree.write("alice/sub/in.txt", b"y");
    tree.symlink("/etc/passwd", "alice/abs");
    tree.symlink("../bob", "alice/up");
    tree.symlink("own.txt", "alice/inside");
    tree.symlink("./sub/../own.txt", "alice/dotted");
    tree.symlink("../own.txt", "alice/sub/back");
    tree.symlink("../../x", "alice/sub/upup");
    tree.symlink("../sub/../../x", "alice/sub/zigzag");
    let alice = tree.storage.for_home(&vp("/alice")).unwrap();
    let target = |listing: &Listing, name: &str| {
        let entry = listing
            .entries
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} not listed"));
        assert_eq!(entry.metadata.kind, FileKind::Symlink, "{name}");
        entry.metadata.symlink_target.clone()
    };
    let top = list(&*alice, "/alice").unwrap();
    assert_eq!(target(&top, "abs"), None);
    assert_eq!(target(&top, "up"), None);
    assert_eq!(target(&top, "inside").as_deref(), Some("own.txt"));
    assert_eq!(target(&top, "dotted").as_deref(), Some("./sub/../own.txt"));
    let sub = list(&*alice, "/alice/sub").unwrap();
    assert_eq!(target(&sub, "back").as_deref(), Some("../own.txt"));
    assert_eq!(target(&sub, "upup"), None);
    assert_eq!(target(&sub, "zigzag"), None);
    // The same link seen by the root storage (anonymous at the root): `../bob` stays in the root.
    let root_view = list(&tree.storage, "/alice").unwrap();
    assert_eq!(target(&root_view, "up").as_deref(), Some("../bob"));
    assert_eq!(target(&root_view, "abs"), None);
}

#[test]
fn a_user_with_a_storage_of_its_own_logs_in_to_it_and_the_others_to_the_root() {
    let tree = Tree::new();
    let own = Tree::new();
    tree.write("root.txt", b"the server's");
    own.write("bob.txt", b"bob's");
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let hash = thinftp_host::auth::hash_password("pw").unwrap();
    std::fs::write(
        &users,
        format!(
            "[[user]]\nname = \"bob\"\npassword_hash = \"{hash}\"\nstorage = \"{}\"\n\
             [[user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\n",
            own.root().display()
        ),
    )
    .unwrap();
    let options = thinftp_host::Options::try_parse_args([
        "thinftp-test",
        "--root",
        tree.root().to_str().unwrap(),
        "--users-file",
        users.to_str().unwrap(),
    ])
    .unwrap();
    let host = thinftp_host::Host::from_options(&options).unwrap();
    let id = AuthId::from_raw(1);
    let accepted = Input::Auth {
        id,
        result: AuthResult::Accepted(Permissions::new(vp("/"), true)),
    };
    for (user, sees, not) in [
        ("bob", "/bob.txt", "/root.txt"),
        ("alice", "/root.txt", "/bob.txt"),
    ] {
        let mut session = thinftp_host::SessionStorage::new(&host);
        session.logging_in(&host, user);
        assert_eq!(session.fed(accepted.clone()), accepted, "{user}");
        assert!(stat(&**session.storage(), sees).is_ok(), "{user}: {sees}");
        assert_eq!(
            stat(&**session.storage(), not).err(),
            Some(FsError::NotFound),
            "{user}: {not}"
        );
    }
}

/// Every session whose home is the root would otherwise hold a handle of its own: 10,000 idle
/// sessions would need 20,000 descriptors, past the usual limit.
#[test]
fn homes_at_the_root_share_its_handle() {
    let tree = Tree::new();
    let open = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let before = open();
    let homes: Vec<_> = (0..1000)
        .map(|_| tree.storage.for_home(&vp("/")).unwrap())
        .collect();
    // Other tests of this file run meanwhile and open a few.
    assert!(
        open() < before + 100,
        "{} descriptors for {} homes",
        open() - before,
        homes.len()
    );
}
