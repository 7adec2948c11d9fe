//! Control-connection framing. (stub: to be written)
