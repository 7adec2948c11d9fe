//! What a runtime does on the host outside its event loop. (work in progress)
