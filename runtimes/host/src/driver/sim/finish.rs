//! The checks after the last event: every session closed, nothing left running or counted,
//! and the whole tree is what the replies made it.

use std::collections::BTreeMap;

use thinftp::VirtualPath;

use super::client::Unsettled;
use super::model::Node;
use super::world::World;

impl World {
    /// After the last event: every session closed, the tree is what the replies made it.
    pub(super) fn finish(&mut self) -> Result<(), String> {
        for sim in &self.sims {
            for (check, n) in &sim.client.checks {
                *self.stats.checks.entry(check).or_default() += n;
            }
        }
        for (i, sim) in self.sims.iter().enumerate() {
            if !sim.closed {
                return Err(format!("#{i} never closed (a hang)"));
            }
            if !sim.running.is_empty() {
                return Err(format!("#{i} has transfers left running"));
            }
        }
        if self.host.admission().active() != 0 {
            return Err(format!(
                "{} sessions still hold a place after every session closed",
                self.host.admission().active()
            ));
        }
        if self.host.lifecycle().transfers().count() != 0 {
            return Err("a transfer still counts after every session closed".into());
        }
        let mut expected: BTreeMap<String, Node> = BTreeMap::new();
        expected.insert("/".into(), Node::Dir);
        expected.insert("/outside".into(), Node::File(b"SECRET-root".to_vec()));
        for sim in &self.sims {
            let home = &sim.client.home;
            for (path, node) in sim.client.model.iter() {
                let path = VirtualPath::root().resolve(path).expect("a model path");
                expected.insert(home.join(&path).as_str().to_owned(), node.clone());
            }
        }
        let mut actual = BTreeMap::new();
        for path in self.storage.paths() {
            let node = match self.storage.file(&path) {
                Some(data) => Node::File(data),
                None => Node::Dir,
            };
            actual.insert(path, node);
        }
        for sim in &self.sims {
            for unsettled in sim.client.unsettled() {
                let settled: Box<dyn Fn(&String) -> bool> = match unsettled {
                    Unsettled::Path(path) => {
                        let path = sim.client.home.join(&path).as_str().to_owned();
                        let below = format!("{path}/");
                        Box::new(move |k: &String| *k != path && !k.starts_with(&below))
                    }
                    // Any `stou.*` file in the directory.
                    Unsettled::Unique(dir) => {
                        let prefix = format!("{}/stou.", sim.client.home.join(&dir).as_str());
                        Box::new(move |k: &String| {
                            k.strip_prefix(&prefix)
                                .is_none_or(|rest| rest.contains('/'))
                        })
                    }
                };
                actual.retain(|k, _| settled(k));
                expected.retain(|k, _| settled(k));
            }
        }
        if actual != expected {
            let differ: Vec<String> = actual
                .keys()
                .chain(expected.keys())
                .filter(|k| actual.get(*k) != expected.get(*k))
                .take(5)
                .map(|k| format!("{k}: {:?} vs expected {:?}", actual.get(k), expected.get(k)))
                .collect();
            return Err(format!("the tree differs from the replies: {differ:?}"));
        }
        Ok(())
    }
}
