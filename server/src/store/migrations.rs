//! Numbered schema migrations. Each runs in its own IMMEDIATE transaction
//! that also bumps `PRAGMA user_version`, so a crash leaves the schema at a
//! version boundary; a store newer than this binary is refused, never
//! downgraded.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Append only: never edit a migration that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts, settings and sessions",
        sql: r#"
            CREATE TABLE settings (
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) STRICT;

            CREATE TABLE users (
                id            INTEGER PRIMARY KEY,
                username      TEXT NOT NULL UNIQUE,
                -- NULL for accounts that cannot sign in with a password
                password_hash TEXT,
                role          TEXT NOT NULL CHECK (role IN ('admin', 'user')),
                disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
                created_at    INTEGER NOT NULL
            ) STRICT;

            CREATE TABLE sessions (
                id         TEXT PRIMARY KEY,
                record     TEXT NOT NULL,
                expires_at INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX sessions_by_expiry ON sessions (expires_at);
        "#,
    },
    Migration {
        version: 2,
        name: "API tokens and hosts",
        sql: r#"
            CREATE TABLE api_tokens (
                id           INTEGER PRIMARY KEY,
                user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                name         TEXT NOT NULL,
                -- SHA-256 of the secret: the secret itself is never stored
                secret_hash  BLOB NOT NULL UNIQUE,
                created_at   INTEGER NOT NULL,
                last_used_at INTEGER
            ) STRICT;
            CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

            CREATE TABLE hosts (
                id          INTEGER PRIMARY KEY,
                name        TEXT NOT NULL UNIQUE,
                uri         TEXT NOT NULL UNIQUE,
                storage_dir TEXT NOT NULL,
                network     TEXT NOT NULL,
                created_at  INTEGER NOT NULL
            ) STRICT;
        "#,
    },
    Migration {
        version: 3,
        name: "instances and tasks",
        sql: r#"
            CREATE TABLE instances (
                id         INTEGER PRIMARY KEY AUTOINCREMENT,
                -- the libvirt domain UUID and cloud-init instance-id
                uuid       TEXT NOT NULL UNIQUE,
                name       TEXT NOT NULL UNIQUE,
                owner_id   INTEGER NOT NULL REFERENCES users (id),
                size       TEXT NOT NULL,
                vcpus      INTEGER NOT NULL CHECK (vcpus > 0),
                memory_mib INTEGER NOT NULL CHECK (memory_mib > 0),
                disk_gib   INTEGER NOT NULL CHECK (disk_gib > 0),
                host_id    INTEGER REFERENCES hosts (id),
                network    TEXT NOT NULL,
                mac        TEXT NOT NULL UNIQUE,
                -- the parameters without secrets, as JSON
                params     TEXT NOT NULL DEFAULT '{}',
                status     TEXT NOT NULL
                           CHECK (status IN ('provisioning', 'ready', 'failed', 'deleting')),
                power      TEXT NOT NULL DEFAULT 'unknown',
                ip         TEXT,
                error      TEXT,
                created_at INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX instances_by_owner ON instances (owner_id);
            CREATE INDEX instances_by_host ON instances (host_id);

            CREATE TABLE tasks (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                instance_id   INTEGER REFERENCES instances (id) ON DELETE SET NULL,
                -- kept after the instance is gone, for the record
                instance_uuid TEXT NOT NULL,
                owner_id      INTEGER NOT NULL REFERENCES users (id),
                kind          TEXT NOT NULL CHECK (kind IN
                              ('deploy', 'start', 'shutdown', 'reboot', 'poweroff', 'delete')),
                state         TEXT NOT NULL
                              CHECK (state IN ('running', 'succeeded', 'failed')),
                error         TEXT,
                -- the rendered user-data (no clear secrets); dropped when done
                user_data     TEXT,
                created_ms    INTEGER NOT NULL,
                finished_ms   INTEGER
            ) STRICT;
            -- At most one running task per instance: a second click is a 409.
            CREATE UNIQUE INDEX one_running_task_per_instance
                ON tasks (instance_uuid) WHERE state = 'running';

            CREATE TABLE task_steps (
                task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                position   INTEGER NOT NULL,
                name       TEXT NOT NULL,
                state      TEXT NOT NULL
                           CHECK (state IN ('pending', 'running', 'done', 'failed', 'undone')),
                started_ms  INTEGER,
                finished_ms INTEGER,
                PRIMARY KEY (task_id, position)
            ) STRICT;
        "#,
    },
    Migration {
        version: 4,
        name: "application health and seed scrubbing",
        sql: r#"
            -- 'unknown', 'starting', 'healthy' or 'unhealthy', from the stack's check
            ALTER TABLE instances ADD COLUMN health TEXT NOT NULL DEFAULT 'unknown';
            -- what the health answer must contain, filled from the parameters
            ALTER TABLE instances ADD COLUMN health_expect TEXT;
            -- once healthy, the seed is rewritten without the user-data
            ALTER TABLE instances ADD COLUMN seed_scrubbed INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE instances ADD COLUMN healthy_ms INTEGER;
        "#,
    },
    Migration {
        version: 5,
        name: "network zones: the outside bridge and its address pool",
        sql: r#"
            -- At most one row: the LAN bridge and the addresses dpe hands out.
            CREATE TABLE outside_zone (
                id            INTEGER PRIMARY KEY CHECK (id = 1),
                bridge        TEXT NOT NULL,
                first_address TEXT NOT NULL,
                last_address  TEXT NOT NULL,
                prefix_len    INTEGER NOT NULL CHECK (prefix_len BETWEEN 1 AND 30),
                gateway       TEXT,
                dns           TEXT NOT NULL DEFAULT '',
                updated_at    INTEGER NOT NULL
            ) STRICT;
            ALTER TABLE instances ADD COLUMN zone TEXT NOT NULL DEFAULT 'inside'
                CHECK (zone IN ('inside', 'outside'));
            -- An outside instance's address, given at deploy; unique so two
            -- concurrent deploys can never share one.
            ALTER TABLE instances ADD COLUMN static_address TEXT;
            CREATE UNIQUE INDEX instances_static_address
                ON instances (static_address) WHERE static_address IS NOT NULL;
            -- The rest of its static network configuration (JSON), kept so
            -- the seed can be rebuilt the same after the zone changes.
            ALTER TABLE instances ADD COLUMN static_network TEXT;
        "#,
    },
    Migration {
        version: 6,
        name: "delegation: departments, quotas, directory accounts, audit log",
        sql: r#"
            -- Org units; a quota column left NULL means no limit. A
            -- department's quota covers its sub-departments too.
            CREATE TABLE departments (
                id               INTEGER PRIMARY KEY,
                name             TEXT NOT NULL UNIQUE,
                parent_id        INTEGER REFERENCES departments (id),
                quota_instances  INTEGER CHECK (quota_instances >= 0),
                quota_vcpus      INTEGER CHECK (quota_vcpus >= 0),
                quota_memory_mib INTEGER CHECK (quota_memory_mib >= 0),
                quota_disk_gib   INTEGER CHECK (quota_disk_gib >= 0),
                created_at       INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX departments_by_parent ON departments (parent_id);

            ALTER TABLE users ADD COLUMN department_id INTEGER REFERENCES departments (id);
            -- administers their department and its sub-departments
            ALTER TABLE users ADD COLUMN department_admin INTEGER NOT NULL DEFAULT 0
                CHECK (department_admin IN (0, 1));
            ALTER TABLE users ADD COLUMN may_deploy INTEGER NOT NULL DEFAULT 1
                CHECK (may_deploy IN (0, 1));
            -- 'directory' accounts sign in against LDAP and have no password here
            ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local'
                CHECK (source IN ('local', 'directory'));
            ALTER TABLE users ADD COLUMN quota_instances INTEGER CHECK (quota_instances >= 0);
            ALTER TABLE users ADD COLUMN quota_vcpus INTEGER CHECK (quota_vcpus >= 0);
            ALTER TABLE users ADD COLUMN quota_memory_mib INTEGER CHECK (quota_memory_mib >= 0);
            ALTER TABLE users ADD COLUMN quota_disk_gib INTEGER CHECK (quota_disk_gib >= 0);
            CREATE INDEX users_by_department ON users (department_id);

            -- the department charged for the instance, fixed at deploy
            ALTER TABLE instances ADD COLUMN department_id INTEGER REFERENCES departments (id);
            CREATE INDEX instances_by_department ON instances (department_id);

            -- Who did what, when, from where. No foreign keys: the log
            -- outlives the accounts and objects it names.
            CREATE TABLE audit (
                id            INTEGER PRIMARY KEY,
                at_ms         INTEGER NOT NULL,
                actor         TEXT,
                actor_id      INTEGER,
                address       TEXT,
                action        TEXT NOT NULL,
                object        TEXT,
                outcome       TEXT NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
                detail        TEXT,
                -- the department it concerns, for department admins' view
                department_id INTEGER
            ) STRICT;
            CREATE INDEX audit_by_time ON audit (at_ms);
            CREATE INDEX audit_by_department ON audit (department_id, at_ms);

            -- The LDAP settings (JSON), at most one row.
            CREATE TABLE directory (
                id         INTEGER PRIMARY KEY CHECK (id = 1),
                settings   TEXT NOT NULL,
                updated_at INTEGER NOT NULL
            ) STRICT;
        "#,
    },
    Migration {
        version: 7,
        name: "API tokens that expire",
        sql: r#"
            -- Unix seconds after which the token no longer works; NULL: never.
            ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
        "#,
    },
    Migration {
        version: 8,
        name: "directory accounts are checked again",
        sql: r#"
            -- Unix seconds of the last time the directory vouched for the
            -- account (sign-in or re-check); NULL for local accounts.
            ALTER TABLE users ADD COLUMN directory_checked_at INTEGER;
            UPDATE users SET directory_checked_at = 0 WHERE source = 'directory';
        "#,
    },
    Migration {
        version: 9,
        name: "volume names carry the appliance's id",
        sql: r#"
            -- What an instance's volume names start with. New ones carry
            -- the appliance's id, so an appliance that shares a storage
            -- pool with another removes only its own leftovers; older
            -- instances keep the names they were made with.
            ALTER TABLE instances ADD COLUMN volume_stem TEXT NOT NULL DEFAULT '';
            UPDATE instances SET volume_stem = 'dpe-' || uuid;
        "#,
    },
    Migration {
        version: 10,
        name: "the application gateway",
        sql: r#"
            -- Who may open the application, besides who manages the instance.
            ALTER TABLE instances ADD COLUMN share TEXT NOT NULL DEFAULT 'owner'
                CHECK (share IN ('owner', 'department', 'signed_in', 'public'));
            -- Its gateway port while the apps are addressed by port; kept
            -- until the instance is deleted.
            ALTER TABLE instances ADD COLUMN app_port INTEGER
                CHECK (app_port BETWEEN 1 AND 65535);
            CREATE UNIQUE INDEX instances_by_app_port ON instances (app_port);

            -- Single-use tickets that carry a portal sign-in to one
            -- application's origin. Only hashes of the secrets are kept.
            CREATE TABLE gateway_tickets (
                secret_hash    BLOB PRIMARY KEY,
                instance_id    INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
                user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                -- the portal session it came from, which the gateway
                -- session lives no longer than
                portal_session TEXT NOT NULL,
                expires_at     INTEGER NOT NULL
            ) STRICT;

            -- A visitor's sign-in on one application's origin.
            CREATE TABLE gateway_sessions (
                secret_hash    BLOB PRIMARY KEY,
                instance_id    INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
                user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                portal_session TEXT NOT NULL,
                created_at     INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX gateway_sessions_by_portal_session ON gateway_sessions (portal_session);
        "#,
    },
    Migration {
        version: 11,
        name: "instance lists a page at a time",
        sql: r#"
            -- Instance lists are read a page at a time, in an order that
            -- ends on the id (store/instance_list.rs). Each filter's index
            -- goes on in that order, so a page reads its own rows and
            -- stops: no sort of the whole table, at any depth.
            DROP INDEX instances_by_owner;
            CREATE INDEX instances_by_owner ON instances (owner_id, created_at, id);
            DROP INDEX instances_by_host;
            CREATE INDEX instances_by_host ON instances (host_id, created_at, id);
            DROP INDEX instances_by_department;
            CREATE INDEX instances_by_department
                ON instances (department_id, created_at, id);
            CREATE INDEX instances_by_created ON instances (created_at, id);
            CREATE INDEX instances_by_status ON instances (status, created_at, id);
            CREATE INDEX instances_by_health ON instances (health, created_at, id);
            -- A search is a prefix of the name, the owner's or the
            -- department's name, in any case: LIKE 'text%' is sought
            -- through these.
            CREATE INDEX instances_by_name_nocase ON instances (name COLLATE NOCASE);
            CREATE INDEX users_by_name_nocase ON users (username COLLATE NOCASE);
            CREATE INDEX departments_by_name_nocase ON departments (name COLLATE NOCASE);
        "#,
    },
    Migration {
        version: 12,
        name: "accounts, tokens and the audit log a page at a time; counts",
        sql: r#"
            -- A token page is the account's tokens newest first: read in
            -- that order from the index, and stopped after the page.
            DROP INDEX api_tokens_by_user;
            CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at, id);
            -- The audit log's filters (store/audit.rs): each is sought
            -- through its own index (the rowid, the log's order, is in
            -- each), not found by reading the log from its newest end.
            CREATE INDEX audit_by_actor ON audit (actor);
            CREATE INDEX audit_by_action ON audit (action);
            CREATE INDEX audit_by_outcome ON audit (outcome);
            -- The dashboard counts instances by state and health: read
            -- from this index alone, never from the table's rows.
            CREATE INDEX instances_by_state ON instances (status, power, health);
        "#,
    },
    Migration {
        version: 13,
        name: "the warm pool",
        sql: r#"
            -- Guests booted ahead of time from the golden image, which a
            -- deploy claims and personalizes in place (engine/pool.rs).
            -- A claimed member keeps its row, in 'claiming' and naming its
            -- instance, until the personalization is done or undone.
            CREATE TABLE pool_members (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,
                -- the libvirt domain UUID, and the instance's once claimed
                uuid        TEXT NOT NULL UNIQUE,
                volume_stem TEXT NOT NULL UNIQUE,
                mac         TEXT NOT NULL UNIQUE,
                size        TEXT NOT NULL,
                vcpus       INTEGER NOT NULL CHECK (vcpus > 0),
                memory_mib  INTEGER NOT NULL CHECK (memory_mib > 0),
                disk_gib    INTEGER NOT NULL CHECK (disk_gib > 0),
                -- a removed host takes its members' records with it
                host_id     INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
                network     TEXT NOT NULL,
                -- the golden image's checksum: another image recycles it
                image       TEXT NOT NULL,
                state       TEXT NOT NULL
                            CHECK (state IN ('booting', 'ready', 'claiming', 'recycling')),
                since       INTEGER NOT NULL,
                instance_id INTEGER UNIQUE REFERENCES instances (id) ON DELETE SET NULL
            ) STRICT;
            -- A claim takes the oldest ready member of a size.
            CREATE INDEX pool_members_by_state ON pool_members (state, size, id);
            -- What a warm deploy's personalization is given (JSON; secrets
            -- only as hashes, as in user_data); dropped when done.
            ALTER TABLE tasks ADD COLUMN personalize TEXT;
        "#,
    },
    Migration {
        version: 14,
        name: "filtered lists in name order",
        sql: r#"
            -- A list filtered by health or lifecycle status and ordered by
            -- name: read in that order from these, and stopped after the
            -- page. Through the (.., created_at, id) indexes every match
            -- was read and sorted first: 500 unhealthy of 10,000 made that
            -- page a third as fast as the others (scripts/bench-portal).
            CREATE INDEX instances_by_health_name ON instances (health, name, id);
            CREATE INDEX instances_by_status_name ON instances (status, name, id);
        "#,
    },
    Migration {
        version: 15,
        name: "snapshots, and the tasks that take, revert and delete them",
        sql: r#"
            -- An instance's snapshots: libvirt keeps the data (internal
            -- qcow2 snapshots, named dpe-snap-ID), this table what users
            -- see and what the quota charges (size_bytes, the disk's growth
            -- when it was taken).
            CREATE TABLE snapshots (
                id          INTEGER PRIMARY KEY,
                instance_id INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
                name        TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                state       TEXT NOT NULL
                            CHECK (state IN ('creating', 'ready', 'reverting', 'deleting')),
                -- whether the guest ran when it was taken (then its memory is in it)
                with_memory INTEGER NOT NULL DEFAULT 0,
                size_bytes  INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
                created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
                created_at  INTEGER NOT NULL,
                UNIQUE (instance_id, name)
            ) STRICT;

            -- The tasks' kinds are a CHECK, which SQLite cannot alter: the
            -- table is rebuilt with the snapshots' kinds and the snapshot a
            -- task works on. The steps are rebuilt beside it (they refer to
            -- it), and the id sequence carried over (ids are never reused).
            CREATE TABLE tasks_new (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                instance_id   INTEGER REFERENCES instances (id) ON DELETE SET NULL,
                instance_uuid TEXT NOT NULL,
                owner_id      INTEGER NOT NULL REFERENCES users (id),
                kind          TEXT NOT NULL CHECK (kind IN
                              ('deploy', 'start', 'shutdown', 'reboot', 'poweroff', 'delete',
                               'snapshot', 'revert', 'delete_snapshot')),
                state         TEXT NOT NULL
                              CHECK (state IN ('running', 'succeeded', 'failed')),
                error         TEXT,
                user_data     TEXT,
                created_ms    INTEGER NOT NULL,
                finished_ms   INTEGER,
                personalize   TEXT,
                snapshot_id   INTEGER REFERENCES snapshots (id) ON DELETE SET NULL
            ) STRICT;
            INSERT INTO tasks_new (id, instance_id, instance_uuid, owner_id, kind, state, error,
                                   user_data, created_ms, finished_ms, personalize)
                SELECT id, instance_id, instance_uuid, owner_id, kind, state, error,
                       user_data, created_ms, finished_ms, personalize FROM tasks;
            DELETE FROM sqlite_sequence WHERE name = 'tasks_new';
            INSERT INTO sqlite_sequence (name, seq)
                SELECT 'tasks_new', seq FROM sqlite_sequence WHERE name = 'tasks';
            CREATE TABLE task_steps_new (
                task_id    INTEGER NOT NULL REFERENCES tasks_new (id) ON DELETE CASCADE,
                position   INTEGER NOT NULL,
                name       TEXT NOT NULL,
                state      TEXT NOT NULL
                           CHECK (state IN ('pending', 'running', 'done', 'failed', 'undone')),
                started_ms  INTEGER,
                finished_ms INTEGER,
                PRIMARY KEY (task_id, position)
            ) STRICT;
            INSERT INTO task_steps_new SELECT * FROM task_steps;
            DROP TABLE task_steps;
            DROP TABLE tasks;
            ALTER TABLE tasks_new RENAME TO tasks;
            ALTER TABLE task_steps_new RENAME TO task_steps;
            CREATE UNIQUE INDEX one_running_task_per_instance
                ON tasks (instance_uuid) WHERE state = 'running';
        "#,
    },
    Migration {
        version: 16,
        name: "backups, their policies, and the tasks that take and restore them",
        sql: r#"
            -- An instance's backups (restore points): libvirt's backup
            -- job writes each into the backup store's pool (volume), a
            -- full one the whole disk, an incremental one the blocks
            -- changed since its parent's checkpoint, over its parent as
            -- qcow2 backing. A backup outlives its instance: the
            -- instance's name, owner and department stay with it, for
            -- who may see and restore it.
            CREATE TABLE backups (
                id            INTEGER PRIMARY KEY,
                instance_id   INTEGER REFERENCES instances (id) ON DELETE SET NULL,
                instance_uuid TEXT NOT NULL,
                instance_name TEXT NOT NULL,
                owner_id      INTEGER NOT NULL REFERENCES users (id),
                department_id INTEGER REFERENCES departments (id) ON DELETE SET NULL,
                -- the host whose backup pool holds the file
                host_id       INTEGER REFERENCES hosts (id) ON DELETE SET NULL,
                -- the instance's size, which a restore takes by default
                size          TEXT NOT NULL,
                disk_gib      INTEGER NOT NULL CHECK (disk_gib > 0),
                kind          TEXT NOT NULL CHECK (kind IN ('full', 'incremental')),
                parent_id     INTEGER REFERENCES backups (id),
                -- the libvirt checkpoint taken with it, which the next
                -- incremental backup starts from
                checkpoint    TEXT NOT NULL,
                volume        TEXT NOT NULL UNIQUE,
                state         TEXT NOT NULL CHECK (state IN ('running', 'ready', 'failed')),
                reason        TEXT,
                error         TEXT,
                size_bytes    INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
                sha256        TEXT,
                damaged       INTEGER NOT NULL DEFAULT 0,
                verified_at   INTEGER,
                duration_ms   INTEGER,
                frozen_ms     INTEGER,
                created_by    INTEGER REFERENCES users (id) ON DELETE SET NULL,
                created_at    INTEGER NOT NULL,
                finished_at   INTEGER,
                -- what a restore's instance is given when the instance is
                -- gone: its public parameters and its health answer
                params_json   TEXT NOT NULL DEFAULT '{}',
                health_expect TEXT NOT NULL DEFAULT ''
            ) STRICT;
            CREATE INDEX backups_by_instance ON backups (instance_uuid, id);
            CREATE INDEX backups_by_parent ON backups (parent_id);

            -- When instances are backed up: a department's own policy (its
            -- sub-departments follow it unless they have one), and the
            -- default (department_id 0 stands for it: SQLite's UNIQUE lets
            -- NULLs repeat).
            CREATE TABLE backup_policies (
                department_id INTEGER NOT NULL PRIMARY KEY,
                frequency     TEXT NOT NULL CHECK (frequency IN ('off', 'daily', 'weekly')),
                hour          INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
                keep          INTEGER NOT NULL CHECK (keep BETWEEN 1 AND 100)
            ) STRICT;

            -- The tasks' kinds are a CHECK, which SQLite cannot alter: the
            -- table is rebuilt with the backups' kinds and the backup a
            -- task works on, as migration 15 did.
            CREATE TABLE tasks_new (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                instance_id   INTEGER REFERENCES instances (id) ON DELETE SET NULL,
                instance_uuid TEXT NOT NULL,
                owner_id      INTEGER NOT NULL REFERENCES users (id),
                kind          TEXT NOT NULL CHECK (kind IN
                              ('deploy', 'start', 'shutdown', 'reboot', 'poweroff', 'delete',
                               'snapshot', 'revert', 'delete_snapshot', 'backup', 'restore')),
                state         TEXT NOT NULL
                              CHECK (state IN ('running', 'succeeded', 'failed')),
                error         TEXT,
                user_data     TEXT,
                created_ms    INTEGER NOT NULL,
                finished_ms   INTEGER,
                personalize   TEXT,
                snapshot_id   INTEGER REFERENCES snapshots (id) ON DELETE SET NULL,
                backup_id     INTEGER REFERENCES backups (id) ON DELETE SET NULL
            ) STRICT;
            INSERT INTO tasks_new (id, instance_id, instance_uuid, owner_id, kind, state, error,
                                   user_data, created_ms, finished_ms, personalize, snapshot_id)
                SELECT id, instance_id, instance_uuid, owner_id, kind, state, error,
                       user_data, created_ms, finished_ms, personalize, snapshot_id FROM tasks;
            DELETE FROM sqlite_sequence WHERE name = 'tasks_new';
            INSERT INTO sqlite_sequence (name, seq)
                SELECT 'tasks_new', seq FROM sqlite_sequence WHERE name = 'tasks';
            CREATE TABLE task_steps_new (
                task_id    INTEGER NOT NULL REFERENCES tasks_new (id) ON DELETE CASCADE,
                position   INTEGER NOT NULL,
                name       TEXT NOT NULL,
                state      TEXT NOT NULL
                           CHECK (state IN ('pending', 'running', 'done', 'failed', 'undone')),
                started_ms  INTEGER,
                finished_ms INTEGER,
                PRIMARY KEY (task_id, position)
            ) STRICT;
            INSERT INTO task_steps_new SELECT * FROM task_steps;
            DROP TABLE task_steps;
            DROP TABLE tasks;
            ALTER TABLE tasks_new RENAME TO tasks;
            ALTER TABLE task_steps_new RENAME TO task_steps;
            CREATE UNIQUE INDEX one_running_task_per_instance
                ON tasks (instance_uuid) WHERE state = 'running';
        "#,
    },
    Migration {
        version: 17,
        name: "second factors: TOTP, recovery codes, lockout and enforcement",
        sql: r#"
            -- An account's authenticator app. The secret is sealed with the
            -- appliance's key (auth::secret_box), bound to the account: a
            -- copy of the store holds no usable secret. `pending` is an
            -- enrolment waiting for its confirming code; `last_step` the
            -- last time step accepted, so that no code is accepted twice.
            CREATE TABLE totp_factors (
                user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
                secret       TEXT NOT NULL,
                confirmed_at INTEGER,
                last_step    INTEGER
            ) STRICT;
            -- Single-use codes, as SHA-256 (auth::recovery says why not
            -- Argon2); a used one keeps its row, with when.
            CREATE TABLE recovery_codes (
                user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                code_hash  BLOB NOT NULL,
                used_at    INTEGER,
                PRIMARY KEY (user_id, code_hash)
            ) STRICT, WITHOUT ROWID;
            -- Wrong second-factor codes in a row, and until when the second
            -- factor is locked after too many.
            CREATE TABLE second_factor_failures (
                user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
                failures     INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
                locked_until INTEGER
            ) STRICT;
            -- A department whose members must use a second factor.
            ALTER TABLE departments
                ADD COLUMN require_second_factor INTEGER NOT NULL DEFAULT 0;
        "#,
    },
    Migration {
        version: 18,
        name: "leases, and the outbox of what people are told",
        sql: r#"
            -- A department's lease policy (JSON of app::model::LeasePolicy);
            -- NULL: its parent's, up to the appliance's default (settings).
            ALTER TABLE departments ADD COLUMN lease_policy TEXT;
            -- Unix seconds at which the instance is shut down; NULL: no lease.
            ALTER TABLE instances ADD COLUMN lease_expires_at INTEGER;
            -- How far the lease's course has gone: each step queues its
            -- notice in the transaction that takes it, so nothing is shut
            -- down or deleted before its warnings are in the outbox.
            ALTER TABLE instances ADD COLUMN lease_stage TEXT NOT NULL DEFAULT 'active'
                CHECK (lease_stage IN ('active', 'warned_7d', 'warned_1d', 'expired', 'deleting'));
            -- Once expired: unix seconds at which it is deleted.
            ALTER TABLE instances ADD COLUMN lease_deletes_at INTEGER;
            -- The lease pass reads only the instances with a lease.
            CREATE INDEX instances_by_lease ON instances (lease_expires_at)
                WHERE lease_expires_at IS NOT NULL;

            -- What happened that people are told about, queued in the
            -- transaction of the change itself. No foreign keys: a notice
            -- outlives the instance it names ("deleted").
            CREATE TABLE outbox (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                -- app::model::NoticeKind; no CHECK, so that a new kind
                -- (backups') needs no rebuild: the store refuses unknown
                -- text on reading (StoreError::Corrupt)
                kind          TEXT NOT NULL,
                at            INTEGER NOT NULL,
                instance_id   INTEGER,
                instance_name TEXT,
                owner_id      INTEGER,
                department_id INTEGER,
                -- a sentence for people, no secrets
                detail        TEXT NOT NULL DEFAULT ''
            ) STRICT;
            CREATE INDEX outbox_by_instance ON outbox (instance_id, id);
        "#,
    },
    Migration {
        version: 19,
        name: "restore over an instance, keeping its disk as a snapshot",
        sql: r#"
            -- Where a snapshot's data lives (app::model::SnapshotKind):
            -- inside the disk, or a copy of the whole disk beside it (the
            -- volume engine::volumes::InstanceVolumes::kept_disk names).
            ALTER TABLE snapshots ADD COLUMN kind TEXT NOT NULL DEFAULT 'internal'
                CHECK (kind IN ('internal', 'disk_copy'));

            -- The tasks' kinds are a CHECK, which SQLite cannot alter: the
            -- table is rebuilt with the restore over an instance, as
            -- migration 16 did.
            CREATE TABLE tasks_new (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                instance_id   INTEGER REFERENCES instances (id) ON DELETE SET NULL,
                instance_uuid TEXT NOT NULL,
                owner_id      INTEGER NOT NULL REFERENCES users (id),
                kind          TEXT NOT NULL CHECK (kind IN
                              ('deploy', 'start', 'shutdown', 'reboot', 'poweroff', 'delete',
                               'snapshot', 'revert', 'delete_snapshot', 'backup', 'restore',
                               'restore_in_place')),
                state         TEXT NOT NULL
                              CHECK (state IN ('running', 'succeeded', 'failed')),
                error         TEXT,
                user_data     TEXT,
                created_ms    INTEGER NOT NULL,
                finished_ms   INTEGER,
                personalize   TEXT,
                snapshot_id   INTEGER REFERENCES snapshots (id) ON DELETE SET NULL,
                backup_id     INTEGER REFERENCES backups (id) ON DELETE SET NULL
            ) STRICT;
            INSERT INTO tasks_new SELECT * FROM tasks;
            DELETE FROM sqlite_sequence WHERE name = 'tasks_new';
            INSERT INTO sqlite_sequence (name, seq)
                SELECT 'tasks_new', seq FROM sqlite_sequence WHERE name = 'tasks';
            CREATE TABLE task_steps_new (
                task_id    INTEGER NOT NULL REFERENCES tasks_new (id) ON DELETE CASCADE,
                position   INTEGER NOT NULL,
                name       TEXT NOT NULL,
                state      TEXT NOT NULL
                           CHECK (state IN ('pending', 'running', 'done', 'failed', 'undone')),
                started_ms  INTEGER,
                finished_ms INTEGER,
                PRIMARY KEY (task_id, position)
            ) STRICT;
            INSERT INTO task_steps_new SELECT * FROM task_steps;
            DROP TABLE task_steps;
            DROP TABLE tasks;
            ALTER TABLE tasks_new RENAME TO tasks;
            ALTER TABLE task_steps_new RENAME TO task_steps;
            CREATE UNIQUE INDEX one_running_task_per_instance
                ON tasks (instance_uuid) WHERE state = 'running';
        "#,
    },
    Migration {
        version: 20,
        name: "restore drills",
        sql: r#"
            -- How often each instance's newest backup is restored into a
            -- throwaway guest and checked (app::model::BackupFrequency).
            ALTER TABLE backup_policies ADD COLUMN drill TEXT NOT NULL DEFAULT 'weekly'
                CHECK (drill IN ('off', 'daily', 'weekly'));
            -- A backup's last drill (app::model::DrillState), when, and
            -- what it found.
            ALTER TABLE backups ADD COLUMN drill_state TEXT
                CHECK (drill_state IN ('running', 'passed', 'failed'));
            ALTER TABLE backups ADD COLUMN drilled_at INTEGER;
            ALTER TABLE backups ADD COLUMN drill_note TEXT;
            -- The throwaway guests of drills under way: a crash leaves a
            -- row, from which the next start destroys the guest and fails
            -- the drill; the reconciler takes their guests for dpe's own.
            CREATE TABLE drills (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,
                backup_id   INTEGER NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
                uuid        TEXT NOT NULL UNIQUE,
                volume_stem TEXT NOT NULL,
                host_id     INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
                mac         TEXT NOT NULL,
                vcpus       INTEGER NOT NULL,
                memory_mib  INTEGER NOT NULL,
                disk_gib    INTEGER NOT NULL,
                started_at  INTEGER NOT NULL
            ) STRICT;
        "#,
    },
    Migration {
        version: 21,
        name: "the backup store the admin chooses",
        sql: r#"
            -- The libvirt pool that keeps the backup's file: NULL for the
            -- default pool (engine::runtime::EngineConfig::backup_pool),
            -- as every backup before this migration; another when the
            -- admin chose another store (settings: backup_store).
            ALTER TABLE backups ADD COLUMN pool TEXT;
        "#,
    },
    Migration {
        version: 22,
        name: "notifications: targets, matchers, deliveries, preferences",
        sql: r#"
            -- Where a person gets mail; NULL: none. Editable in the profile.
            ALTER TABLE users ADD COLUMN email TEXT;
            -- JSON array of the app::model::NoticeKind texts the person
            -- gets by mail; NULL: every kind.
            ALTER TABLE users ADD COLUMN mail_kinds TEXT;
            -- Whether the reconciler last reached the host: "host down" is
            -- queued when this turns 0, once per fall, across restarts.
            ALTER TABLE hosts ADD COLUMN reachable INTEGER NOT NULL DEFAULT 1
                CHECK (reachable IN (0, 1));
            -- A notice is routed (turned into deliveries) once, in one
            -- transaction with its deliveries.
            ALTER TABLE outbox ADD COLUMN routed INTEGER NOT NULL DEFAULT 0
                CHECK (routed IN (0, 1));
            CREATE INDEX outbox_unrouted ON outbox (id) WHERE routed = 0;

            CREATE TABLE webhooks (
                id               INTEGER PRIMARY KEY,
                name             TEXT NOT NULL UNIQUE,
                url              TEXT NOT NULL,
                -- only this department's subtree; NULL: the whole appliance
                department_id    INTEGER REFERENCES departments (id) ON DELETE CASCADE,
                -- whsec_..., sealed (auth/secret_box.rs)
                secret           TEXT NOT NULL,
                -- the secret before the last rotation, sealed, still
                -- signing beside the new one until old_secret_until
                old_secret       TEXT,
                old_secret_until INTEGER,
                created_at       INTEGER NOT NULL
            ) STRICT;

            CREATE TABLE notify_matchers (
                id            INTEGER PRIMARY KEY,
                name          TEXT NOT NULL UNIQUE,
                -- JSON array of NoticeKind texts; empty: every kind
                kinds         TEXT NOT NULL DEFAULT '[]',
                min_severity  TEXT NOT NULL DEFAULT 'info'
                    CHECK (min_severity IN ('info', 'warning', 'error')),
                department_id INTEGER REFERENCES departments (id) ON DELETE CASCADE,
                mail          INTEGER NOT NULL DEFAULT 0 CHECK (mail IN (0, 1)),
                -- JSON array of webhook ids
                webhooks      TEXT NOT NULL DEFAULT '[]'
            ) STRICT;
            -- As Proxmox's default matcher: everything by mail, which each
            -- person's preferences then filter.
            INSERT INTO notify_matchers (name, mail) VALUES ('default', 1);

            -- One notice to one recipient (mail) or one webhook, sent at
            -- most once when it succeeds: claimed (sending) before the
            -- attempt, its id the webhook-id and the Message-ID.
            CREATE TABLE deliveries (
                id              INTEGER PRIMARY KEY AUTOINCREMENT,
                notice_id       INTEGER NOT NULL REFERENCES outbox (id),
                channel         TEXT NOT NULL CHECK (channel IN ('mail', 'webhook')),
                webhook_id      INTEGER REFERENCES webhooks (id) ON DELETE CASCADE,
                -- the mail address, or the webhook's URL when routed
                recipient       TEXT NOT NULL,
                state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
                attempts        INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL,
                last_error      TEXT,
                updated_at      INTEGER NOT NULL,
                UNIQUE (notice_id, channel, recipient)
            ) STRICT;
            CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
                WHERE state IN ('pending', 'sending');
            CREATE INDEX deliveries_by_state ON deliveries (state, id);
        "#,
    },
    Migration {
        version: 23,
        name: "approvals: deploys that wait for a yes; leases that follow use",
        sql: r#"
            -- A department's approval policy (JSON of app::model::ApprovalPolicy);
            -- NULL: its parent's, up to none (no approvals).
            ALTER TABLE departments ADD COLUMN approval_policy TEXT;

            -- A deploy request. Its instance is recorded (status
            -- provisioning, no task) at request time, so its quota is held
            -- by the same rows that hold every deploy's; a rejection or a
            -- lapse marks the instance failed, which holds none. No foreign
            -- keys: the record outlives its instance.
            CREATE TABLE approvals (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                instance_id   INTEGER UNIQUE,
                instance_name TEXT NOT NULL,
                requester_id  INTEGER NOT NULL,
                department_id INTEGER,
                size          TEXT NOT NULL,
                vcpus         INTEGER NOT NULL,
                memory_mib    INTEGER NOT NULL,
                state         TEXT NOT NULL DEFAULT 'pending'
                              CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
                requested_at  INTEGER NOT NULL,
                expires_at    INTEGER NOT NULL,
                decided_by    INTEGER,
                decided_at    INTEGER,
                comment       TEXT NOT NULL DEFAULT '',
                -- the deploy task's user-data, kept until the decision
                user_data     TEXT
            ) STRICT;
            -- The time-out pass reads only the pending ones.
            CREATE INDEX approvals_pending ON approvals (expires_at) WHERE state = 'pending';
            CREATE INDEX approvals_by_department ON approvals (department_id, id);
            CREATE INDEX approvals_by_requester ON approvals (requester_id, id);

            -- Leases that follow use: the day (unix seconds / 86,400) use
            -- last moved the expiry, so that it is written once a day.
            ALTER TABLE instances ADD COLUMN lease_used_day INTEGER;
        "#,
    },
    Migration {
        version: 24,
        name: "passkeys and security keys",
        sql: r#"
            -- An account's WebAuthn credential (a second factor). `credential`
            -- is webauthn-rs's Passkey as JSON: public key, counter, id;
            -- nothing secret. `credential_id` (base64url) is unique across
            -- accounts, as an authenticator's credential is.
            CREATE TABLE passkeys (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                name          TEXT NOT NULL,
                credential_id TEXT NOT NULL UNIQUE,
                credential    TEXT NOT NULL,
                created_at    INTEGER NOT NULL,
                last_used_at  INTEGER,
                UNIQUE (user_id, name)
            ) STRICT;
        "#,
    },
    Migration {
        version: 25,
        name: "since when a host has not answered",
        sql: r#"
            -- When the reconciler first failed to reach the host (unix
            -- seconds), NULL while it answers. Its instances show as "host
            -- unreachable" from this alone: their own rows keep their last
            -- known state, so nothing is rewritten, and nothing lost, when
            -- the host comes back.
            ALTER TABLE hosts ADD COLUMN unreachable_since INTEGER;
            UPDATE hosts SET unreachable_since = CAST(strftime('%s', 'now') AS INTEGER)
                WHERE reachable = 0;
        "#,
    },
    Migration {
        version: 26,
        name: "security keys that need only a touch",
        sql: r#"
            -- Which kind of WebAuthn credential a key is: a passkey verifies
            -- its holder (PIN, fingerprint) each time; a security key needs
            -- only a touch. The keys added before were all passkeys.
            ALTER TABLE passkeys ADD COLUMN kind TEXT NOT NULL DEFAULT 'passkey'
                CHECK (kind IN ('passkey', 'security_key'));
        "#,
    },
    Migration {
        version: 27,
        name: "what instances use, over time",
        sql: r#"
            -- One row per instance, tier and period: `tier` is the period's
            -- length in seconds (10, 300 or 3600) and `at` its start, a
            -- multiple of it. A 10 s row is one reading; a longer one the
            -- mean of the rows of the tier below it. Rates are per second
            -- over the period; `cpu_percent` is of all the instance's vCPUs.
            -- Each tier keeps a bounded span (a day, a month, a year), so a
            -- store holds at most about 26,000 rows per instance.
            CREATE TABLE usage_samples (
                instance_id         INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
                tier                INTEGER NOT NULL,
                at                  INTEGER NOT NULL,
                cpu_percent         REAL NOT NULL,
                memory_used_bytes   REAL NOT NULL,
                memory_bytes        REAL NOT NULL,
                disk_read_bps       REAL NOT NULL,
                disk_write_bps      REAL NOT NULL,
                net_rx_bps          REAL NOT NULL,
                net_tx_bps          REAL NOT NULL,
                PRIMARY KEY (instance_id, tier, at)
            ) STRICT, WITHOUT ROWID;
        "#,
    },
    Migration {
        version: 28,
        name: "moving instances between hosts, and draining a host",
        sql: r#"
            -- A host being drained takes no new instances or warm-pool
            -- members, and its instances are moved off one at a time
            -- (app::model::HostMode).
            ALTER TABLE hosts ADD COLUMN mode TEXT NOT NULL DEFAULT 'active'
                CHECK (mode IN ('active', 'draining'));

            -- The tasks' kinds are a CHECK, which SQLite cannot alter: the
            -- table is rebuilt with the move, as migration 19 did, and
            -- gains the hosts a move goes from and to.
            CREATE TABLE tasks_new (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                instance_id   INTEGER REFERENCES instances (id) ON DELETE SET NULL,
                instance_uuid TEXT NOT NULL,
                owner_id      INTEGER NOT NULL REFERENCES users (id),
                kind          TEXT NOT NULL CHECK (kind IN
                              ('deploy', 'start', 'shutdown', 'reboot', 'poweroff', 'delete',
                               'snapshot', 'revert', 'delete_snapshot', 'backup', 'restore',
                               'restore_in_place', 'move')),
                state         TEXT NOT NULL
                              CHECK (state IN ('running', 'succeeded', 'failed')),
                error         TEXT,
                user_data     TEXT,
                created_ms    INTEGER NOT NULL,
                finished_ms   INTEGER,
                personalize   TEXT,
                snapshot_id   INTEGER REFERENCES snapshots (id) ON DELETE SET NULL,
                backup_id     INTEGER REFERENCES backups (id) ON DELETE SET NULL,
                source_host_id INTEGER REFERENCES hosts (id) ON DELETE SET NULL,
                target_host_id INTEGER REFERENCES hosts (id) ON DELETE SET NULL
            ) STRICT;
            INSERT INTO tasks_new (id, instance_id, instance_uuid, owner_id, kind, state, error,
                                   user_data, created_ms, finished_ms, personalize, snapshot_id,
                                   backup_id)
                SELECT id, instance_id, instance_uuid, owner_id, kind, state, error, user_data,
                       created_ms, finished_ms, personalize, snapshot_id, backup_id
                FROM tasks;
            DELETE FROM sqlite_sequence WHERE name = 'tasks_new';
            INSERT INTO sqlite_sequence (name, seq)
                SELECT 'tasks_new', seq FROM sqlite_sequence WHERE name = 'tasks';
            CREATE TABLE task_steps_new (
                task_id    INTEGER NOT NULL REFERENCES tasks_new (id) ON DELETE CASCADE,
                position   INTEGER NOT NULL,
                name       TEXT NOT NULL,
                state      TEXT NOT NULL
                           CHECK (state IN ('pending', 'running', 'done', 'failed', 'undone')),
                started_ms  INTEGER,
                finished_ms INTEGER,
                PRIMARY KEY (task_id, position)
            ) STRICT;
            INSERT INTO task_steps_new SELECT * FROM task_steps;
            DROP TABLE task_steps;
            DROP TABLE tasks;
            ALTER TABLE tasks_new RENAME TO tasks;
            ALTER TABLE task_steps_new RENAME TO task_steps;
            CREATE UNIQUE INDEX one_running_task_per_instance
                ON tasks (instance_uuid) WHERE state = 'running';
        "#,
    },
    Migration {
        version: 29,
        name: "tokens that only read the metrics",
        sql: r#"
            -- What a token may be used for: everything its account may do,
            -- or reading /metrics alone (what a Prometheus server holds).
            ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full'
                CHECK (scope IN ('full', 'metrics'));
        "#,
    },
    Migration {
        version: 30,
        name: "each application's traffic through the gateway",
        sql: r#"
            -- Tiered like usage_samples: one row per instance, tier and
            -- period. Rates are per second over the period; the latencies
            -- are the time to the answer's head in milliseconds, NULL for a
            -- period without requests. A longer period holds the means of
            -- the rows below it, but the worst p99 among them.
            CREATE TABLE traffic_samples (
                instance_id          INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
                tier                 INTEGER NOT NULL,
                at                   INTEGER NOT NULL,
                requests_per_s       REAL NOT NULL,
                client_errors_per_s  REAL NOT NULL,
                server_errors_per_s  REAL NOT NULL,
                p50_ms               REAL,
                p99_ms               REAL,
                bytes_in_bps         REAL NOT NULL,
                bytes_out_bps        REAL NOT NULL,
                PRIMARY KEY (instance_id, tier, at)
            ) STRICT, WITHOUT ROWID;
        "#,
    },
    Migration {
        version: 31,
        name: "each department's use of its quota over time",
        sql: r#"
            -- Tiered like usage_samples, per department: what its instances
            -- and its sub-departments' take, and its quota as it then was
            -- (NULL: none). A longer period keeps the peak of each.
            CREATE TABLE department_samples (
                department_id     INTEGER NOT NULL REFERENCES departments (id) ON DELETE CASCADE,
                tier              INTEGER NOT NULL,
                at                INTEGER NOT NULL,
                instances         REAL NOT NULL,
                vcpus             REAL NOT NULL,
                memory_mib        REAL NOT NULL,
                disk_gib          REAL NOT NULL,
                quota_instances   REAL,
                quota_vcpus       REAL,
                quota_memory_mib  REAL,
                quota_disk_gib    REAL,
                PRIMARY KEY (department_id, tier, at)
            ) STRICT, WITHOUT ROWID;
        "#,
    },
    Migration {
        version: 32,
        name: "resizing an instance",
        sql: r#"
            -- The tasks' kinds are a CHECK, which SQLite cannot alter: the
            -- table is rebuilt with the resize, as migration 28 did, and
            -- gains the size a resize started from (JSON: name, vcpus,
            -- memory_mib, disk_gib), which its undo puts back.
            CREATE TABLE tasks_new (
                id            INTEGER PRIMARY KEY AUTOINCREMENT,
                instance_id   INTEGER REFERENCES instances (id) ON DELETE SET NULL,
                instance_uuid TEXT NOT NULL,
                owner_id      INTEGER NOT NULL REFERENCES users (id),
                kind          TEXT NOT NULL CHECK (kind IN
                              ('deploy', 'start', 'shutdown', 'reboot', 'poweroff', 'delete',
                               'snapshot', 'revert', 'delete_snapshot', 'backup', 'restore',
                               'restore_in_place', 'move', 'resize')),
                state         TEXT NOT NULL
                              CHECK (state IN ('running', 'succeeded', 'failed')),
                error         TEXT,
                user_data     TEXT,
                created_ms    INTEGER NOT NULL,
                finished_ms   INTEGER,
                personalize   TEXT,
                snapshot_id   INTEGER REFERENCES snapshots (id) ON DELETE SET NULL,
                backup_id     INTEGER REFERENCES backups (id) ON DELETE SET NULL,
                source_host_id INTEGER REFERENCES hosts (id) ON DELETE SET NULL,
                target_host_id INTEGER REFERENCES hosts (id) ON DELETE SET NULL,
                resize_from   TEXT CHECK (resize_from IS NULL OR json_valid(resize_from))
            ) STRICT;
            INSERT INTO tasks_new (id, instance_id, instance_uuid, owner_id, kind, state, error,
                                   user_data, created_ms, finished_ms, personalize, snapshot_id,
                                   backup_id, source_host_id, target_host_id)
                SELECT id, instance_id, instance_uuid, owner_id, kind, state, error, user_data,
                       created_ms, finished_ms, personalize, snapshot_id, backup_id,
                       source_host_id, target_host_id
                FROM tasks;
            DELETE FROM sqlite_sequence WHERE name = 'tasks_new';
            INSERT INTO sqlite_sequence (name, seq)
                SELECT 'tasks_new', seq FROM sqlite_sequence WHERE name = 'tasks';
            CREATE TABLE task_steps_new (
                task_id    INTEGER NOT NULL REFERENCES tasks_new (id) ON DELETE CASCADE,
                position   INTEGER NOT NULL,
                name       TEXT NOT NULL,
                state      TEXT NOT NULL
                           CHECK (state IN ('pending', 'running', 'done', 'failed', 'undone')),
                started_ms  INTEGER,
                finished_ms INTEGER,
                PRIMARY KEY (task_id, position)
            ) STRICT;
            INSERT INTO task_steps_new SELECT * FROM task_steps;
            DROP TABLE task_steps;
            DROP TABLE tasks;
            ALTER TABLE tasks_new RENAME TO tasks;
            ALTER TABLE task_steps_new RENAME TO task_steps;
            CREATE UNIQUE INDEX one_running_task_per_instance
                ON tasks (instance_uuid) WHERE state = 'running';
        "#,
    },
    Migration {
        version: 33,
        name: "stack versions",
        sql: r#"
            -- Each golden image registered is a version of the stack: its
            -- checksum names its volumes on every host (golden-STACK-SHA12),
            -- `dir` is where its files were read, `packages` its package
            -- list (`name version` lines), for what changed between two.
            -- Exactly one per stack is current: deploys and warm members
            -- use it.
            CREATE TABLE stack_versions (
                id        INTEGER PRIMARY KEY AUTOINCREMENT,
                stack     TEXT NOT NULL,
                label     TEXT NOT NULL,
                sha256    TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
                dir       TEXT NOT NULL,
                packages  TEXT NOT NULL DEFAULT '',
                added_at  INTEGER NOT NULL,
                current   INTEGER NOT NULL DEFAULT 0 CHECK (current IN (0, 1))
            ) STRICT;
            CREATE UNIQUE INDEX one_current_stack_version
                ON stack_versions (stack) WHERE current = 1;
            -- The version an instance was cloned from (a backup: its
            -- instance's when taken). NULL until its clone step, or for
            -- instances from before versions: the engine gives those the
            -- current version the first time it reads one.
            ALTER TABLE instances ADD COLUMN version_id INTEGER
                REFERENCES stack_versions (id);
            ALTER TABLE backups ADD COLUMN version_id INTEGER
                REFERENCES stack_versions (id) ON DELETE SET NULL;
        "#,
    },
    Migration {
        version: 34,
        name: "each host's own figures over time",
        sql: r#"
            -- Tiered like usage_samples, per host: what libvirt reads of the
            -- machine itself. `cpu_percent` is of all the host's CPUs, by
            -- anyone; memory in use is neither free nor buffers nor page
            -- cache; storage is dpe's pool (allocation and capacity); the
            -- network rates are the sum of dpe's guests' on the host.
            CREATE TABLE host_samples (
                host_id             INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
                tier                INTEGER NOT NULL,
                at                  INTEGER NOT NULL,
                cpu_percent         REAL NOT NULL,
                memory_used_bytes   REAL NOT NULL,
                memory_bytes        REAL NOT NULL,
                storage_used_bytes  REAL NOT NULL,
                storage_bytes       REAL NOT NULL,
                net_rx_bps          REAL NOT NULL,
                net_tx_bps          REAL NOT NULL,
                PRIMARY KEY (host_id, tier, at)
            ) STRICT, WITHOUT ROWID;
        "#,
    },
    Migration {
        version: 35,
        name: "the version a snapshot holds",
        sql: r#"
            -- The version the instance ran when the snapshot was taken (a
            -- kept disk: the one a restore over it replaced). Reverting to
            -- it, or undoing that restore, brings that version back with
            -- the disk. Snapshots from before: the instance's version now.
            ALTER TABLE snapshots ADD COLUMN version_id INTEGER
                REFERENCES stack_versions (id) ON DELETE SET NULL;
            UPDATE snapshots SET version_id =
                (SELECT i.version_id FROM instances i WHERE i.id = snapshots.instance_id);
        "#,
    },
];

pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

pub fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the schema to the latest version.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_to(conn, latest_version())
}

/// Brings the schema to `target` (tests use it to build older stores).
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), StoreError> {
    let found = schema_version(conn)?;
    if found > latest_version() {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: latest_version(),
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version <= target) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read again under the write lock: another process may have migrated.
        if schema_version(&tx)? >= migration.version {
            continue;
        }
        let failed = |source| StoreError::Migration {
            version: migration.version,
            source,
        };
        tx.execute_batch(migration.sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", migration.version)
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migrated the store"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare("SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn versions_are_numbered_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "migration {}", m.name);
        }
    }

    #[test]
    fn every_older_schema_migrates_to_the_same_latest_schema() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        let expected = schema(&fresh);
        for start in 0..latest_version() {
            let mut conn = Connection::open_in_memory().unwrap();
            migrate_to(&mut conn, start).unwrap();
            assert_eq!(schema_version(&conn).unwrap(), start);
            if start >= 1 {
                conn.execute(
                    "INSERT INTO users (username, role, created_at) VALUES ('kept', 'user', 1)",
                    [],
                )
                .unwrap();
            }
            migrate(&mut conn).unwrap();
            assert_eq!(schema_version(&conn).unwrap(), latest_version());
            assert_eq!(schema(&conn), expected, "from version {start}");
            if start >= 1 {
                let kept: i64 = conn
                    .query_row(
                        "SELECT count(*) FROM users WHERE username = 'kept'",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(kept, 1, "rows survive migration from version {start}");
            }
        }
    }

    #[test]
    fn instances_from_before_zones_are_inside_with_no_fixed_address() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 4).unwrap();
        conn.execute_batch(
            "INSERT INTO users (username, password_hash, role, created_at)
                 VALUES ('ann', 'x', 'user', 0);
             INSERT INTO instances (uuid, name, owner_id, size, vcpus, memory_mib, disk_gib,
                                    network, mac, status, ip, created_at)
                 VALUES ('u1', 'old', 1, 's', 1, 256, 1, 'default', 'm1', 'ready',
                         '192.168.122.5', 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let row: (String, Option<String>, Option<String>) = conn
            .query_row(
                "SELECT zone, static_address, ip FROM instances WHERE name = 'old'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, ("inside".into(), None, Some("192.168.122.5".into())));
    }

    #[test]
    fn tasks_rebuilt_for_snapshots_keep_their_steps_ids_and_cascade() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        migrate_to(&mut conn, 14).unwrap();
        conn.execute_batch(
            "INSERT INTO users (username, password_hash, role, created_at)
                 VALUES ('ann', 'x', 'user', 0);
             INSERT INTO tasks (instance_uuid, owner_id, kind, state, created_ms)
                 VALUES ('u1', 1, 'deploy', 'succeeded', 1), ('u2', 1, 'start', 'running', 2),
                        ('u3', 1, 'start', 'failed', 3);
             INSERT INTO task_steps (task_id, position, name, state)
                 VALUES (1, 0, 'place', 'done'), (1, 1, 'clone', 'done'), (2, 0, 'start', 'running');
             DELETE FROM tasks WHERE id = 3;",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let steps: i64 = conn
            .query_row("SELECT count(*) FROM task_steps", [], |r| r.get(0))
            .unwrap();
        assert_eq!(steps, 3);
        conn.execute(
            "INSERT INTO tasks (instance_uuid, owner_id, kind, state, created_ms)
                 VALUES ('u4', 1, 'snapshot', 'running', 4)",
            [],
        )
        .unwrap();
        // AUTOINCREMENT carried over: the deleted task's id is not reused.
        assert_eq!(conn.last_insert_rowid(), 4);
        // One running task per instance still holds, and steps still go
        // with their task.
        assert!(
            conn.execute(
                "INSERT INTO tasks (instance_uuid, owner_id, kind, state, created_ms)
                     VALUES ('u2', 1, 'revert', 'running', 5)",
                [],
            )
            .is_err()
        );
        conn.execute("DELETE FROM tasks WHERE id = 1", []).unwrap();
        let steps: i64 = conn
            .query_row("SELECT count(*) FROM task_steps", [], |r| r.get(0))
            .unwrap();
        assert_eq!(steps, 1);
        let broken: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(broken, 0);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 1)
            .unwrap();
        match migrate(&mut conn) {
            Err(StoreError::SchemaTooNew { found, supported }) => {
                assert_eq!(found, latest_version() + 1);
                assert_eq!(supported, latest_version());
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }

    #[test]
    fn a_failed_migration_leaves_the_previous_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 1).unwrap();
        // Make migration 2 fail half-way: its second table already exists.
        conn.execute_batch("CREATE TABLE hosts (x INTEGER)")
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StoreError::Migration { version: 2, .. })
        ));
        assert_eq!(schema_version(&conn).unwrap(), 1);
        let tokens_table: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'api_tokens'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            tokens_table, 0,
            "the failed migration was rolled back whole"
        );
    }
}
