"""Named schema migrations, applied in order, each recorded in the same transaction as its change."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_initial",
        """
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            source TEXT NOT NULL,          -- the hookd source that received it
            event_source TEXT,             -- the producer's own `source` field
            time TEXT NOT NULL,
            received_at REAL NOT NULL,
            body BLOB NOT NULL             -- the envelope as JSON
        );
        CREATE INDEX events_received_at ON events(received_at);

        -- Every index here costs on each status write (bench/), so: no index on updated_at, and
        -- WITHOUT ROWID so the id is the table's own key rather than a second b-tree.
        CREATE TABLE deliveries (
            id TEXT PRIMARY KEY,
            event_id TEXT NOT NULL,
            hook TEXT NOT NULL,
            state TEXT NOT NULL,           -- pending | delivering | delivered | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at REAL,                  -- when the next attempt is due (pending only)
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            last_status INTEGER,
            last_error TEXT,
            last_duration_s REAL,
            replay_of TEXT                 -- the delivery this one replays
        ) WITHOUT ROWID;
        CREATE INDEX deliveries_event ON deliveries(event_id);
        CREATE INDEX deliveries_due ON deliveries(hook, next_at, id) WHERE state = 'pending';
        CREATE INDEX deliveries_created ON deliveries(created_at);

        CREATE TABLE attempts (
            delivery_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            started_at REAL NOT NULL,
            duration_s REAL,
            status INTEGER,
            error TEXT,
            request TEXT,                  -- JSON: method, url, headers (redacted)
            response_headers TEXT,         -- JSON
            response_excerpt TEXT,
            outcome TEXT NOT NULL,         -- delivered | pending (retry) | failed
            next_at REAL,
            PRIMARY KEY (delivery_id, attempt)
        ) WITHOUT ROWID;

        CREATE TABLE rejected (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            position TEXT NOT NULL,
            reason TEXT NOT NULL,
            excerpt BLOB,
            at REAL NOT NULL
        );
        CREATE INDEX rejected_at ON rejected(at);

        CREATE TABLE checkpoints (
            source TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            device INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            "offset" INTEGER NOT NULL,
            line INTEGER NOT NULL,
            updated_at REAL NOT NULL
        );
        """,
    ),
    (
        "0002_checkpoint_fingerprint",
        # A hash of the line before the offset: a file truncated and written again past the offset
        # keeps its inode and size order, but not these bytes (hookd.sources.tail). NULL for
        # checkpoints written before: the next commit adds it.
        """
        ALTER TABLE checkpoints ADD COLUMN fingerprint TEXT;
        """,
    ),
    (
        "0003_attempt_redirect_hops",
        """
        -- JSON list of [url, status] per request of a followed redirect chain (redacted), the last being
        -- the final URL. NULL when the attempt followed no redirect.
        ALTER TABLE attempts ADD COLUMN hops TEXT;
        """,
    ),
    (
        "0004_hook_state",
        """
        -- Run-time state of a hook, by name (a renamed hook is a new hook): a pause and its cause, and
        -- the circuit breaker's state. Written on a change only (hookd hooks pause/resume, a receiver's
        -- 410, the breaker), read by the daemon at its poll and by `hookd hooks list` without it.
        CREATE TABLE hook_state (
            hook TEXT PRIMARY KEY,
            paused_by TEXT,                -- operator | receiver | disable_after, NULL: not paused
            paused_reason TEXT,
            paused_at REAL,
            breaker TEXT,                  -- open | half_open, NULL: closed (cleared at each daemon start)
            breaker_reason TEXT,
            breaker_since REAL,
            breaker_retry_at REAL,         -- open: when it probes with one delivery
            updated_at REAL NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        "0005_ordering_key",
        """
        -- A hook's ordering_key, evaluated on the event at ingest (NULL when the hook has none or the
        -- event gives null). Of the unfinished deliveries of one (hook, key), only the oldest has a due
        -- time: the others are pending with next_at NULL, waiting for the key, so the claim (the
        -- deliveries_due range on next_at) never sees them. When the head ends for good, the next gets one.
        ALTER TABLE deliveries ADD COLUMN ordering_key TEXT;
        -- Finds a key's head (next_at set) and its next waiting delivery (next_at NULL, oldest id first) in
        -- a range of this index, however long the key's queue. Rows without a key are not in it.
        CREATE INDEX deliveries_key ON deliveries(hook, ordering_key, next_at)
            WHERE ordering_key IS NOT NULL AND state IN ('pending', 'delivering')
        """,
    ),
    (
        "0006_batches",
        # A batched hook's deliveries go out several per request (hookd.batching). A batch is formed in
        # the transaction that first claims it and never changes after, so a retry, or a re-send after a
        # crash, carries the same deliveries under the same id. Its attempts are rows of `attempts` keyed
        # by the batch id (one per request); each member's own row keeps its state and last outcome.
        """
        CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            hook TEXT NOT NULL,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,   -- requests counted, as deliveries.attempts
            members INTEGER NOT NULL               -- deliveries when formed
        ) WITHOUT ROWID;
        ALTER TABLE deliveries ADD COLUMN batch_id TEXT;
        -- Partial: rows of hooks that do not batch are not in them (nothing more to write per delivery).
        CREATE INDEX deliveries_batch ON deliveries(batch_id) WHERE batch_id IS NOT NULL;
        CREATE INDEX deliveries_batch_due ON deliveries(hook, next_at) WHERE state = 'pending' AND batch_id IS NOT NULL;
        """,
    ),
    (
        "0007_delivery_destination",
        # A hook whose url host is templated keeps its gates (rate limit, breaker, a receiver's pause) per
        # destination host (hookd.destinations): the host each delivery goes to, rendered at ingest.
        """
        ALTER TABLE deliveries ADD COLUMN destination TEXT;
        -- A closed destination's deliveries are parked: next_at moved up by store.base.PARK_OFFSET_S, past any
        -- claim's range on deliveries_due, so a dead host's backlog is never read by a claim. Parking and
        -- unparking one destination are ranges of this index (rows of other hooks are not in it).
        CREATE INDEX deliveries_destination ON deliveries(hook, destination, next_at)
            WHERE destination IS NOT NULL AND state = 'pending';
        -- A destination paused by its receiver (410, webhook-delivery: disable) or by breaker.disable_after:
        -- run-time state like hook_state's pauses, kept until `hookd hooks resume`
        CREATE TABLE destination_state (
            hook TEXT NOT NULL,
            destination TEXT NOT NULL,
            paused_by TEXT NOT NULL,       -- receiver | disable_after
            paused_reason TEXT NOT NULL,
            paused_at REAL NOT NULL,
            PRIMARY KEY (hook, destination)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "0008_retry_due_index",
        """
        -- A hook's due retries (pending with an attempt made), in due order: the rate limit's
        -- retries-first claim and the dispatcher's next-retry time read a range of it instead of
        -- walking the hook's fresh backlog (attempts 0), however long. Partial, so a fresh delivery
        -- is never in it and ingest writes nothing more: a row enters when an attempt fails and it
        -- waits to retry, and leaves when claimed or finished.
        CREATE INDEX deliveries_retry_due ON deliveries(hook, next_at, id) WHERE state = 'pending' AND attempts > 0
        """,
    ),
    (
        "0009_pause_announced",
        # One migration for two hook_state columns sets (issue 21, new user's findings).
        """
        -- Whether hookd.hook.paused was raised for the pause: `hookd hooks pause` stores 0 (it cannot tell
        -- a stopped daemon), the daemon raises it when it reads the pause, at start too, then sets 1.
        -- Pauses stored before were told when they happened: 1.
        ALTER TABLE hook_state ADD COLUMN pause_announced INTEGER NOT NULL DEFAULT 1;
        -- When the hook's last successful and last failed attempt ended (hookd hooks list), written with
        -- each batch of outcomes, so listing reads no attempts. Filled once here from stored attempts.
        ALTER TABLE hook_state ADD COLUMN last_success_at REAL;
        ALTER TABLE hook_state ADD COLUMN last_failure_at REAL;
        INSERT INTO hook_state (hook, last_success_at, last_failure_at, updated_at)
            SELECT hook, max(CASE WHEN outcome = 'delivered' THEN ended END),
                   max(CASE WHEN outcome <> 'delivered' THEN ended END), max(ended)
            FROM (SELECT d.hook AS hook, a.outcome AS outcome, a.started_at + coalesce(a.duration_s, 0) AS ended
                  FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
                  UNION ALL
                  SELECT b.hook, a.outcome, a.started_at + coalesce(a.duration_s, 0)
                  FROM attempts a JOIN batches b ON b.id = a.delivery_id)
            WHERE true GROUP BY hook
            ON CONFLICT (hook) DO UPDATE SET last_success_at = excluded.last_success_at,
                last_failure_at = excluded.last_failure_at
        """,
    ),
    (
        "0010_batch_departures",
        # A batch answered 413 is split: its members leave it (batch_id cleared) to go again in smaller
        # batches. The requests that carried them stay in their history through this table, written only
        # at a split (rare): a row per member of every batch would cost the batched hot path a write each.
        """
        CREATE TABLE batch_departures (
            delivery_id TEXT NOT NULL,
            batch_id TEXT NOT NULL,
            PRIMARY KEY (delivery_id, batch_id)
        ) WITHOUT ROWID;
        CREATE INDEX batch_departures_batch ON batch_departures(batch_id);
        """,
    ),
    (
        "0011_destination_pause_announced",
        # Whether hookd.hook.paused was raised for a destination's pause: `hookd hooks pause --destination`
        # stores 0 (it cannot tell a stopped daemon), the daemon raises it when it reads the pause, at start
        # too, then sets 1 (as hook_state.pause_announced). Pauses stored before were told: 1.
        """
        ALTER TABLE destination_state ADD COLUMN pause_announced INTEGER NOT NULL DEFAULT 1;
        """,
    ),
    (
        "0012_inbound",
        # What an http source keeps beside an event (events.Inbound): the request with its credentials
        # removed (JSON), the body exactly as received, and the verification verdict (JSON). A table of
        # its own: events from sockets and files, nearly all of them, carry no empty columns, and a claim
        # finds an inbound event's row by the primary key. Rows go with their event.
        """
        CREATE TABLE inbound (
            event_id TEXT PRIMARY KEY,
            request BLOB NOT NULL,
            raw_body BLOB NOT NULL,
            verification BLOB
        ) WITHOUT ROWID;
        CREATE TRIGGER inbound_pruned AFTER DELETE ON events
            BEGIN DELETE FROM inbound WHERE event_id = old.id; END;
        """,
    ),
    (
        "0013_config_runs",
        # Which config the daemon routed with, from when: a row per start (and reload). `hookd why`
        # explains an event with the config of now and says so when the one that routed it differed,
        # at no cost per event.
        """
        CREATE TABLE config_runs (
            started_at REAL NOT NULL,
            sha256 TEXT NOT NULL,
            path TEXT NOT NULL
        );
        CREATE INDEX config_runs_started ON config_runs(started_at);
        """,
    ),
    (
        "0014_audit",
        # Operator actions (issue 24): replay, cancel, pause, resume, prune and reload, with when, what
        # and from where (`cli:USER`, or what asked the daemon to reload: SIGHUP, admin, watch). A row
        # names what was acted on and counts; never a secret or an event body. Read newest first by
        # `hookd history audit`; a handful of rows a day, so never pruned.
        """
        CREATE TABLE audit (
            at REAL NOT NULL,
            action TEXT NOT NULL,   -- replay | cancel | pause | resume | prune | reload
            target TEXT NOT NULL,   -- the hook, or the selection, with counts
            detail TEXT NOT NULL,   -- the reason given, or the outcome
            origin TEXT NOT NULL    -- cli:USER | SIGHUP | admin | watch
        );
        CREATE INDEX audit_at ON audit(at);
        """,
    ),
)
