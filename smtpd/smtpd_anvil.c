/*
 * smtpd_anvil.c - per-client counters against abuse: concurrent
 * connections, and connections, messages and recipients per minute
 * (Postfix's anvil, inside smtpd since one process serves every session).
 *
 * Part of smtpd, runs as mail_owner on the event loop thread only.
 * Log lines follow Postfix's wording ("warning: Connection rate limit
 * exceeded: 31 from unknown[192.0.2.1] for service smtp") so fail2ban
 * filters written for Postfix match.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd.h"
#include "util/log.h"
#include "util/mem.h"

#define BUCKETS		4096
/* anvil_rate_time_unit; never 0, so that a window always ends. */
#define WINDOW_MS	(smtpd.rate_window_ms ? smtpd.rate_window_ms : 60000)

struct smtpd_anvil_client {
	struct smtpd_anvil_client *next;
	char addr[64];
	bool exempt;
	unsigned conns;
	uint64_t window;	/* start of the current rate window */
	unsigned conn_rate, msg_rate, rcpt_rate, auth_rate;
};

static struct smtpd_anvil_client *table[BUCKETS];

static unsigned hash(const char *s)
{
	unsigned h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % BUCKETS;
}

static void roll(struct smtpd_anvil_client *c, uint64_t now)
{
	if (now - c->window >= WINDOW_MS) {
		c->window = now;
		c->conn_rate = c->msg_rate = c->rcpt_rate = c->auth_rate = 0;
	}
}

static const char *client_name(const char *addr)
{
	return strcmp(addr, "127.0.0.1") == 0 || strcmp(addr, "::1") == 0 ? "localhost" : "unknown";
}

struct smtpd_anvil_client *smtpd_anvil_connect(const char *addr, bool exempt, struct buf *reply)
{
	unsigned h = hash(addr);
	struct smtpd_anvil_client *c;
	uint64_t now = smtpd_now();

	for (c = table[h]; c != NULL; c = c->next)
		if (strcmp(c->addr, addr) == 0)
			break;
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		strlcpy(c->addr, addr, sizeof(c->addr));
		c->window = now;
		c->next = table[h];
		table[h] = c;
	}
	c->exempt = exempt;
	roll(c, now);
	c->conns++;
	c->conn_rate++;
	if (exempt)
		return c;
	if (smtpd.conn_count_limit && c->conns > smtpd.conn_count_limit) {
		msg_warn("Connection concurrency limit exceeded: %u from %s[%s] for service %s",
				c->conns, client_name(addr), addr, smtpd.service);
		buf_printf(reply, "421 4.7.0 %s Error: too many connections from %s",
				smtpd.engine.myhostname, addr);
		return c;
	}
	if (smtpd.conn_rate_limit && c->conn_rate > smtpd.conn_rate_limit) {
		msg_warn("Connection rate limit exceeded: %u from %s[%s] for service %s",
				c->conn_rate, client_name(addr), addr, smtpd.service);
		buf_printf(reply, "421 4.7.0 %s Error: too many connections from %s",
				smtpd.engine.myhostname, addr);
	}
	return c;
}

void smtpd_anvil_disconnect(struct smtpd_anvil_client *c)
{
	if (c != NULL && c->conns > 0)
		c->conns--;
}

int smtpd_anvil_message(struct smtpd_anvil_client *c, struct buf *reply)
{
	if (c == NULL || c->exempt)
		return 0;
	roll(c, smtpd_now());
	if (smtpd.msg_rate_limit && ++c->msg_rate > smtpd.msg_rate_limit) {
		msg_warn("Message delivery request rate limit exceeded: %u from %s[%s] for service %s",
				c->msg_rate, client_name(c->addr), c->addr, smtpd.service);
		buf_printf(reply, "450 4.7.1 Error: too much mail from %s", c->addr);
		return -1;
	}
	return 0;
}

int smtpd_anvil_rcpt(struct smtpd_anvil_client *c, struct buf *reply)
{
	if (c == NULL || c->exempt)
		return 0;
	roll(c, smtpd_now());
	if (smtpd.rcpt_rate_limit && ++c->rcpt_rate > smtpd.rcpt_rate_limit) {
		msg_warn("Recipient address rate limit exceeded: %u from %s[%s] for service %s",
				c->rcpt_rate, client_name(c->addr), c->addr, smtpd.service);
		buf_printf(reply, "450 4.7.1 Error: too many recipients from %s", c->addr);
		return -1;
	}
	return 0;
}

/* Every AUTH command counts, whatever its outcome: guessing passwords is what this stops. */
int smtpd_anvil_auth(struct smtpd_anvil_client *c, struct buf *reply)
{
	if (c == NULL || c->exempt)
		return 0;
	roll(c, smtpd_now());
	if (smtpd.auth_rate_limit && ++c->auth_rate > smtpd.auth_rate_limit) {
		msg_warn("AUTH command rate limit exceeded: %u from %s[%s] for service %s",
				c->auth_rate, client_name(c->addr), c->addr, smtpd.service);
		buf_printf(reply, "450 4.7.1 Error: too many AUTH commands from %s", c->addr);
		return -1;
	}
	return 0;
}

/* Forget clients with no connection whose window has passed. */
void smtpd_anvil_sweep(uint64_t now)
{
	for (unsigned i = 0; i < BUCKETS; i++) {
		struct smtpd_anvil_client **pp = &table[i];
		while (*pp != NULL) {
			struct smtpd_anvil_client *c = *pp;
			if (c->conns == 0 && now - c->window >= WINDOW_MS) {
				*pp = c->next;
				free(c);
			} else {
				pp = &c->next;
			}
		}
	}
}
