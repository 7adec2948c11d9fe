//! Big directories (issue 9, item 7): `LIST`, `NLST` and `MLSD` stream the entries from the
//! directory through the renderer in bounded chunks, so the server's memory stays flat however
//! many entries there are; `STAT dir` over the control connection is cut at a fixed number of
//! entries, with a last line that says so.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::ftp::{Client, DataMode};
use crate::hostile_logins::{rss_kib, RssSampler};
use crate::server::Server;

/// Entries in the big directory: building the whole `LIST` of it in memory cost +27 MiB.
const BIG: usize = 100_000;

/// What one listing of [`BIG`] entries may add to the server's RSS: generous for a streamed
/// listing (a few chunks and a bounded sort buffer), below what a whole listing in memory costs.
const LISTING_RSS_BOUND_KIB: u64 = 12 * 1024;

/// Most entries `STAT dir` shows (the core's `listing::STAT_MAX_ENTRIES`).
const STAT_MAX_ENTRIES: usize = 1000;

fn fill(dir: &Path, n: usize) {
    std::fs::create_dir(dir).expect("create the big directory");
    for i in 0..n {
        File::create(dir.join(format!("entry-{i:07}"))).expect("create an entry");
    }
}

/// `LIST`, `NLST` and `MLSD` of a 100,000-entry directory each list every entry and add less
/// than [`LISTING_RSS_BOUND_KIB`] to the server's peak RSS; `ABOR` stops such a listing midway
/// (`426`, `226`) and the session goes on.
pub fn big_listings_keep_memory_flat(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    fill(&server.path("big"), BIG);
    let mut client = Client::login(server.addr(), "u", "p");
    // A first small listing: threads, buffers and the allocator's arenas exist before we measure.
    let _ = client.listing("LIST");
    for line in ["LIST big", "NLST big", "MLSD big"] {
        let before = rss_kib(server.pid());
        let sampler = RssSampler::start(server.pid());
        let text = client.listing(line);
        let peak = sampler.peak_kib().max(rss_kib(server.pid()));
        drop(sampler);
        let entries = text.lines().filter(|l| l.contains("entry-")).count();
        assert_eq!(entries, BIG, "{line}: every entry is listed");
        let grew = peak.saturating_sub(before);
        println!("{line}: {BIG} entries, RSS {before} KiB, peak +{grew} KiB");
        assert!(
            grew < LISTING_RSS_BOUND_KIB,
            "{line} of {BIG} entries grew the server by {grew} KiB (bound {LISTING_RSS_BOUND_KIB} KiB)"
        );
    }
    // Far more than socket buffers hold: the listing is still being written when ABOR comes.
    let mut data = client
        .open_transfer(DataMode::Pasv, "LIST big")
        .unwrap_or_else(|r| panic!("LIST big got {r}"));
    let mut first = [0u8; 4096];
    data.read_exact(&mut first).expect("the listing starts");
    client.send("ABOR");
    client.expect_reply(426, "the aborted LIST");
    client.expect_reply(226, "ABOR");
    let mut rest = Vec::new();
    if data.read_to_end(&mut rest).is_ok() {
        assert!(
            rest.len() < 7_000_000,
            "the whole listing came: {} bytes",
            rest.len()
        );
    }
    client.expect("NOOP", 200);
    client.expect("QUIT", 221);
}

/// `STAT dir` of a directory bigger than the cap shows the first entries and a last line saying
/// the rest was cut; a small directory is shown whole.
pub fn stat_of_a_big_directory_is_capped(bin: &Path) {
    let server = Server::start(bin, &["--user", "u:p"]);
    fill(&server.path("many"), STAT_MAX_ENTRIES + 500);
    fill(&server.path("few"), 3);
    let mut client = Client::login(server.addr(), "u", "p");
    let reply = client.expect("STAT many", 213);
    let entries = reply.text.lines().filter(|l| l.contains("entry-")).count();
    assert_eq!(
        entries,
        STAT_MAX_ENTRIES,
        "{}",
        reply.text.lines().last().unwrap_or("")
    );
    let cut = reply.text.lines().rev().nth(1).unwrap_or("");
    assert!(cut.contains("use LIST"), "the cut is said: {cut:?}");
    let reply = client.expect("STAT few", 213);
    assert_eq!(
        reply.text.lines().filter(|l| l.contains("entry-")).count(),
        3
    );
    assert!(!reply.text.contains("use LIST"), "{}", reply.text);
    client.expect("QUIT", 221);
}

/// 30 sessions at once send `STAT *`, `LIST *` and `NLST *` (more matches than
/// `max_glob_matches`) on a directory of [`BIG`] entries, and one of them also
/// `LIST entry-0001*` (1,000 matches; a pattern that selects few reads the whole directory,
/// twice, which in a debug build takes seconds and would load the machine other tests share).
/// A pattern is matched while the directory streams by, so the server holds a bounded part of
/// it per session: the 30 together add less than [`PATTERN_FLOOD_RSS_BOUND_KIB`] to its RSS.
/// (Before, each listed the whole directory in memory and then filtered it: `STAT *` of a
/// 1,000,000-entry directory cost over 200 MiB per session.) The replies stay what they were
/// meant to be: `STAT *` shows the first [`STAT_MAX_ENTRIES`] matches and says it was cut,
/// `LIST` of a pattern lists exactly its matches, and past the cap the answer is `550` before
/// any `150`.
pub fn pattern_listings_keep_memory_flat(bin: &Path) {
    const SESSIONS: usize = 30;
    let server = Server::start(bin, &["--user", "u:p"]);
    fill(&server.path("big"), BIG);
    let addr = server.addr();
    let warm = Client::login(addr, "u", "p");
    drop(warm);
    let before = rss_kib(server.pid());
    let sampler = RssSampler::start(server.pid());
    let gate = std::sync::Arc::new(crate::util::Gate::new(SESSIONS));
    let sessions: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let gate = std::sync::Arc::clone(&gate);
            std::thread::spawn(move || {
                let mut client = Client::login(addr, "u", "p");
                client.expect("CWD big", 250);
                gate.arrive_and_wait();
                let stat = client.expect("STAT *", 213);
                let shown = stat.text.lines().filter(|l| l.contains("entry-")).count();
                assert_eq!(shown, STAT_MAX_ENTRIES, "STAT * shows the first matches");
                assert!(stat.text.contains("use LIST"), "STAT * says it was cut");
                for line in ["LIST *", "NLST *"] {
                    match client.open_transfer(DataMode::Pasv, line) {
                        Err(reply) => {
                            assert_eq!(reply.code, 550, "{line} past the cap: {reply:?}");
                            assert!(reply.text.contains("Too many matches"), "{reply:?}");
                        }
                        Ok(_) => panic!("{line} of {BIG} names past the cap got a 150"),
                    }
                }
                if i == 0 {
                    let listed = client.listing("LIST entry-0001*");
                    assert_eq!(listed.lines().count(), 1000, "LIST entry-0001*");
                }
                client.expect("QUIT", 221);
            })
        })
        .collect();
    let failed = sessions
        .into_iter()
        .map(std::thread::JoinHandle::join)
        .filter(Result::is_err)
        .count();
    let peak = sampler.peak_kib().max(rss_kib(server.pid()));
    drop(sampler);
    let grew = peak.saturating_sub(before);
    println!("{SESSIONS} sessions of pattern listings on {BIG} entries: RSS {before} KiB, peak +{grew} KiB");
    assert_eq!(failed, 0, "{failed} of {SESSIONS} sessions failed");
    assert!(
        grew < PATTERN_FLOOD_RSS_BOUND_KIB,
        "{SESSIONS} sessions listing patterns grew the server by {grew} KiB (bound {PATTERN_FLOOD_RSS_BOUND_KIB} KiB)"
    );
}

/// What 30 sessions of pattern listings on [`BIG`] entries may add to the server's RSS: a
/// bounded buffer each (at most 1,001 `STAT` entries, a sort buffer of the matches), far below
/// the whole directory each.
const PATTERN_FLOOD_RSS_BOUND_KIB: u64 = 40 * 1024;
