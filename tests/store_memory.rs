//! The store conformance suite on the in-memory store.

mod store_suite;

#[tokio::test]
async fn memory_store_passes_the_store_suite() {
    store_suite::run_all(|| async { kernia::store::MemoryStore::new() }).await;
}
