//! Building the world of one seed: the host and its storage, one user per session with a home
//! of its own holding a secret, each client's plan, and the faults that come at a set time
//! (a clock jump, a shutdown).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastrand::Rng;
use thinftp::{Permissions, VirtualPath};

use super::client::Client;
use super::model::{Model, Node};
use super::net::ControlIn;
use super::plan::{plan, BAN_AFTER};
use super::world::{Event, Sim, Stats, World, EPOCH, IDLE, TRACE};
use crate::auth::Users;
use crate::storage::{Capabilities, MemoryStorage};
use crate::Host;

impl World {
    pub(super) fn new(seed: u64, sessions: usize) -> World {
        let mut rng = Rng::with_seed(seed);
        let mut caps = Capabilities::all();
        // Every filesystem request and open is a job, so that it can be slow and interleave.
        caps.local = false;
        if rng.u8(..4) == 0 {
            caps.append = false;
            caps.write_at_offset = rng.bool();
            caps.rename_dir = rng.bool();
        }
        let storage = MemoryStorage::with_capabilities(caps);
        storage.set_now(EPOCH);
        storage.set_capacity(if rng.u8(..3) == 0 {
            rng.u64(5_000..60_000)
        } else {
            1 << 30
        });
        storage.put_file("/outside", b"SECRET-root");
        let idle = IDLE.to_string();
        let options = crate::Options::try_parse_args([
            "thinftp-sim",
            "--busy-poll",
            "0",
            "--idle-timeout",
            &idle,
            "--data-timeout",
            "10",
            "--login-timeout",
            "30",
            "--max-sessions",
            "100000",
            "--max-sessions-per-ip",
            "100000",
            // Bans that outlast every run, so that a client can tell when it is banned.
            "--ban-after",
            &BAN_AFTER.to_string(),
            "--ban-window",
            "86400",
            "--ban-time",
            "86400",
            "--ban-user-after",
            "0",
            // More than the ban needs: the session is not closed for its failures first.
            "--max-login-failures",
            "10",
        ])
        .expect("the simulator's options");
        let host = Arc::new(
            Host::with_storage(&options, Arc::new(storage.clone())).expect("a host on memory"),
        );
        let mut users = Users::new();
        let base = Instant::now();
        let mut sims = Vec::new();
        for i in 0..sessions {
            let home = format!("/h{i}");
            storage.put_dir(&home);
            storage.put_file(
                &format!("{home}/secret"),
                format!("<SECRET-h{i}>").as_bytes(),
            );
            let mut model = Model::new();
            let root = VirtualPath::root();
            model.put(
                &root.resolve("secret").unwrap(),
                Node::File(format!("<SECRET-h{i}>").into_bytes()),
            );
            if rng.bool() {
                storage.put_file(&format!("{home}/a"), b"old a\n");
                model.put(&root.resolve("a").unwrap(), Node::File(b"old a\n".to_vec()));
            }
            if rng.bool() {
                storage.put_file(&format!("{home}/d/e"), b"old e\n");
                model.put(&root.resolve("d").unwrap(), Node::Dir);
                model.put(
                    &root.resolve("d/e").unwrap(),
                    Node::File(b"old e\n".to_vec()),
                );
            }
            let user = format!("u{i}");
            let password = format!("p{i}");
            let write = rng.u8(..8) != 0;
            let home_path = root.resolve(&home).unwrap();
            users
                .add_plain(&user, &password, Permissions::new(home_path.clone(), write))
                .unwrap();
            let ops = plan(&mut rng, &user, &password, sessions);
            let mut client = Client::new((user, password), home_path, model, ops);
            client.ban_after = BAN_AFTER;
            client.own_secret = format!("<SECRET-h{i}>");
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32 + 1));
            client.ip = ip.to_string();
            sims.push(Sim {
                driver: None,
                client,
                ip,
                input: ControlIn::default(),
                armed: None,
                blocked: false,
                unread: 0,
                listener: None,
                running: HashMap::new(),
                arrive_after: Duration::ZERO,
                closed: false,
            });
        }
        host.set_users(users);
        let mut world = World {
            rng,
            host,
            storage,
            base,
            now: Duration::ZERO,
            skew: Duration::ZERO,
            shutting_down: false,
            seq: 0,
            events: BTreeMap::new(),
            sims,
            trace: VecDeque::new(),
            trace_len: super::env("THINFTP_SIM_TRACE").map_or(TRACE, |n| n as usize),
            stats: Stats::default(),
        };
        for i in 0..sessions {
            let at = Duration::from_millis(world.rng.u64(0..2_000));
            world.at(at, Event::Run(i));
        }
        if world.rng.u8(..5) == 0 {
            let at = Duration::from_millis(world.rng.u64(0..60_000));
            let by = Duration::from_secs(world.rng.u64(1..200));
            world.at(at, Event::Jump(by));
        }
        if world.rng.u8(..6) == 0 {
            let at = Duration::from_millis(world.rng.u64(0..30_000));
            world.at(at, Event::Shutdown);
        }
        world
    }
}
