/*
 * qmgr_sched.c - which message in active/ the queue manager starts next:
 * first come, first served, within per-destination concurrency limits,
 * as Postfix's queue manager does. A local recipient is a destination
 * of its own (local_destination_concurrency_limit, 2 by default: one
 * mailbox never gets more than two deliveries at once, however many
 * messages wait for it); a remote next hop is one, per transport
 * (smtp_destination_concurrency_limit, for smtp and relay alike). A message takes a slot of
 * each of its destinations while a delivery process works on it.
 *
 * Runs in qmgr (mail_owner). Messages whose destination is full wait
 * in that destination's own line, so a long line for one mailbox never
 * holds up mail for another and costs nothing while it waits: when a
 * delivery ends, the next message of each destination it freed goes
 * back to the front of the queue.
 *
 * Batches: a message whose one destination is a local recipient takes
 * along up to local_destination_batch_limit - 1 more messages for that
 * same recipient and nothing else (first those waiting in its line, then
 * later ones from the queue), all in one slot and one delivery process,
 * so that the local delivery agent makes them durable together
 * (qmgr_deliver_batch). A mailbox with a backlog then costs one fsync of
 * its new/ per batch instead of one per message, and one process
 * hand-over.
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mail/config.h"
#include "mail/qfile.h"
#include "mail/resolve.h"
#include "queue/qmgr.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

struct item {
	struct item *next;
	struct item *batch;	/* the next message of the same delivery (running only) */
	char id[QF_ID_MAX];
	char **dests;		/* "local:ADDRESS", "smtp:NEXTHOP" or "relay:NEXTHOP", lower case */
	size_t ndests;
};

struct line {
	char *dest;
	int running;		/* deliveries in progress */
	struct item *head, *tail;	/* messages waiting for a slot */
};

struct running {
	struct item *item;	/* the first of its batch */
};

static struct item *queue_head, *queue_tail;
static struct line *lines;
static size_t nlines;
static struct running running[QMGR_POOL_MAX];
static int nrunning;

static void item_free(struct item *it)
{
	if (it->batch != NULL)
		item_free(it->batch);
	for (size_t i = 0; i < it->ndests; i++)
		free(it->dests[i]);
	free(it->dests);
	free(it);
}

static void add_dest(struct item *it, const char *kind, const char *name)
{
	char *d = xasprintf("%s:%s", kind, name);
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (size_t i = 0; i < it->ndests; i++)
		if (strcmp(it->dests[i], d) == 0) {
			free(d);
			return;
		}
	it->dests = xreallocarray(it->dests, it->ndests + 1, sizeof(char *));
	it->dests[it->ndests++] = d;
}

/* The destinations of active/ID's pending recipients (none if it cannot be read). */
static void find_dests(struct item *it)
{
	struct buf path = BUF_INIT, err = BUF_INIT;
	struct qfile *q;
	struct resolved res;

	buf_printf(&path, "active/%s", it->id);
	if (qfile_open(buf_str(&path), false, &q, &err) != QF_OK) {
		buf_free(&path);
		buf_free(&err);
		return;		/* the delivery process reports why */
	}
	resolved_init(&res);
	for (size_t i = 0; i < qfile_rcpt_count(q); i++) {
		const struct qfile_rcpt *rc = qfile_rcpt(q, i);
		if (rc->status != QF_RCPT_PENDING || resolve_address(rc->address, &res) < 0)
			continue;
		/* error:, retry:, discard: need no delivery agent, so no slot. */
		if (strcmp(buf_str(&res.transport), "local") == 0)
			add_dest(it, "local", rc->address);
		else if (strcmp(buf_str(&res.transport), "smtp") == 0
		    || strcmp(buf_str(&res.transport), "relay") == 0)
			add_dest(it, buf_str(&res.transport), buf_str(&res.nexthop));
	}
	resolved_free(&res);
	qfile_close(q);
	buf_free(&path);
	buf_free(&err);
}

/*
 * smtp_destination_concurrency_limit is a string row (its default is
 * $default_destination_concurrency_limit, as in Postfix): a positive
 * integer, else the default, with a warning once per bad value.
 */
static long smtp_limit(void)
{
	static char *warned;
	const char *v = cfg_str(P_smtp_destination_concurrency_limit);
	long def = (long)cfg_int(P_default_destination_concurrency_limit);
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno == 0 && end != v && *end == '\0' && n >= 1 && n <= 10000)
		return n;
	if (warned == NULL || strcmp(warned, v) != 0) {
		msg_warn("smtp_destination_concurrency_limit: \"%s\" is not a number from 1 to 10000; "
		    "using default_destination_concurrency_limit (%ld)", v, def);
		free(warned);
		warned = xstrdup(v);
	}
	return def;
}

void qmgr_sched_check_config(void)
{
	(void)smtp_limit();
}

static long limit_of(const char *dest)
{
	if (strncmp(dest, "local:", 6) == 0)
		return cfg_int(P_local_destination_concurrency_limit);
	/* relay: Postfix has relay_destination_concurrency_limit; Tern one limit for both. */
	return smtp_limit();
}

static struct line *line_of(const char *dest, bool create)
{
	for (size_t i = 0; i < nlines; i++)
		if (strcmp(lines[i].dest, dest) == 0)
			return &lines[i];
	if (!create)
		return NULL;
	lines = xreallocarray(lines, nlines + 1, sizeof(*lines));
	lines[nlines] = (struct line){.dest = xstrdup(dest)};
	return &lines[nlines++];
}

/* Forget lines with nothing running and nobody waiting. */
static void lines_tidy(void)
{
	for (size_t i = 0; i < nlines;) {
		if (lines[i].running == 0 && lines[i].head == NULL) {
			free(lines[i].dest);
			lines[i] = lines[--nlines];
		} else {
			i++;
		}
	}
}

static void push_back(struct item **head, struct item **tail, struct item *it)
{
	it->next = NULL;
	if (*tail)
		(*tail)->next = it;
	else
		*head = it;
	*tail = it;
}

static void push_front(struct item *it)
{
	it->next = queue_head;
	queue_head = it;
	if (queue_tail == NULL)
		queue_tail = it;
}

static bool in_list(const struct item *it, const char *id)
{
	for (; it != NULL; it = it->next)
		if (strcmp(it->id, id) == 0)
			return true;
	return false;
}

bool qmgr_sched_known(const char *id)
{
	if (in_list(queue_head, id))
		return true;
	for (size_t i = 0; i < nlines; i++)
		if (in_list(lines[i].head, id))
			return true;
	for (int i = 0; i < nrunning; i++)
		for (const struct item *it = running[i].item; it != NULL; it = it->batch)
			if (strcmp(it->id, id) == 0)
				return true;
	return false;
}

size_t qmgr_sched_waiting(void)
{
	size_t n = 0;
	for (const struct item *it = queue_head; it != NULL; it = it->next)
		n++;
	for (size_t i = 0; i < nlines; i++)
		for (const struct item *it = lines[i].head; it != NULL; it = it->next)
			n++;
	return n;
}

void qmgr_sched_add(const char *id)
{
	if (qmgr_sched_known(id))
		return;
	struct item *it = xcalloc(1, sizeof(*it));
	strlcpy(it->id, id, sizeof(it->id));
	find_dests(it);
	push_back(&queue_head, &queue_tail, it);
}

/* A full destination of it, or NULL when every one has a free slot. */
static struct line *full_line(const struct item *it)
{
	for (size_t i = 0; i < it->ndests; i++) {
		struct line *l = line_of(it->dests[i], false);
		if (l != NULL && l->running >= limit_of(l->dest))
			return l;
	}
	return NULL;
}

/* Does this message go to the one local recipient dest and nowhere else? */
static bool only_for(const struct item *it, const char *dest)
{
	return it->ndests == 1 && strcmp(it->dests[0], dest) == 0;
}

/*
 * Move from the list (head, tail) to the batch chain *tail the messages
 * that go to it's one destination alone, in order, until n reaches limit
 * (looking at no more than 4 * limit entries: this runs at every start).
 */
static void take_matching(struct item **head, struct item **tailp, struct item *it, const char **ids,
    size_t *n, struct item ***tail, size_t limit)
{
	struct item **pp = head, *prev = NULL;

	for (size_t looked = 0; *pp != NULL && *n < limit && looked < 4 * limit; looked++) {
		struct item *cand = *pp;
		if (!only_for(cand, it->dests[0])) {
			prev = cand;
			pp = &cand->next;
			continue;
		}
		*pp = cand->next;
		if (*tailp == cand)
			*tailp = prev;
		cand->next = NULL;
		**tail = cand;
		*tail = &cand->batch;
		ids[(*n)++] = cand->id;
	}
}

/*
 * it is about to start: chain to it (it->batch) more messages for its one
 * local recipient, from that recipient's line and then from the queue
 * (looking at a bounded number of entries of each); their ids go in ids.
 */
static size_t gather_batch(struct item *it, const char **ids)
{
	size_t n = 1, limit = (size_t)cfg_int(P_local_destination_batch_limit);
	struct item **tail = &it->batch;

	ids[0] = it->id;
	if (limit > QMGR_BATCH_MAX)
		limit = QMGR_BATCH_MAX;
	if (limit <= 1 || it->ndests != 1 || strncmp(it->dests[0], "local:", 6) != 0)
		return n;
	/*
	 * Only messages for this recipient alone: one waiting in its line may
	 * have other destinations too, whose slots a batch does not take.
	 */
	struct line *l = line_of(it->dests[0], false);
	if (l != NULL)
		take_matching(&l->head, &l->tail, it, ids, &n, &tail, limit);
	take_matching(&queue_head, &queue_tail, it, ids, &n, &tail, limit);
	return n;
}

/* Undo gather_batch: the others go back to the front of the queue, in order. */
static void ungather(struct item *it)
{
	struct item *first = it->batch, *last = NULL;

	it->batch = NULL;
	for (struct item *b = first; b != NULL; b = b->next) {
		b->next = b->batch;
		b->batch = NULL;
		last = b;
	}
	if (last == NULL)
		return;
	last->next = queue_head;
	queue_head = first;
	if (queue_tail == NULL)
		queue_tail = last;
}

void qmgr_sched_run(void)
{
	static const char *ids[QMGR_BATCH_MAX];

	while (queue_head != NULL && nrunning < QMGR_POOL_MAX) {
		struct item *it = queue_head;
		queue_head = it->next;
		if (queue_head == NULL)
			queue_tail = NULL;
		struct line *full = full_line(it);
		if (full != NULL) {
			push_back(&full->head, &full->tail, it);
			continue;
		}
		size_t n = gather_batch(it, ids);
		if (qmgr_pool_start(ids, n) < 0) {
			ungather(it);
			push_front(it);		/* every delivery process is busy */
			break;
		}
		for (size_t i = 0; i < it->ndests; i++)
			line_of(it->dests[i], true)->running++;
		running[nrunning++].item = it;
	}
}

void qmgr_sched_finished(void)
{
	for (int r = 0; r < nrunning;) {
		struct item *it = running[r].item;
		if (qmgr_pool_has(it->id)) {
			r++;
			continue;
		}
		/* Its slots are free: the next waiting message of each goes first. */
		for (size_t i = 0; i < it->ndests; i++) {
			struct line *l = line_of(it->dests[i], false);
			if (l == NULL)
				continue;
			l->running--;
			struct item *next = l->head;
			if (next != NULL && l->running < limit_of(l->dest)) {
				l->head = next->next;
				if (l->head == NULL)
					l->tail = NULL;
				push_front(next);
			}
		}
		item_free(it);
		running[r] = running[--nrunning];
	}
	lines_tidy();
}
