/*
 * latfs: a passthrough FUSE file system that behaves like remote storage, for the lab
 * (tests/lab/latency-pools mounts one per profile; tests/lab/README.md gives the profiles and sources).
 *
 *   latfs BACKING MOUNTPOINT -o meta_us=N,data_us=N,mbps=N,slots=N[,fuse options]
 *
 * Every request the kernel sends costs time, as an RPC to a file server would:
 *   - a metadata request (lookup/getattr, open, create, mkdir, rename, unlink, setattr, readdir,
 *     statfs, a flush of a written file, fsync) sleeps meta_us;
 *   - a data request (read, write) takes max(data_us, bytes / per-stream rate): each open file
 *     handle (one stream's file) has its own clock that admits mbps MB/s (10^6 bytes); requests on
 *     one handle queue behind each other, requests on different handles run in parallel;
 *   - at most `slots` requests are in their latency at once (the server's RPC slots or threads),
 *     others wait for a slot.
 * Writes go through the kernel's page cache (-o writeback=1, the default): small ones are sent
 * together, and all are sent by the time close() returns.
 * Nothing costs CPU while it waits: the daemon is multi-threaded (libfuse's thread pool, -o
 * max_threads), so parallel streams really overlap their latencies.
 *
 * The daemon runs as root over BACKING and does each request with the caller's credentials
 * (mount it with -o allow_other, without default_permissions).
 * SIGUSR1 prints per-operation counters to stderr.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <semaphore.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct options {
	unsigned meta_us;
	unsigned data_us;
	unsigned mbps;
	unsigned slots;
	unsigned writeback;
};
static struct options opt = {500, 500, 0, 0, 1};
static int backing = -1;  /* the backing folder, opened before the mount */
static sem_t slots;

#define OPT(t, p) {t, offsetof(struct options, p), 1}
static const struct fuse_opt option_spec[] = {
	OPT("meta_us=%u", meta_us), OPT("data_us=%u", data_us), OPT("mbps=%u", mbps), OPT("slots=%u", slots),
	OPT("writeback=%u", writeback), FUSE_OPT_END};

/* -- counters (SIGUSR1) ---------------------------------------------------------------------- */

enum op { OP_GETATTR, OP_READLINK, OP_MKNOD, OP_MKDIR, OP_UNLINK, OP_RMDIR, OP_SYMLINK, OP_RENAME, OP_LINK,
	  OP_CHMOD, OP_CHOWN, OP_TRUNCATE, OP_OPEN, OP_CREATE, OP_READ, OP_WRITE, OP_STATFS, OP_FLUSH, OP_FSYNC,
	  OP_OPENDIR, OP_READDIR, OP_ACCESS, OP_UTIMENS, OP_REPLY_GETATTR, OP_WB_TIMES, OP_N };
static const char *op_names[OP_N] = {"getattr", "readlink", "mknod", "mkdir", "unlink", "rmdir",
	"symlink", "rename", "link", "chmod", "chown", "truncate", "open", "create", "read", "write",
	"statfs", "flush", "fsync", "opendir", "readdir", "access", "utimens", "getattr_in_reply", "mtime_writeback"};
static uint64_t op_count[OP_N];
static uint64_t bytes_read, bytes_written;

static void *stats_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;
	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		fprintf(stderr, "latfs stats:");
		for (int i = 0; i < OP_N; i++)
			fprintf(stderr, " %s=%llu", op_names[i],
				(unsigned long long)__atomic_load_n(&op_count[i], __ATOMIC_RELAXED));
		fprintf(stderr, " bytes_read=%llu bytes_written=%llu\n",
			(unsigned long long)__atomic_load_n(&bytes_read, __ATOMIC_RELAXED),
			(unsigned long long)__atomic_load_n(&bytes_written, __ATOMIC_RELAXED));
	}
	return NULL;
}

/* -- time ---------------------------------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = {t / 1000000000, t % 1000000000};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* one request's latency, inside a server slot */
static void latency(unsigned us)
{
	if (!us)
		return;
	if (opt.slots)
		while (sem_wait(&slots) == EINTR)
			;
	sleep_until(now_ns() + (int64_t)us * 1000);
	if (opt.slots)
		sem_post(&slots);
}

static void as_caller(void);

static __thread int replied;

static void meta(enum op o)
{
	replied = 0;
	as_caller();
	__atomic_add_fetch(&op_count[o], 1, __ATOMIC_RELAXED);
	latency(opt.meta_us);
}

/* -- open files: a descriptor and the stream's clock --------------------------------------------- */

struct handle {
	int fd;
	int wrote;
	pthread_mutex_t mu;
	int64_t next;  /* when this handle's stream is free again */
};

static struct handle *handle_of(struct fuse_file_info *fi) { return (struct handle *)(uintptr_t)fi->fh; }

static int new_handle(int fd, struct fuse_file_info *fi)
{
	struct handle *h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	pthread_mutex_init(&h->mu, NULL);
	fi->fh = (uintptr_t)h;
	return 0;
}

#define SLACK_NS 20000000  /* 20 ms */

/* a data request of n bytes on h: max(data latency, its turn on the stream at mbps) */
static void data(enum op o, struct handle *h, size_t n)
{
	__atomic_add_fetch(&op_count[o], 1, __ATOMIC_RELAXED);
	int64_t start = now_ns(), done = start;
	if (opt.mbps) {
		pthread_mutex_lock(&h->mu);
		/* a stream that paused (the kernel or rsync between two requests) may catch up, by at
		 * most SLACK_NS: over time it never goes faster than mbps */
		int64_t begin = h->next > start - SLACK_NS ? h->next : start - SLACK_NS;
		done = begin + (int64_t)n * 1000 / opt.mbps;  /* n bytes at mbps * 10^6 B/s, in ns */
		h->next = done;
		pthread_mutex_unlock(&h->mu);
	}
	latency(opt.data_us);
	sleep_until(done);
}

/* -- paths --------------------------------------------------------------------------------- */

static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

/* -- the caller's credentials ----------------------------------------------------------------
 * Each request runs with the caller's file-system uid, gid and groups (set per thread with raw
 * syscalls: glibc's setgroups would change every thread). The kernel then checks permissions on
 * BACKING as for the caller, and what the caller creates is theirs, without -o default_permissions
 * (which makes the kernel fetch attributes again after every change, requests a real client
 * does not send). */

#define MAX_USERS 32
#define MAX_GROUPS 64
static struct user {
	uid_t uid;
	int n;
	gid_t groups[MAX_GROUPS];
} users[MAX_USERS];
static int n_users;
static pthread_mutex_t users_mu = PTHREAD_MUTEX_INITIALIZER;

static const struct user *user_of(uid_t uid, gid_t gid)
{
	pthread_mutex_lock(&users_mu);
	for (int i = 0; i < n_users; i++)
		if (users[i].uid == uid) {
			pthread_mutex_unlock(&users_mu);
			return &users[i];
		}
	static struct user none;
	struct user *u = n_users < MAX_USERS ? &users[n_users] : &none;
	u->uid = uid;
	u->n = 1;
	u->groups[0] = gid;
	struct passwd pw, *found = NULL;
	char buf[4096];
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found) {
		int n = MAX_GROUPS;
		if (getgrouplist(pw.pw_name, pw.pw_gid, u->groups, &n) >= 0)
			u->n = n;
	}
	if (u != &none)
		n_users++;
	pthread_mutex_unlock(&users_mu);
	return u;
}

static void as_caller(void)
{
	struct fuse_context *c = fuse_get_context();
	const struct user *u = user_of(c->uid, c->gid);
	syscall(SYS_setgroups, u->n, u->groups);
	syscall(SYS_setfsgid, c->gid);
	syscall(SYS_setfsuid, c->uid);
}

#define RET(x) return (x) == -1 ? -errno : 0
#define RETR(x) return reply((x) == -1 ? -errno : 0)

/* -- operations ---------------------------------------------------------------------------- */

static void *lat_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->use_ino = 1;
	/* rsync writes 256 KiB at a time: one request each, as one RPC of a real client's write-back */
	conn->max_write = 1 << 20;
	/* readdirplus: a listing returns attributes too (NFS READDIRPLUS, Lustre statahead) */
	if (conn->capable & FUSE_CAP_READDIRPLUS) {
		conn->want |= FUSE_CAP_READDIRPLUS;
		conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	}
	/* reads (read-ahead) and write-back are both background requests: let enough of them reach the
	 * daemon at once that a stream's reads do not queue behind another file's writes in the kernel */
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	/* write-back: small writes wait in the page cache and go out together, at the latest when the
	 * file is closed (NFS and Lustre clients cache writes too); a log appended line by line costs
	 * a request per page, not per line */
	if (opt.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		opt.writeback = 0;
	return NULL;
}

/* libfuse's high-level layer answers a create, mkdir, mknod, symlink, link or setattr with the
 * attributes it reads through getattr right after, on the same thread: that getattr is part of the
 * same request (one round trip), so it is free. */
static int reply(int r)
{
	replied = r == 0;
	return r;
}

static int lat_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (replied) {
		replied = 0;
		__atomic_add_fetch(&op_count[OP_REPLY_GETATTR], 1, __ATOMIC_RELAXED);
	} else {
		meta(OP_GETATTR);
	}
	if (fi)
		RET(fstat(handle_of(fi)->fd, st));
	RET(fstatat(backing, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

static int lat_access(const char *path, int mask)
{
	meta(OP_ACCESS);
	RET(faccessat(backing, rel(path), mask, 0));
}

static int lat_readlink(const char *path, char *buf, size_t size)
{
	meta(OP_READLINK);
	ssize_t n = readlinkat(backing, rel(path), buf, size - 1);
	if (n == -1)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int lat_mknod(const char *path, mode_t mode, dev_t rdev)
{
	meta(OP_MKNOD);
	if (mknodat(backing, rel(path), mode, rdev) == -1)
		return -errno;
	return reply(0);
}

static int lat_mkdir(const char *path, mode_t mode)
{
	meta(OP_MKDIR);
	if (mkdirat(backing, rel(path), mode) == -1)
		return -errno;
	return reply(0);
}

static int lat_unlink(const char *path)
{
	meta(OP_UNLINK);
	RET(unlinkat(backing, rel(path), 0));
}

static int lat_rmdir(const char *path)
{
	meta(OP_RMDIR);
	RET(unlinkat(backing, rel(path), AT_REMOVEDIR));
}

static int lat_symlink(const char *target, const char *path)
{
	meta(OP_SYMLINK);
	if (symlinkat(target, backing, rel(path)) == -1)
		return -errno;
	return reply(0);
}

static int lat_rename(const char *from, const char *to, unsigned int flags)
{
	meta(OP_RENAME);
	RET(renameat2(backing, rel(from), backing, rel(to), flags));
}

static int lat_link(const char *from, const char *to)
{
	meta(OP_LINK);
	RETR(linkat(backing, rel(from), backing, rel(to), 0));
}

static int lat_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	meta(OP_CHMOD);
	if (fi)
		RETR(fchmod(handle_of(fi)->fd, mode));
	RETR(fchmodat(backing, rel(path), mode, 0));
}

static int lat_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	meta(OP_CHOWN);
	if (fi)
		RETR(fchown(handle_of(fi)->fd, uid, gid));
	RETR(fchownat(backing, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

static int lat_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	meta(OP_TRUNCATE);
	if (fi)
		RETR(ftruncate(handle_of(fi)->fd, size));
	int fd = openat(backing, rel(path), O_WRONLY);
	if (fd == -1)
		return -errno;
	int r = ftruncate(fd, size) == -1 ? -errno : 0;
	close(fd);
	return reply(r);
}

static int lat_utimens(const char *path, const struct timespec ts[2], struct fuse_file_info *fi)
{
	if (opt.writeback && ts && ts[0].tv_nsec == UTIME_OMIT) {
		/* the kernel writing back the mtime its cached writes made: part of the writes (a file
		 * server sets it itself), not a request of the program's */
		replied = 0;
		as_caller();
		__atomic_add_fetch(&op_count[OP_WB_TIMES], 1, __ATOMIC_RELAXED);
	} else {
		meta(OP_UTIMENS);
	}
	if (fi)
		RETR(futimens(handle_of(fi)->fd, ts));
	RETR(utimensat(backing, rel(path), ts, AT_SYMLINK_NOFOLLOW));
}

/* With write-back the kernel may read a page to complete it, also through a write-only handle, and it
 * places appends itself: open read-write (unless the caller may only write) and without O_APPEND. */
static int open_backing(const char *path, int flags, mode_t mode)
{
	flags &= ~O_NOFOLLOW;
	if (!opt.writeback)
		return openat(backing, rel(path), flags, mode);
	int wb = flags & ~O_APPEND;
	if ((wb & O_ACCMODE) == O_WRONLY)
		wb = (wb & ~O_ACCMODE) | O_RDWR;
	int fd = openat(backing, rel(path), wb, mode);
	if (fd == -1 && errno == EACCES && wb != (flags & ~O_APPEND))
		fd = openat(backing, rel(path), flags & ~O_APPEND, mode);
	return fd;
}

static int lat_open(const char *path, struct fuse_file_info *fi)
{
	meta(OP_OPEN);
	int fd = open_backing(path, fi->flags, 0);
	if (fd == -1)
		return -errno;
	return new_handle(fd, fi);
}

static int lat_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	meta(OP_CREATE);
	int fd = open_backing(path, fi->flags | O_CREAT, mode);
	if (fd == -1)
		return -errno;
	return reply(new_handle(fd, fi));
}

static int lat_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	struct handle *h = handle_of(fi);
	ssize_t n = pread(h->fd, buf, size, off);
	if (n == -1)
		return -errno;
	__atomic_add_fetch(&bytes_read, (uint64_t)n, __ATOMIC_RELAXED);
	data(OP_READ, h, (size_t)n);
	return (int)n;
}

static int lat_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	struct handle *h = handle_of(fi);
	ssize_t n = pwrite(h->fd, buf, size, off);
	if (n == -1)
		return -errno;
	h->wrote = 1;
	__atomic_add_fetch(&bytes_written, (uint64_t)n, __ATOMIC_RELAXED);
	data(OP_WRITE, h, (size_t)n);
	return (int)n;
}

static int lat_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	meta(OP_STATFS);
	RET(fstatvfs(backing, st));
}

/* close(): a written file is committed to the server (NFS close-to-open); a read one costs nothing */
static int lat_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	if (handle_of(fi)->wrote)
		meta(OP_FLUSH);
	return 0;
}

static int lat_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	struct handle *h = handle_of(fi);
	close(h->fd);
	pthread_mutex_destroy(&h->mu);
	free(h);
	return 0;
}

static int lat_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	meta(OP_FSYNC);
	RET(datasync ? fdatasync(handle_of(fi)->fd) : fsync(handle_of(fi)->fd));
}

struct dir {
	DIR *dp;
	struct dirent *entry;
	off_t offset;
};

static struct dir *dir_of(struct fuse_file_info *fi) { return (struct dir *)(uintptr_t)fi->fh; }

static int lat_opendir(const char *path, struct fuse_file_info *fi)
{
	meta(OP_OPENDIR);
	struct dir *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	int fd = openat(backing, rel(path), O_RDONLY | O_DIRECTORY);
	if (fd == -1 || !(d->dp = fdopendir(fd))) {
		int e = errno;
		if (fd != -1)
			close(fd);
		free(d);
		return -e;
	}
	fi->fh = (uintptr_t)d;
	return 0;
}

/* one call per kernel READDIR(PLUS) request, i.e. one round trip per buffer of entries */
static int lat_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)path;
	meta(OP_READDIR);
	struct dir *d = dir_of(fi);
	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		if (!d->entry) {
			d->entry = readdir(d->dp);
			if (!d->entry)
				break;
		}
		struct stat st;
		enum fuse_fill_dir_flags fill = 0;
		memset(&st, 0, sizeof(st));
		if ((flags & FUSE_READDIR_PLUS) &&
		    fstatat(dirfd(d->dp), d->entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			fill = FUSE_FILL_DIR_PLUS;
		} else {
			st.st_ino = d->entry->d_ino;
			st.st_mode = (mode_t)d->entry->d_type << 12;
		}
		off_t next = telldir(d->dp);
		if (filler(buf, d->entry->d_name, &st, next, fill))
			break;
		d->entry = NULL;
		d->offset = next;
	}
	return 0;
}

static int lat_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	struct dir *d = dir_of(fi);
	closedir(d->dp);
	free(d);
	return 0;
}

static const struct fuse_operations ops = {
	.init = lat_init,
	.getattr = lat_getattr,
	.access = lat_access,
	.readlink = lat_readlink,
	.mknod = lat_mknod,
	.mkdir = lat_mkdir,
	.unlink = lat_unlink,
	.rmdir = lat_rmdir,
	.symlink = lat_symlink,
	.rename = lat_rename,
	.link = lat_link,
	.chmod = lat_chmod,
	.chown = lat_chown,
	.truncate = lat_truncate,
	.utimens = lat_utimens,
	.open = lat_open,
	.create = lat_create,
	.read = lat_read,
	.write = lat_write,
	.statfs = lat_statfs,
	.flush = lat_flush,
	.release = lat_release,
	.fsync = lat_fsync,
	.opendir = lat_opendir,
	.readdir = lat_readdir,
	.releasedir = lat_releasedir,
};

int main(int argc, char *argv[])
{
	if (argc < 3 || argv[1][0] != '/') {
		fprintf(stderr, "usage: %s BACKING MOUNTPOINT -o meta_us=N,data_us=N,mbps=N,slots=N[,...]\n", argv[0]);
		return 2;
	}
	backing = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (backing == -1) {
		perror(argv[1]);
		return 1;
	}
	/* drop BACKING from the arguments libfuse sees */
	for (int i = 1; i < argc - 1; i++)
		argv[i] = argv[i + 1];
	argc--;
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	if (fuse_opt_parse(&args, &opt, option_spec, NULL) == -1)
		return 2;
	if (opt.slots && sem_init(&slots, 0, opt.slots) == -1) {
		perror("sem_init");
		return 1;
	}
	static sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);  /* every libfuse thread inherits the mask */
	pthread_t t;
	pthread_create(&t, NULL, stats_thread, &set);
	umask(0);
	int r = fuse_main(args.argc, args.argv, &ops, NULL);
	fuse_opt_free_args(&args);
	return r;
}
