/*
 * Drives the platform with libstrophe (Debian's libstrophe-dev), the C library under Profanity: SASL
 * over STARTTLS or direct TLS (XEP-0368), bind, XEP-0198 as the library negotiates it, presence, a
 * server ping, the roster, and a chat with a session of another library. One JSON line per observation,
 * like the Python scenarios; the Node spec compiles this with cc and asserts on what it prints.
 *
 * usage: libstrophe_client host port jid password peer-bare-jid starttls|direct
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

static const char *peer;
static int steps_done = 0;
static int failed = 1;

static void emit(const char *check, const char *k, const char *v) {
    /* Values here are JIDs and fixed words: no JSON escaping needed beyond quotes, which they lack. */
    if (k) printf("{\"check\": \"%s\", \"%s\": \"%s\"}\n", check, k, v ? v : "");
    else printf("{\"check\": \"%s\"}\n", check);
    fflush(stdout);
}

static void finish(xmpp_conn_t *conn) {
    if (++steps_done == 3) {
        failed = 0;
        xmpp_disconnect(conn);
    }
}

static int on_ping(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud) {
    (void)ud;
    emit("ping", "type", xmpp_stanza_get_type(st));
    finish(conn);
    return 0;
}

static int on_roster(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud) {
    (void)ud;
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_ns(st, "jabber:iq:roster");
    emit("roster", "type", q ? xmpp_stanza_get_type(st) : "no query");
    finish(conn);
    return 0;
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud) {
    xmpp_ctx_t *ctx = ud;
    char *body = xmpp_message_get_body(st);
    if (body && strcmp(body, "pong-libstrophe") == 0) {
        emit("peer-reply", "frm", xmpp_stanza_get_from(st));
        finish(conn);
    }
    if (body) xmpp_free(ctx, body);
    return 1;
}

/* An IQ with one empty child element <name xmlns='ns'/>. */
static xmpp_stanza_t *iq_with(xmpp_ctx_t *ctx, const char *type, const char *id, const char *name, const char *ns) {
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, type, id);
    xmpp_stanza_t *child = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(child, name);
    xmpp_stanza_set_ns(child, ns);
    xmpp_stanza_add_child(iq, child);
    xmpp_stanza_release(child);
    return iq;
}

static int on_timeout(xmpp_conn_t *conn, void *ud) {
    (void)ud;
    emit("error", "message", "timed out");
    xmpp_disconnect(conn);
    return 0;
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t status, int error, xmpp_stream_error_t *se, void *ud) {
    xmpp_ctx_t *ctx = ud;
    (void)se;
    if (status == XMPP_CONN_CONNECT) {
        emit("bound", "jid", xmpp_conn_get_bound_jid(conn));
        emit("tls", "secured", xmpp_conn_is_secured(conn) ? "yes" : "no");
        xmpp_handler_add(conn, on_message, NULL, "message", NULL, ctx);
        xmpp_timed_handler_add(conn, on_timeout, 15000, NULL);

        xmpp_stanza_t *pres = xmpp_presence_new(ctx);
        xmpp_send(conn, pres);
        xmpp_stanza_release(pres);

        xmpp_stanza_t *iq = iq_with(ctx, "get", "ls-ping", "ping", "urn:xmpp:ping");
        char domain[1024];
        snprintf(domain, sizeof domain, "%s", strchr(xmpp_conn_get_bound_jid(conn), '@') + 1);
        char *slash = strchr(domain, '/');
        if (slash) *slash = '\0';
        xmpp_stanza_set_to(iq, domain);
        xmpp_id_handler_add(conn, on_ping, "ls-ping", ctx);
        xmpp_send(conn, iq);
        xmpp_stanza_release(iq);

        iq = iq_with(ctx, "get", "ls-roster", "query", "jabber:iq:roster");
        xmpp_id_handler_add(conn, on_roster, "ls-roster", ctx);
        xmpp_send(conn, iq);
        xmpp_stanza_release(iq);

        xmpp_stanza_t *msg = xmpp_message_new(ctx, "chat", peer, "ls-m1");
        xmpp_message_set_body(msg, "ping-libstrophe");
        xmpp_send(conn, msg);
        xmpp_stanza_release(msg);
    } else {
        if (status == XMPP_CONN_FAIL) {
            char e[32];
            snprintf(e, sizeof e, "%d", error);
            emit("connection-failed", "error", e);
        }
        if (!failed) emit("done", NULL, NULL);
        xmpp_stop(ctx);
    }
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s host port jid password peer starttls|direct\n", argv[0]);
        return 2;
    }
    peer = argv[5];
    xmpp_initialize();
    xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, getenv("STROPHE_DEBUG") ? xmpp_get_default_logger(XMPP_LEVEL_DEBUG) : NULL);
    xmpp_conn_t *conn = xmpp_conn_new(ctx);
    long flags = XMPP_CONN_FLAG_TRUST_TLS; /* the platform's development certificate is self-signed */
    flags |= strcmp(argv[6], "direct") == 0 ? XMPP_CONN_FLAG_LEGACY_SSL : XMPP_CONN_FLAG_MANDATORY_TLS;
    xmpp_conn_set_flags(conn, flags);
    xmpp_conn_set_jid(conn, argv[3]);
    xmpp_conn_set_pass(conn, argv[4]);
    if (xmpp_connect_client(conn, argv[1], (unsigned short)atoi(argv[2]), on_conn, ctx) != XMPP_EOK) {
        emit("connection-failed", "error", "connect");
        return 1;
    }
    xmpp_run(ctx);
    xmpp_conn_release(conn);
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return failed;
}
