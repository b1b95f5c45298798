/*
 * qwake.c - one datagram to the queue manager (see qwake.h).
 * Mail layer; runs in cleanup's process (mail_owner) or any tool.
 */
#include "compat.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mail/qwake.h"

int qwake_send_path(const char *socket_path, const char *request)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (socket_path == NULL || strlcpy(sun.sun_path, socket_path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
		return -1;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	int ret = sendto(fd, request, strlen(request), 0, (struct sockaddr *)&sun, sizeof(sun)) < 0 ? -1 : 0;
	close(fd);
	return ret;
}

int qwake_send(const char *queue_dir, const char *request)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int n = snprintf(path, sizeof(path), "%s/%s", queue_dir, QWAKE_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	return qwake_send_path(path, request);
}
