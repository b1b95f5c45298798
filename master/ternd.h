/*
 * ternd.h - the master's private state, shared by master/ternd*.c.
 *
 * ternd runs as root on a real host (or as the owner of an instance made
 * by tern init); see ternd.c.
 */
#ifndef TERN_MASTER_TERND_H
#define TERN_MASTER_TERND_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "mail/services.h"

/* One bound socket; reused across reloads when its key is unchanged. */
struct listener {
	char *key;		/* "inet 127.0.0.1 25", "unix /path" */
	char *addr;		/* as shown to the daemon: "127.0.0.1:25", "/path" */
	int fd;
	bool wanted;		/* still in the current configuration */
};

/* One process slot of a service. */
struct slot {
	pid_t pid;		/* 0 = not running */
	double started;		/* monotonic seconds */
	double next_start;	/* when to (re)start it; 0 = now */
	int quick_exits;	/* consecutive exits soon after start */
};

struct run {
	const struct service *svc;
	char *path;		/* program to execute */
	bool off;		/* switched off (reason logged) */
	char *why;		/* why it is off, for tern status; NULL = on */
	int nfd;
	int *fds;		/* this service's listeners, in order */
	char *addrs;		/* their addresses, space separated */
	struct slot *slots;	/* svc->procs of them */
};

/*
 * A process of an earlier generation, told at a reload to finish what it
 * has in hand and exit; tracked by its process group, which holds what
 * it started (delivery children, a qmgr's workers) even after it exits.
 */
struct drain {
	pid_t pgid;
	char *service;		/* its service name */
};

struct master {
	const char *config_dir;
	bool foreground;
	bool root;		/* running as root */
	uid_t owner_uid;	/* mail_owner */
	gid_t owner_gid;
	pid_t pid;
	struct service_table table;
	struct run *runs;
	size_t nruns;
	struct listener *ls;
	size_t nls;
	struct drain *drains;	/* earlier generations still finishing */
	size_t ndrain;
};

/* ternd_listen.c: bind every socket the service table asks for. */
int listen_setup(struct master *m, struct run *r);
void listen_release_unwanted(struct master *m);
void listen_mark_unwanted(struct master *m);

/* ternd_spawn.c: processes. */
double now_mono(void);
pid_t spawn_service(struct master *m, struct run *r);
void kill_orphans(pid_t parent, int sig);

/*
 * ternd_nofile.c: descriptor limits. smtpd holds one descriptor per
 * session; ternd makes room for NOFILE_WANT of them at start (as root it
 * raises the hard limit; else it warns once what to raise), and gives an
 * inet service a soft limit equal to the hard limit in the child, before
 * exec. Other services keep the soft limit ternd started with.
 */
#define NOFILE_WANT 131072
void nofile_init(struct master *m);
void nofile_for_service(const struct run *r);

#endif
