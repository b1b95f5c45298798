/*
 * tern.h - shared between the parts of the tern(8) admin command
 * (tools/tern*.c). Runs as the administrator: root on a real host, or
 * the owner of an instance made by `tern init`.
 */
#ifndef TERN_TOOLS_TERN_H
#define TERN_TOOLS_TERN_H

#include <stdbool.h>
#include <sys/types.h>

/* tern_init.c */
int cmd_init(int argc, char **argv);

/* tern_ctl.c; config_dir NULL = $TERN_CONFIG_DIR or the default */
int cmd_start(const char *config_dir, bool foreground);
int cmd_stop(const char *config_dir);
int cmd_reload(const char *config_dir);
int cmd_status(const char *config_dir);
int cmd_flush(const char *config_dir);
int cmd_check(const char *config_dir);

/* The running master's pid (from the lock on pid/master.pid), or 0. */
pid_t master_running(const char *queue_dir);

#endif
