//! Data channels: PASV, EPSV, PORT, EPRT, the listener and connect answers, and the data timer.

use std::net::{IpAddr, SocketAddr};

use super::timers::Timer;
use super::{Busy, Session};
use crate::command::EpsvArg;
use crate::error::{DriveError, RequestKind};
use crate::events::Output;
use crate::ids::DataId;

/// The session's data channel, at most one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DataChannel {
    None,
    /// `OpenPassive` emitted, waiting for the listener.
    Opening(DataId),
    /// The passive listener accepts; the data timer runs.
    Listening(DataId),
    /// `PORT`/`EPRT` given: connect when a transfer command comes.
    Active(SocketAddr),
    /// `Connect` emitted, waiting for it; the data timer runs.
    Connecting(DataId),
    /// A data connection is up and idle (or carrying the running transfer).
    Connected(DataId),
}

impl DataChannel {
    fn id(self) -> Option<DataId> {
        match self {
            Self::Opening(id)
            | Self::Listening(id)
            | Self::Connecting(id)
            | Self::Connected(id) => Some(id),
            Self::None | Self::Active(_) => None,
        }
    }
}

/// Compares addresses the way the client's peer check needs: an IPv4-mapped IPv6 address is the
/// IPv4 address.
fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

impl Session {
    pub(super) fn cmd_pasv(&mut self) {
        if self.epsv_all {
            return self.reply(503, "EPSV ALL in effect: use EPSV.");
        }
        if !self.local.ip().to_canonical().is_ipv4() {
            return self.reply(522, "PASV needs IPv4; use EPSV.");
        }
        self.open_passive(false);
    }

    pub(super) fn cmd_epsv(&mut self, arg: EpsvArg) {
        match arg {
            EpsvArg::All => {
                self.epsv_all = true;
                self.reply(200, "EPSV ALL ok.");
            }
            EpsvArg::Protocol(proto) => {
                let ours = if self.local.ip().to_canonical().is_ipv4() {
                    1
                } else {
                    2
                };
                if proto == ours {
                    self.open_passive(true);
                } else {
                    let text = format!("Network protocol not supported, use ({ours}).");
                    self.reply(522, &text);
                }
            }
            EpsvArg::Default => self.open_passive(true),
        }
    }

    /// Replaces any data channel with a new passive listener.
    fn open_passive(&mut self, extended: bool) {
        self.close_data_channel();
        let id = DataId::from_raw(self.ids.next(RequestKind::DataChannel));
        self.outputs.push_back(Output::OpenPassive {
            id,
            ip: self.local.ip(),
        });
        self.data = DataChannel::Opening(id);
        self.busy = Busy::PassiveOpening { extended };
    }

    /// `PORT` and `EPRT`: only to the client's own address, never to a privileged port.
    pub(super) fn cmd_port(&mut self, addr: SocketAddr, extended: bool) {
        if self.epsv_all {
            return self.reply(503, "EPSV ALL in effect: use EPSV.");
        }
        if extended && addr.is_ipv4() != self.peer.ip().to_canonical().is_ipv4() {
            let ours = if self.peer.ip().to_canonical().is_ipv4() {
                1
            } else {
                2
            };
            let text = format!("Network protocol not supported, use ({ours}).");
            return self.reply(522, &text);
        }
        if !same_host(addr.ip(), self.peer.ip()) {
            return self.reply(501, "Rejected: data connection to a foreign address.");
        }
        if addr.port() < 1024 {
            return self.reply(501, "Rejected: data connection to a privileged port.");
        }
        self.close_data_channel();
        self.data = DataChannel::Active(addr);
        let verb = if extended { "EPRT" } else { "PORT" };
        self.reply(
            200,
            &format!("{verb} command successful. Consider using PASV."),
        );
    }

    /// Drops the data channel, telling the runtime to close whatever it holds for it.
    pub(super) fn close_data_channel(&mut self) {
        if let Some(id) = self.data.id() {
            self.outputs.push_back(Output::CloseData { id });
        }
        self.data = DataChannel::None;
        self.timers.clear(Timer::Data);
    }

    pub(super) fn on_passive_listening(
        &mut self,
        id: DataId,
        addr: SocketAddr,
    ) -> Result<(), DriveError> {
        let Busy::PassiveOpening { extended } = self.busy else {
            return Err(self.ids.unawaited(id.raw(), RequestKind::DataChannel));
        };
        if self.data != DataChannel::Opening(id) {
            return Err(self.ids.unawaited(id.raw(), RequestKind::DataChannel));
        }
        self.busy = Busy::Idle;
        self.data = DataChannel::Listening(id);
        self.timers
            .set_after(Timer::Data, self.now, self.config.data_timeout);
        let port = addr.port();
        if extended {
            self.reply(
                229,
                &format!("Entering Extended Passive Mode (|||{port}|)."),
            );
            return Ok(());
        }
        let ip = self.config.passive_address.unwrap_or_else(|| {
            if addr.ip().is_unspecified() {
                self.local.ip()
            } else {
                addr.ip()
            }
        });
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                let text = format!(
                    "Entering Passive Mode ({a},{b},{c},{d},{},{}).",
                    port >> 8,
                    port & 0xff
                );
                self.reply(227, &text);
            }
            IpAddr::V6(_) => {
                self.close_data_channel();
                self.reply(522, "PASV needs IPv4; use EPSV.");
            }
        }
        Ok(())
    }

    pub(super) fn on_passive_failed(&mut self, id: DataId) -> Result<(), DriveError> {
        if !matches!(self.busy, Busy::PassiveOpening { .. })
            || self.data != DataChannel::Opening(id)
        {
            return Err(self.ids.unawaited(id.raw(), RequestKind::DataChannel));
        }
        self.busy = Busy::Idle;
        self.data = DataChannel::None;
        self.reply(425, "Cannot open passive connection.");
        Ok(())
    }

    pub(super) fn on_data_connected(
        &mut self,
        id: DataId,
        peer: SocketAddr,
    ) -> Result<(), DriveError> {
        match self.data {
            DataChannel::Listening(current) if current == id => {
                if !same_host(peer.ip(), self.peer.ip()) {
                    // Someone else raced the client to the port: drop it, keep listening.
                    self.outputs.push_back(Output::RefuseDataConnection { id });
                    return Ok(());
                }
            }
            DataChannel::Connecting(current) if current == id => {}
            _ => return Err(self.ids.unawaited(id.raw(), RequestKind::DataChannel)),
        }
        self.data = DataChannel::Connected(id);
        self.timers.clear(Timer::Data);
        self.start_waiting_transfer();
        Ok(())
    }

    pub(super) fn on_connect_failed(&mut self, id: DataId) -> Result<(), DriveError> {
        if self.data != DataChannel::Connecting(id) {
            return Err(self.ids.unawaited(id.raw(), RequestKind::DataChannel));
        }
        self.data = DataChannel::None;
        self.timers.clear(Timer::Data);
        self.fail_waiting_transfer();
        Ok(())
    }

    pub(super) fn on_data_timeout(&mut self) {
        if matches!(
            self.data,
            DataChannel::Listening(_) | DataChannel::Connecting(_)
        ) {
            self.close_data_channel();
            self.fail_waiting_transfer();
        }
    }

    /// A transfer command needs a data connection: start connecting (active mode) or keep
    /// waiting for the client (passive). Returns false (after a `425`) if there is no channel.
    pub(super) fn prepare_data_connection(&mut self) -> bool {
        match self.data {
            DataChannel::Active(addr) => {
                let id = DataId::from_raw(self.ids.next(RequestKind::DataChannel));
                self.outputs.push_back(Output::Connect { id, addr });
                self.data = DataChannel::Connecting(id);
                self.timers
                    .set_after(Timer::Data, self.now, self.config.data_timeout);
                true
            }
            DataChannel::Listening(_) => {
                // The client gets the full data timeout from its transfer command on.
                self.timers
                    .set_after(Timer::Data, self.now, self.config.data_timeout);
                true
            }
            DataChannel::Connected(_) => true,
            DataChannel::None | DataChannel::Opening(_) | DataChannel::Connecting(_) => {
                self.reply_no_data_channel();
                false
            }
        }
    }

    /// Whether a data channel is set up for the next transfer command.
    pub(super) fn has_data_channel(&self) -> bool {
        matches!(
            self.data,
            DataChannel::Active(_) | DataChannel::Listening(_) | DataChannel::Connected(_)
        )
    }

    pub(super) fn reply_no_data_channel(&mut self) {
        if self.epsv_all {
            self.reply(425, "Use EPSV first.");
        } else {
            self.reply(425, "Use PORT or PASV first.");
        }
    }

    /// Describes the data channel for `STAT`.
    pub(super) fn data_channel_status(&self) -> &'static str {
        match self.data {
            DataChannel::None => "No data connection.",
            DataChannel::Opening(_) | DataChannel::Listening(_) => {
                "Passive mode: waiting for the data connection."
            }
            DataChannel::Active(_) => "Active mode: will connect on the next transfer.",
            DataChannel::Connecting(_) => "Active mode: connecting.",
            DataChannel::Connected(_) => "Data connection open.",
        }
    }

    /// The id of the connected data channel, if there is one.
    pub(super) fn connected_data(&self) -> Option<DataId> {
        match self.data {
            DataChannel::Connected(id) => Some(id),
            _ => None,
        }
    }
}
