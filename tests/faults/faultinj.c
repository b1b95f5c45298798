/*
 * faultinj.c - an LD_PRELOAD library for the fault-injection harness
 * (tests/faults/run): it wraps the C library's file-system calls that
 * can lose or corrupt mail (open, write, pwrite, fsync, fdatasync,
 * rename, link, unlink, syncfs, ftruncate, mkdir and their *at forms)
 * and, as told, makes one of them fail with a chosen errno.
 *
 * Test code only, never installed. It runs inside every Tern process of
 * a test instance, with that process's privileges (ternd and local as
 * root, the others as mail_owner); it needs no privilege of its own.
 *
 * Only calls made by the program itself are seen (the return address is
 * in the main executable): the C library's own opens (fopen, syslog,
 * the loader) are not Tern's call sites. Calls on descriptors that are
 * not regular files or directories (sockets, pipes, /dev/null) are left
 * alone: they are the network's business, not the queue's.
 *
 * A call site is named by program and the offsets in the executable of
 * the call's return address and of the one a frame up ("qmgr
 * 0x1a2b3/0x1c0de"); the runner turns offsets into function and
 * file:line with addr2line.
 *
 * Environment:
 *   TERN_FAULT_TRACE=FILE  append "PROG CALL SITE" for every call seen
 *                          (the census of call sites), while FILE exists.
 *   TERN_FAULT_FILE=FILE   the fault to inject, one line
 *                          "PROG CALL OFFSET ERRNO" (OFFSET "*" = any site),
 *                          re-read whenever the file changes, so one
 *                          running instance serves every trial. The
 *                          fault fires once in the whole instance: the
 *                          process that fires it first creates FILE.hit
 *                          (O_EXCL) and writes "PROG CALL OFFSET ERRNO PID"
 *                          in it; the runner removes FILE.hit to arm the
 *                          next trial. A second line, in the same form,
 *                          is a fault that leads there (a site that only
 *                          a failure's own handling reaches): it fires
 *                          once too, and FILE.hit2 records it.
 * Both are read once, when the library is loaded (terndrop clears its
 * environment first thing). Every file it writes itself goes through raw
 * system calls, so that it never sees itself.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Copied at load time: terndrop clears its environment before it writes. */
static char trace_path[512], ctl_path[512];

__attribute__((constructor)) static void capture_env(void)
{
	const char *t = getenv("TERN_FAULT_TRACE"), *c = getenv("TERN_FAULT_FILE");
	if (t != NULL && strlen(t) < sizeof(trace_path))
		strcpy(trace_path, t);
	if (c != NULL && strlen(c) < sizeof(ctl_path))
		strcpy(ctl_path, c);
	/* The first backtrace() loads the unwinder (an open): do it now. */
	void *bt[2];
	backtrace(bt, 2);
}
static __thread bool inside;	/* no recursion through the loader */
static uintptr_t main_base;
static bool main_base_known;
static char prog[64];

static int first_object(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	*(uintptr_t *)data = info->dlpi_addr;
	return 1;	/* the first object is the executable */
}

static void init_once(void)
{
	if (main_base_known)
		return;
	dl_iterate_phdr(first_object, &main_base);
	char exe[512];
	ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		n = 0;
	exe[n] = '\0';
	const char *slash = strrchr(exe, '/');
	const char *base = slash ? slash + 1 : exe;
	size_t len = strnlen(base, sizeof(prog) - 1);
	memcpy(prog, base, len);
	prog[len] = '\0';
	main_base_known = true;
}

/* Offset of ADDR in the executable, or 0 when it is in a library. */
static uintptr_t site_of(void *addr)
{
	Dl_info info;
	if (dladdr(addr, &info) == 0 || (uintptr_t)info.dli_fbase != main_base)
		return 0;
	return (uintptr_t)addr - main_base;
}

/* Appends to an existing file only: once the runner removes it, tracing stops. */
static void raw_append(const char *path, const char *line)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return;
	syscall(SYS_write, fd, line, strlen(line));
	syscall(SYS_close, fd);
}

/* The armed faults (the target, and the one that leads there), re-read when the control file's mtime or size change. */
static struct {
	struct timespec mtime;
	off_t size;
	struct fault {
		bool valid;
		char prog[64], call[16], site[48];
		int err;
	} f[2];
} spec;

static int errno_of(const char *name)
{
	static const struct { const char *name; int err; } names[] = {
		{"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EDQUOT", EDQUOT}, {"EINTR", EINTR},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].name, name) == 0)
			return names[i].err;
	return 0;
}

static void reread_spec(const char *path)
{
	struct stat st;
	if (syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0) != 0) {
		spec.f[0].valid = spec.f[1].valid = false;
		spec.size = -1;
		return;
	}
	if (st.st_mtim.tv_sec == spec.mtime.tv_sec && st.st_mtim.tv_nsec == spec.mtime.tv_nsec &&
	    st.st_size == spec.size)
		return;
	spec.mtime = st.st_mtim;
	spec.size = st.st_size;
	spec.f[0].valid = spec.f[1].valid = false;
	char text[512] = "", errname[16];
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = syscall(SYS_read, fd, text, sizeof(text) - 1);
	syscall(SYS_close, fd);
	if (n <= 0)
		return;
	text[n] = '\0';
	char *line = text;
	for (int i = 0; i < 2 && line != NULL; i++) {
		struct fault *f = &spec.f[i];
		if (sscanf(line, "%63s %15s %47s %15s", f->prog, f->call, f->site, errname) == 4 &&
		    (f->err = errno_of(errname)) != 0)
			f->valid = true;
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
}

/*
 * Called by every wrapper before the real call: true (errno set) when
 * this call must fail. FD >= 0 names the descriptor the call works on.
 */
static bool should_fail(const char *call, void *ret, int fd)
{
	int saved = errno;
	bool fail = false;
	if (inside)
		return false;
	inside = true;
	pthread_mutex_lock(&lock);
	init_once();
	uintptr_t off = site_of(ret);
	if (off == 0)
		goto out;
	if (fd >= 0) {
		struct stat st;
		if (syscall(SYS_fstat, fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			goto out;
	}
	/*
	 * The site is the call and the call of the function that makes it:
	 * the queue file code makes its calls through small wrappers
	 * (qfile.c's q_write ...), each used from many places.
	 */
	void *bt[8];
	int n = backtrace(bt, 8);
	uintptr_t up = 0;
	for (int i = 0; i + 1 < n; i++)
		if (bt[i] == ret) {
			up = site_of(bt[i + 1]);
			break;
		}
	char site[48];
	snprintf(site, sizeof(site), "0x%lx/0x%lx", (unsigned long)off, (unsigned long)up);
	char line[256];
	const char *trace = trace_path;
	if (*trace != '\0') {
		snprintf(line, sizeof(line), "%s %s %s\n", prog, call, site);
		raw_append(trace, line);
	}
	const char *ctl = ctl_path;
	if (*ctl == '\0')
		goto out;
	reread_spec(ctl);
	for (int i = 0; i < 2 && !fail; i++) {
		const struct fault *f = &spec.f[i];
		if (!f->valid || strcmp(f->prog, prog) != 0 || strcmp(f->call, call) != 0)
			continue;
		if (strcmp(f->site, "*") != 0 && strcmp(f->site, site) != 0)
			continue;
		char hit[600];
		snprintf(hit, sizeof(hit), "%s.hit%s", ctl, i == 0 ? "" : "2");
		int hfd = (int)syscall(SYS_openat, AT_FDCWD, hit, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (hfd < 0)
			continue;	/* fired already (or cannot tell): let it through */
		snprintf(line, sizeof(line), "%s %s %s %d %ld\n", prog, call, site, f->err, (long)getpid());
		syscall(SYS_write, hfd, line, strlen(line));
		syscall(SYS_close, hfd);
		saved = f->err;
		fail = true;
	}
out:
	pthread_mutex_unlock(&lock);
	inside = false;
	errno = saved;
	return fail;
}

#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (real_##name == NULL) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

#define RET __builtin_return_address(0)

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	REAL(open);
	if (should_fail("open", RET, -1))
		return -1;
	return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	REAL(open64);
	if (should_fail("open", RET, -1))
		return -1;
	return real_open64(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	REAL(openat);
	if (should_fail("open", RET, -1))
		return -1;
	return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	REAL(openat64);
	if (should_fail("open", RET, -1))
		return -1;
	return real_openat64(dirfd, path, flags, mode);
}

ssize_t write(int fd, const void *data, size_t len)
{
	REAL(write);
	if (should_fail("write", RET, fd))
		return -1;
	return real_write(fd, data, len);
}

ssize_t pwrite(int fd, const void *data, size_t len, off_t off)
{
	REAL(pwrite);
	if (should_fail("pwrite", RET, fd))
		return -1;
	return real_pwrite(fd, data, len, off);
}

ssize_t pwrite64(int fd, const void *data, size_t len, off64_t off)
{
	REAL(pwrite64);
	if (should_fail("pwrite", RET, fd))
		return -1;
	return real_pwrite64(fd, data, len, off);
}

int fsync(int fd)
{
	REAL(fsync);
	if (should_fail("fsync", RET, fd))
		return -1;
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	REAL(fdatasync);
	if (should_fail("fdatasync", RET, fd))
		return -1;
	return real_fdatasync(fd);
}

int syncfs(int fd)
{
	REAL(syncfs);
	if (should_fail("syncfs", RET, fd))
		return -1;
	return real_syncfs(fd);
}

int ftruncate(int fd, off_t len)
{
	REAL(ftruncate);
	if (should_fail("ftruncate", RET, fd))
		return -1;
	return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
	REAL(ftruncate64);
	if (should_fail("ftruncate", RET, fd))
		return -1;
	return real_ftruncate64(fd, len);
}

int rename(const char *from, const char *to)
{
	REAL(rename);
	if (should_fail("rename", RET, -1))
		return -1;
	return real_rename(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to)
{
	REAL(renameat);
	if (should_fail("rename", RET, -1))
		return -1;
	return real_renameat(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags)
{
	REAL(renameat2);
	if (should_fail("rename", RET, -1))
		return -1;
	return real_renameat2(fromfd, from, tofd, to, flags);
}

int link(const char *from, const char *to)
{
	REAL(link);
	if (should_fail("link", RET, -1))
		return -1;
	return real_link(from, to);
}

int linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
	REAL(linkat);
	if (should_fail("link", RET, -1))
		return -1;
	return real_linkat(fromfd, from, tofd, to, flags);
}

int unlink(const char *path)
{
	REAL(unlink);
	if (should_fail("unlink", RET, -1))
		return -1;
	return real_unlink(path);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	REAL(unlinkat);
	if (should_fail("unlink", RET, -1))
		return -1;
	return real_unlinkat(dirfd, path, flags);
}

int mkdir(const char *path, mode_t mode)
{
	REAL(mkdir);
	if (should_fail("mkdir", RET, -1))
		return -1;
	return real_mkdir(path, mode);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
	REAL(mkdirat);
	if (should_fail("mkdir", RET, -1))
		return -1;
	return real_mkdirat(dirfd, path, mode);
}
