/* What idyld says about itself: GET /v1/status (version, store, whether this
 * replica leads) for any credential, and GET /readyz (200 when the store
 * answers, 503 otherwise) for load balancers and systemd, without one. */
#include "server/server.h"

#include "util/log.h"
#include "util/version.h"

int handle_status(struct request *req, struct response *resp, struct idyl_err *err)
{
        (void)err;
        /* a lone SQLite idyld is always the one that schedules */
        resp->body = json_pack("{s:s,s:s,s:b}", "version", idyl_version(), "store",
                               req->srv->store->ops->name, "leader", server_is_leader(req->srv));
        return 0;
}

/* Ready means the store can take a write: a transaction begins (and is
 * rolled back at once), which fails when the database is locked past the
 * store's busy timeout or cannot be written. */
int handle_readyz(struct request *req, struct response *resp, struct idyl_err *err)
{
        struct idyl_err probe = IDYL_ERR_INIT;
        size_t n;
        int rc = store_tx_begin(req->srv->store, &probe);

        (void)err;
        if (rc == 0) {
                rc = store_token_count(req->srv->store, ROLE_OPERATOR, &n, &probe);
                store_tx_rollback(req->srv->store);
        }
        if (rc < 0) {
                log_warnx("readyz: the store does not answer: %s", probe.msg);
                resp->status = 503;
                resp->body = json_pack("{s:s,s:s}", "status", "unavailable", "reason", probe.msg);
                return 0;
        }
        resp->body = json_pack("{s:s}", "status", "ok");
        return 0;
}
