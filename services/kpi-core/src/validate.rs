//! Ingest boundary: raw bytes from the raw topic → a validated domain event, or a rejection.
