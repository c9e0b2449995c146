/* The shared store: PostgreSQL through libpq, for several idyld replicas on
 * one database. Same contract as store/sqlite.c, same conformance suite.
 *
 * Writers share one connection behind a recursive mutex and one open
 * transaction, the group, as in sqlite.c: each writer's unit of work is a
 * savepoint inside it, and one COMMIT (one WAL flush) acknowledges everyone
 * in it. The group takes a transaction-level advisory lock first, so the
 * groups of all replicas apply one at a time, as SQLite's writers do.
 * Replicas tell each other what changed with NOTIFY on channel "idyl"
 * (store_publish, delivered at the group's COMMIT). Calls outside a transaction read
 * through a second connection, which sees committed data only.
 *
 * The schema is created and migrated at open, under a transaction-level
 * advisory lock, so replicas starting at once migrate one after the other;
 * meta.schema_version counts the migrations applied. Every table and column
 * mirrors sqlite.c's. */
#include "store/store.h"
#include "store/group.h"
#include "store/row.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/messages.h"
#include "util/array.h"

#define STMT_CACHE_MAX 96
#define PARAMS_MAX     24
#define READERS        4 /* read connections: reads wait on the server, not on each other */

/* Advisory lock keys: two int4 halves, "idyl" and what the lock guards. */
#define LOCK_NS      0x6964796c
#define LOCK_MIGRATE 1
#define LOCK_WRITE   2
#define LOCK_LEADER  3

/* One connection and the statements prepared on it (keyed by the SQL
 * text's address: every statement is a literal). */
struct pg_conn {
        PGconn *c;
        size_t n;
        const char *sql[STMT_CACHE_MAX];
};

struct pg_store {
        struct idyl_store base;
        char *url;
        struct pg_conn w;          /* writers, under mu */
        struct pg_conn r[READERS]; /* reads outside a transaction, each under its rmu */
        struct pg_conn l;          /* the leader lease's session lock, under lmu */
        struct pg_conn n;          /* LISTEN idyl, for the receiving thread only */
        struct pg_conn p;          /* publishing outside a transaction, under pmu */
        pthread_mutex_t lmu;
        pthread_mutex_t pmu;
        pthread_mutex_t mu; /* recursive */
        pthread_mutex_t rmu[READERS];
        atomic_uint next_reader;
        int tx_depth;
        struct store_group group; /* writers whose units the open BEGIN on w holds */
};

static _Thread_local struct pg_store *unit_holder;

static struct pg_store *to_pg(struct idyl_store *st)
{
        return (struct pg_store *)st;
}

/* ---- connections, statements, parameters --------------------------------- */

/* libpq's message without its trailing newline. */
static int conn_error(PGconn *c, const char *what, struct idyl_err *err)
{
        const char *m = c ? PQerrorMessage(c) : "out of memory";
        size_t len = strlen(m);

        while (len && (m[len - 1] == '\n' || m[len - 1] == ' '))
                len--;
        return idyl_err_set(err, IDYL_E_STORE, "postgres: %s: %.*s", what, (int)len, m);
}

static int conn_open(struct pg_store *s, struct pg_conn *pc, struct idyl_err *err)
{
        PGresult *res;

        if (pc->c)
                PQfinish(pc->c);
        pc->n = 0;
        pc->c = PQconnectdb(s->url);
        if (!pc->c || PQstatus(pc->c) != CONNECTION_OK)
                return conn_error(pc->c, "connect", err);
        /* A group is open for milliseconds: one idle in its transaction for
         * seconds belongs to a hung or cut-off replica, and the server ends it,
         * so its locks do not stop every other replica's writes. */
        res = PQexec(pc->c, "SET client_min_messages = warning;"
                            "SET idle_in_transaction_session_timeout = '5s'");
        PQclear(res);
        return 0;
}

/* Reconnects a connection found broken (a restarted or failed-over server);
 * only between transactions. */
static int conn_ensure(struct pg_store *s, struct pg_conn *pc, struct idyl_err *err)
{
        if (pc->c && PQstatus(pc->c) == CONNECTION_OK)
                return 0;
        return conn_open(s, pc, err);
}

struct params {
        int n;
        const char *v[PARAMS_MAX];
        int len[PARAMS_MAX];
        int fmt[PARAMS_MAX];
        char num[PARAMS_MAX][24];
};

static void p_text(struct params *p, const char *v)
{
        p->v[p->n] = v;
        p->len[p->n] = 0;
        p->fmt[p->n] = 0;
        p->n++;
}

static void p_int(struct params *p, int64_t v)
{
        snprintf(p->num[p->n], sizeof(p->num[p->n]), "%" PRId64, v);
        p_text(p, p->num[p->n]);
}

static void p_null(struct params *p)
{
        p_text(p, NULL);
}

static void p_bin(struct params *p, const void *data, size_t len)
{
        p->v[p->n] = data ? data : "";
        p->len[p->n] = (int)len;
        p->fmt[p->n] = 1;
        p->n++;
}

/* Runs `sql` (prepared once per connection) with p's parameters. Returns
 * the result (PQclear it) or NULL with err set. */
static PGresult *run(struct pg_conn *pc, const char *sql, const struct params *p,
                     struct idyl_err *err)
{
        static const struct params none;
        char name[16];
        size_t i;
        PGresult *res;
        ExecStatusType st;

        if (!p)
                p = &none;
        for (i = 0; i < pc->n && pc->sql[i] != sql; i++)
                ;
        snprintf(name, sizeof(name), "s%zu", i);
        if (i == pc->n) {
                if (pc->n == STMT_CACHE_MAX) {
                        res = PQexecParams(pc->c, sql, p->n, NULL, p->v, p->len, p->fmt, 0);
                        goto check;
                }
                res = PQprepare(pc->c, name, sql, p->n, NULL);
                if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                        conn_error(pc->c, sql, err);
                        PQclear(res);
                        return NULL;
                }
                PQclear(res);
                pc->sql[pc->n++] = sql;
        }
        res = PQexecPrepared(pc->c, name, p->n, p->v, p->len, p->fmt, 0);
check:
        st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                conn_error(pc->c, sql, err);
                PQclear(res);
                return NULL;
        }
        return res;
}

/* As run, for a statement that may safely go again (a read outside any
 * transaction, or the BEGIN of one): a connection found cut (the server
 * restarted or failed over) is made again and the statement sent once more. */
static PGresult *run_again_if_cut(struct pg_store *s, struct pg_conn *pc, const char *sql,
                                  const struct params *p, struct idyl_err *err)
{
        PGresult *res = run(pc, sql, p, err);

        if (res || PQstatus(pc->c) != CONNECTION_BAD)
                return res;
        if (conn_open(s, pc, err) < 0)
                return NULL;
        return run(pc, sql, p, err);
}

/* Runs a statement whose result is only its success; *changed (when not
 * NULL) gets the rows it affected. */
static int run_done(struct pg_conn *pc, const char *sql, const struct params *p, long *changed,
                    struct idyl_err *err)
{
        PGresult *res = run(pc, sql, p, err);

        if (!res)
                return -1;
        if (changed)
                *changed = strtol(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        return 0;
}

/* Runs unprepared SQL (several statements allowed). */
static int exec_simple(struct pg_conn *pc, const char *sql, struct idyl_err *err)
{
        PGresult *res = PQexec(pc->c, sql);
        ExecStatusType st = PQresultStatus(res);
        int rc = 0;

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
                rc = conn_error(pc->c, sql, err);
        PQclear(res);
        return rc;
}

static int64_t col_int(const PGresult *r, int row, int col)
{
        return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *col_text(const PGresult *r, int row, int col)
{
        return PQgetvalue(r, row, col);
}

static void col_copy(const PGresult *r, int row, int col, char *buf, size_t size)
{
        size_t len = (size_t)PQgetlength(r, row, col);

        if (len >= size)
                len = size - 1;
        if (len)
                memcpy(buf, PQgetvalue(r, row, col), len);
        buf[len] = '\0';
}

static char *col_strdup(const PGresult *r, int row, int col)
{
        return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

/* ---- group commit ---------------------------------------------------------- */

static void group_commit(struct pg_store *s)
{
        struct idyl_err err = IDYL_ERR_INIT;
        int rc = 0;

        if (s->group.open) {
                PGresult *res = run(&s->w, "COMMIT", NULL, &err);

                /* COMMIT of a transaction an error aborted answers ROLLBACK */
                rc = res && strcmp(PQcmdStatus(res), "COMMIT") == 0 ? 0 : -1;
                if (res && rc < 0)
                        idyl_err_set(&err, IDYL_E_STORE, "postgres: the group was rolled back");
                PQclear(res);
                if (rc < 0)
                        exec_simple(&s->w, "ROLLBACK", NULL);
        }
        store_group_ack(&s->group, rc, &err);
}

static void group_maybe_commit(struct pg_store *s)
{
        if (store_group_due(&s->group, false))
                group_commit(s);
}

static int group_begin(struct pg_store *s, struct idyl_err *err)
{
        struct params p = {0};
        PGresult *res;

        if (conn_ensure(s, &s->w, err) < 0)
                return -1;
        res = run_again_if_cut(s, &s->w, "BEGIN", NULL, err);
        if (!res)
                return -1;
        PQclear(res);
        p_int(&p, LOCK_NS);
        p_int(&p, LOCK_WRITE);
        if (run_done(&s->w, "SELECT pg_advisory_xact_lock($1::int, $2::int)", &p, NULL, err) < 0) {
                exec_simple(&s->w, "ROLLBACK", NULL);
                return -1;
        }
        store_group_opened(&s->group);
        return 0;
}

static int unit_begin(struct pg_store *s, struct idyl_err *err)
{
        if (unit_holder == s) {
                pthread_mutex_lock(&s->mu);
                s->tx_depth++;
                return 0;
        }
        store_group_enter(&s->group, &s->mu);
        if (!s->group.open && group_begin(s, err) < 0)
                goto fail;
        if (run_done(&s->w, "SAVEPOINT unit", NULL, NULL, err) < 0)
                goto fail;
        s->tx_depth = 1;
        unit_holder = s;
        return 0;
fail:
        if (s->group.open) {
                /* the group is aborted: nobody in it is durable */
                struct idyl_err gerr = IDYL_ERR_INIT;

                idyl_err_set(&gerr, IDYL_E_STORE, "%s", err ? err->msg : "postgres: savepoint");
                exec_simple(&s->w, "ROLLBACK", NULL);
                store_group_ack(&s->group, -1, &gerr);
        } else {
                group_maybe_commit(s);
        }
        pthread_mutex_unlock(&s->mu);
        return -1;
}

/* Undoes this writer's savepoint only; when that fails too (the connection
 * is gone), the whole group fails. */
static void unit_rollback(struct pg_store *s)
{
        struct idyl_err err = IDYL_ERR_INIT;

        if (exec_simple(&s->w, "ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit", &err) < 0 &&
            s->group.open) {
                exec_simple(&s->w, "ROLLBACK", NULL);
                store_group_ack(&s->group, -1, &err);
        }
}

static int insert_audit(struct pg_store *s, const struct idyl_audit *a, struct idyl_err *err);

/* Ends a unit begun by unit_begin, as in SQLite: rc == 0 releases its
 * savepoint into the group, with this thread's pending audit record
 * (store_audit_pend), and returns once the group's COMMIT is durable. */
static int unit_end(struct pg_store *s, int rc, struct idyl_err *err)
{
        struct store_audit_pending *audit = NULL;
        struct group_member me = {.rc = 0};

        if (--s->tx_depth > 0) {
                pthread_mutex_unlock(&s->mu);
                return rc;
        }
        unit_holder = NULL;
        if (rc == 0 && (audit = store_audit_pending(&s->base)))
                rc = insert_audit(s, &audit->rec, err);
        if (rc == 0 && run_done(&s->w, "RELEASE SAVEPOINT unit", NULL, NULL, err) < 0)
                rc = -1;
        if (rc < 0) {
                unit_rollback(s);
        } else {
                store_group_join(&s->group, &me);
        }
        group_maybe_commit(s);
        pthread_mutex_unlock(&s->mu);
        return store_group_finish(&s->group, rc < 0 ? NULL : &me, audit, err);
}

/* The connection a read uses: the writers' inside this thread's unit, else
 * the read connection (NULL with err set when it cannot reconnect). */
static struct pg_conn *read_lock(struct pg_store *s, struct idyl_err *err)
{
        unsigned first = atomic_fetch_add(&s->next_reader, 1);
        unsigned k = first % READERS;

        if (unit_holder == s) {
                pthread_mutex_lock(&s->mu);
                return &s->w;
        }
        /* a free reader if there is one, else wait for this thread's turn */
        for (unsigned i = 0; i < READERS; i++)
                if (pthread_mutex_trylock(&s->rmu[(first + i) % READERS]) == 0) {
                        k = (first + i) % READERS;
                        goto locked;
                }
        pthread_mutex_lock(&s->rmu[k]);
locked:
        if (conn_ensure(s, &s->r[k], err) < 0) {
                pthread_mutex_unlock(&s->rmu[k]);
                return NULL;
        }
        return &s->r[k];
}

static void read_unlock(struct pg_store *s, struct pg_conn *pc)
{
        if (pc == &s->w)
                pthread_mutex_unlock(&s->mu);
        else
                pthread_mutex_unlock(&s->rmu[pc - s->r]);
}

/* One write outside any transaction: its own unit. `fn` runs on the
 * writers' connection. */
#define WRITE_UNIT(s, err, call)                                                                   \
        do {                                                                                       \
                if (unit_begin((s), (err)) < 0)                                                    \
                        return -1;                                                                 \
                return unit_end((s), (call), (err));                                               \
        } while (0)

static int pg_tx_begin(struct idyl_store *st, struct idyl_err *err)
{
        return unit_begin(to_pg(st), err);
}

static int pg_tx_commit(struct idyl_store *st, struct idyl_err *err)
{
        return unit_end(to_pg(st), 0, err);
}

static void pg_tx_rollback(struct idyl_store *st)
{
        unit_end(to_pg(st), -1, NULL);
}

/* ---- lists ------------------------------------------------------------------ */

struct row_reader {
        const char *what;
        size_t size;
        int (*read)(const PGresult *r, int row, void *item); /* <0: out of memory */
        void (*release)(void *items, size_t n);
};

/* Reads every row of a query into a malloc'd array (NULL and 0 for none). */
static int query_rows(struct pg_store *s, const char *sql, const struct params *p,
                      const struct row_reader *rr, void *out, size_t *n, struct idyl_err *err)
{
        struct pg_conn *pc = read_lock(s, err);
        PGresult *res;
        char *items = NULL;
        size_t count = 0, cap = 0;
        int rc = -1;

        if (!pc)
                return -1;
        res = pc == &s->w ? run(pc, sql, p, err) : run_again_if_cut(s, pc, sql, p, err);
        if (!res)
                goto out;
        for (int i = 0; i < PQntuples(res); i++) {
                if (array_reserve(&items, &cap, count + 1, rr->size) < 0) {
                        idyl_err_errno(err, ENOMEM, "%s", rr->what);
                        goto out;
                }
                /* a row that fails to read releases what it read itself */
                if (rr->read(res, i, items + count * rr->size) < 0) {
                        idyl_err_errno(err, ENOMEM, "%s", rr->what);
                        goto out;
                }
                count++;
        }
        *(void **)out = items;
        *n = count;
        items = NULL;
        count = 0;
        rc = 0;
out:
        PQclear(res);
        read_unlock(s, pc);
        if (rr->release)
                rr->release(items, count);
        else
                free(items);
        return rc;
}

/* Reads at most one row: 1 found (read into item), 0 none, -1 error. */
static int query_one(struct pg_store *s, const char *sql, const struct params *p,
                     int (*read)(const PGresult *r, int row, void *item), void *item,
                     struct idyl_err *err)
{
        struct pg_conn *pc = read_lock(s, err);
        PGresult *res;
        int rc = -1;

        if (!pc)
                return -1;
        res = pc == &s->w ? run(pc, sql, p, err) : run_again_if_cut(s, pc, sql, p, err);
        if (res) {
                rc = PQntuples(res) > 0;
                if (rc && read(res, 0, item) < 0)
                        rc = idyl_err_errno(err, ENOMEM, "read");
                PQclear(res);
        }
        read_unlock(s, pc);
        return rc;
}

/* ---- schema ------------------------------------------------------------------ */

/* Migration i brings the schema from version i to i + 1. Append only: a
 * column added to sqlite.c gets a migration here (ADD COLUMN IF NOT EXISTS). */
static const char *const migrations[] = {
    /* 1: the tables of sqlite.c */
    "INSERT INTO meta VALUES('next_subnet_slug', 100000000001) ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS subnets("
    " slug BIGINT PRIMARY KEY,"
    " region TEXT NOT NULL,"
    " policy_set INTEGER NOT NULL,"
    " allowed_classes TEXT NOT NULL,"
    " default_class TEXT NOT NULL,"
    " allowed_backends TEXT NOT NULL,"
    " deploy_approval INTEGER NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " allowed_devices TEXT);"
    "CREATE TABLE IF NOT EXISTS workloads("
    " subnet BIGINT NOT NULL REFERENCES subnets(slug),"
    " name TEXT NOT NULL,"
    " revision BIGINT NOT NULL,"
    " spec TEXT NOT NULL,"
    " phase TEXT NOT NULL,"
    " isolation TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " node TEXT NOT NULL,"
    " runtime_profile TEXT NOT NULL,"
    " message TEXT NOT NULL,"
    " placement TEXT,"
    " restarts INTEGER NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " platform TEXT NOT NULL,"
    " cpu_milli BIGINT NOT NULL,"
    " memory_bytes BIGINT NOT NULL,"
    " gpus INTEGER NOT NULL,"
    " devices TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY(subnet, name));"
    "CREATE TABLE IF NOT EXISTS events("
    " id BIGSERIAL PRIMARY KEY,"
    " subnet BIGINT NOT NULL,"
    " name TEXT NOT NULL,"
    " revision BIGINT NOT NULL,"
    " time BIGINT NOT NULL,"
    " type TEXT NOT NULL,"
    " message TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_by_workload ON events(subnet, name, id);"
    "CREATE INDEX IF NOT EXISTS workloads_on_node ON workloads(subnet, node, isolation, name,"
    " cpu_milli, memory_bytes, gpus);"
    "CREATE TABLE IF NOT EXISTS nodes("
    " subnet BIGINT NOT NULL REFERENCES subnets(slug),"
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
    " cpu_milli BIGINT NOT NULL,"
    " memory_bytes BIGINT NOT NULL,"
    " gpus INTEGER NOT NULL,"
    " last_heartbeat BIGINT NOT NULL,"
    " down INTEGER NOT NULL,"
    " assign_version BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " devices TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY(subnet, name));"
    "CREATE TABLE IF NOT EXISTS tokens("
    " hash TEXT PRIMARY KEY,"
    " role TEXT NOT NULL,"
    " subnet BIGINT NOT NULL,"
    " node TEXT NOT NULL DEFAULT '',"
    " created_at BIGINT NOT NULL,"
    " seq BIGSERIAL);" /* insertion order, SQLite's rowid */
    "CREATE TABLE IF NOT EXISTS audit("
    " id BIGSERIAL PRIMARY KEY,"
    " time BIGINT NOT NULL,"
    " token TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " node TEXT NOT NULL,"
    " method TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " subnet BIGINT NOT NULL,"
    " status INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_by_subnet ON audit(subnet, id);"
    "CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS secrets("
    " subnet BIGINT NOT NULL REFERENCES subnets(slug),"
    " name TEXT NOT NULL,"
    " keys TEXT NOT NULL,"
    " sealed BYTEA NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " PRIMARY KEY(subnet, name));",
    /* 2: the leader lease (one row), for several replicas */
    "CREATE TABLE IF NOT EXISTS leader_lease("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " epoch BIGINT NOT NULL,"
    " renewed_at TIMESTAMPTZ NOT NULL);"
    "INSERT INTO leader_lease VALUES(1, 0, now()) ON CONFLICT DO NOTHING;",
    /* 3: replicas advertise their API address to each other */
    "CREATE TABLE IF NOT EXISTS replicas("
    " id TEXT PRIMARY KEY,"
    " addr TEXT NOT NULL,"
    " seen_at TIMESTAMPTZ NOT NULL);",
    /* 4: sqlite.c's networkPolicy, workload IP and node eligibility columns */
    "ALTER TABLE subnets ADD COLUMN IF NOT EXISTS egress TEXT,"
    " ADD COLUMN IF NOT EXISTS egress_cidrs TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE workloads ADD COLUMN IF NOT EXISTS ip TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE nodes ADD COLUMN IF NOT EXISTS eligibility INTEGER NOT NULL DEFAULT 0;",
    /* 5: the replica each node's agent is connected to */
    "CREATE TABLE IF NOT EXISTS node_replicas("
    " subnet BIGINT NOT NULL,"
    " name TEXT NOT NULL,"
    " replica TEXT NOT NULL,"
    " PRIMARY KEY(subnet, name));",
    /* 6: pages of a subnet's workloads, nodes and secrets walk names bytewise */
    "CREATE INDEX IF NOT EXISTS workloads_by_name ON workloads(subnet, name COLLATE \"C\");"
    "CREATE INDEX IF NOT EXISTS nodes_by_name ON nodes(subnet, name COLLATE \"C\");"
    "CREATE INDEX IF NOT EXISTS secrets_by_name ON secrets(subnet, name COLLATE \"C\");",
};

#define SCHEMA_VERSION ((int64_t)(sizeof(migrations) / sizeof(migrations[0])))

static int migrate(struct pg_store *s, struct idyl_err *err)
{
        struct params p = {0};
        PGresult *res;
        int64_t v = 0;
        char sql[128];

        p_int(&p, LOCK_NS);
        p_int(&p, LOCK_MIGRATE);
        if (exec_simple(&s->w, "BEGIN", err) < 0)
                return -1;
        if (run_done(&s->w, "SELECT pg_advisory_xact_lock($1::int, $2::int)", &p, NULL, err) < 0 ||
            exec_simple(&s->w,
                        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BIGINT NOT "
                        "NULL)",
                        err) < 0)
                goto fail;
        res = run(&s->w, "SELECT value FROM meta WHERE key = 'schema_version'", NULL, err);
        if (!res)
                goto fail;
        if (PQntuples(res))
                v = col_int(res, 0, 0);
        PQclear(res);
        if (v > SCHEMA_VERSION) {
                idyl_err_set(err, IDYL_E_STORE,
                             "postgres: the store's schema is version %" PRId64
                             ", newer than this idyld's (%" PRId64 ")",
                             v, SCHEMA_VERSION);
                goto fail;
        }
        for (; v < SCHEMA_VERSION; v++)
                if (exec_simple(&s->w, migrations[v], err) < 0)
                        goto fail;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO meta VALUES('schema_version', %" PRId64
                 ") ON CONFLICT(key) DO UPDATE SET value = EXCLUDED.value",
                 v);
        if (exec_simple(&s->w, sql, err) < 0 || exec_simple(&s->w, "COMMIT", err) < 0)
                goto fail;
        return 0;
fail:
        exec_simple(&s->w, "ROLLBACK", NULL);
        return -1;
}

/* ---- subnets ------------------------------------------------------------------ */

/* ---- rows: the shared codec (row.h) over a result --------------------------- */

static const char *res_text(const struct store_row *r, int col)
{
        return PQgetisnull(r->result, r->row, col) ? NULL : PQgetvalue(r->result, r->row, col);
}

static int64_t res_integer(const struct store_row *r, int col)
{
        return col_int(r->result, r->row, col);
}

/* Row `row` of res, for the store_*_read functions. */
static struct store_row row_of(const PGresult *res, int row)
{
        return (struct store_row){res_text, res_integer, res, row};
}

static void param_text(struct store_params *p, const char *v)
{
        p_text(p->target, v); /* NULL is SQL NULL, as p_null sends it */
}

static void param_integer(struct store_params *p, int64_t v)
{
        p_int(p->target, v);
}

/* Appends to p, for the store_*_write functions. */
static struct store_params params_of(struct params *p)
{
        return (struct store_params){param_text, param_integer, p, 0};
}

#define SUBNET_COLUMNS                                                                             \
        "slug, region, policy_set, allowed_classes, default_class, allowed_backends, "             \
        "deploy_approval, created_at, allowed_devices, egress, egress_cidrs"

static int subnet_from_row(const PGresult *res, int row, void *item)
{
        struct store_row r = row_of(res, row);

        store_subnet_read(&r, item);
        return 0;
}

/* Parameters $1..$9 in SUBNET_COLUMNS order; the caller's buffers hold the
 * joined sets. */
static void subnet_params(struct params *p, const struct idyl_subnet *sn, char *classes,
                          char *backends, size_t size)
{
        struct store_params sp = params_of(p);

        store_subnet_write(&sp, sn, classes, backends, size);
}

static int subnet_not_found(uint64_t slug, struct idyl_err *err)
{
        char buf[SUBNET_SLUG_BUFLEN];

        return idyl_err_set(err, IDYL_E_NOT_FOUND, "subnet \"%s\" not found",
                            subnet_slug_format(slug, buf));
}

static int insert_subnet(struct pg_store *s, struct idyl_subnet *sn, struct idyl_err *err)
{
        char classes[64], backends[64];
        struct params p = {0};
        PGresult *res;

        res = run(&s->w,
                  "UPDATE meta SET value = value + 1 WHERE key = 'next_subnet_slug' "
                  "RETURNING value - 1",
                  NULL, err);
        if (!res)
                return -1;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return idyl_err_set(err, IDYL_E_STORE, "postgres: next slug: no sequence");
        }
        sn->slug = (uint64_t)col_int(res, 0, 0);
        PQclear(res);
        if (sn->created_at == 0)
                sn->created_at = (int64_t)time(NULL);
        subnet_params(&p, sn, classes, backends, sizeof(classes));
        return run_done(&s->w,
                        "INSERT INTO subnets(" SUBNET_COLUMNS
                        ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
                        &p, NULL, err);
}

static int pg_subnet_create(struct idyl_store *st, struct idyl_subnet *sn, struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, insert_subnet(to_pg(st), sn, err));
}

static int pg_subnet_get(struct idyl_store *st, uint64_t slug, struct idyl_subnet *out,
                         struct idyl_err *err)
{
        struct params p = {0};
        int rc;

        p_int(&p, (int64_t)slug);
        rc = query_one(to_pg(st), "SELECT " SUBNET_COLUMNS " FROM subnets WHERE slug = $1", &p,
                       subnet_from_row, out, err);
        if (rc == 0)
                return subnet_not_found(slug, err);
        return rc < 0 ? -1 : 0;
}

static const struct row_reader subnet_rows = {"list subnets", sizeof(struct idyl_subnet),
                                              subnet_from_row, NULL};

static int pg_subnet_list(struct idyl_store *st, struct idyl_subnet **out, size_t *n,
                          struct idyl_err *err)
{
        return query_rows(to_pg(st), "SELECT " SUBNET_COLUMNS " FROM subnets ORDER BY slug", NULL,
                          &subnet_rows, out, n, err);
}

static int pg_subnet_page(struct idyl_store *st, struct store_page *pg, struct idyl_subnet **out,
                          size_t *n, struct idyl_err *err)
{
        struct params p = {0};
        uint64_t after = 0;

        pg->next[0] = '\0';
        if (store_page_check(pg, NULL, err) < 0 ||
            (pg->after[0] && subnet_slug_parse(pg->after, &after, NULL) < 0))
                return idyl_err_set(err, IDYL_E_INVALID, "invalid page key \"%.80s\"", pg->after);
        p_int(&p, (int64_t)after);
        p_int(&p, (int64_t)pg->limit + 1);
        if (query_rows(to_pg(st),
                       "SELECT " SUBNET_COLUMNS
                       " FROM subnets WHERE slug > $1 ORDER BY slug LIMIT $2",
                       &p, &subnet_rows, out, n, err) < 0)
                return -1;
        if (store_page_trim(pg, *out, sizeof(**out), n, NULL))
                subnet_slug_format((*out)[*n - 1].slug, pg->next);
        return 0;
}

/* A page of the rows of one subnet keyed by name (`sql` binds subnet $1,
 * the name after $2, the limit $3), pg->next set. Names compare bytewise
 * (COLLATE "C"), as in the lists. */
static int name_page(struct idyl_store *st, const char *sql, uint64_t subnet, struct store_page *pg,
                     const struct store_named_items *k, const struct row_reader *r, void *out,
                     size_t *n, struct idyl_err *err)
{
        struct params p = {0};

        pg->next[0] = '\0';
        if (store_page_check(pg, k->check, err) < 0)
                return -1;
        p_int(&p, (int64_t)subnet);
        p_text(&p, pg->after);
        p_int(&p, (int64_t)pg->limit + 1);
        if (query_rows(to_pg(st), sql, &p, r, out, n, err) < 0)
                return -1;
        store_page_end_named(pg, k, *(void **)out, n);
        return 0;
}

static int update_subnet(struct pg_store *s, const struct idyl_subnet *sn, struct idyl_err *err)
{
        char classes[64], backends[64];
        struct params p = {0};
        long changed = 0;

        subnet_params(&p, sn, classes, backends, sizeof(classes));
        if (run_done(&s->w,
                     "UPDATE subnets SET region = $2, policy_set = $3, allowed_classes = $4, "
                     "default_class = $5, allowed_backends = $6, deploy_approval = $7, "
                     "allowed_devices = $9, egress = $10, egress_cidrs = $11 "
                     "WHERE slug = $1 AND $8::bigint IS NOT NULL",
                     &p, &changed, err) < 0)
                return -1;
        return changed ? 0 : subnet_not_found(sn->slug, err);
}

static int pg_subnet_update(struct idyl_store *st, const struct idyl_subnet *sn,
                            struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, update_subnet(to_pg(st), sn, err));
}

static int delete_subnet(struct pg_store *s, uint64_t slug, struct idyl_err *err)
{
        struct params p = {0};
        long changed = 0;

        p_int(&p, (int64_t)slug);
        /* credentials scoped to it stop working with it, and its secrets go */
        if (run_done(&s->w, "DELETE FROM tokens WHERE subnet = $1", &p, NULL, err) < 0 ||
            run_done(&s->w, "DELETE FROM secrets WHERE subnet = $1", &p, NULL, err) < 0 ||
            run_done(&s->w, "DELETE FROM subnets WHERE slug = $1", &p, &changed, err) < 0)
                return -1;
        return changed ? 0 : subnet_not_found(slug, err);
}

static int pg_subnet_delete(struct idyl_store *st, uint64_t slug, struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, delete_subnet(to_pg(st), slug, err));
}

/* ---- workloads ------------------------------------------------------------------ */

#define WORKLOAD_COLUMNS                                                                           \
        "subnet, name, revision, spec, phase, isolation, source, node, runtime_profile, message, " \
        "placement, restarts, created_at, updated_at, platform, cpu_milli, memory_bytes, gpus, "   \
        "devices, ip"

static int workload_from_row(const PGresult *res, int row, void *item)
{
        struct store_row r = row_of(res, row);

        if (store_workload_read(&r, item) < 0) {
                workload_release(item);
                return -1;
        }
        return 0;
}

static void workload_params(struct params *p, const struct idyl_workload *w)
{
        struct store_params sp = params_of(p);

        store_workload_write(&sp, w);
}

static int workload_not_found(uint64_t subnet, const char *name, struct idyl_err *err)
{
        char buf[SUBNET_SLUG_BUFLEN];

        return idyl_err_set(err, IDYL_E_NOT_FOUND, "workload \"%s\" not found in subnet \"%s\"",
                            name, subnet_slug_format(subnet, buf));
}

static int pg_workload_get(struct idyl_store *st, uint64_t subnet, const char *name,
                           struct idyl_workload *out, struct idyl_err *err)
{
        struct params p = {0};
        int rc;

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        rc = query_one(to_pg(st),
                       "SELECT " WORKLOAD_COLUMNS " FROM workloads WHERE subnet = $1 AND name = $2",
                       &p, workload_from_row, out, err);
        if (rc == 0)
                return workload_not_found(subnet, name, err);
        return rc < 0 ? -1 : 0;
}

static void release_workloads(void *items, size_t n)
{
        workload_list_free(items, n);
}

static const struct row_reader workload_rows = {"list workloads", sizeof(struct idyl_workload),
                                                workload_from_row, release_workloads};

/* [subnet given][node given], each with its own plan. Names sort bytewise
 * (COLLATE "C"), as SQLite's do. */
static const char *const workload_list_sql[2][2] = {
    {"SELECT " WORKLOAD_COLUMNS " FROM workloads ORDER BY subnet, name COLLATE \"C\"",
     "SELECT " WORKLOAD_COLUMNS
     " FROM workloads WHERE node = $2 AND $1::bigint = 0 ORDER BY subnet, name COLLATE \"C\""},
    {"SELECT " WORKLOAD_COLUMNS
     " FROM workloads WHERE subnet = $1 AND $2::text IS NULL ORDER BY name COLLATE \"C\"",
     "SELECT " WORKLOAD_COLUMNS
     " FROM workloads WHERE subnet = $1 AND node = $2 ORDER BY name COLLATE \"C\""},
};

static int pg_workload_list(struct idyl_store *st, uint64_t subnet, const char *node,
                            struct idyl_workload **out, size_t *n, struct idyl_err *err)
{
        struct params p = {0};
        const char *sql = workload_list_sql[subnet != 0][node != NULL];

        if (subnet || node) {
                p_int(&p, (int64_t)subnet);
                if (node)
                        p_text(&p, node);
                else
                        p_null(&p);
        }
        return query_rows(to_pg(st), sql, &p, &workload_rows, out, n, err);
}

static int pg_workload_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                            struct idyl_workload **out, size_t *n, struct idyl_err *err)
{
        return name_page(st,
                         "SELECT " WORKLOAD_COLUMNS " FROM workloads WHERE subnet = $1 AND name "
                         "COLLATE \"C\" > $2 ORDER BY name COLLATE \"C\" LIMIT $3",
                         subnet, pg, &store_workload_names, &workload_rows, out, n, err);
}

static int usage_from_row(const PGresult *res, int row, void *item)
{
        struct store_row r = row_of(res, row);

        store_usage_read(&r, item);
        return 0;
}

static const struct row_reader usage_rows = {"sum node usage", sizeof(struct idyl_node_usage),
                                             usage_from_row, NULL};

static int pg_workload_usage(struct idyl_store *st, uint64_t subnet, struct idyl_node_usage **out,
                             size_t *n, struct idyl_err *err)
{
        struct params p = {0};

        p_int(&p, (int64_t)subnet);
        return query_rows(to_pg(st),
                          "SELECT node, isolation, SUM(cpu_milli), SUM(memory_bytes), SUM(gpus), "
                          "COUNT(*) FROM workloads WHERE subnet = $1 AND node > '' "
                          "GROUP BY node, isolation ORDER BY node COLLATE \"C\", isolation",
                          &p, &usage_rows, out, n, err);
}

static int put_workload(struct pg_store *s, const struct idyl_workload *w, struct idyl_err *err)
{
        struct params p = {0};

        workload_params(&p, w);
        return run_done(
            &s->w,
            "INSERT INTO workloads(" WORKLOAD_COLUMNS
            ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,"
            "$19,$20) ON CONFLICT(subnet, name) DO UPDATE SET revision = EXCLUDED.revision,"
            " spec = EXCLUDED.spec, phase = EXCLUDED.phase,"
            " isolation = EXCLUDED.isolation, source = EXCLUDED.source,"
            " node = EXCLUDED.node, runtime_profile = EXCLUDED.runtime_profile,"
            " message = EXCLUDED.message, placement = EXCLUDED.placement,"
            " restarts = EXCLUDED.restarts, created_at = EXCLUDED.created_at,"
            " updated_at = EXCLUDED.updated_at, platform = EXCLUDED.platform,"
            " cpu_milli = EXCLUDED.cpu_milli, memory_bytes = EXCLUDED.memory_bytes,"
            " gpus = EXCLUDED.gpus, devices = EXCLUDED.devices, ip = EXCLUDED.ip",
            &p, NULL, err);
}

static int pg_workload_put(struct idyl_store *st, const struct idyl_workload *w,
                           struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, put_workload(to_pg(st), w, err));
}

static int delete_workload(struct pg_store *s, uint64_t subnet, const char *name,
                           struct idyl_err *err)
{
        struct params p = {0};
        long changed = 0;

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        if (run_done(&s->w, "DELETE FROM events WHERE subnet = $1 AND name = $2", &p, NULL, err) <
                0 ||
            run_done(&s->w, "DELETE FROM workloads WHERE subnet = $1 AND name = $2", &p, &changed,
                     err) < 0)
                return -1;
        return changed ? 0 : workload_not_found(subnet, name, err);
}

static int pg_workload_delete(struct idyl_store *st, uint64_t subnet, const char *name,
                              struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, delete_workload(to_pg(st), subnet, name, err));
}

static int insert_event(struct pg_store *s, uint64_t subnet, const char *name,
                        const struct idyl_event *ev, struct idyl_err *err)
{
        struct params p = {0};

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        p_int(&p, ev->revision);
        p_int(&p, ev->time ? ev->time : (int64_t)time(NULL));
        p_text(&p, ev->type);
        p_text(&p, ev->message);
        return run_done(&s->w,
                        "INSERT INTO events(subnet, name, revision, time, type, message) "
                        "VALUES($1,$2,$3,$4,$5,$6)",
                        &p, NULL, err);
}

static int pg_event_add(struct idyl_store *st, uint64_t subnet, const char *name,
                        const struct idyl_event *ev, struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, insert_event(to_pg(st), subnet, name, ev, err));
}

static int event_from_row(const PGresult *res, int row, void *item)
{
        struct store_row r = row_of(res, row);

        store_event_read(&r, item);
        return 0;
}

static const struct row_reader event_rows = {"list events", sizeof(struct idyl_event),
                                             event_from_row, NULL};

static int pg_event_list(struct idyl_store *st, uint64_t subnet, const char *name,
                         struct idyl_event **out, size_t *n, struct idyl_err *err)
{
        struct params p = {0};

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        return query_rows(to_pg(st),
                          "SELECT time, revision, type, message FROM events WHERE subnet = $1 AND "
                          "name = $2 ORDER BY id",
                          &p, &event_rows, out, n, err);
}

/* ---- nodes ------------------------------------------------------------------ */

#define NODE_COLUMNS                                                                               \
        "subnet, name, admission, simulated, profile, provider, handler, isolation, backend, "     \
        "runtime_ready, reason, microvm_gpu, platform, cpu_milli, memory_bytes, gpus, "            \
        "last_heartbeat, down, assign_version, created_at, devices, eligibility"

static int node_from_row(const PGresult *res, int row, void *item)
{
        struct store_row r = row_of(res, row);

        store_node_read(&r, item);
        return 0;
}

static void node_params(struct params *p, const struct idyl_node *nd)
{
        struct store_params sp = params_of(p);

        store_node_write(&sp, nd);
}

static int node_not_found(uint64_t subnet, const char *name, struct idyl_err *err)
{
        char buf[SUBNET_SLUG_BUFLEN];

        return idyl_err_set(err, IDYL_E_NOT_FOUND, "node \"%s\" not found in subnet \"%s\"", name,
                            subnet_slug_format(subnet, buf));
}

static int pg_node_get(struct idyl_store *st, uint64_t subnet, const char *name,
                       struct idyl_node *out, struct idyl_err *err)
{
        struct params p = {0};
        int rc;

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        rc = query_one(to_pg(st),
                       "SELECT " NODE_COLUMNS " FROM nodes WHERE subnet = $1 AND name = $2", &p,
                       node_from_row, out, err);
        if (rc == 0)
                return node_not_found(subnet, name, err);
        return rc < 0 ? -1 : 0;
}

static const struct row_reader node_rows = {"list nodes", sizeof(struct idyl_node), node_from_row,
                                            NULL};

static int pg_node_list(struct idyl_store *st, uint64_t subnet, struct idyl_node **out, size_t *n,
                        struct idyl_err *err)
{
        struct params p = {0};

        p_int(&p, (int64_t)subnet);
        return query_rows(to_pg(st),
                          "SELECT " NODE_COLUMNS
                          " FROM nodes WHERE ($1::bigint = 0 OR subnet = $1) "
                          "ORDER BY subnet, name COLLATE \"C\"",
                          &p, &node_rows, out, n, err);
}

static int pg_node_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                        struct idyl_node **out, size_t *n, struct idyl_err *err)
{
        return name_page(st,
                         "SELECT " NODE_COLUMNS
                         " FROM nodes WHERE subnet = $1 AND name COLLATE \"C\" "
                         "> $2 ORDER BY name COLLATE \"C\" LIMIT $3",
                         subnet, pg, &store_node_names, &node_rows, out, n, err);
}

static int put_node(struct pg_store *s, const struct idyl_node *nd, struct idyl_err *err)
{
        struct params p = {0};

        node_params(&p, nd);
        return run_done(
            &s->w,
            "INSERT INTO nodes(" NODE_COLUMNS ") "
            "VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)"
            " ON CONFLICT(subnet, name) DO UPDATE SET admission = EXCLUDED.admission,"
            " simulated = EXCLUDED.simulated, profile = EXCLUDED.profile,"
            " provider = EXCLUDED.provider, handler = EXCLUDED.handler,"
            " isolation = EXCLUDED.isolation, backend = EXCLUDED.backend,"
            " runtime_ready = EXCLUDED.runtime_ready, reason = EXCLUDED.reason,"
            " microvm_gpu = EXCLUDED.microvm_gpu, platform = EXCLUDED.platform,"
            " cpu_milli = EXCLUDED.cpu_milli, memory_bytes = EXCLUDED.memory_bytes,"
            " gpus = EXCLUDED.gpus, last_heartbeat = EXCLUDED.last_heartbeat,"
            " down = EXCLUDED.down, assign_version = EXCLUDED.assign_version,"
            " created_at = EXCLUDED.created_at, devices = EXCLUDED.devices,"
            " eligibility = EXCLUDED.eligibility",
            &p, NULL, err);
}

static int pg_node_put(struct idyl_store *st, const struct idyl_node *nd, struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, put_node(to_pg(st), nd, err));
}

static int delete_node(struct pg_store *s, uint64_t subnet, const char *name, struct idyl_err *err)
{
        struct params p = {0};
        long changed = 0;

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        if (run_done(&s->w, "DELETE FROM tokens WHERE subnet = $1 AND node = $2", &p, NULL, err) <
                0 ||
            run_done(&s->w, "DELETE FROM node_replicas WHERE subnet = $1 AND name = $2", &p, NULL,
                     err) < 0 ||
            run_done(&s->w, "DELETE FROM nodes WHERE subnet = $1 AND name = $2", &p, &changed,
                     err) < 0)
                return -1;
        return changed ? 0 : node_not_found(subnet, name, err);
}

static int pg_node_delete(struct idyl_store *st, uint64_t subnet, const char *name,
                          struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, delete_node(to_pg(st), subnet, name, err));
}

static int bump_assignments(struct pg_store *s, uint64_t subnet, const char *name,
                            struct idyl_err *err)
{
        struct params p = {0};

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        return run_done(&s->w,
                        "UPDATE nodes SET assign_version = assign_version + 1 WHERE subnet = $1 "
                        "AND name = $2",
                        &p, NULL, err);
}

static int pg_node_bump_assignments(struct idyl_store *st, uint64_t subnet, const char *name,
                                    struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, bump_assignments(to_pg(st), subnet, name, err));
}

/* ---- tokens ------------------------------------------------------------------ */

static int insert_token(struct pg_store *s, const struct idyl_token *tok, struct idyl_err *err)
{
        struct params p = {0};

        p_text(&p, tok->hash);
        p_text(&p, idyl_role_name(tok->role));
        p_int(&p, (int64_t)tok->subnet);
        p_int(&p, tok->created_at ? tok->created_at : (int64_t)time(NULL));
        p_text(&p, tok->node);
        return run_done(&s->w,
                        "INSERT INTO tokens(hash, role, subnet, created_at, node) "
                        "VALUES($1,$2,$3,$4,$5)",
                        &p, NULL, err);
}

static int pg_token_add(struct idyl_store *st, const struct idyl_token *tok, struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, insert_token(to_pg(st), tok, err));
}

static int token_row(const PGresult *res, int row, void *item)
{
        struct store_row r = row_of(res, row);

        store_token_read(&r, item);
        return 0;
}

static int pg_token_find(struct idyl_store *st, const char *hash, struct idyl_token *out,
                         struct idyl_err *err)
{
        struct params p = {0};
        int rc;

        p_text(&p, hash);
        rc = query_one(to_pg(st),
                       "SELECT hash, role, subnet, created_at, node FROM tokens WHERE hash = $1",
                       &p, token_row, out, err);
        if (rc == 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "token not found");
        return rc < 0 ? -1 : 0;
}

static int count_row(const PGresult *r, int row, void *item)
{
        *(size_t *)item = (size_t)col_int(r, row, 0);
        return 0;
}

static int pg_token_count(struct idyl_store *st, enum idyl_role role, size_t *n,
                          struct idyl_err *err)
{
        struct params p = {0};

        p_text(&p, idyl_role_name(role));
        return query_one(to_pg(st), "SELECT count(*) FROM tokens WHERE role = $1", &p, count_row, n,
                         err) < 0
                   ? -1
                   : 0;
}

static const struct row_reader token_rows = {"list tokens", sizeof(struct idyl_token), token_row,
                                             NULL};

static int pg_token_list(struct idyl_store *st, uint64_t subnet, struct idyl_token **out, size_t *n,
                         struct idyl_err *err)
{
        struct params p = {0};

        p_int(&p, (int64_t)subnet);
        return query_rows(
            to_pg(st),
            "SELECT hash, role, subnet, created_at, node FROM tokens WHERE $1::bigint = 0 "
            "OR subnet = $1 ORDER BY created_at, seq",
            &p, &token_rows, out, n, err);
}

static int keyed_token_row(const PGresult *r, int row, void *item)
{
        struct store_keyed_token *k = item;

        if (token_row(r, row, &k->token) < 0)
                return -1;
        k->seq = col_int(r, row, 5);
        return 0;
}

static const struct row_reader keyed_token_rows = {"list tokens", sizeof(struct store_keyed_token),
                                                   keyed_token_row, NULL};

static int pg_token_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                         struct idyl_token **out, size_t *n, struct idyl_err *err)
{
        struct store_keyed_token *keyed = NULL;
        struct params p = {0};
        int64_t created_at, seq;

        pg->next[0] = '\0';
        if (store_page_check(pg, NULL, err) < 0 ||
            store_token_key_parse(pg->after, &created_at, &seq) < 0)
                return idyl_err_set(err, IDYL_E_INVALID, "invalid page key \"%.80s\"", pg->after);
        p_int(&p, (int64_t)subnet);
        p_int(&p, created_at);
        p_int(&p, seq);
        p_int(&p, (int64_t)pg->limit + 1);
        if (query_rows(to_pg(st),
                       "SELECT hash, role, subnet, created_at, node, seq FROM tokens "
                       "WHERE ($1::bigint = 0 OR subnet = $1) AND (created_at, seq) > ($2, $3) "
                       "ORDER BY created_at, seq LIMIT $4",
                       &p, &keyed_token_rows, &keyed, n, err) < 0)
                return -1;
        return store_token_page_finish(pg, keyed, out, n, err);
}

static int revoke_token(struct pg_store *s, const char *id, struct idyl_token *out,
                        struct idyl_err *err)
{
        struct params p = {0};
        PGresult *res;
        int found;

        if (strlen(id) != TOKEN_ID_LEN || strspn(id, "0123456789abcdef") != TOKEN_ID_LEN)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "token \"%s\" not found", id);
        p_text(&p, id);
        res =
            run(&s->w,
                "DELETE FROM tokens WHERE hash = (SELECT hash FROM tokens WHERE "
                "substr(hash, 1, 12) = $1 LIMIT 1) RETURNING hash, role, subnet, created_at, node",
                &p, err);
        if (!res)
                return -1;
        found = PQntuples(res) > 0;
        if (found)
                token_row(res, 0, out);
        PQclear(res);
        return found ? 0 : idyl_err_set(err, IDYL_E_NOT_FOUND, "token \"%s\" not found", id);
}

static int pg_token_revoke(struct idyl_store *st, const char *id, struct idyl_token *out,
                           struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, revoke_token(to_pg(st), id, out, err));
}

/* ---- audit ------------------------------------------------------------------ */

static int insert_audit(struct pg_store *s, const struct idyl_audit *a, struct idyl_err *err)
{
        struct params p = {0};
        struct timespec ts;
        int64_t t = a->time_ms;

        if (!t) {
                clock_gettime(CLOCK_REALTIME, &ts);
                t = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        }
        p_int(&p, t);
        p_text(&p, a->token);
        p_text(&p, idyl_role_name(a->role));
        p_text(&p, a->node);
        p_text(&p, a->method);
        p_text(&p, a->path);
        p_int(&p, (int64_t)a->subnet);
        p_int(&p, a->status);
        return run_done(&s->w,
                        "INSERT INTO audit(time, token, role, node, method, path, subnet, status) "
                        "VALUES($1,$2,$3,$4,$5,$6,$7,$8)",
                        &p, NULL, err);
}

static int pg_audit_add(struct idyl_store *st, const struct idyl_audit *a, struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, insert_audit(to_pg(st), a, err));
}

static int audit_row(const PGresult *res, int row, void *item)
{
        struct store_row r = row_of(res, row);

        store_audit_read(&r, item);
        return 0;
}

static const struct row_reader audit_rows = {"list audit records", sizeof(struct idyl_audit),
                                             audit_row, NULL};

static int pg_audit_list(struct idyl_store *st, uint64_t subnet, size_t limit,
                         struct idyl_audit **out, size_t *n, struct idyl_err *err)
{
        struct params p = {0};

        p_int(&p, (int64_t)subnet);
        if (limit)
                p_int(&p, (int64_t)limit);
        else
                p_null(&p);
        return query_rows(to_pg(st),
                          "SELECT id, time, token, role, node, method, path, subnet, status FROM "
                          "audit WHERE $1::bigint = 0 OR subnet = $1 ORDER BY id DESC LIMIT $2",
                          &p, &audit_rows, out, n, err);
}

/* ---- settings ------------------------------------------------------------------ */

static int ensure_setting(struct pg_store *s, const char *key, const char *value, char *out,
                          size_t size, struct idyl_err *err)
{
        struct params p = {0};
        PGresult *res;
        int rc = 0;

        p_text(&p, key);
        p_text(&p, value);
        if (run_done(&s->w,
                     "INSERT INTO settings(key, value) VALUES($1, $2) ON CONFLICT DO NOTHING", &p,
                     NULL, err) < 0)
                return -1;
        p.n = 1;
        res = run(&s->w, "SELECT value FROM settings WHERE key = $1", &p, err);
        if (!res)
                return -1;
        if (PQntuples(res) == 1)
                col_copy(res, 0, 0, out, size);
        else
                rc = idyl_err_set(err, IDYL_E_STORE, "postgres: read setting \"%s\"", key);
        PQclear(res);
        return rc;
}

static int pg_setting_ensure(struct idyl_store *st, const char *key, const char *value, char *out,
                             size_t size, struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, ensure_setting(to_pg(st), key, value, out, size, err));
}

/* ---- secrets ------------------------------------------------------------------ */

static int secret_not_found(uint64_t subnet, const char *name, struct idyl_err *err)
{
        char slug[SUBNET_SLUG_BUFLEN];

        return idyl_err_set(err, IDYL_E_NOT_FOUND, MSG_SECRET_NOT_FOUND, name,
                            subnet_slug_format(subnet, slug));
}

static int insert_secret(struct pg_store *s, const struct idyl_secret *sec, struct idyl_err *err)
{
        char slug[SUBNET_SLUG_BUFLEN];
        struct params p = {0};
        long changed = 0;

        p_int(&p, (int64_t)sec->subnet);
        p_text(&p, sec->name);
        p_text(&p, sec->keys);
        p_bin(&p, sec->sealed, sec->sealed_len);
        p_int(&p, sec->created_at);
        p_int(&p, sec->updated_at);
        if (run_done(&s->w,
                     "INSERT INTO secrets(subnet, name, keys, sealed, created_at, updated_at) "
                     "VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT(subnet, name) DO NOTHING",
                     &p, &changed, err) < 0)
                return -1;
        if (!changed)
                return idyl_err_set(err, IDYL_E_CONFLICT,
                                    "secret \"%s\" already exists in subnet %s", sec->name,
                                    subnet_slug_format(sec->subnet, slug));
        return 0;
}

static int pg_secret_create(struct idyl_store *st, const struct idyl_secret *sec,
                            struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, insert_secret(to_pg(st), sec, err));
}

static int update_secret(struct pg_store *s, const struct idyl_secret *sec, struct idyl_err *err)
{
        struct params p = {0};
        long changed = 0;

        p_text(&p, sec->keys);
        p_bin(&p, sec->sealed, sec->sealed_len);
        p_int(&p, sec->updated_at);
        p_int(&p, (int64_t)sec->subnet);
        p_text(&p, sec->name);
        if (run_done(&s->w,
                     "UPDATE secrets SET keys = $1, sealed = $2, updated_at = $3 "
                     "WHERE subnet = $4 AND name = $5",
                     &p, &changed, err) < 0)
                return -1;
        return changed ? 0 : secret_not_found(sec->subnet, sec->name, err);
}

static int pg_secret_update(struct idyl_store *st, const struct idyl_secret *sec,
                            struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, update_secret(to_pg(st), sec, err));
}

/* Columns: subnet, name, keys, created_at, updated_at [, sealed as bytea text]. */
static int secret_from_row(const PGresult *r, int row, struct idyl_secret *out, bool with_sealed)
{
        unsigned char *raw;
        size_t len;

        memset(out, 0, sizeof(*out));
        out->subnet = (uint64_t)col_int(r, row, 0);
        col_copy(r, row, 1, out->name, sizeof(out->name));
        out->keys = col_strdup(r, row, 2);
        out->created_at = col_int(r, row, 3);
        out->updated_at = col_int(r, row, 4);
        if (!out->keys)
                return -1;
        if (!with_sealed)
                return 0;
        raw = PQunescapeBytea((const unsigned char *)col_text(r, row, 5), &len);
        if (!raw)
                return -1;
        out->sealed = malloc(len ? len : 1);
        if (out->sealed)
                memcpy(out->sealed, raw, len);
        out->sealed_len = out->sealed ? len : 0;
        PQfreemem(raw);
        return out->sealed ? 0 : -1;
}

static int secret_full_row(const PGresult *r, int row, void *item)
{
        if (secret_from_row(r, row, item, true) < 0) {
                secret_release(item);
                return -1;
        }
        return 0;
}

static int pg_secret_get(struct idyl_store *st, uint64_t subnet, const char *name,
                         struct idyl_secret *out, struct idyl_err *err)
{
        struct params p = {0};
        int rc;

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        rc = query_one(to_pg(st),
                       "SELECT subnet, name, keys, created_at, updated_at, sealed FROM secrets "
                       "WHERE subnet = $1 AND name = $2",
                       &p, secret_full_row, out, err);
        if (rc == 0)
                return secret_not_found(subnet, name, err);
        return rc < 0 ? -1 : 0;
}

static int secret_meta_row(const PGresult *r, int row, void *item)
{
        secret_from_row(r, row, item, false); /* keys NULL when out of memory: shown as [] */
        return 0;
}

static void release_secrets(void *items, size_t n)
{
        secret_list_free(items, n);
}

static const struct row_reader secret_rows = {"list secrets", sizeof(struct idyl_secret),
                                              secret_meta_row, release_secrets};

static int pg_secret_list(struct idyl_store *st, uint64_t subnet, struct idyl_secret **out,
                          size_t *n, struct idyl_err *err)
{
        struct params p = {0};

        p_int(&p, (int64_t)subnet);
        return query_rows(to_pg(st),
                          "SELECT subnet, name, keys, created_at, updated_at FROM secrets "
                          "WHERE subnet = $1 ORDER BY name COLLATE \"C\"",
                          &p, &secret_rows, out, n, err);
}

static int pg_secret_page(struct idyl_store *st, uint64_t subnet, struct store_page *pg,
                          struct idyl_secret **out, size_t *n, struct idyl_err *err)
{
        return name_page(st,
                         "SELECT subnet, name, keys, created_at, updated_at FROM secrets WHERE "
                         "subnet = $1 AND name COLLATE \"C\" > $2 ORDER BY name COLLATE \"C\" "
                         "LIMIT $3",
                         subnet, pg, &store_secret_names, &secret_rows, out, n, err);
}

static int delete_secret(struct pg_store *s, uint64_t subnet, const char *name,
                         struct idyl_err *err)
{
        struct params p = {0};
        long changed = 0;

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        if (run_done(&s->w, "DELETE FROM secrets WHERE subnet = $1 AND name = $2", &p, &changed,
                     err) < 0)
                return -1;
        return changed ? 0 : secret_not_found(subnet, name, err);
}

static int pg_secret_delete(struct idyl_store *st, uint64_t subnet, const char *name,
                            struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, delete_secret(to_pg(st), subnet, name, err));
}

/* ---- history ------------------------------------------------------------------ */

static int prune_history(struct pg_store *s, int64_t before_ms, size_t *removed,
                         struct idyl_err *err)
{
        struct params ev = {0}, au = {0};
        long n = 0;

        /* events keep unix seconds, audit records milliseconds */
        p_int(&ev, before_ms / 1000);
        p_int(&au, before_ms);
        *removed = 0;
        if (run_done(&s->w, "DELETE FROM events WHERE time < $1", &ev, &n, err) < 0)
                return -1;
        *removed += (size_t)n;
        if (run_done(&s->w, "DELETE FROM audit WHERE time < $1", &au, &n, err) < 0)
                return -1;
        *removed += (size_t)n;
        return 0;
}

static int pg_history_prune(struct idyl_store *st, int64_t before_ms, size_t *removed,
                            struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, prune_history(to_pg(st), before_ms, removed, err));
}

/* ---- several replicas ------------------------------------------------------------ */

/* Leadership is a session-level advisory lock held by a connection of its
 * own: a killed leader's connection closes and frees it at once. The lease
 * row says which epoch leads and when it last renewed, by the server's
 * clock; a holder silent past STORE_LEASE_TIMEOUT_S (hung, or cut off while
 * its connection lingers) has its backend ended so a follower can lead. */
static int pg_lease_acquire(struct idyl_store *st, int64_t *epoch, struct idyl_err *err)
{
        struct pg_store *s = to_pg(st);
        struct params p = {0};
        PGresult *res;
        int rc = -1;

        pthread_mutex_lock(&s->lmu);
        if (conn_ensure(s, &s->l, err) < 0)
                goto out;
        p_int(&p, LOCK_NS);
        p_int(&p, LOCK_LEADER);
        res = run(&s->l, "SELECT pg_try_advisory_lock($1::int, $2::int)", &p, err);
        if (!res)
                goto out;
        rc = strcmp(col_text(res, 0, 0), "t") == 0;
        PQclear(res);
        if (!rc) {
                p_int(&p, STORE_LEASE_TIMEOUT_S);
                if (run_done(&s->l,
                             "SELECT pg_terminate_backend(l.pid) FROM pg_locks l, leader_lease e "
                             "WHERE l.locktype = 'advisory' AND l.classid = $1::int::oid AND "
                             "l.objid = $2::int::oid AND l.objsubid = 2 AND l.granted AND "
                             "e.id = 1 AND e.renewed_at < now() - make_interval(secs => $3)",
                             &p, NULL, err) < 0)
                        rc = -1;
                goto out;
        }
        res = run(&s->l,
                  "UPDATE leader_lease SET epoch = epoch + 1, renewed_at = now() WHERE id = 1 "
                  "RETURNING epoch",
                  NULL, err);
        if (!res || PQntuples(res) != 1) {
                if (res)
                        idyl_err_set(err, IDYL_E_STORE, "postgres: the lease row is missing");
                PQclear(res);
                PQfinish(s->l.c); /* let the lock go with the session */
                s->l.c = NULL;
                rc = -1;
                goto out;
        }
        *epoch = col_int(res, 0, 0);
        PQclear(res);
out:
        pthread_mutex_unlock(&s->lmu);
        return rc;
}

static int pg_lease_renew(struct idyl_store *st, int64_t epoch, struct idyl_err *err)
{
        struct pg_store *s = to_pg(st);
        struct params p = {0};
        long changed = 0;
        int rc = -1;

        pthread_mutex_lock(&s->lmu);
        if (!s->l.c || PQstatus(s->l.c) != CONNECTION_OK) {
                idyl_err_set(err, IDYL_E_STORE, "postgres: the lease's connection is gone");
                goto out;
        }
        p_int(&p, epoch);
        if (run_done(&s->l,
                     "UPDATE leader_lease SET renewed_at = now() WHERE id = 1 AND epoch = $1", &p,
                     &changed, err) < 0)
                goto out;
        if (!changed) {
                idyl_err_set(err, IDYL_E_CONFLICT, "epoch %" PRId64 " no longer leads", epoch);
                goto out;
        }
        rc = 0;
out:
        if (rc < 0 && s->l.c) {
                PQfinish(s->l.c); /* a lost lease lets its lock go too */
                s->l.c = NULL;
        }
        pthread_mutex_unlock(&s->lmu);
        return rc;
}

static int lease_check(struct pg_store *s, int64_t epoch, struct idyl_err *err)
{
        struct params p = {0};
        PGresult *res;
        int found;

        p_int(&p, epoch);
        res =
            run(&s->w, "SELECT 1 FROM leader_lease WHERE id = 1 AND epoch = $1 FOR SHARE", &p, err);
        if (!res)
                return -1;
        found = PQntuples(res) == 1;
        PQclear(res);
        return found ? 0
                     : idyl_err_set(err, IDYL_E_CONFLICT,
                                    "epoch %" PRId64 " no longer leads: not committed", epoch);
}

static int pg_lease_check(struct idyl_store *st, int64_t epoch, struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, lease_check(to_pg(st), epoch, err));
}

static int publish(struct pg_store *s, const char *message, struct idyl_err *err)
{
        struct params p = {0};

        p_text(&p, message);
        return run_done(&s->w, "SELECT pg_notify('idyl', $1)", &p, NULL, err);
}

static int publish_conn_open(struct pg_store *s, struct idyl_err *err)
{
        if (conn_open(s, &s->p, err) < 0)
                return -1;
        return exec_simple(&s->p, "SET synchronous_commit = off", err);
}

/* Inside a unit, published in the group: delivered at its COMMIT. Outside,
 * on a connection of its own without waiting for a WAL flush: a message is
 * a wake-up about data already committed, not data. A message is safe to
 * send twice, so one that meets a connection the server cut (it restarted
 * or failed over while the connection sat idle) goes again on a new one:
 * a lost message would be a lost scheduler kick. */
static int pg_publish(struct idyl_store *st, const char *message, struct idyl_err *err)
{
        static const char sql[] = "SELECT pg_notify('idyl', $1)";
        struct pg_store *s = to_pg(st);
        struct params p = {0};
        PGresult *res = NULL;
        int rc;

        if (unit_holder == s)
                WRITE_UNIT(s, err, publish(s, message, err));
        p_text(&p, message);
        pthread_mutex_lock(&s->pmu);
        if (!s->p.c || PQstatus(s->p.c) != CONNECTION_OK) {
                if (publish_conn_open(s, err) < 0)
                        goto out;
        }
        res = run(&s->p, sql, &p, err);
        if (!res && PQstatus(s->p.c) == CONNECTION_BAD && publish_conn_open(s, err) == 0)
                res = run(&s->p, sql, &p, err);
out:
        pthread_mutex_unlock(&s->pmu);
        rc = res ? 0 : -1;
        PQclear(res);
        return rc;
}

static int pg_receive(struct idyl_store *st, int timeout_ms,
                      void (*fn)(void *arg, const char *message), void *arg, struct idyl_err *err)
{
        struct pg_store *s = to_pg(st);
        struct pollfd pfd;
        PGnotify *nt;

        if (!s->n.c || PQstatus(s->n.c) != CONNECTION_OK) {
                if (conn_open(s, &s->n, err) < 0 || exec_simple(&s->n, "LISTEN idyl", err) < 0) {
                        PQfinish(s->n.c);
                        s->n.c = NULL;
                        poll(NULL, 0, timeout_ms);
                        return -1;
                }
                fn(arg, ""); /* messages may have been missed: "" says so */
        }
        pfd.fd = PQsocket(s->n.c);
        pfd.events = POLLIN;
        if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
                return idyl_err_errno(err, errno, "postgres: wait for notifications");
        if (!PQconsumeInput(s->n.c))
                return conn_error(s->n.c, "receive", err);
        while ((nt = PQnotifies(s->n.c))) {
                fn(arg, nt->extra);
                PQfreemem(nt);
        }
        return 0;
}

static int node_touch(struct pg_store *s, uint64_t subnet, const char *name, int64_t ms,
                      struct idyl_err *err)
{
        struct params p = {0};

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        p_int(&p, ms);
        return run_done(&s->w,
                        "UPDATE nodes SET last_heartbeat = $3 WHERE subnet = $1 AND name = $2 "
                        "AND last_heartbeat < $3",
                        &p, NULL, err);
}

static int pg_node_touch(struct idyl_store *st, uint64_t subnet, const char *name, int64_t ms,
                         struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, node_touch(to_pg(st), subnet, name, ms, err));
}

static int set_node_replica(struct pg_store *s, uint64_t subnet, const char *name,
                            const char *replica, struct idyl_err *err)
{
        struct params p = {0};

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        p_text(&p, replica);
        return run_done(&s->w,
                        "INSERT INTO node_replicas(subnet, name, replica) VALUES($1, $2, $3) "
                        "ON CONFLICT(subnet, name) DO UPDATE SET replica = EXCLUDED.replica",
                        &p, NULL, err);
}

static int pg_node_replica_set(struct idyl_store *st, uint64_t subnet, const char *name,
                               const char *replica, struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, set_node_replica(to_pg(st), subnet, name, replica, err));
}

struct text_out {
        char *buf;
        size_t size;
};

static int text_from_row(const PGresult *r, int row, void *item)
{
        struct text_out *t = item;

        col_copy(r, row, 0, t->buf, t->size);
        return 0;
}

static int pg_node_replica_get(struct idyl_store *st, uint64_t subnet, const char *name, char *out,
                               size_t size, struct idyl_err *err)
{
        struct text_out t = {out, size};
        struct params p = {0};
        int rc;

        p_int(&p, (int64_t)subnet);
        p_text(&p, name);
        rc = query_one(to_pg(st),
                       "SELECT replica FROM node_replicas WHERE subnet = $1 AND name = $2", &p,
                       text_from_row, &t, err);
        if (rc == 0)
                return idyl_err_set(err, IDYL_E_NOT_FOUND, "no replica is recorded for node \"%s\"",
                                    name);
        return rc < 0 ? -1 : 0;
}

static int advertise(struct pg_store *s, const char *id, const char *addr, struct idyl_err *err)
{
        struct params p = {0};

        p_text(&p, id);
        p_text(&p, addr);
        return run_done(
            &s->w,
            "INSERT INTO replicas(id, addr, seen_at) VALUES($1, $2, clock_timestamp()) "
            "ON CONFLICT(id) DO UPDATE SET addr = EXCLUDED.addr, seen_at = clock_timestamp()",
            &p, NULL, err);
}

static int pg_replica_advertise(struct idyl_store *st, const char *id, const char *addr,
                                struct idyl_err *err)
{
        WRITE_UNIT(to_pg(st), err, advertise(to_pg(st), id, addr, err));
}

static int replica_row(const PGresult *r, int row, void *item)
{
        struct idyl_replica *rp = item;

        memset(rp, 0, sizeof(*rp));
        col_copy(r, row, 0, rp->id, sizeof(rp->id));
        col_copy(r, row, 1, rp->addr, sizeof(rp->addr));
        rp->seen_ms_ago = col_int(r, row, 2);
        return 0;
}

static const struct row_reader replica_rows = {"list replicas", sizeof(struct idyl_replica),
                                               replica_row, NULL};

static int pg_replica_list(struct idyl_store *st, struct idyl_replica **out, size_t *n,
                           struct idyl_err *err)
{
        return query_rows(to_pg(st),
                          "SELECT id, addr, (extract(epoch FROM now() - seen_at) * 1000)::bigint "
                          "FROM replicas ORDER BY seen_at DESC, id",
                          NULL, &replica_rows, out, n, err);
}

/* ---- open and close ------------------------------------------------------------ */

static void pg_close(struct idyl_store *st)
{
        struct pg_store *s = to_pg(st);

        pthread_mutex_lock(&s->mu);
        group_commit(s);
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < READERS; i++) {
                if (s->r[i].c)
                        PQfinish(s->r[i].c);
                pthread_mutex_destroy(&s->rmu[i]);
        }
        if (s->l.c)
                PQfinish(s->l.c);
        if (s->n.c)
                PQfinish(s->n.c);
        if (s->p.c)
                PQfinish(s->p.c);
        pthread_mutex_destroy(&s->lmu);
        pthread_mutex_destroy(&s->pmu);
        if (s->w.c)
                PQfinish(s->w.c);
        pthread_mutex_destroy(&s->mu);
        store_group_destroy(&s->group);
        free(s->url);
        free(s);
}

static const struct store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .tx_begin = pg_tx_begin,
    .tx_commit = pg_tx_commit,
    .tx_rollback = pg_tx_rollback,
    .subnet_create = pg_subnet_create,
    .subnet_get = pg_subnet_get,
    .subnet_list = pg_subnet_list,
    .subnet_page = pg_subnet_page,
    .subnet_update = pg_subnet_update,
    .subnet_delete = pg_subnet_delete,
    .workload_get = pg_workload_get,
    .workload_list = pg_workload_list,
    .workload_page = pg_workload_page,
    .workload_usage = pg_workload_usage,
    .workload_put = pg_workload_put,
    .workload_delete = pg_workload_delete,
    .event_add = pg_event_add,
    .event_list = pg_event_list,
    .node_get = pg_node_get,
    .node_list = pg_node_list,
    .node_page = pg_node_page,
    .node_put = pg_node_put,
    .node_delete = pg_node_delete,
    .node_bump_assignments = pg_node_bump_assignments,
    .token_add = pg_token_add,
    .token_find = pg_token_find,
    .token_count = pg_token_count,
    .token_list = pg_token_list,
    .token_page = pg_token_page,
    .token_revoke = pg_token_revoke,
    .audit_add = pg_audit_add,
    .audit_list = pg_audit_list,
    .setting_ensure = pg_setting_ensure,
    .secret_create = pg_secret_create,
    .secret_update = pg_secret_update,
    .secret_get = pg_secret_get,
    .secret_list = pg_secret_list,
    .secret_page = pg_secret_page,
    .secret_delete = pg_secret_delete,
    .history_prune = pg_history_prune,
    .lease_acquire = pg_lease_acquire,
    .lease_renew = pg_lease_renew,
    .lease_check = pg_lease_check,
    .publish = pg_publish,
    .receive = pg_receive,
    .node_touch = pg_node_touch,
    .node_replica_set = pg_node_replica_set,
    .node_replica_get = pg_node_replica_get,
    .replica_advertise = pg_replica_advertise,
    .replica_list = pg_replica_list,
};

int store_postgres_open(const char *url, struct idyl_store **out, struct idyl_err *err)
{
        pthread_mutexattr_t attr;
        struct pg_store *s = calloc(1, sizeof(*s));

        if (!s)
                return idyl_err_errno(err, ENOMEM, "open store");
        s->base.ops = &pg_ops;
        /* libpq names the scheme postgresql:// or postgres://: both work */
        s->url = strdup(url);
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&s->mu, &attr);
        pthread_mutexattr_destroy(&attr);
        for (int i = 0; i < READERS; i++)
                pthread_mutex_init(&s->rmu[i], NULL);
        pthread_mutex_init(&s->lmu, NULL);
        pthread_mutex_init(&s->pmu, NULL);
        store_group_init(&s->group);
        if (!s->url) {
                pg_close(&s->base);
                return idyl_err_errno(err, ENOMEM, "open store");
        }
        if (conn_open(s, &s->w, err) < 0 || migrate(s, err) < 0 ||
            conn_open(s, &s->r[0], err) < 0) {
                pg_close(&s->base);
                return -1;
        }
        *out = &s->base;
        return 0;
}
