/*
 * sasl_penalty.c - per-client failed AUTH counter with growing delays
 * (sasl_penalty.h).
 *
 * Mail layer, inside smtpd (mail_owner). A small fixed table searched
 * linearly: AUTH failures are rare events, and a fixed size keeps memory
 * bounded against clients that rotate addresses.
 */
#include "compat.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mail/sasl_penalty.h"
#include "util/mem.h"

#define ADDR_MAX 64	/* longest IPv6 text with scope fits */

struct slot {
	char addr[ADDR_MAX];
	unsigned failures;
	time_t last;		/* time of the latest failure; 0 = free slot */
};

struct sasl_penalty {
	pthread_mutex_t lock;
	unsigned base_ms, max_ms;
	time_t forget;
	unsigned nslots;
	struct slot *slots;
};

struct sasl_penalty *sasl_penalty_new(unsigned base_ms, unsigned max_ms, time_t forget,
				      unsigned slots)
{
	struct sasl_penalty *p = xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	p->base_ms = base_ms;
	p->max_ms = max_ms < base_ms ? base_ms : max_ms;
	p->forget = forget > 0 ? forget : 1;
	p->nslots = slots ? slots : 1024;
	p->slots = xcalloc(p->nslots, sizeof *p->slots);
	return p;
}

void sasl_penalty_free(struct sasl_penalty *p)
{
	if (p == NULL)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->slots);
	free(p);
}

/* With the lock held: addr's slot, or NULL. Forgets stale entries. */
static struct slot *find(struct sasl_penalty *p, const char *addr, time_t now)
{
	for (unsigned i = 0; i < p->nslots; i++) {
		struct slot *s = &p->slots[i];
		if (s->last == 0)
			continue;
		if (now - s->last >= p->forget) {
			memset(s, 0, sizeof *s);
			continue;
		}
		if (strncmp(s->addr, addr, sizeof s->addr) == 0)
			return s;
	}
	return NULL;
}

/* The delay that goes with n failures (n >= 1). */
static unsigned delay_for(const struct sasl_penalty *p, unsigned n)
{
	unsigned long long delay = p->base_ms;
	for (unsigned i = 1; i < n && delay < p->max_ms; i++)
		delay *= 2;
	if (delay > p->max_ms)
		delay = p->max_ms;
	return (unsigned)delay;
}

unsigned sasl_penalty_fail(struct sasl_penalty *p, const char *addr, time_t now)
{
	if (addr == NULL)
		addr = "";
	if (now <= 0)
		now = 1;	/* 0 marks a free slot */
	pthread_mutex_lock(&p->lock);
	struct slot *s = find(p, addr, now);
	if (s == NULL) {
		/* A free slot, else the one whose latest failure is oldest. */
		s = &p->slots[0];
		for (unsigned i = 0; i < p->nslots; i++) {
			if (p->slots[i].last == 0) {
				s = &p->slots[i];
				break;
			}
			if (p->slots[i].last < s->last)
				s = &p->slots[i];
		}
		memset(s, 0, sizeof *s);
		strlcpy(s->addr, addr, sizeof s->addr);
	}
	if (s->failures < 64)
		s->failures++;
	s->last = now;
	unsigned delay = delay_for(p, s->failures);
	pthread_mutex_unlock(&p->lock);
	return delay;
}

unsigned sasl_penalty_delay(struct sasl_penalty *p, const char *addr, time_t now)
{
	pthread_mutex_lock(&p->lock);
	struct slot *s = find(p, addr ? addr : "", now);
	unsigned delay = s ? delay_for(p, s->failures) : 0;
	pthread_mutex_unlock(&p->lock);
	return delay;
}

unsigned sasl_penalty_count(struct sasl_penalty *p, const char *addr, time_t now)
{
	pthread_mutex_lock(&p->lock);
	struct slot *s = find(p, addr ? addr : "", now);
	unsigned n = s ? s->failures : 0;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void sasl_penalty_success(struct sasl_penalty *p, const char *addr)
{
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < p->nslots; i++) {
		struct slot *s = &p->slots[i];
		if (s->last != 0 && strncmp(s->addr, addr ? addr : "", sizeof s->addr) == 0)
			memset(s, 0, sizeof *s);
	}
	pthread_mutex_unlock(&p->lock);
}
