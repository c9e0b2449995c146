/* The embedded store: SQLite in the data directory, in WAL mode, and a
 * write is on disk before the call returns (kill -9, or a power cut, loses
 * nothing acknowledged).
 *
 * Group commit: writers share one connection behind a recursive mutex and
 * one open SQLite transaction, the group. Each writer's unit of work (a
 * store_tx_begin .. commit, or one single write) is a savepoint inside it,
 * so a writer that fails rolls back only its own changes. The writer that
 * finds nobody queued behind it (or the group full or old) commits the
 * group: one COMMIT for everyone in it, and hands it to the syncer thread.
 * The syncer makes the log durable with one fdatasync, outside the mutex,
 * and then acknowledges each member with the result; while it syncs, the
 * next group forms, and the syncer commits that one when done. (SQLite
 * runs with synchronous=NORMAL: its COMMIT writes the log but does not sync
 * it; it still syncs the log before each checkpoint and the database
 * after.) Calls outside a transaction read through a second connection,
 * which sees committed data only, at most one fdatasync ahead of durable:
 * a power cut can take back a change that a read saw but that was never
 * acknowledged to its writer. */
#include "store/store.h"
#include "store/group.h"
#include "store/row.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/messages.h"
#include "util/array.h"
#include "util/log.h"

#define STMT_CACHE_MAX 64

struct cached_stmt {
        const char *sql; /* the key: the SQL text's address */
        sqlite3_stmt *stmt;
        bool busy; /* handed out by prepare, not yet finished */
};

struct stmt_cache {
        size_t n;
        struct cached_stmt e[STMT_CACHE_MAX];
};

/* ---- credentials found, in memory --------------------------------------------
 * Every request looks its credential up by hash. A token read from the read
 * connection (committed rows) is kept in a small table by hash, labelled
 * with the generation it was read at; a statement that deletes tokens bumps
 * the generation as it runs and again once its group has committed (or
 * failed), so an entry read before the deletion was visible is never used
 * after it. Only tokens found are kept: a wrong credential reads the store
 * every time. Entries are only a copy of the row; nothing here owns memory. */
#define TOKEN_MEMO_SLOTS 1024

struct token_memo {
        pthread_mutex_t mu;
        uint64_t gen;
        bool deleted; /* under the writers' mutex: the open group deleted tokens */
        struct {
                uint64_t gen; /* 0: empty (gen starts at 1) */
                struct idyl_token t;
        } slot[TOKEN_MEMO_SLOTS];
};

struct sqlite_store {
        struct idyl_store base;
        sqlite3 *db;              /* the writers' connection, under mu */
        sqlite3 *rdb;             /* reads outside a transaction, under rmu */
        pthread_mutex_t mu;       /* recursive; one writer holds it for its unit of work */
        pthread_mutex_t rmu;      /* the read connection */
        int tx_depth;             /* the holder's nesting of units of work */
        struct store_group group; /* writers whose units BEGIN on db holds */
        struct stmt_cache wcache; /* db's statements, under mu */
        struct stmt_cache rcache; /* rdb's statements, under rmu */
        /* disk space held back for when the disk fills (see reserve_take) */
        char reserve[PATH_MAX];
        atomic_bool reserve_held;
        struct token_memo tokens; /* credentials found, see token_memo_find */
        int wal_fd;               /* the log, which the syncer fdatasyncs */
        struct {
                pthread_t thread;
                bool running;
                pthread_mutex_t mu; /* guards pending and stop; taken inside s->mu */
                pthread_cond_t wake;
                struct group_member *pending; /* committed, not yet durable */
                bool stop;
                bool busy; /* handed a group and not done with it (under s->mu) */
        } sync;
};

/* A group whose COMMIT has run: handed to the syncer, or when it failed
 * told by group_settle once the committer has left mu. */
struct settling {
        struct group_member *members;
        int rc;
        struct idyl_err err;
};

/* ---- the disk reserve -------------------------------------------------------
 * With the disk full, SQLite cannot even delete (a delete writes to the
 * WAL too), so no space could be freed through the API. idyld keeps a
 * file of RESERVE_BYTES next to the database and gives it up the first
 * time a write fails for want of space: the deletes that follow have room.
 * It is taken again at the next start. */
#define RESERVE_BYTES (16u << 20)

static void reserve_take(struct sqlite_store *s, const char *dir)
{
        int fd, rc;

        if ((size_t)snprintf(s->reserve, sizeof(s->reserve), "%s/idyl.reserve", dir) >=
            sizeof(s->reserve))
                return;
        fd = open(s->reserve, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        rc = posix_fallocate(fd, 0, RESERVE_BYTES);
        close(fd);
        if (rc == 0)
                atomic_store(&s->reserve_held, true);
        else
                unlink(s->reserve); /* no room for it now: the next start tries again */
}

/* After a failed write: when the disk is full, frees the reserve once. */
static void reserve_on_failure(struct sqlite_store *s)
{
        int code = sqlite3_extended_errcode(s->db) & 0xff;

        if ((code != SQLITE_FULL && code != SQLITE_IOERR) ||
            !atomic_exchange(&s->reserve_held, false))
                return;
        if (unlink(s->reserve) == 0)
                log_warnx("store: the disk is full: released the %u MiB reserve \"%s\" so that "
                          "deletes can free space; free disk space and restart idyld to take it "
                          "again",
                          RESERVE_BYTES >> 20, s->reserve);
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('schema_version', 1);"
    "INSERT OR IGNORE INTO meta VALUES('next_subnet_slug', 100000000001);"
    "CREATE TABLE IF NOT EXISTS subnets("
    " slug INTEGER PRIMARY KEY,"
    " region TEXT NOT NULL,"
    " policy_set INTEGER NOT NULL,"
    " allowed_classes TEXT NOT NULL,"
    " default_class TEXT NOT NULL,"
    " allowed_backends TEXT NOT NULL,"
    " deploy_approval INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " allowed_devices TEXT," /* devicePolicy: comma-joined paths; NULL: no policy */
    " egress TEXT,"          /* networkPolicy: none | restricted | all; NULL: no policy */
    " egress_cidrs TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS workloads("
    " subnet INTEGER NOT NULL REFERENCES subnets(slug),"
    " name TEXT NOT NULL,"
    " revision INTEGER NOT NULL,"
    " spec TEXT NOT NULL,"
    " phase TEXT NOT NULL,"
    " isolation TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " node TEXT NOT NULL,"
    " runtime_profile TEXT NOT NULL,"
    " message TEXT NOT NULL,"
    " placement TEXT,"
    " restarts INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " platform TEXT NOT NULL,"
    " cpu_milli INTEGER NOT NULL,"
    " memory_bytes INTEGER NOT NULL,"
    " gpus INTEGER NOT NULL,"
    " devices TEXT NOT NULL DEFAULT '',"
    " ip TEXT NOT NULL DEFAULT ''," /* status.ip, as its node reports it */
    " PRIMARY KEY(subnet, name));"
    "CREATE TABLE IF NOT EXISTS events("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " subnet INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " revision INTEGER NOT NULL,"
    " time INTEGER NOT NULL,"
    " type TEXT NOT NULL,"
    " message TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_by_workload ON events(subnet, name, id);"
    "DROP INDEX IF EXISTS workloads_by_node;"
    "CREATE INDEX IF NOT EXISTS workloads_on_node ON workloads(subnet, node, isolation, name,"
    " cpu_milli, memory_bytes, gpus);"
    "CREATE TABLE IF NOT EXISTS nodes("
    " subnet INTEGER NOT NULL REFERENCES subnets(slug),"
    " name TEXT NOT NULL,"
    " admission TEXT NOT NULL,"
    " simulated INTEGER NOT NULL,"
    " profile TEXT NOT NULL,"
    " provider TEXT NOT NULL,"
    " handler TEXT NOT NULL,"
    " isolation TEXT NOT NULL,"
    " backend TEXT NOT NULL,"
    " runtime_ready INTEGER NOT NULL,"
    " reason TEXT NOT NULL,"
    " microvm_gpu INTEGER NOT NULL,"
    " platform TEXT NOT NULL,"
    " cpu_milli INTEGER NOT NULL,"
    " memory_bytes INTEGER NOT NULL,"
    " gpus INTEGER NOT NULL,"
    " last_heartbeat INTEGER NOT NULL,"
    " down INTEGER NOT NULL,"
    " assign_version INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " devices TEXT NOT NULL DEFAULT '',"
    " eligibility INTEGER NOT NULL DEFAULT 0," /* enum node_eligibility */
    " PRIMARY KEY(subnet, name));"
    "CREATE TABLE IF NOT EXISTS tokens("
    " hash TEXT PRIMARY KEY,"
    " role TEXT NOT NULL,"
    " subnet INTEGER NOT NULL,"
    " node TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time INTEGER NOT NULL,"
    " token TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " node TEXT NOT NULL,"
    " method TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " subnet INTEGER NOT NULL,"
    " status INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_by_subnet ON audit(subnet, id);"
    "CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS secrets("
    " subnet INTEGER NOT NULL REFERENCES subnets(slug),"
    " name TEXT NOT NULL,"
    " keys TEXT NOT NULL,"
    " sealed BLOB NOT NULL," /* nonce|ciphertext|tag: never a value in the clear */
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY(subnet, name));"
    /* the replica a node's agent is connected to (several replicas) */
    "CREATE TABLE IF NOT EXISTS node_replicas("
    " subnet INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " replica TEXT NOT NULL,"
    " PRIMARY KEY(subnet, name));";

/* The store whose unit of work this thread holds: its reads go through the
 * writers' connection and see its own changes. */
static _Thread_local struct sqlite_store *unit_holder;

static struct sqlite_store *to_sqlite(struct idyl_store *st)
{
        return (struct sqlite_store *)st;
}

static int db_error(sqlite3 *db, const char *what, struct idyl_err *err)
{
        return idyl_err_set(err, IDYL_E_STORE, "sqlite: %s: %s", what, sqlite3_errmsg(db));
}

static int exec(struct sqlite_store *s, const char *sql, struct idyl_err *err)
{
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                return db_error(s->db, sql, err);
        return 0;
}

static int prepare(struct sqlite_store *s, sqlite3 *db, const char *sql, sqlite3_stmt **stmt,
                   struct idyl_err *err);
static void finish(struct sqlite_store *s, sqlite3_stmt *stmt);

/* Runs one statement of the writers' connection through the statement
 * cache (the unit-of-work statements run for every write). */
static int run(struct sqlite_store *s, const char *sql, struct idyl_err *err)
{
        sqlite3_stmt *stmt;
        int rc;

        if (prepare(s, s->db, sql, &stmt, err) < 0)
                return -1;
        rc = sqlite3_step(stmt);
        finish(s, stmt);
        if (rc != SQLITE_DONE) {
                db_error(s->db, sql, err);
                reserve_on_failure(s);
                return -1;
        }
        return 0;
}

static size_t token_memo_slot(const char *hash)
{
        uint32_t h = 2166136261u;

        for (const char *p = hash; *p; p++)
                h = (h ^ (uint8_t)*p) * 16777619u;
        return h % TOKEN_MEMO_SLOTS;
}

static void token_memo_bump(struct token_memo *m)
{
        pthread_mutex_lock(&m->mu);
        m->gen++;
        pthread_mutex_unlock(&m->mu);
}

/* Writers' mutex held: tokens are about to be deleted in the open group. */
static void token_memo_deleting(struct token_memo *m)
{
        m->deleted = true;
        token_memo_bump(m);
}

/* 1 with *out when a current entry holds hash, else 0 with *gen the
 * generation a read that follows must be labelled with. */
static int token_memo_find(struct token_memo *m, const char *hash, struct idyl_token *out,
                           uint64_t *gen)
{
        size_t i = token_memo_slot(hash);
        int found = 0;

        pthread_mutex_lock(&m->mu);
        *gen = m->gen;
        if (m->slot[i].gen == m->gen && strcmp(m->slot[i].t.hash, hash) == 0) {
                *out = m->slot[i].t;
                found = 1;
        }
        pthread_mutex_unlock(&m->mu);
        return found;
}

static void token_memo_keep(struct token_memo *m, const struct idyl_token *t, uint64_t gen)
{
        size_t i = token_memo_slot(t->hash);

        pthread_mutex_lock(&m->mu);
        if (gen == m->gen) {
                m->slot[i].gen = gen;
                m->slot[i].t = *t;
        }
        pthread_mutex_unlock(&m->mu);
}

/* ---- group commit ---------------------------------------------------------- */

/* COMMITs the group and takes its members into *out (mu held). */
static void commit_take(struct sqlite_store *s, struct settling *out)
{
        *out = (struct settling){.members = NULL, .rc = 0, .err = IDYL_ERR_INIT};
        if (s->group.open) {
                out->rc = run(s, "COMMIT", &out->err);
                if (out->rc < 0)
                        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        }
        if (s->tokens.deleted) {
                s->tokens.deleted = false;
                token_memo_bump(&s->tokens);
        }
        out->members = store_group_take(&s->group);
}

/* Hands a committed group to the syncer (mu held); one that failed stays
 * in *g, for group_settle to tell its members. */
static void to_syncer(struct sqlite_store *s, struct settling *g)
{
        struct group_member *tail = g->members;

        if (g->rc < 0 || !tail)
                return;
        while (tail->next)
                tail = tail->next;
        pthread_mutex_lock(&s->sync.mu);
        tail->next = s->sync.pending;
        s->sync.pending = g->members;
        pthread_cond_signal(&s->sync.wake);
        pthread_mutex_unlock(&s->sync.mu);
        s->sync.busy = true;
        g->members = NULL;
}

/* Commits the group and hands it to the syncer (mu held). */
static void group_commit(struct sqlite_store *s, struct settling *out)
{
        commit_take(s, out);
        to_syncer(s, out);
}

/* Called by a writer leaving mu: commits unless another writer is about to
 * join the group, which is then its to commit, or the syncer is busy and
 * commits it when done (mu held). */
static void group_maybe_commit(struct sqlite_store *s, struct settling *out)
{
        *out = (struct settling){.members = NULL, .rc = 0, .err = IDYL_ERR_INIT};
        if (store_group_due(&s->group, s->sync.busy))
                group_commit(s, out);
}

/* Outside mu: tells the members of a group whose COMMIT failed. */
static void group_settle(struct sqlite_store *s, struct settling *g)
{
        if (g->members)
                store_group_ack_members(&s->group, g->members, g->rc, &g->err);
}

/* The syncer: one fdatasync of the log makes every group committed before
 * it durable, and then their members are told. While it syncs, the next
 * group forms under mu; when done, it commits that group itself when it
 * has members, or else lets writers commit again. */
static void *syncer_main(void *arg)
{
        struct sqlite_store *s = arg;
        struct group_member *members;
        struct settling next;
        struct idyl_err err;
        int rc;

        pthread_mutex_lock(&s->sync.mu);
        for (;;) {
                while (!s->sync.pending && !s->sync.stop)
                        pthread_cond_wait(&s->sync.wake, &s->sync.mu);
                if (!s->sync.pending)
                        break;
                members = s->sync.pending;
                s->sync.pending = NULL;
                pthread_mutex_unlock(&s->sync.mu);
                err = (struct idyl_err)IDYL_ERR_INIT;
                rc = fdatasync(s->wal_fd) < 0 ? idyl_err_errno(&err, errno, "sqlite: sync the log")
                                              : 0;
                store_group_ack_members(&s->group, members, rc, &err);
                pthread_mutex_lock(&s->mu);
                s->sync.busy = false;
                if (s->group.open)
                        group_commit(s, &next);
                else
                        next.members = NULL;
                pthread_mutex_unlock(&s->mu);
                group_settle(s, &next);
                pthread_mutex_lock(&s->sync.mu);
        }
        pthread_mutex_unlock(&s->sync.mu);
        return NULL;
}

static int syncer_start(struct sqlite_store *s, struct idyl_err *err)
{
        int rc = pthread_create(&s->sync.thread, NULL, syncer_main, s);

        if (rc != 0)
                return idyl_err_errno(err, rc, "start the store's syncer");
        s->sync.running = true;
        return 0;
}

/* Lets the syncer finish what it was handed, and stops it. */
static void syncer_stop(struct sqlite_store *s)
{
        if (!s->sync.running)
                return;
        pthread_mutex_lock(&s->sync.mu);
        s->sync.stop = true;
        pthread_cond_signal(&s->sync.wake);
        pthread_mutex_unlock(&s->sync.mu);
        pthread_join(s->sync.thread, NULL);
        s->sync.running = false;
}

/* Starts a unit of work (a transaction, or one write outside any): takes
 * mu, opens the group when none is, and a savepoint for this writer. A unit
 * begun inside another only nests. Pair with unit_end. */
static int unit_begin(struct sqlite_store *s, struct idyl_err *err)
{
        struct settling done;

        if (unit_holder == s) {
                pthread_mutex_lock(&s->mu);
                s->tx_depth++;
                return 0;
        }
        store_group_enter(&s->group, &s->mu);
        if (!s->group.open) {
                if (run(s, "BEGIN IMMEDIATE", err) < 0)
                        goto fail;
                store_group_opened(&s->group);
        }
        if (run(s, "SAVEPOINT unit", err) < 0)
                goto fail;
        s->tx_depth = 1;
        unit_holder = s;
        return 0;
fail:
        group_maybe_commit(s, &done);
        pthread_mutex_unlock(&s->mu);
        group_settle(s, &done);
        return -1;
}

/* Undoes this writer's savepoint only. When SQLite has rolled back the
 * whole group instead (an I/O error, a full disk), nobody in it is durable:
 * every member fails. */
static void unit_rollback(struct sqlite_store *s)
{
        struct idyl_err err = IDYL_ERR_INIT;

        sqlite3_exec(s->db, "ROLLBACK TO unit", NULL, NULL, NULL);
        sqlite3_exec(s->db, "RELEASE unit", NULL, NULL, NULL);
        if (s->group.open && sqlite3_get_autocommit(s->db)) {
                idyl_err_set(&err, IDYL_E_STORE, "sqlite: the group transaction was rolled back");
                store_group_ack(&s->group, -1, &err);
        }
}

static int insert_audit(struct sqlite_store *s, const struct idyl_audit *a, struct idyl_err *err);

/* Ends a unit begun by unit_begin: rc == 0 releases its savepoint into the
 * group and returns once the group's COMMIT is durable (or failed, then with
 * that error); rc < 0 rolls back this unit only and returns -1. A unit that
 * commits carries this thread's pending audit record (store_audit_pend). */
static int unit_end(struct sqlite_store *s, int rc, struct idyl_err *err)
{
        struct store_audit_pending *audit = NULL;
        struct group_member me = {.rc = 0};
        struct settling done;

        if (--s->tx_depth > 0) {
                pthread_mutex_unlock(&s->mu);
                return rc;
        }
        unit_holder = NULL;
        if (rc == 0 && (audit = store_audit_pending(&s->base)))
                rc = insert_audit(s, &audit->rec, err);
        if (rc == 0 && run(s, "RELEASE unit", err) < 0)
                rc = -1;
        if (rc < 0) {
                unit_rollback(s);
        } else {
                store_group_join(&s->group, &me);
        }
        group_maybe_commit(s, &done);
        pthread_mutex_unlock(&s->mu);
        group_settle(s, &done);
        return store_group_finish(&s->group, rc < 0 ? NULL : &me, audit, err);
}

/* A single write outside a transaction is a unit of its own: opens it on
 * st and returns the store, or NULL with err set. Pair a store returned
 * with write_end(), which takes the write's result. */
static struct sqlite_store *write_open(struct idyl_store *st, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);

        return unit_begin(s, err) < 0 ? NULL : s;
}

static int write_end(struct sqlite_store *s, int rc, struct idyl_err *err)
{
        return unit_end(s, rc, err);
}

/* The connection a read uses: the writers' one inside this thread's unit
 * (to see its own changes), else the read connection. Pair with
 * read_unlock. */
static sqlite3 *read_lock(struct sqlite_store *s)
{
        if (unit_holder == s) {
                pthread_mutex_lock(&s->mu);
                return s->db;
        }
        pthread_mutex_lock(&s->rmu);
        return s->rdb;
}

static void read_unlock(struct sqlite_store *s, sqlite3 *db)
{
        pthread_mutex_unlock(db == s->db ? &s->mu : &s->rmu);
}

/* Prepared statements are kept per connection and reused: parsing SQL
 * cost more than running it. Keyed by the SQL text's address (every
 * statement is a literal or a static table entry); a statement in use is
 * prepared afresh for a nested caller and finalized after. */
static struct stmt_cache *cache_of(struct sqlite_store *s, sqlite3 *db)
{
        return db == s->db ? &s->wcache : &s->rcache;
}

static int prepare(struct sqlite_store *s, sqlite3 *db, const char *sql, sqlite3_stmt **stmt,
                   struct idyl_err *err)
{
        struct stmt_cache *c = cache_of(s, db);

        for (size_t i = 0; i < c->n; i++)
                if (c->e[i].sql == sql && !c->e[i].busy) {
                        c->e[i].busy = true;
                        *stmt = c->e[i].stmt;
                        return 0;
                }
        if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK)
                return db_error(db, "prepare", err);
        if (c->n < STMT_CACHE_MAX)
                c->e[c->n++] = (struct cached_stmt){.sql = sql, .stmt = *stmt, .busy = true};
        return 0;
}

/* Done with a statement from prepare: reset for the next caller (so no
 * read stays open), or finalized when it was not cached. */
static void finish(struct sqlite_store *s, sqlite3_stmt *stmt)
{
        struct stmt_cache *c = cache_of(s, sqlite3_db_handle(stmt));

        for (size_t i = 0; i < c->n; i++)
                if (c->e[i].stmt == stmt) {
                        sqlite3_reset(stmt);
                        sqlite3_clear_bindings(stmt);
                        c->e[i].busy = false;
                        return;
                }
        sqlite3_finalize(stmt);
}

static void cache_free(struct stmt_cache *c)
{
        for (size_t i = 0; i < c->n; i++)
                sqlite3_finalize(c->e[i].stmt);
        c->n = 0;
}

/* Runs a statement that returns no rows; finalizes it. */
static int step_done(struct sqlite_store *s, sqlite3_stmt *stmt, struct idyl_err *err)
{
        int rc = sqlite3_step(stmt);

        finish(s, stmt);
        if (rc != SQLITE_DONE) {
                db_error(s->db, "step", err);
                reserve_on_failure(s);
                return -1;
        }
        return 0;
}

static void sqlite_close(struct idyl_store *st)
{
        struct sqlite_store *s = to_sqlite(st);
        struct settling done;

        pthread_mutex_lock(&s->mu);
        group_commit(s, &done);
        pthread_mutex_unlock(&s->mu);
        group_settle(s, &done);
        syncer_stop(s);
        cache_free(&s->rcache);
        cache_free(&s->wcache);
        sqlite3_close(s->rdb);
        sqlite3_close(s->db);
        if (s->wal_fd >= 0)
                close(s->wal_fd);
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->rmu);
        pthread_mutex_destroy(&s->tokens.mu);
        pthread_mutex_destroy(&s->sync.mu);
        pthread_cond_destroy(&s->sync.wake);
        store_group_destroy(&s->group);
        free(s);
}

static int sqlite_tx_begin(struct idyl_store *st, struct idyl_err *err)
{
        return unit_begin(to_sqlite(st), err);
}

static int sqlite_tx_commit(struct idyl_store *st, struct idyl_err *err)
{
        return unit_end(to_sqlite(st), 0, err);
}

static void sqlite_tx_rollback(struct idyl_store *st)
{
        unit_end(to_sqlite(st), -1, NULL);
}

/* ---- reads ----------------------------------------------------------------- */

/* Locks the connection a read uses (read_lock) and prepares `sql` on it.
 * Returns the statement with *db set, or NULL with err set and the lock
 * released. read_rows() and read_row() finish a statement returned and
 * release the lock; other callers finish() and read_unlock() it themselves. */
static sqlite3_stmt *read_prepare(struct sqlite_store *s, const char *sql, sqlite3 **db,
                                  struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        *db = read_lock(s);
        if (prepare(s, *db, sql, &stmt, err) < 0) {
                read_unlock(s, *db);
                return NULL;
        }
        return stmt;
}

/* Binds the key most statements are looked up by: the subnet as ?1 and,
 * when not NULL, the name as ?2. */
static void bind_key(sqlite3_stmt *stmt, uint64_t subnet, const char *name)
{
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)subnet);
        if (name)
                sqlite3_bind_text(stmt, 2, name, -1, SQLITE_TRANSIENT);
}

/* Steps a statement from read_prepare() once. Returns 1 with the row read
 * into item by `read`, 0 when there is no row, or -1 with err set (`what`
 * names the read). Finishes the statement and releases the lock. */
static int read_row(struct sqlite_store *s, sqlite3 *db, sqlite3_stmt *stmt,
                    void (*read)(sqlite3_stmt *stmt, void *item), void *item, const char *what,
                    struct idyl_err *err)
{
        int step = sqlite3_step(stmt), rc = 1;

        if (step == SQLITE_ROW)
                read(stmt, item);
        else if (step == SQLITE_DONE)
                rc = 0;
        else
                rc = db_error(db, what, err);
        finish(s, stmt);
        read_unlock(s, db);
        return rc;
}

/* ---- subnets ----------------------------------------------------------- */

/* ---- rows: the shared codec (row.h) over a statement ------------------------ */

static const char *stmt_text(const struct store_row *r, int col)
{
        return (const char *)sqlite3_column_text((sqlite3_stmt *)r->result, col);
}

static int64_t stmt_integer(const struct store_row *r, int col)
{
        return sqlite3_column_int64((sqlite3_stmt *)r->result, col);
}

/* The current row of stmt, for the store_*_read functions. */
static struct store_row row_of(sqlite3_stmt *stmt)
{
        return (struct store_row){stmt_text, stmt_integer, stmt, 0};
}

static void bind_next_text(struct store_params *p, const char *v)
{
        if (v)
                sqlite3_bind_text(p->target, p->next++, v, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(p->target, p->next++);
}

static void bind_next_integer(struct store_params *p, int64_t v)
{
        sqlite3_bind_int64(p->target, p->next++, (sqlite3_int64)v);
}

/* Parameters of stmt from ?1 on, for the store_*_write functions. */
static struct store_params params_of(sqlite3_stmt *stmt)
{
        return (struct store_params){bind_next_text, bind_next_integer, stmt, 1};
}

#define SUBNET_COLUMNS                                                                             \
        "slug, region, policy_set, allowed_classes, default_class, allowed_backends, "             \
        "deploy_approval, created_at, allowed_devices, egress, egress_cidrs"

static void subnet_from_row(sqlite3_stmt *stmt, void *item)
{
        struct store_row r = row_of(stmt);

        store_subnet_read(&r, item);
}

/* Binds every column; parameter 1 is the slug, the rest follow SUBNET_COLUMNS. */
static void subnet_bind(sqlite3_stmt *stmt, const struct idyl_subnet *sn)
{
        struct store_params p = params_of(stmt);
        char classes[64], backends[64];

        store_subnet_write(&p, sn, classes, backends, sizeof(classes));
}

static int next_slug(struct sqlite_store *s, uint64_t *slug, struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (prepare(s, s->db,
                    "UPDATE meta SET value = value + 1 WHERE key = 'next_subnet_slug' "
                    "RETURNING value - 1",
                    &stmt, err) < 0)
                return -1;
        if (sqlite3_step(stmt) != SQLITE_ROW) {
                finish(s, stmt);
                return db_error(s->db, "next slug", err);
        }
        *slug = (uint64_t)sqlite3_column_int64(stmt, 0);
        finish(s, stmt);
        return 0;
}

static int insert_subnet(struct sqlite_store *s, struct idyl_subnet *sn, struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (next_slug(s, &sn->slug, err) < 0)
                return -1;
        if (sn->created_at == 0)
                sn->created_at = (int64_t)time(NULL);
        if (prepare(s, s->db,
                    "INSERT INTO subnets(" SUBNET_COLUMNS ") VALUES(?,?,?,?,?,?,?,?,?,?,?)", &stmt,
                    err) < 0)
                return -1;
        subnet_bind(stmt, sn);
        return step_done(s, stmt, err);
}

static int sqlite_subnet_create(struct idyl_store *st, struct idyl_subnet *sn, struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, insert_subnet(s, sn, err), err) : -1;
}

static int sqlite_subnet_get(struct idyl_store *st, uint64_t slug, struct idyl_subnet *out,
                             struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        char buf[SUBNET_SLUG_BUFLEN];
        sqlite3 *db;
        sqlite3_stmt *stmt =
            read_prepare(s, "SELECT " SUBNET_COLUMNS " FROM subnets WHERE slug = ?1", &db, err);
        int rc;

        if (!stmt)
                return -1;
        bind_key(stmt, slug, NULL);
        rc = read_row(s, db, stmt, subnet_from_row, out, "get subnet", err);
        if (rc == 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "subnet \"%s\" not found",
                                    subnet_slug_format(slug, buf));
        return rc < 0 ? -1 : 0;
}

/* ---- lists ----------------------------------------------------------------- */

/* One list query's rows: how big an item is and how a row becomes one. */
struct row_reader {
        const char *what; /* "list subnets", for errors */
        size_t size;      /* bytes per item */
        void (*read)(sqlite3_stmt *stmt, void *item);
        void (*release)(void *items, size_t n); /* frees the array and what items own */
};

static void release_workloads(void *items, size_t n)
{
        workload_list_free(items, n);
}

/* The one row loop of the list functions: steps `stmt` (prepared and bound
 * by the caller; finalized here) to its end, reading each row into a
 * growing array. Returns 0 with the malloc'd array in *(void **)out and its
 * length in *n (NULL and 0 for no rows), or -1 with err set and nothing
 * handed over. The caller holds db's mutex. */
static int query_rows(struct sqlite_store *s, sqlite3 *db, sqlite3_stmt *stmt,
                      const struct row_reader *r, void *out, size_t *n, struct idyl_err *err)
{
        char *items = NULL;
        size_t count = 0, cap = 0;
        int rc = -1, step;

        while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
                if (array_reserve(&items, &cap, count + 1, r->size) < 0) {
                        idyl_err_errno(err, ENOMEM, "%s", r->what);
                        goto out;
                }
                r->read(stmt, items + count * r->size);
                count++;
        }
        if (step != SQLITE_DONE) {
                db_error(db, r->what, err);
                goto out;
        }
        *(void **)out = items;
        *n = count;
        items = NULL;
        count = 0;
        rc = 0;
out:
        if (r->release)
                r->release(items, count);
        else
                free(items);
        finish(s, stmt);
        return rc;
}

/* query_rows() on a statement from read_prepare(), then the lock released. */
static int read_rows(struct sqlite_store *s, sqlite3 *db, sqlite3_stmt *stmt,
                     const struct row_reader *r, void *out, size_t *n, struct idyl_err *err)
{
        int rc = query_rows(s, db, stmt, r, out, n, err);

        read_unlock(s, db);
        return rc;
}

static const struct row_reader subnet_rows = {"list subnets", sizeof(struct idyl_subnet),
                                              subnet_from_row, NULL};

static int sqlite_subnet_list(struct idyl_store *st, struct idyl_subnet **out, size_t *n,
                              struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt =
            read_prepare(s, "SELECT " SUBNET_COLUMNS " FROM subnets ORDER BY slug", &db, err);

        return stmt ? read_rows(s, db, stmt, &subnet_rows, out, n, err) : -1;
}

/* The rows of a page query (bound by the caller; limit + 1 goes to
 * `limit_param`, so the caller's store_page_trim sees whether more follow). */
static int query_page(struct sqlite_store *s, sqlite3 *db, sqlite3_stmt *stmt, int limit_param,
                      const struct store_page *pg, const struct row_reader *r, void *out, size_t *n,
                      struct idyl_err *err)
{
        sqlite3_bind_int64(stmt, limit_param, (sqlite3_int64)pg->limit + 1);
        return query_rows(s, db, stmt, r, out, n, err);
}

static int sqlite_subnet_page(struct idyl_store *st, struct store_page *pg,
                              struct idyl_subnet **out, size_t *n, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3_stmt *stmt;
        uint64_t after = 0;
        int rc = -1;

        if (store_page_check(pg, NULL, err) < 0 ||
            (pg->after[0] && subnet_slug_parse(pg->after, &after, NULL) < 0))
                return idyl_err_set(err, IDYL_E_INVALID, "invalid page key \"%.80s\"", pg->after);
        sqlite3 *db = read_lock(s);
        if (prepare(s, db,
                    "SELECT " SUBNET_COLUMNS " FROM subnets WHERE slug > ?1 ORDER BY slug LIMIT ?2",
                    &stmt, err) == 0) {
                sqlite3_bind_int64(stmt, 1, (sqlite3_int64)after);
                rc = query_page(s, db, stmt, 2, pg, &subnet_rows, out, n, err);
        }
        read_unlock(s, db);
        pg->next[0] = '\0';
        if (rc == 0 && store_page_trim(pg, *out, sizeof(**out), n, NULL))
                subnet_slug_format((*out)[*n - 1].slug, pg->next);
        return rc;
}

/* A page of the rows of one subnet keyed by name (`sql` binds subnet ?1,
 * the name after ?2, the limit ?3), pg->next set. */
static int name_page(struct idyl_store *st, const char *sql, uint64_t subnet, struct store_page *pg,
                     const struct store_named_items *k, const struct row_reader *r, void *out,
                     size_t *n, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3_stmt *stmt;
        int rc = -1;

        pg->next[0] = '\0';
        if (store_page_check(pg, k->check, err) < 0)
                return -1;
        sqlite3 *db = read_lock(s);
        if (prepare(s, db, sql, &stmt, err) == 0) {
                sqlite3_bind_int64(stmt, 1, (sqlite3_int64)subnet);
                sqlite3_bind_text(stmt, 2, pg->after, -1, SQLITE_TRANSIENT);
                rc = query_page(s, db, stmt, 3, pg, r, out, n, err);
        }
        read_unlock(s, db);
        if (rc == 0)
                store_page_end_named(pg, k, *(void **)out, n);
        return rc;
}

static int changed_or_not_found(struct sqlite_store *s, uint64_t slug, struct idyl_err *err)
{
        char buf[SUBNET_SLUG_BUFLEN];

        if (sqlite3_changes(s->db) == 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "subnet \"%s\" not found",
                                    subnet_slug_format(slug, buf));
        return 0;
}

static int update_subnet(struct sqlite_store *s, const struct idyl_subnet *sn, struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (prepare(s, s->db,
                    "UPDATE subnets SET region = ?2, policy_set = ?3, allowed_classes = ?4, "
                    "default_class = ?5, allowed_backends = ?6, deploy_approval = ?7, "
                    "allowed_devices = ?9, egress = ?10, egress_cidrs = ?11 "
                    "WHERE slug = ?1",
                    &stmt, err) < 0)
                return -1;
        subnet_bind(stmt, sn);
        if (step_done(s, stmt, err) < 0)
                return -1;
        return changed_or_not_found(s, sn->slug, err);
}

static int sqlite_subnet_update(struct idyl_store *st, const struct idyl_subnet *sn,
                                struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, update_subnet(s, sn, err), err) : -1;
}

static int delete_subnet(struct sqlite_store *s, uint64_t slug, struct idyl_err *err)
{
        static const char *const owned[] = {
            /* credentials scoped to it stop working with it, and its secrets go */
            "DELETE FROM tokens WHERE subnet = ?",
            "DELETE FROM secrets WHERE subnet = ?",
        };
        sqlite3_stmt *stmt;

        token_memo_deleting(&s->tokens);
        for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
                if (prepare(s, s->db, owned[i], &stmt, err) < 0)
                        return -1;
                sqlite3_bind_int64(stmt, 1, (sqlite3_int64)slug);
                if (step_done(s, stmt, err) < 0)
                        return -1;
        }
        if (prepare(s, s->db, "DELETE FROM subnets WHERE slug = ?", &stmt, err) < 0)
                return -1;
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)slug);
        if (step_done(s, stmt, err) < 0)
                return -1;
        return changed_or_not_found(s, slug, err);
}

static int sqlite_subnet_delete(struct idyl_store *st, uint64_t slug, struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, delete_subnet(s, slug, err), err) : -1;
}

/* ---- workloads ---------------------------------------------------------- */

#define WORKLOAD_COLUMNS                                                                           \
        "subnet, name, revision, spec, phase, isolation, source, node, runtime_profile, message, " \
        "placement, restarts, created_at, updated_at, platform, cpu_milli, memory_bytes, gpus, "   \
        "devices, ip"

static char *column_strdup(sqlite3_stmt *stmt, int col)
{
        const unsigned char *t = sqlite3_column_text(stmt, col);

        return t ? strdup((const char *)t) : NULL;
}

/* Copies a text column into buf, cut to size - 1 bytes (a memcpy: row
 * reading ran through snprintf for every column). */
static void column_copy(sqlite3_stmt *stmt, int col, char *buf, size_t size)
{
        const unsigned char *t = sqlite3_column_text(stmt, col);
        size_t len = t ? (size_t)sqlite3_column_bytes(stmt, col) : 0;

        if (len >= size)
                len = size - 1;
        if (len)
                memcpy(buf, t, len);
        buf[len] = '\0';
}

static void workload_from_row(sqlite3_stmt *stmt, void *item)
{
        struct store_row r = row_of(stmt);

        /* out of memory leaves spec or placement NULL, which readers take as empty */
        (void)store_workload_read(&r, item);
}

static void workload_bind(sqlite3_stmt *stmt, const struct idyl_workload *w)
{
        struct store_params p = params_of(stmt);

        store_workload_write(&p, w);
}

static int workload_not_found(uint64_t subnet, const char *name, struct idyl_err *err)
{
        char buf[SUBNET_SLUG_BUFLEN];

        return idyl_err_set(err, IDYL_E_NOT_FOUND, "workload \"%s\" not found in subnet \"%s\"",
                            name, subnet_slug_format(subnet, buf));
}

static int sqlite_workload_get(struct idyl_store *st, uint64_t subnet, const char *name,
                               struct idyl_workload *out, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt = read_prepare(
            s, "SELECT " WORKLOAD_COLUMNS " FROM workloads WHERE subnet = ?1 AND name = ?2", &db,
            err);
        int rc;

        if (!stmt)
                return -1;
        bind_key(stmt, subnet, name);
        rc = read_row(s, db, stmt, workload_from_row, out, "get workload", err);
        return rc == 0 ? workload_not_found(subnet, name, err) : rc < 0 ? -1 : 0;
}

static const struct row_reader workload_rows = {"list workloads", sizeof(struct idyl_workload),
                                                workload_from_row, release_workloads};

/* One statement per filter, so each uses its index: [subnet given][node given]. */
/* One node's workloads (or the waiting ones, node ""), by the node index:
 * without statistics SQLite walks the subnet's whole primary key instead,
 * to save sorting a few rows, and every pass and assignment answer then read
 * every workload of the subnet. */
static const char *const workload_list_sql[2][2] = {
    {"SELECT " WORKLOAD_COLUMNS " FROM workloads ORDER BY subnet, name",
     "SELECT " WORKLOAD_COLUMNS " FROM workloads WHERE node = ?2 ORDER BY subnet, name"},
    {"SELECT " WORKLOAD_COLUMNS " FROM workloads WHERE subnet = ?1 ORDER BY name",
     "SELECT " WORKLOAD_COLUMNS " FROM workloads INDEXED BY workloads_on_node"
     " WHERE subnet = ?1 AND node = ?2 ORDER BY name"},
};

static int sqlite_workload_list(struct idyl_store *st, uint64_t subnet, const char *node,
                                struct idyl_workload **out, size_t *n, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt =
            read_prepare(s, workload_list_sql[subnet != 0][node != NULL], &db, err);

        if (!stmt)
                return -1;
        if (subnet)
                sqlite3_bind_int64(stmt, 1, (sqlite3_int64)subnet);
        if (node)
                sqlite3_bind_text(stmt, 2, node, -1, SQLITE_TRANSIENT);
        return read_rows(s, db, stmt, &workload_rows, out, n, err);
}

static int sqlite_workload_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                                struct idyl_workload **out, size_t *n, struct idyl_err *err)
{
        return name_page(st,
                         "SELECT " WORKLOAD_COLUMNS
                         " FROM workloads WHERE subnet = ?1 AND name > ?2 "
                         "ORDER BY name LIMIT ?3",
                         subnet, pg, &store_workload_names, &workload_rows, out, n, err);
}

static void usage_from_row(sqlite3_stmt *stmt, void *item)
{
        struct store_row r = row_of(stmt);

        store_usage_read(&r, item);
}

static const struct row_reader usage_rows = {"sum node usage", sizeof(struct idyl_node_usage),
                                             usage_from_row, NULL};

static int sqlite_workload_usage(struct idyl_store *st, uint64_t subnet,
                                 struct idyl_node_usage **out, size_t *n, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt =
            read_prepare(s,
                         "SELECT node, isolation, SUM(cpu_milli), SUM(memory_bytes), SUM(gpus), "
                         "COUNT(*) FROM workloads WHERE subnet = ?1 AND node > '' "
                         "GROUP BY node, isolation ORDER BY node, isolation",
                         &db, err);

        if (!stmt)
                return -1;
        bind_key(stmt, subnet, NULL);
        return read_rows(s, db, stmt, &usage_rows, out, n, err);
}

static int put_workload(struct sqlite_store *s, const struct idyl_workload *w, struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (prepare(s, s->db,
                    "INSERT OR REPLACE INTO workloads(" WORKLOAD_COLUMNS
                    ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    &stmt, err) < 0)
                return -1;
        workload_bind(stmt, w);
        return step_done(s, stmt, err);
}

static int sqlite_workload_put(struct idyl_store *st, const struct idyl_workload *w,
                               struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, put_workload(s, w, err), err) : -1;
}

/* Runs n deletes keyed by (subnet, name): dependents first, then the row
 * itself. Returns 1 when the row existed, 0 when not, -1 on error. */
static int delete_keyed(struct sqlite_store *s, const char *const sql[], size_t n, uint64_t subnet,
                        const char *name, struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        for (size_t i = 0; i < n; i++) {
                if (prepare(s, s->db, sql[i], &stmt, err) < 0)
                        return -1;
                bind_key(stmt, subnet, name);
                if (step_done(s, stmt, err) < 0)
                        return -1;
        }
        return sqlite3_changes(s->db) > 0;
}

static int delete_workload(struct sqlite_store *s, uint64_t subnet, const char *name,
                           struct idyl_err *err)
{
        static const char *const sql[] = {"DELETE FROM events WHERE subnet = ? AND name = ?",
                                          "DELETE FROM workloads WHERE subnet = ? AND name = ?"};
        int rc = delete_keyed(s, sql, 2, subnet, name, err);

        return rc == 0 ? workload_not_found(subnet, name, err) : rc < 0 ? -1 : 0;
}

static int sqlite_workload_delete(struct idyl_store *st, uint64_t subnet, const char *name,
                                  struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, delete_workload(s, subnet, name, err), err) : -1;
}

static int insert_event(struct sqlite_store *s, uint64_t subnet, const char *name,
                        const struct idyl_event *ev, struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (prepare(s, s->db,
                    "INSERT INTO events(subnet, name, revision, time, type, message) "
                    "VALUES(?,?,?,?,?,?)",
                    &stmt, err) < 0)
                return -1;
        bind_key(stmt, subnet, name);
        sqlite3_bind_int64(stmt, 3, ev->revision);
        sqlite3_bind_int64(stmt, 4, ev->time ? ev->time : (int64_t)time(NULL));
        sqlite3_bind_text(stmt, 5, ev->type, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 6, ev->message, -1, SQLITE_TRANSIENT);
        return step_done(s, stmt, err);
}

static int sqlite_event_add(struct idyl_store *st, uint64_t subnet, const char *name,
                            const struct idyl_event *ev, struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, insert_event(s, subnet, name, ev, err), err) : -1;
}

static void event_from_row(sqlite3_stmt *stmt, void *item)
{
        struct store_row r = row_of(stmt);

        store_event_read(&r, item);
}

static const struct row_reader event_rows = {"list events", sizeof(struct idyl_event),
                                             event_from_row, NULL};

static int sqlite_event_list(struct idyl_store *st, uint64_t subnet, const char *name,
                             struct idyl_event **out, size_t *n, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt = read_prepare(s,
                                          "SELECT time, revision, type, message FROM events "
                                          "WHERE subnet = ?1 AND name = ?2 ORDER BY id",
                                          &db, err);

        if (!stmt)
                return -1;
        bind_key(stmt, subnet, name);
        return read_rows(s, db, stmt, &event_rows, out, n, err);
}

/* ---- nodes ---------------------------------------------------------------- */

#define NODE_COLUMNS                                                                               \
        "subnet, name, admission, simulated, profile, provider, handler, isolation, backend, "     \
        "runtime_ready, reason, microvm_gpu, platform, cpu_milli, memory_bytes, gpus, "            \
        "last_heartbeat, down, assign_version, created_at, devices, eligibility"

static void node_from_row(sqlite3_stmt *stmt, void *item)
{
        struct store_row r = row_of(stmt);

        store_node_read(&r, item);
}

static void node_bind(sqlite3_stmt *stmt, const struct idyl_node *nd)
{
        struct store_params p = params_of(stmt);

        store_node_write(&p, nd);
}

static int node_not_found(uint64_t subnet, const char *name, struct idyl_err *err)
{
        char buf[SUBNET_SLUG_BUFLEN];

        return idyl_err_set(err, IDYL_E_NOT_FOUND, "node \"%s\" not found in subnet \"%s\"", name,
                            subnet_slug_format(subnet, buf));
}

static int sqlite_node_get(struct idyl_store *st, uint64_t subnet, const char *name,
                           struct idyl_node *out, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt = read_prepare(
            s, "SELECT " NODE_COLUMNS " FROM nodes WHERE subnet = ?1 AND name = ?2", &db, err);
        int rc;

        if (!stmt)
                return -1;
        bind_key(stmt, subnet, name);
        rc = read_row(s, db, stmt, node_from_row, out, "get node", err);
        return rc == 0 ? node_not_found(subnet, name, err) : rc < 0 ? -1 : 0;
}

static const struct row_reader node_rows = {"list nodes", sizeof(struct idyl_node), node_from_row,
                                            NULL};

static int sqlite_node_list(struct idyl_store *st, uint64_t subnet, struct idyl_node **out,
                            size_t *n, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt =
            read_prepare(s,
                         "SELECT " NODE_COLUMNS
                         " FROM nodes WHERE (?1 = 0 OR subnet = ?1) ORDER BY subnet, name",
                         &db, err);

        if (!stmt)
                return -1;
        bind_key(stmt, subnet, NULL);
        return read_rows(s, db, stmt, &node_rows, out, n, err);
}

static int sqlite_node_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                            struct idyl_node **out, size_t *n, struct idyl_err *err)
{
        return name_page(st,
                         "SELECT " NODE_COLUMNS " FROM nodes WHERE subnet = ?1 AND name > ?2 "
                         "ORDER BY name LIMIT ?3",
                         subnet, pg, &store_node_names, &node_rows, out, n, err);
}

static int put_node(struct sqlite_store *s, const struct idyl_node *nd, struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (prepare(s, s->db,
                    "INSERT OR REPLACE INTO nodes(" NODE_COLUMNS
                    ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    &stmt, err) < 0)
                return -1;
        node_bind(stmt, nd);
        return step_done(s, stmt, err);
}

static int sqlite_node_put(struct idyl_store *st, const struct idyl_node *nd, struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, put_node(s, nd, err), err) : -1;
}

static int delete_node(struct sqlite_store *s, uint64_t subnet, const char *name,
                       struct idyl_err *err)
{
        static const char *const sql[] = {"DELETE FROM tokens WHERE subnet = ? AND node = ?",
                                          "DELETE FROM node_replicas WHERE subnet = ? AND name = ?",
                                          "DELETE FROM nodes WHERE subnet = ? AND name = ?"};
        int rc;

        token_memo_deleting(&s->tokens);
        rc = delete_keyed(s, sql, 3, subnet, name, err);

        return rc == 0 ? node_not_found(subnet, name, err) : rc < 0 ? -1 : 0;
}

static int sqlite_node_delete(struct idyl_store *st, uint64_t subnet, const char *name,
                              struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, delete_node(s, subnet, name, err), err) : -1;
}

static int set_node_replica(struct sqlite_store *s, uint64_t subnet, const char *name,
                            const char *replica, struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (prepare(s, s->db,
                    "INSERT INTO node_replicas(subnet, name, replica) VALUES(?1, ?2, ?3) "
                    "ON CONFLICT(subnet, name) DO UPDATE SET replica = excluded.replica",
                    &stmt, err) < 0)
                return -1;
        bind_key(stmt, subnet, name);
        sqlite3_bind_text(stmt, 3, replica, -1, SQLITE_TRANSIENT);
        return step_done(s, stmt, err);
}

static int sqlite_node_replica_set(struct idyl_store *st, uint64_t subnet, const char *name,
                                   const char *replica, struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, set_node_replica(s, subnet, name, replica, err), err) : -1;
}

struct text_out {
        char *buf;
        size_t size;
};

static void text_from_row(sqlite3_stmt *stmt, void *item)
{
        struct text_out *t = item;

        snprintf(t->buf, t->size, "%s", (const char *)sqlite3_column_text(stmt, 0));
}

static int sqlite_node_replica_get(struct idyl_store *st, uint64_t subnet, const char *name,
                                   char *out, size_t size, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        struct text_out t = {out, size};
        sqlite3 *db;
        sqlite3_stmt *stmt = read_prepare(
            s, "SELECT replica FROM node_replicas WHERE subnet = ?1 AND name = ?2", &db, err);
        int rc;

        if (!stmt)
                return -1;
        bind_key(stmt, subnet, name);
        rc = read_row(s, db, stmt, text_from_row, &t, "get node replica", err);
        if (rc == 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "no replica is recorded for node \"%s\"",
                                    name);
        return rc < 0 ? -1 : 0;
}

static int bump_assignments(struct sqlite_store *s, uint64_t subnet, const char *name,
                            struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (prepare(s, s->db,
                    "UPDATE nodes SET assign_version = assign_version + 1 WHERE subnet = ? AND "
                    "name = ?",
                    &stmt, err) < 0)
                return -1;
        bind_key(stmt, subnet, name);
        return step_done(s, stmt, err);
}

static int sqlite_node_bump_assignments(struct idyl_store *st, uint64_t subnet, const char *name,
                                        struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, bump_assignments(s, subnet, name, err), err) : -1;
}

/* ---- tokens ------------------------------------------------------------- */

static int insert_token(struct sqlite_store *s, const struct idyl_token *tok, struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (prepare(s, s->db,
                    "INSERT INTO tokens(hash, role, subnet, created_at, node) VALUES(?,?,?,?,?)",
                    &stmt, err) < 0)
                return -1;
        sqlite3_bind_text(stmt, 5, tok->node, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 1, tok->hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 2, idyl_role_name(tok->role), -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, (sqlite3_int64)tok->subnet);
        sqlite3_bind_int64(stmt, 4, tok->created_at ? tok->created_at : (int64_t)time(NULL));
        return step_done(s, stmt, err);
}

static int sqlite_token_add(struct idyl_store *st, const struct idyl_token *tok,
                            struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, insert_token(s, tok, err), err) : -1;
}

static void token_row(sqlite3_stmt *stmt, void *item)
{
        struct store_row r = row_of(stmt);

        store_token_read(&r, item);
}

/* A count(*) into the size_t at item. */
static void count_row(sqlite3_stmt *stmt, void *item)
{
        *(size_t *)item = (size_t)sqlite3_column_int64(stmt, 0);
}

static int sqlite_token_find(struct idyl_store *st, const char *hash, struct idyl_token *out,
                             struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt;
        uint64_t gen;
        int rc;

        if (token_memo_find(&s->tokens, hash, out, &gen))
                return 0;
        stmt = read_prepare(
            s, "SELECT hash, role, subnet, created_at, node FROM tokens WHERE hash = ?", &db, err);
        if (!stmt)
                return -1;
        sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_TRANSIENT);
        rc = read_row(s, db, stmt, token_row, out, "find token", err);
        if (rc == 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "token not found");
        if (rc > 0 && db == s->rdb) /* committed: a writer's own unit may still roll back */
                token_memo_keep(&s->tokens, out, gen);
        return rc < 0 ? -1 : 0;
}

static int sqlite_token_count(struct idyl_store *st, enum idyl_role role, size_t *n,
                              struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt =
            read_prepare(s, "SELECT count(*) FROM tokens WHERE role = ?", &db, err);
        int rc;

        if (!stmt)
                return -1;
        sqlite3_bind_text(stmt, 1, idyl_role_name(role), -1, SQLITE_STATIC);
        rc = read_row(s, db, stmt, count_row, n, "count tokens", err);
        if (rc == 0) /* never: count(*) answers a row */
                return idyl_err_set(err, IDYL_E_STORE, "sqlite: count tokens: no row");
        return rc < 0 ? -1 : 0;
}

static const struct row_reader token_rows = {"list tokens", sizeof(struct idyl_token), token_row,
                                             NULL};

static int sqlite_token_list(struct idyl_store *st, uint64_t subnet, struct idyl_token **out,
                             size_t *n, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt = read_prepare(s,
                                          "SELECT hash, role, subnet, created_at, node FROM tokens "
                                          "WHERE ?1 = 0 OR subnet = ?1 ORDER BY created_at, rowid",
                                          &db, err);

        if (!stmt)
                return -1;
        bind_key(stmt, subnet, NULL);
        return read_rows(s, db, stmt, &token_rows, out, n, err);
}

static void keyed_token_row(sqlite3_stmt *stmt, void *item)
{
        struct store_keyed_token *k = item;

        token_row(stmt, &k->token);
        k->seq = sqlite3_column_int64(stmt, 5);
}

static const struct row_reader keyed_token_rows = {"list tokens", sizeof(struct store_keyed_token),
                                                   keyed_token_row, NULL};

static int sqlite_token_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                             struct idyl_token **out, size_t *n, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        struct store_keyed_token *keyed = NULL;
        sqlite3_stmt *stmt;
        int64_t created_at, seq;
        int rc = -1;

        pg->next[0] = '\0';
        if (store_page_check(pg, NULL, err) < 0 ||
            store_token_key_parse(pg->after, &created_at, &seq) < 0)
                return idyl_err_set(err, IDYL_E_INVALID, "invalid page key \"%.80s\"", pg->after);
        sqlite3 *db = read_lock(s);
        if (prepare(s, db,
                    "SELECT hash, role, subnet, created_at, node, rowid FROM tokens "
                    "WHERE (?1 = 0 OR subnet = ?1) AND (created_at > ?2 OR (created_at = ?2 AND "
                    "rowid > ?3)) ORDER BY created_at, rowid LIMIT ?4",
                    &stmt, err) == 0) {
                sqlite3_bind_int64(stmt, 1, (sqlite3_int64)subnet);
                sqlite3_bind_int64(stmt, 2, created_at);
                sqlite3_bind_int64(stmt, 3, seq);
                rc = query_page(s, db, stmt, 4, pg, &keyed_token_rows, &keyed, n, err);
        }
        read_unlock(s, db);
        if (rc < 0)
                return -1;
        return store_token_page_finish(pg, keyed, out, n, err);
}

static int revoke_token(struct sqlite_store *s, const char *id, struct idyl_token *out,
                        struct idyl_err *err)
{
        sqlite3_stmt *stmt;
        int step;

        if (strlen(id) != TOKEN_ID_LEN || strspn(id, "0123456789abcdef") != TOKEN_ID_LEN)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "token \"%s\" not found", id);
        if (prepare(s, s->db,
                    "SELECT hash, role, subnet, created_at, node FROM tokens WHERE "
                    "substr(hash, 1, 12) = ?",
                    &stmt, err) < 0)
                return -1;
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
        step = sqlite3_step(stmt);
        if (step == SQLITE_ROW)
                token_row(stmt, out);
        finish(s, stmt);
        if (step == SQLITE_DONE)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "token \"%s\" not found", id);
        if (step != SQLITE_ROW)
                return db_error(s->db, "find token", err);
        token_memo_deleting(&s->tokens);
        if (prepare(s, s->db, "DELETE FROM tokens WHERE hash = ?", &stmt, err) < 0)
                return -1;
        sqlite3_bind_text(stmt, 1, out->hash, -1, SQLITE_TRANSIENT);
        return step_done(s, stmt, err);
}

static int sqlite_token_revoke(struct idyl_store *st, const char *id, struct idyl_token *out,
                               struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, revoke_token(s, id, out, err), err) : -1;
}

/* ---- audit ---------------------------------------------------------------- */

static int insert_audit(struct sqlite_store *s, const struct idyl_audit *a, struct idyl_err *err)
{
        sqlite3_stmt *stmt;
        struct timespec ts;
        int64_t t = a->time_ms;

        if (!t) {
                clock_gettime(CLOCK_REALTIME, &ts);
                t = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        }
        if (prepare(s, s->db,
                    "INSERT INTO audit(time, token, role, node, method, path, subnet, status) "
                    "VALUES(?,?,?,?,?,?,?,?)",
                    &stmt, err) < 0)
                return -1;
        sqlite3_bind_int64(stmt, 1, t);
        sqlite3_bind_text(stmt, 2, a->token, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 3, idyl_role_name(a->role), -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, a->node, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 5, a->method, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 6, a->path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 7, (sqlite3_int64)a->subnet);
        sqlite3_bind_int(stmt, 8, a->status);
        return step_done(s, stmt, err);
}

static int sqlite_audit_add(struct idyl_store *st, const struct idyl_audit *a, struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, insert_audit(s, a, err), err) : -1;
}

static int prune_history(struct sqlite_store *s, int64_t before_ms, size_t *removed,
                         struct idyl_err *err)
{
        /* events keep unix seconds, audit records milliseconds */
        static const struct {
                const char *sql;
                int64_t per_second;
        } old[] = {{"DELETE FROM events WHERE time < ?", 1},
                   {"DELETE FROM audit WHERE time < ?", 1000}};
        sqlite3_stmt *stmt;

        *removed = 0;
        for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
                if (prepare(s, s->db, old[i].sql, &stmt, err) < 0)
                        return -1;
                sqlite3_bind_int64(stmt, 1, before_ms / (1000 / old[i].per_second));
                if (step_done(s, stmt, err) < 0)
                        return -1;
                *removed += (size_t)sqlite3_changes(s->db);
        }
        return 0;
}

static int sqlite_history_prune(struct idyl_store *st, int64_t before_ms, size_t *removed,
                                struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, prune_history(s, before_ms, removed, err), err) : -1;
}

static void audit_row(sqlite3_stmt *stmt, void *item)
{
        struct store_row r = row_of(stmt);

        store_audit_read(&r, item);
}

static const struct row_reader audit_rows = {"list audit records", sizeof(struct idyl_audit),
                                             audit_row, NULL};

static int sqlite_audit_list(struct idyl_store *st, uint64_t subnet, size_t limit,
                             struct idyl_audit **out, size_t *n, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt = read_prepare(
            s,
            "SELECT id, time, token, role, node, method, path, subnet, status FROM audit "
            "WHERE ?1 = 0 OR subnet = ?1 ORDER BY id DESC LIMIT ?2",
            &db, err);

        if (!stmt)
                return -1;
        bind_key(stmt, subnet, NULL);
        sqlite3_bind_int64(stmt, 2, limit ? (sqlite3_int64)limit : -1);
        return read_rows(s, db, stmt, &audit_rows, out, n, err);
}

/* ---- settings ------------------------------------------------------------ */

static int ensure_setting(struct sqlite_store *s, const char *key, const char *value, char *out,
                          size_t size, struct idyl_err *err)
{
        sqlite3_stmt *stmt;
        int step;

        if (prepare(s, s->db, "INSERT OR IGNORE INTO settings(key, value) VALUES(?, ?)", &stmt,
                    err) < 0)
                return -1;
        sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 2, value, -1, SQLITE_TRANSIENT);
        if (step_done(s, stmt, err) < 0)
                return -1;
        if (prepare(s, s->db, "SELECT value FROM settings WHERE key = ?", &stmt, err) < 0)
                return -1;
        sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
        step = sqlite3_step(stmt);
        if (step == SQLITE_ROW)
                column_copy(stmt, 0, out, size);
        finish(s, stmt);
        return step == SQLITE_ROW ? 0 : db_error(s->db, "read setting", err);
}

static int sqlite_setting_ensure(struct idyl_store *st, const char *key, const char *value,
                                 char *out, size_t size, struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, ensure_setting(s, key, value, out, size, err), err) : -1;
}

/* ---- secrets ------------------------------------------------------------- */

static int secret_not_found(uint64_t subnet, const char *name, struct idyl_err *err)
{
        char slug[SUBNET_SLUG_BUFLEN];

        return idyl_err_set(err, IDYL_E_NOT_FOUND, MSG_SECRET_NOT_FOUND, name,
                            subnet_slug_format(subnet, slug));
}

static int insert_secret(struct sqlite_store *s, const struct idyl_secret *sec,
                         struct idyl_err *err)
{
        char slug[SUBNET_SLUG_BUFLEN];
        sqlite3_stmt *stmt;
        int step;

        if (prepare(s, s->db,
                    "INSERT INTO secrets(subnet, name, keys, sealed, created_at, updated_at) "
                    "VALUES(?,?,?,?,?,?) ON CONFLICT(subnet, name) DO NOTHING",
                    &stmt, err) < 0)
                return -1;
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)sec->subnet);
        sqlite3_bind_text(stmt, 2, sec->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 3, sec->keys, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(stmt, 4, sec->sealed, (int)sec->sealed_len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 5, sec->created_at);
        sqlite3_bind_int64(stmt, 6, sec->updated_at);
        step = sqlite3_step(stmt);
        finish(s, stmt);
        if (step != SQLITE_DONE)
                return db_error(s->db, "insert secret", err);
        if (sqlite3_changes(s->db) == 0)
                return idyl_err_set(err, IDYL_E_CONFLICT,
                                    "secret \"%s\" already exists in subnet %s", sec->name,
                                    subnet_slug_format(sec->subnet, slug));
        return 0;
}

static int sqlite_secret_create(struct idyl_store *st, const struct idyl_secret *sec,
                                struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, insert_secret(s, sec, err), err) : -1;
}

static int update_secret(struct sqlite_store *s, const struct idyl_secret *sec,
                         struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (prepare(s, s->db,
                    "UPDATE secrets SET keys = ?, sealed = ?, updated_at = ? "
                    "WHERE subnet = ? AND name = ?",
                    &stmt, err) < 0)
                return -1;
        sqlite3_bind_text(stmt, 1, sec->keys, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(stmt, 2, sec->sealed, (int)sec->sealed_len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 3, sec->updated_at);
        sqlite3_bind_int64(stmt, 4, (sqlite3_int64)sec->subnet);
        sqlite3_bind_text(stmt, 5, sec->name, -1, SQLITE_TRANSIENT);
        if (step_done(s, stmt, err) < 0)
                return -1;
        if (sqlite3_changes(s->db) == 0)
                return secret_not_found(sec->subnet, sec->name, err);
        return 0;
}

static int sqlite_secret_update(struct idyl_store *st, const struct idyl_secret *sec,
                                struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, update_secret(s, sec, err), err) : -1;
}

/* Columns: subnet, name, keys, created_at, updated_at [, sealed]. */
static int secret_from_row(sqlite3_stmt *stmt, struct idyl_secret *out, bool with_sealed)
{
        memset(out, 0, sizeof(*out));
        out->subnet = (uint64_t)sqlite3_column_int64(stmt, 0);
        column_copy(stmt, 1, out->name, sizeof(out->name));
        out->keys = column_strdup(stmt, 2);
        out->created_at = sqlite3_column_int64(stmt, 3);
        out->updated_at = sqlite3_column_int64(stmt, 4);
        if (!out->keys)
                return -1;
        if (!with_sealed)
                return 0;
        out->sealed_len = (size_t)sqlite3_column_bytes(stmt, 5);
        out->sealed = malloc(out->sealed_len ? out->sealed_len : 1);
        if (!out->sealed)
                return -1;
        memcpy(out->sealed, sqlite3_column_blob(stmt, 5), out->sealed_len);
        return 0;
}

static int sqlite_secret_get(struct idyl_store *st, uint64_t subnet, const char *name,
                             struct idyl_secret *out, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt = read_prepare(s,
                                          "SELECT subnet, name, keys, created_at, updated_at, "
                                          "sealed FROM secrets WHERE subnet = ?1 AND name = ?2",
                                          &db, err);
        int rc = -1, step;

        if (!stmt)
                return -1;
        bind_key(stmt, subnet, name);
        step = sqlite3_step(stmt);
        if (step == SQLITE_ROW) {
                rc = secret_from_row(stmt, out, true);
                if (rc < 0) {
                        secret_release(out);
                        idyl_err_errno(err, ENOMEM, "read secret");
                }
        } else if (step == SQLITE_DONE) {
                secret_not_found(subnet, name, err);
        } else {
                db_error(db, "read secret", err);
        }
        finish(s, stmt);
        read_unlock(s, db);
        return rc;
}

static void secret_meta_row(sqlite3_stmt *stmt, void *item)
{
        secret_from_row(stmt, item, false); /* keys NULL when out of memory: shown as [] */
}

static void release_secrets(void *items, size_t n)
{
        secret_list_free(items, n);
}

static const struct row_reader secret_rows = {"list secrets", sizeof(struct idyl_secret),
                                              secret_meta_row, release_secrets};

static int sqlite_secret_list(struct idyl_store *st, uint64_t subnet, struct idyl_secret **out,
                              size_t *n, struct idyl_err *err)
{
        struct sqlite_store *s = to_sqlite(st);
        sqlite3 *db;
        sqlite3_stmt *stmt = read_prepare(s,
                                          "SELECT subnet, name, keys, created_at, updated_at "
                                          "FROM secrets WHERE subnet = ?1 ORDER BY name",
                                          &db, err);

        if (!stmt)
                return -1;
        bind_key(stmt, subnet, NULL);
        return read_rows(s, db, stmt, &secret_rows, out, n, err);
}

static int sqlite_secret_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                              struct idyl_secret **out, size_t *n, struct idyl_err *err)
{
        return name_page(st,
                         "SELECT subnet, name, keys, created_at, updated_at FROM secrets "
                         "WHERE subnet = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
                         subnet, pg, &store_secret_names, &secret_rows, out, n, err);
}

static int delete_secret(struct sqlite_store *s, uint64_t subnet, const char *name,
                         struct idyl_err *err)
{
        sqlite3_stmt *stmt;

        if (prepare(s, s->db, "DELETE FROM secrets WHERE subnet = ? AND name = ?", &stmt, err) < 0)
                return -1;
        bind_key(stmt, subnet, name);
        if (step_done(s, stmt, err) < 0)
                return -1;
        if (sqlite3_changes(s->db) == 0)
                return secret_not_found(subnet, name, err);
        return 0;
}

static int sqlite_secret_delete(struct idyl_store *st, uint64_t subnet, const char *name,
                                struct idyl_err *err)
{
        struct sqlite_store *s = write_open(st, err);

        return s ? write_end(s, delete_secret(s, subnet, name, err), err) : -1;
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .tx_begin = sqlite_tx_begin,
    .tx_commit = sqlite_tx_commit,
    .tx_rollback = sqlite_tx_rollback,
    .subnet_create = sqlite_subnet_create,
    .subnet_get = sqlite_subnet_get,
    .subnet_list = sqlite_subnet_list,
    .subnet_page = sqlite_subnet_page,
    .subnet_update = sqlite_subnet_update,
    .subnet_delete = sqlite_subnet_delete,
    .workload_get = sqlite_workload_get,
    .workload_list = sqlite_workload_list,
    .workload_page = sqlite_workload_page,
    .workload_usage = sqlite_workload_usage,
    .workload_put = sqlite_workload_put,
    .workload_delete = sqlite_workload_delete,
    .event_add = sqlite_event_add,
    .event_list = sqlite_event_list,
    .node_get = sqlite_node_get,
    .node_list = sqlite_node_list,
    .node_page = sqlite_node_page,
    .node_put = sqlite_node_put,
    .node_delete = sqlite_node_delete,
    .node_bump_assignments = sqlite_node_bump_assignments,
    .node_replica_set = sqlite_node_replica_set,
    .node_replica_get = sqlite_node_replica_get,
    .token_add = sqlite_token_add,
    .token_find = sqlite_token_find,
    .token_count = sqlite_token_count,
    .token_list = sqlite_token_list,
    .token_page = sqlite_token_page,
    .token_revoke = sqlite_token_revoke,
    .audit_add = sqlite_audit_add,
    .audit_list = sqlite_audit_list,
    .history_prune = sqlite_history_prune,
    .setting_ensure = sqlite_setting_ensure,
    .secret_create = sqlite_secret_create,
    .secret_update = sqlite_secret_update,
    .secret_get = sqlite_secret_get,
    .secret_list = sqlite_secret_list,
    .secret_page = sqlite_secret_page,
    .secret_delete = sqlite_secret_delete,
};

/* Columns added since a table was first made: a data directory of an older
 * idyld gets them on open (CREATE TABLE IF NOT EXISTS keeps its old table). */
static int add_columns(struct sqlite_store *s, struct idyl_err *err)
{
        static const struct {
                const char *table, *column, *sql;
        } added[] = {
            {"nodes", "eligibility",
             "ALTER TABLE nodes ADD COLUMN eligibility INTEGER NOT NULL DEFAULT 0"},
        };

        for (size_t i = 0; i < sizeof(added) / sizeof(added[0]); i++) {
                int rc = sqlite3_table_column_metadata(s->db, NULL, added[i].table, added[i].column,
                                                       NULL, NULL, NULL, NULL, NULL);

                if (rc != SQLITE_OK && exec(s, added[i].sql, err) < 0)
                        return -1;
        }
        return 0;
}

/* The database holds credentials' hashes and sealed secrets: only its
 * owner reads it. SQLite gives the -wal and -shm files the database file's
 * mode, so making (or tightening) that one first covers all three. */
static int restrict_files(const char *path, struct idyl_err *err)
{
        static const char *const companions[] = {"-wal", "-shm"};
        char other[4200];
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

        if (fd < 0)
                return idyl_err_errno(err, errno, "open \"%s\"", path);
        if (fchmod(fd, 0600) < 0) {
                close(fd);
                return idyl_err_errno(err, errno, "chmod \"%s\"", path);
        }
        close(fd);
        for (size_t i = 0; i < sizeof(companions) / sizeof(companions[0]); i++)
                if ((size_t)snprintf(other, sizeof(other), "%s%s", path, companions[i]) <
                    sizeof(other))
                        chmod(other, 0600); /* absent until the first write: fine */
        return 0;
}

/* Opens the log that SQLite's connection has open (it exists, and keeps its
 * inode, while a connection is open) for the syncer, and makes its name
 * durable in the data directory, which SQLite's own first sync of the log
 * would otherwise do. */
static int open_wal(struct sqlite_store *s, const char *path, struct idyl_err *err)
{
        char wal[PATH_MAX], dir[PATH_MAX];
        char *slash;
        int dfd;

        if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", path) >= sizeof(wal))
                return idyl_err_set(err, IDYL_E_INVALID, "path \"%s\" is too long", path);
        s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
        if (s->wal_fd < 0)
                return idyl_err_errno(err, errno, "open \"%s\"", wal);
        snprintf(dir, sizeof(dir), "%s", path);
        slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0) {
                idyl_err_errno(err, errno, "sync the data directory of \"%s\"", path);
                if (dfd >= 0)
                        close(dfd);
                return -1;
        }
        close(dfd);
        return 0;
}

/* Each connection keeps up to 64 MiB of pages (SQLite's default is 2 MiB):
 * the scheduler, assignment answers and token checks read the same nodes,
 * workloads and tokens all the time, and with the small cache every one of
 * those reads went to pread. The cache grows only as pages are read. */
#define CACHE_PRAGMA "PRAGMA cache_size=-65536"

static int open_db(struct sqlite_store *s, const char *path, struct idyl_err *err)
{
        if (restrict_files(path, err) < 0)
                return -1;
        if (sqlite3_open_v2(path, &s->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                            NULL) != SQLITE_OK)
                return idyl_err_set(err, IDYL_E_STORE, "open \"%s\": %s", path,
                                    s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite3_busy_timeout(s->db, 5000);
        /* WAL + NORMAL: a COMMIT writes the log and the syncer syncs it */
        if (exec(s, "PRAGMA journal_mode=WAL", err) < 0 ||
            exec(s, "PRAGMA synchronous=NORMAL", err) < 0 ||
            exec(s, "PRAGMA foreign_keys=ON", err) < 0 || exec(s, CACHE_PRAGMA, err) < 0 ||
            exec(s, schema, err) < 0 || add_columns(s, err) < 0 || open_wal(s, path, err) < 0)
                return idyl_err_wrap(err, "open \"%s\"", path);
        if (sqlite3_open_v2(path, &s->rdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
            SQLITE_OK)
                return idyl_err_set(err, IDYL_E_STORE, "open \"%s\" for reading: %s", path,
                                    s->rdb ? sqlite3_errmsg(s->rdb) : "out of memory");
        sqlite3_busy_timeout(s->rdb, 5000);
        if (sqlite3_exec(s->rdb, "PRAGMA query_only=ON", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->rdb, CACHE_PRAGMA, NULL, NULL, NULL) != SQLITE_OK)
                return db_error(s->rdb, "open for reading", err);
        return 0;
}

int store_sqlite_open(const char *dir, struct idyl_store **out, struct idyl_err *err)
{
        pthread_mutexattr_t attr;
        struct sqlite_store *s;
        char path[PATH_MAX];

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return idyl_err_errno(err, errno, "create data directory \"%s\"", dir);
        if (snprintf(path, sizeof(path), "%s/idyl.db", dir) >= (int)sizeof(path))
                return idyl_err_set(err, IDYL_E_INVALID, "data directory \"%s\" is too long", dir);
        s = calloc(1, sizeof(*s));
        if (!s)
                return idyl_err_errno(err, ENOMEM, "open store");
        s->base.ops = &sqlite_ops;
        s->wal_fd = -1;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&s->mu, &attr);
        pthread_mutexattr_destroy(&attr);
        pthread_mutex_init(&s->rmu, NULL);
        pthread_mutex_init(&s->tokens.mu, NULL);
        s->tokens.gen = 1;
        pthread_mutex_init(&s->sync.mu, NULL);
        pthread_cond_init(&s->sync.wake, NULL);
        store_group_init(&s->group);
        if (open_db(s, path, err) < 0 || syncer_start(s, err) < 0) {
                sqlite_close(&s->base);
                return -1;
        }
        reserve_take(s, dir);
        *out = &s->base;
        return 0;
}
