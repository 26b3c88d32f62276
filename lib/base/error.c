/*
 * error.c — return-code names and the per-thread failure detail behind iodb_errmsg().
 *
 * Each thread has its own message buffer, so concurrent callers never see each other's
 * detail. A message is overwritten by the thread's next failure; successful calls do not
 * clear it (as errno), so iodb_errmsg() is meaningful only right after a failure. Failures
 * met and handled inside a call also write it, so a public call that can meet one keeps
 * the caller's message with err_keep/err_kept.
 */
#include <errno.h>
#include <stdio.h>

#include "lib/base/base.h"

static __thread char errmsg_buf[1024];

const char *iodb_strerror(int rc)
{
	switch (rc) {
	case IODB_OK:
		return "ok";
	case IODB_NOTFOUND:
		return "not found";
	case IODB_EINVAL:
		return "invalid argument";
	case IODB_EEXIST:
		return "version ID already in use";
	case IODB_ECORRUPT:
		return "corrupt data on disk";
	case IODB_EIO:
		return "I/O error";
	case IODB_ENOMEM:
		return "out of memory";
	case IODB_EBUSY:
		return "store is busy (open elsewhere)";
	case IODB_EPROOF:
		return "proof does not verify";
	case IODB_ECANCELED:
		return "stopped by the callback";
	default:
		return "unknown error code";
	}
}

const char *iodb_errmsg(void)
{
	return errmsg_buf;
}

void err_clear(void)
{
	errmsg_buf[0] = '\0';
}

int err_canceled(const char *fn, int value)
{
	return err_set(IODB_ECANCELED, "%s: stopped by the callback (it returned %d)", fn, value);
}

void err_keep(struct err_saved *s)
{
	snprintf(s->msg, sizeof(s->msg), "%s", errmsg_buf);
}

int err_kept(const struct err_saved *s, int rc)
{
	if (rc == 0)
		snprintf(errmsg_buf, sizeof(errmsg_buf), "%s", s->msg);
	return rc;
}

int err_set(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg_buf, sizeof(errmsg_buf), fmt, ap);
	va_end(ap);
	return rc;
}

int err_corrupt_at(const char *src, int line, const char *path, uint64_t off, const char *fmt,
		   ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(errmsg_buf, sizeof(errmsg_buf), "%s: offset %llu: %s [%s:%d]",
		 path ? path : "?", (unsigned long long)off, what, src, line);
	return IODB_ECORRUPT;
}

int err_os(int e, const char *op, const char *path, uint64_t off)
{
	if (off == UINT64_MAX)
		snprintf(errmsg_buf, sizeof(errmsg_buf), "%s %s: %s", op, path, strerror(e));
	else
		snprintf(errmsg_buf, sizeof(errmsg_buf), "%s %s at offset %llu: %s", op, path,
			 (unsigned long long)off, strerror(e));
	return e == ENOMEM ? IODB_ENOMEM : IODB_EIO;
}
