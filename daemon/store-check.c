/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "store-check.h"

extern char **environ;

struct store_check {
	sd_event_source *io;
	pid_t pid;
	char buf[512];
	size_t len;
	store_check_done_t done;
	void *userdata;
};

int store_check_main(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, ret = 2;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(db, 10000);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *res = (const char *)sqlite3_column_text(st, 0);

		ret = res && strcmp(res, "ok") == 0 ? 0 : 1;
		printf("%s\n", res ? res : "?");
	} else {
		/* A corrupt file often fails the statement itself. */
		ret = rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? 1 : 2;
		printf("%s\n", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	fflush(stdout);
	return ret;
}

static void reap(struct store_check *c, int *ret_status)
{
	int status = 0;

	if (c->pid <= 0)
		return;
	/* The pipe is closed: the child is exiting; this does not wait long. */
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = 0;
	if (ret_status)
		*ret_status = status;
}

static int on_output(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	struct store_check *c = userdata;
	ssize_t n = 0;
	int status = 0, result;

	if (c->len + 1 < sizeof(c->buf)) {
		n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n > 0) {
			c->len += (size_t)n;
			return 0;
		}
	} else {
		char sink[256];

		n = read(fd, sink, sizeof(sink));
		if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
			return 0;
	}
	/* EOF (or a read error): the verdict is in. */
	c->io = sd_event_source_disable_unref(c->io);
	reap(c, &status);
	while (c->len > 0 && c->buf[c->len - 1] == '\n')
		c->len--;
	c->buf[c->len] = '\0';
	for (char *p = c->buf; *p; p++)
		if (*p == '\n')
			*p = ' '; /* one line for the log and /healthz */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		result = 1;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
		result = 0;
	else
		result = -EIO;
	c->done(result, c->len ? c->buf : "no answer from the check", c->userdata);
	return 0;
}

int store_check_start(sd_event *event, const char *path, store_check_done_t done, void *userdata,
		      struct store_check **ret)
{
	struct store_check *c;
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)"cardiod", (char *)"--integrity-check", (char *)path, NULL };
	int fds[2], r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->done = done;
	c->userdata = userdata;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(c);
		return -errno;
	}
	r = posix_spawn_file_actions_init(&fa);
	if (r == 0) {
		posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
		r = posix_spawn(&c->pid, "/proc/self/exe", &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(fds[1]);
	if (r != 0) {
		close(fds[0]);
		free(c);
		return -r;
	}
	r = sd_event_add_io(event, &c->io, fds[0], EPOLLIN, on_output, c);
	if (r < 0) {
		close(fds[0]);
		kill(c->pid, SIGTERM);
		reap(c, NULL);
		free(c);
		return r;
	}
	sd_event_source_set_io_fd_own(c->io, true);
	sd_event_source_set_description(c->io, "store-check");
	*ret = c;
	return 0;
}

struct store_check *store_check_free(struct store_check *c)
{
	if (!c)
		return NULL;
	c->io = sd_event_source_disable_unref(c->io);
	if (c->pid > 0) {
		kill(c->pid, SIGTERM);
		reap(c, NULL);
	}
	free(c);
	return NULL;
}
