/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "token.h"


static int token_generate(char ret[static CD_HTTP_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[CD_HTTP_TOKEN_BYTES];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		ret[2 * i] = hex[raw[i] >> 4];
		ret[2 * i + 1] = hex[raw[i] & 15];
	}
	ret[CD_HTTP_TOKEN_LEN] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

/* Group group, when it exists and is not the file's already; failure is no error. */
static void token_chgrp(int fd, const char *path, const char *group)
{
	struct group grp, *g = NULL;
	char buf[4096];
	struct stat st;

	if (getgrnam_r(group, &grp, buf, sizeof(buf), &g) != 0 || !g)
		return;
	if (fstat(fd, &st) == 0 && st.st_gid == g->gr_gid)
		return;
	if (fchown(fd, (uid_t)-1, g->gr_gid) < 0)
		log_debug_errno(errno, "Cannot give %s to group %s: %m", path, group);
}

static int token_write(const char *path, const char *group, const char *token)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t len = strlen(token);
	char line[CD_HTTP_TOKEN_LEN + 2];
	int r = 0;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0)
		return -errno;
	memcpy(line, token, len);
	line[len] = '\n';
	token_chgrp(fd, path, group);
	if (fchmod(fd, 0640) < 0 || write(fd, line, len + 1) != (ssize_t)(len + 1))
		r = errno ? -errno : -EIO;
	explicit_bzero(line, sizeof(line));
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

int cd_token_setup(const char *path, const char *group, char ret[static CD_HTTP_TOKEN_LEN + 1])
{
	int r;

	ret[0] = '\0';
	r = token_generate(ret);
	if (r < 0)
		return log_error_errno(r, "Cannot make the API token (getrandom): %m; requests "
					  "that need it will be refused.");
	errno = 0;
	r = token_write(path, group ? group : "cardiod", ret);
	if (r < 0) {
		explicit_bzero(ret, CD_HTTP_TOKEN_LEN + 1);
		return log_warning_errno(r, "Cannot write the API token to %s: %m. Every POST "
					    "(and, with read_access = token, every read) will be "
					    "refused; set [http] token_file (--token-file) to a "
					    "writable place.",
					 path);
	}
	log_info("API token written to %s.", path);
	return 0;
}
