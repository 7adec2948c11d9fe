//! Which command each final reply answers, for the `commands` metric, from the control bytes
//! alone: the verb of each line is taken as it arrives, and each final reply (2xx to 5xx)
//! answers the oldest line not yet answered (the core answers every command exactly once, in
//! order; `1xx` is preliminary). Replies that answer no line (the `220` greeting, a `421` on a
//! timeout) count for nothing.
//!
//! The verb is named by the core's own parser (`XPWD` counts as `PWD`); a word the verb table
//! does not know is `other`, so a client cannot make new series.

use std::collections::VecDeque;

/// Lines waiting for their reply at most: the core closes a session long before (it queues
/// about 1,170 lines), so more only come from a session about to be closed, and are not
/// looked at.
const MAX_WAITING: usize = 2048;
/// The longest verb in the table is 4 letters; a longer word is `other`.
const MAX_VERB: usize = 4;

/// The lines seen and not answered yet, and the line being read.
#[derive(Debug, Default)]
pub(crate) struct CommandTally {
    waiting: VecDeque<&'static str>,
    /// The verb so far of the line being read.
    word: [u8; MAX_VERB],
    len: usize,
    /// The word is over (a blank, or too long).
    word_done: bool,
    too_long: bool,
    /// The line being read has something in it.
    started: bool,
    /// The last word looked up and its verb: a client repeats itself (a flood, or a mirror's
    /// thousand `SIZE`s), and the parser is the costly part.
    last: Option<([u8; MAX_VERB], usize, &'static str)>,
}

impl CommandTally {
    /// Control bytes, in any chunking.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.waiting.len() >= MAX_WAITING {
                return;
            }
            match b {
                b'\n' => self.end_line(),
                // Line ends and Telnet commands, which the core strips too.
                b'\r' | 0x80..=0xff => {}
                _ if self.word_done => {}
                b' ' | b'\t' if self.len > 0 => self.word_done = true,
                _ => {
                    self.started = true;
                    if !b.is_ascii_alphabetic() && self.len == 0 {
                        self.word_done = true;
                    } else if self.len == MAX_VERB {
                        self.too_long = true;
                        self.word_done = true;
                    } else {
                        self.word[self.len] = b.to_ascii_uppercase();
                        self.len += 1;
                    }
                }
            }
        }
    }

    fn end_line(&mut self) {
        if self.started && self.waiting.len() < MAX_WAITING {
            let verb = match self.last {
                _ if self.too_long || self.len == 0 => "other",
                Some((word, len, verb)) if (word, len) == (self.word, self.len) => verb,
                _ => {
                    let verb = verb_of(&self.word[..self.len]);
                    self.last = Some((self.word, self.len, verb));
                    verb
                }
            };
            self.waiting.push_back(verb);
        }
        self.word = [0; MAX_VERB];
        self.len = 0;
        self.word_done = false;
        self.too_long = false;
        self.started = false;
    }

    /// A reply with `code` was sent: the verb of the line it answers, if it is a final reply
    /// to one.
    pub(crate) fn reply(&mut self, code: u16) -> Option<&'static str> {
        if code < 200 {
            return None;
        }
        self.waiting.pop_front()
    }
}

/// The canonical verb of the word `upper`, as the core's parser names it, or `other`.
fn verb_of(upper: &[u8]) -> &'static str {
    match thinftp::command::parse(upper) {
        Ok(command) => command.verb(),
        Err(e) => e.verb().unwrap_or("other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_replies_answer_lines_in_order() {
        let mut tally = CommandTally::default();
        assert_eq!(tally.reply(220), None, "the greeting answers no line");
        tally.bytes(b"user alice\r\nPA");
        tally.bytes(b"SS secret\r\n\r\nXPWD\r\nFROB x\r\nRETRIEVE\r\n RETR\r\n");
        tally.bytes(b"\xff\xf4\xff\xf2ABOR\r\n");
        assert_eq!(tally.reply(331), Some("USER"));
        assert_eq!(tally.reply(230), Some("PASS"));
        assert_eq!(
            tally.reply(257),
            Some("PWD"),
            "empty lines are not commands"
        );
        assert_eq!(tally.reply(500), Some("other"));
        assert_eq!(tally.reply(500), Some("other"), "too long for a verb");
        assert_eq!(tally.reply(500), Some("other"), "no verb at the start");
        assert_eq!(tally.reply(150), None, "preliminary");
        assert_eq!(tally.reply(226), Some("ABOR"));
        assert_eq!(tally.reply(421), None);
    }

    #[test]
    fn a_flood_is_looked_at_only_up_to_the_bound() {
        let mut tally = CommandTally::default();
        tally.bytes(&b"NOOP\r\n".repeat(MAX_WAITING + 100));
        assert_eq!(tally.waiting.len(), MAX_WAITING);
        assert_eq!(tally.reply(200), Some("NOOP"));
    }
}
