/*
 * tern.h - shared between the parts of the tern(8) admin command
 * (tools/tern*.c). Runs as the administrator: root on a real host, or
 * the owner of an instance made by `tern init`.
 */
#ifndef TERN_TOOLS_TERN_H
#define TERN_TOOLS_TERN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* tern_init.c */
int cmd_init(int argc, char **argv);

/*
 * tern_setup.c: argv[0] is "setup"; config_dir from a -c before it (NULL
 * = the default), a -c after it wins.
 */
int cmd_setup(int argc, char **argv, const char *config_dir);

/*
 * tern_migrate.c: argv[0] is "migrate-sendmail"; config_dir as for setup.
 */
int cmd_migrate(int argc, char **argv, const char *config_dir);

/*
 * tern.c: root becomes the owner of a configuration directory (or its
 * main.cf) that is not root's before acting on it.
 */
void act_as_config_owner(const char *dir);

/* tern_ctl.c; config_dir NULL = $TERN_CONFIG_DIR or the default */
int cmd_start(const char *config_dir, bool foreground);
int cmd_stop(const char *config_dir);
int cmd_reload(const char *config_dir);
int cmd_status(const char *config_dir);
int cmd_flush(const char *config_dir);
int cmd_check(const char *config_dir);

/* The running master's pid (from the lock on pid/master.pid), or 0. */
pid_t master_running(const char *queue_dir);

/*
 * tern_check.c: what breaks mail in a configuration that loads. Each
 * finding is printed on stderr as "tern: error: FILE, line N: ..." (or
 * warning) and counted; with as_warnings, errors are printed and counted
 * as warnings (tern start and reload: a missing table defers mail, it
 * does not stop the rest).
 */
struct findings {
	int errors;
	int warnings;
	bool quiet;		/* count only */
	bool as_warnings;
};
struct service_table;
/* Every table main.cf names: there, readable by mail_owner, not older than its source. */
void check_maps(struct findings *f);
/*
 * sendmail_path, mailq_path and newaliases_path (when main.cf sets them,
 * or on the system's own configuration): each is Tern's sendmail, so that
 * programs that submit mail through it do not bypass Tern.
 */
void check_commands(struct findings *f);
/* The TLS certificate and key of main.cf and of each service's -o: they match, can be
 * read, have not expired. */
void check_tls(const struct service_table *t, const char *master_cf, struct findings *f);
/* Each inet service's addresses can be bound (or, below port 1024 when not root, are
 * addresses of this host); those the running master holds are fine. */
void check_listen(const struct service_table *t, const char *master_cf, const char *queue_dir,
		  struct findings *f);
/* The files in QUEUE_DIR/corrupt: a warning with how many, the oldest and where. */
void check_corrupt(const char *queue_dir, struct findings *f);

/* pid/master.status, which ternd writes at each start and reload. */
struct master_status_svc {
	char *name, *type, *addrs, *why;
	bool on;
	int line;		/* in master.cf */
};
struct master_status {
	struct master_status_svc *svc;
	size_t count;
};
int master_status_read(const char *queue_dir, struct master_status *st);
void master_status_free(struct master_status *st);

#endif
