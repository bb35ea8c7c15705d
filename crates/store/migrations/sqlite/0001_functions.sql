-- Functions are stored as one document per function (configuration, versions, aliases, tags):
-- every control-plane change rewrites one row in one transaction, so a function is never seen
-- half-updated, and the registry in memory is rebuilt from these rows at start-up.
CREATE TABLE functions (
    name          TEXT    PRIMARY KEY NOT NULL,
    doc           TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

-- Deployment packages are files named by their SHA-256 (see CodeStore); this table records which
-- ones were completely written, for accounting and garbage collection.
CREATE TABLE code_blobs (
    sha256_hex    TEXT    PRIMARY KEY NOT NULL,
    size          INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);
