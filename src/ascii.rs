//! ASCII type (`TYPE A`) line-end conversion, as pure functions that runtimes call per buffer.
//! (stub: to be written)
