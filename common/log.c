/* log.c — log lines on stderr, with journald priority prefixes under systemd (see log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *log_ident;
static int log_journal; /* stderr is the journal: prefix "<priority>" */

/* $JOURNAL_STREAM is "dev:ino" of the stream systemd connected; it must still be fd 2
   (a child whose stderr was redirected inherits the variable). */
static int stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!v || sscanf(v, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *ident)
{
	log_ident = ident;
	log_journal = stderr_is_journal();
}

static void log_line(int priority, const char *fmt, va_list ap)
{
	char line[4096];
	size_t n = 0;
	if (log_journal)
		n += (size_t)snprintf(line, sizeof line, "<%d>", priority);
	if (log_ident)
		n += (size_t)snprintf(line + n, sizeof line - n, "%s: ", log_ident);
	int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	n = m < 0 ? n : n + (size_t)m < sizeof line - 1 ? n + (size_t)m : sizeof line - 2;
	line[n++] = '\n';
	for (size_t off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

#define LOG_FN(name, priority)                  \
	void name(const char *fmt, ...)         \
	{                                       \
		va_list ap;                     \
		va_start(ap, fmt);              \
		log_line(priority, fmt, ap);    \
		va_end(ap);                     \
	}

LOG_FN(log_error, 3)
LOG_FN(log_warn, 4)
LOG_FN(log_info, 6)
