//! The end-to-end suite every runtime binary must pass. (work in progress)
