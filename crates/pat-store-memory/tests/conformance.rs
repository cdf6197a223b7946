//! The storage conformance suite, run against [`MemoryStore`].

use std::sync::Arc;

use pat_store_memory::MemoryStore;
use pat_testkit::Stores;

async fn fresh_memory_store() -> Stores {
    Stores::from_store(Arc::new(MemoryStore::new()))
}

pat_testkit::conformance_suite!(fresh_memory_store);
