/*
 * log.h — log lines on stderr: "IDENT: message", one write(2) per line so the
 * lines of several threads never interleave.
 *
 * When stderr is the journal ($JOURNAL_STREAM holds fd 2's "device:inode", as
 * systemd sets it) each line starts with its syslog priority, "<3>" error,
 * "<4>" warning, "<6>" info, which journald strips and records, so
 * `journalctl -p warning -u byold` works.
 */
#ifndef BYOL_LOG_H
#define BYOL_LOG_H

/* Set the identifier (kept, not copied) and detect the journal; call once at start-up. */
void log_init(const char *ident);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
