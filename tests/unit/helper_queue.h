/*
 * helper_queue.h - a scratch queue directory for unit tests: made under
 * /tmp with the queues mailq and ternqueue read, filled with committed
 * queue files, removed afterwards.
 */
#ifndef TERN_TEST_HELPER_QUEUE_H
#define TERN_TEST_HELPER_QUEUE_H

#include <stddef.h>

/* mkdtemp(dir) and its incoming, active, deferred, hold, defer, maildrop. */
void test_queue_make(char *dir);
/* One message from alice to bob committed in dir/queue; its id in id. */
void test_queue_message(const char *dir, const char *queue, char *id, size_t idsize);
/* rm -rf dir. */
void test_queue_remove(const char *dir);

#endif
