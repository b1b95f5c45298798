/*
 * standin.c - a stand-in daemon for the master's end-to-end tests (not
 * installed). It starts through the daemon skeleton like every real
 * daemon, logs who it runs as and what it inherited, and answers each
 * connection on its sockets with "220 standin SERVICE"; "QUIT" gets 221.
 *
 * Runs as whatever ternd starts it as (mail_owner, or root with the
 * argument keep-root). Arguments after the options:
 *   keep-root   call daemon_init with DAEMON_KEEP_ROOT
 *   helper      fork a helper in its own session that sleeps, so that a
 *               test can check that tern stop waits for it too
 */
#include "compat.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mail/daemon.h"
#include "util/log.h"

static void serve(int lfd, const char *service)
{
	int fd = accept(lfd, NULL, NULL);
	char line[512];
	if (fd < 0)
		return;
	dprintf(fd, "220 standin %s\r\n", service);
	FILE *in = fdopen(fd, "r");
	if (in == NULL) {
		close(fd);
		return;
	}
	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\r\n")] = '\0';
		msg_info("standin %s got \"%s\"", service, line);
		if (strncmp(line, "QUIT", 4) == 0) {
			dprintf(fd, "221 bye\r\n");
			break;
		}
		dprintf(fd, "250 ok\r\n");
	}
	fclose(in);
}

int main(int argc, char **argv)
{
	int flags = 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "keep-root") == 0)
			flags |= DAEMON_KEEP_ROOT;
	int first = daemon_init(argc, argv, "standin", flags);
	const struct daemon_info *di = daemon_info();
	char addrs[1024] = "";
	for (int i = 0; i < di->nlisten; i++) {
		strlcat(addrs, " ", sizeof(addrs));
		strlcat(addrs, di->listen[i].addr, sizeof(addrs));
	}
	gid_t groups[64];
	int ngroups = getgroups(64, groups);
	msg_info("standin service=%s uid=%ld euid=%ld gid=%ld groups=%d tls=%s auth=%s listen=%d%s",
		 di->service, (long)getuid(), (long)geteuid(), (long)getgid(), ngroups,
		 svc_tls_name(di->tls), svc_auth_name(di->auth), di->nlisten, addrs);
	for (int i = first; i < argc; i++) {
		if (strcmp(argv[i], "helper") != 0)
			continue;
		pid_t pid = fork();
		if (pid == 0) {
			setsid();
			for (;;)
				pause();
		}
		msg_info("standin helper pid=%ld", (long)pid);
	}

	struct pollfd pfd[DAEMON_MAX_LISTEN];
	for (int i = 0; i < di->nlisten; i++)
		pfd[i] = (struct pollfd){ .fd = di->listen[i].fd, .events = POLLIN };
	for (;;) {
		if (di->nlisten == 0) {
			pause();
			continue;
		}
		if (poll(pfd, (nfds_t)di->nlisten, -1) < 0 && errno != EINTR)
			msg_fatal("poll: %m");
		for (int i = 0; i < di->nlisten; i++)
			if (pfd[i].revents & POLLIN)
				serve(pfd[i].fd, di->service);
	}
}
