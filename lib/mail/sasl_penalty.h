/*
 * sasl_penalty.h - failed AUTH attempts counted per client address, and
 * the growing delay smtpd waits before answering that client's next
 * failure (slows password guessing without locking anyone out).
 *
 * Mail layer, used inside smtpd (mail_owner). The library only counts and
 * computes; smtpd applies the delay (e.g. holds the 535 reply for that
 * many milliseconds without blocking other sessions) and logs.
 *
 * Policy: failure n within the window gets delay base * 2^(n-1), capped
 * at max. A success forgets the client; a client with no failure for
 * `forget` seconds starts again from zero. At most `slots` addresses are
 * tracked (memory is bounded whatever clients do); when full, the entry
 * with the oldest failure is reused. Thread-safe.
 */
#ifndef TERN_MAIL_SASL_PENALTY_H
#define TERN_MAIL_SASL_PENALTY_H

#include <time.h>

struct sasl_penalty;

/* base_ms and max_ms: the delay after the first failure and the cap;
 * forget: seconds; slots: addresses tracked (0 = 1024). */
struct sasl_penalty *sasl_penalty_new(unsigned base_ms, unsigned max_ms, time_t forget,
				      unsigned slots);
void sasl_penalty_free(struct sasl_penalty *p);

/* Record a failure from addr at time now; returns the delay in
 * milliseconds to wait before sending the failure reply. */
unsigned sasl_penalty_fail(struct sasl_penalty *p, const char *addr, time_t now);
/* Failures counted for addr at time now (0 when unknown or forgotten). */
unsigned sasl_penalty_count(struct sasl_penalty *p, const char *addr, time_t now);
/*
 * The delay of addr's latest failure (0 when it has none counted): what
 * to hold any other AUTH answer to that client, so that a success cannot
 * be told from a failure by answering sooner.
 */
unsigned sasl_penalty_delay(struct sasl_penalty *p, const char *addr, time_t now);
/* A successful AUTH: forget addr. */
void sasl_penalty_success(struct sasl_penalty *p, const char *addr);

#endif
