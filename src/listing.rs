//! Directory listings rendered from the runtime's entries. (stub: to be written)
