//! Guides: the configuration reference and migrating from Better Auth (Node).
