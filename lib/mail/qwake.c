/*
 * qwake.c - one datagram to the queue manager (see qwake.h).
 * Mail layer; runs in cleanup's process (smtpd, pickup: mail_owner) or
 * any tool.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mail/qwake.h"

/*
 * One datagram socket per process, made on first use: smtpd's commit
 * threads wake qmgr after every message, and sendto() on a shared
 * datagram socket is safe from any thread. Should the descriptor have
 * been closed or reused behind our back, the send fails and a new
 * socket is made once.
 */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static int wake_fd = -1;

/* The socket; failed: the descriptor a send just failed on (forget it), else -1. */
static int wake_socket(int failed)
{
	/* The usual case without the lock: every commit thread comes here once per message. */
	int fd = __atomic_load_n(&wake_fd, __ATOMIC_ACQUIRE);
	if (failed < 0 && fd >= 0)
		return fd;
	pthread_mutex_lock(&wake_lock);
	/* Forgotten only if no other thread renewed it since this one failed on it. */
	if (failed >= 0 && wake_fd == failed)
		wake_fd = -1;	/* not ours any more: forgotten, never closed */
	if (wake_fd < 0)
		__atomic_store_n(&wake_fd, socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0),
				 __ATOMIC_RELEASE);
	fd = wake_fd;
	pthread_mutex_unlock(&wake_lock);
	return fd;
}

int qwake_send_path(const char *socket_path, const char *request)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (socket_path == NULL || strlcpy(sun.sun_path, socket_path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
		return -1;
	int failed = -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = wake_socket(failed);
		if (fd < 0)
			return -1;
		if (sendto(fd, request, strlen(request), 0, (struct sockaddr *)&sun, sizeof(sun)) >= 0)
			return 0;
		if (errno != EBADF && errno != ENOTSOCK && errno != EISCONN && errno != EPROTOTYPE)
			return -1;
		failed = fd;
	}
	return -1;
}

int qwake_send(const char *queue_dir, const char *request)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int n = snprintf(path, sizeof(path), "%s/%s", queue_dir, QWAKE_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	return qwake_send_path(path, request);
}
