/* notify.c — sd_notify, the watchdog interval and socket activation without libsystemd (see notify.h). */
#include "server/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_FDS_START 3 /* SD_LISTEN_FDS_START */
#define LISTEN_FDS_MAX 16  /* more than byold could use */

int notify_systemd(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (!path || !*path)
		return 0;
	size_t len = strlen(path);
	if (len >= sizeof addr.sun_path)
		return -1;
	memcpy(addr.sun_path, path, len);
	if (addr.sun_path[0] == '@') /* abstract namespace */
		addr.sun_path[0] = 0;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	ssize_t n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&addr,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
	return n == (ssize_t)strlen(msg) ? 0 : -1;
}

/* A non-negative decimal environment variable, or -1 if unset or malformed. */
static long long env_number(const char *name)
{
	const char *v = getenv(name);
	char *end;
	if (!v || !*v)
		return -1;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	return *end || errno || n < 0 ? -1 : n;
}

uint64_t notify_watchdog_usec(void)
{
	if (getenv("WATCHDOG_PID") && env_number("WATCHDOG_PID") != (long long)getpid())
		return 0; /* meant for another process */
	long long usec = env_number("WATCHDOG_USEC");
	return usec > 0 ? (uint64_t)usec : 0;
}

/* The address family of a stream socket, or -1 if fd is not one. */
static int stream_family(int fd)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof addr, type_len = sizeof(int);
	int type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
		return -1;
	return addr.ss_family;
}

void notify_listen_fds(int *unix_fd, int *tcp_fd)
{
	long long pid = env_number("LISTEN_PID"), n = env_number("LISTEN_FDS");
	*unix_fd = *tcp_fd = -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (pid != (long long)getpid() || n < 1)
		return;
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n && fd < LISTEN_FDS_START + LISTEN_FDS_MAX;
	     fd++) {
		int family = stream_family(fd);
		if (family < 0)
			continue;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (family == AF_UNIX && *unix_fd < 0)
			*unix_fd = fd;
		else if ((family == AF_INET || family == AF_INET6) && *tcp_fd < 0)
			*tcp_fd = fd;
	}
}
