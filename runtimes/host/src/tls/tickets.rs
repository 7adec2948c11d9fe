//! Whose TLS sessions a data connection may resume.
//!
//! Each session hands out tickets sealed with a key of its own, so by default its data
//! connections resume only what its own control connection was given. rclone opens several
//! control connections and keeps one TLS session cache for all of them, so its data connections
//! offer whichever ticket came last, often another connection's. With
//! `--tls-reuse-same-user`, a data connection may also resume a ticket of another session that
//! is still open, from the same address, logged in as the same user: someone else (another
//! user, another address, a session that has ended) still cannot connect in the client's place.
//! rclone opens a connection and uses its ticket on another's data connection before that login
//! is through, so a ticket of a session still logging in is taken, and the data connection
//! then waits a moment for that login ([`SessionTickets::confirm`]): as that user it goes on,
//! otherwise it is refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rustls::server::ProducesTickets;

/// The ticket keys of the open sessions, by client address (only with `--tls-reuse-same-user`).
#[derive(Debug, Default)]
pub(super) struct Registry {
    by_ip: Mutex<HashMap<IpAddr, Vec<Weak<Keys>>>>,
}

/// One session's ticket key, its client's address and the user it is logged in as.
#[derive(Debug)]
struct Keys {
    own: Arc<dyn ProducesTickets>,
    ip: IpAddr,
    user: Mutex<Option<String>>,
    /// The other session whose ticket the last handshake on this session's data connection
    /// resumed, until [`SessionTickets::confirm`] looks.
    resumed_from: Mutex<Option<Weak<Keys>>>,
    /// Where it is registered, to leave when the session ends.
    registry: Option<Arc<Registry>>,
}

impl Drop for Keys {
    fn drop(&mut self) {
        if let Some(registry) = &self.registry {
            let mut by_ip = lock(&registry.by_ip);
            if let Some(keys) = by_ip.get_mut(&self.ip) {
                keys.retain(|k| k.strong_count() > 0);
                if keys.is_empty() {
                    by_ip.remove(&self.ip);
                }
            }
        }
    }
}

/// A session's ticketer: its own key, and with a [`Registry`] the keys of the same user's other
/// sessions from the same address for decrypting. Clones share the session's keys.
#[derive(Debug, Clone)]
pub struct SessionTickets {
    keys: Arc<Keys>,
}

impl SessionTickets {
    /// A ticketer with the fresh key `own` for a session of the client at `ip`, registered in
    /// `registry` when sessions may resume each other's tickets.
    pub(super) fn new(
        own: Arc<dyn ProducesTickets>,
        ip: IpAddr,
        registry: Option<&Arc<Registry>>,
    ) -> SessionTickets {
        let keys = Arc::new(Keys {
            own,
            ip,
            user: Mutex::new(None),
            resumed_from: Mutex::new(None),
            registry: registry.cloned(),
        });
        if let Some(registry) = registry {
            lock(&registry.by_ip)
                .entry(ip)
                .or_default()
                .push(Arc::downgrade(&keys));
        }
        SessionTickets { keys }
    }

    /// The session is logged in as `user` now (`None`: not yet). A session that logs out with
    /// `REIN` keeps its user until the next login: its client proved that user's password.
    pub fn set_user(&self, user: Option<&str>) {
        *lock(&self.keys.user) = user.map(str::to_owned);
    }

    /// The other open sessions' keys this session's data connections may resume tickets of:
    /// same address, and logged in as the same user or still logging in. None before this
    /// session's own login (a control connection resumes only its own).
    fn peers(&self) -> Vec<Arc<Keys>> {
        let Some(registry) = &self.keys.registry else {
            return Vec::new();
        };
        let Some(user) = lock(&self.keys.user).clone() else {
            return Vec::new();
        };
        let by_ip = lock(&registry.by_ip);
        let same_ip = by_ip.get(&self.keys.ip).map_or(&[][..], Vec::as_slice);
        same_ip
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|k| !Arc::ptr_eq(k, &self.keys))
            .filter(|k| lock(&k.user).as_deref().is_none_or(|u| u == user))
            .collect()
    }

    /// After a handshake that resumed: whether the session it resumed may be taken. Its own
    /// is; another session's is once that session is logged in as this one's user, which is
    /// waited for up to `wait` (it may be logging in right now). False when that session
    /// logs in as someone else, ends first, or does not log in in time.
    pub fn confirm(&self, wait: Duration) -> bool {
        let Some(issuer) = lock(&self.keys.resumed_from).take() else {
            return true;
        };
        let mine = lock(&self.keys.user).clone();
        let deadline = Instant::now() + wait;
        loop {
            let Some(issuer) = issuer.upgrade() else {
                return false;
            };
            match lock(&issuer.user).as_deref() {
                Some(user) => return mine.as_deref() == Some(user),
                None if Instant::now() >= deadline => return false,
                None => {}
            }
            drop(issuer);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl ProducesTickets for SessionTickets {
    fn enabled(&self) -> bool {
        self.keys.own.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.keys.own.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.keys.own.encrypt(plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        // Only the last handshake's counts.
        *lock(&self.keys.resumed_from) = None;
        if let Some(plain) = self.keys.own.decrypt(cipher) {
            return Some(plain);
        }
        let (issuer, plain) = self
            .peers()
            .into_iter()
            .find_map(|k| Some((Arc::downgrade(&k), k.own.decrypt(cipher)?)))?;
        *lock(&self.keys.resumed_from) = Some(issuer);
        Some(plain)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn session(ip: IpAddr, registry: Option<&Arc<Registry>>, user: Option<&str>) -> SessionTickets {
        let own = rustls::crypto::ring::Ticketer::new().unwrap();
        let tickets = SessionTickets::new(own, ip, registry);
        tickets.set_user(user);
        tickets
    }

    fn opens(who: &SessionTickets, ticket: &[u8]) -> bool {
        who.decrypt(ticket).as_deref() == Some(&b"state"[..])
    }

    #[test]
    fn without_the_option_only_the_sessions_own_tickets_resume() {
        let (one, two) = (session(A, None, Some("u")), session(A, None, Some("u")));
        let ticket = one.encrypt(b"state").unwrap();
        assert!(opens(&one, &ticket));
        assert!(
            !opens(&two, &ticket),
            "same user and address, but another session"
        );
    }

    #[test]
    fn with_the_option_an_open_session_of_the_same_user_and_address_resumes() {
        let registry = Arc::new(Registry::default());
        let r = Some(&registry);
        let one = session(A, r, Some("u"));
        let ticket = one.encrypt(b"state").unwrap();
        let same = session(A, r, Some("u"));
        assert!(opens(&same, &ticket) && same.confirm(Duration::ZERO));
        assert!(!opens(&session(A, r, Some("v")), &ticket), "another user");
        assert!(
            !opens(&session(B, r, Some("u")), &ticket),
            "another address"
        );
        assert!(
            !opens(&session(A, r, None), &ticket),
            "not logged in itself"
        );
        let later = session(A, r, Some("u"));
        one.set_user(Some("v"));
        assert!(
            !opens(&later, &ticket),
            "the issuing session logged in as another user"
        );
        one.set_user(Some("u"));
        assert!(opens(&later, &ticket));
        drop((one, same));
        assert!(!opens(&later, &ticket), "the issuing session has ended");
        drop(later);
        assert!(lock(&registry.by_ip).is_empty(), "ended sessions leave");
    }

    #[test]
    fn a_ticket_of_a_session_still_logging_in_is_taken_once_it_logs_in_as_the_same_user() {
        let registry = Arc::new(Registry::default());
        let r = Some(&registry);
        let data = session(A, r, Some("u"));
        let own = data.encrypt(b"state").unwrap();
        assert!(
            opens(&data, &own) && data.confirm(Duration::ZERO),
            "its own"
        );

        let logging_in = session(A, r, None);
        let ticket = logging_in.encrypt(b"state").unwrap();
        assert!(opens(&data, &ticket));
        let started = Instant::now();
        assert!(
            !data.confirm(Duration::from_millis(50)),
            "it never logged in"
        );
        assert!(started.elapsed() >= Duration::from_millis(50));

        assert!(opens(&data, &ticket));
        let login = logging_in.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            login.set_user(Some("u"));
        });
        assert!(
            data.confirm(Duration::from_secs(5)),
            "it logged in as u meanwhile"
        );
        thread.join().unwrap();

        let other = session(A, r, None);
        let ticket = other.encrypt(b"state").unwrap();
        assert!(opens(&data, &ticket));
        other.set_user(Some("v"));
        assert!(
            !data.confirm(Duration::from_secs(5)),
            "it logged in as someone else"
        );
        assert!(!opens(&data, &ticket), "and is no peer now");
    }
}
