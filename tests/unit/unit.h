/*
 * unit.h: the whole unit-test framework.  Each case prints one TAP line,
 * `ok - name` or `not ok - name: why`; tests/run.sh counts them.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int unit_failed, unit_total;

#define UNIT_CHECK(cond, name, ...) do {					\
	unit_total++;								\
	if (cond) {								\
		printf("ok - %s\n", (name));					\
	} else {								\
		unit_failed++;							\
		printf("not ok - %s: ", (name));				\
		printf(__VA_ARGS__);						\
		printf(" (%s:%d)\n", __FILE__, __LINE__);			\
	}									\
} while (0)

#define UNIT_DONE() (fflush(stdout), unit_failed ? 1 : 0)

/*
 * Errors (conf_error, the log) go to stderr: a test points fd 2 at a
 * temporary file between unit_capture_start() and unit_capture_end(), which
 * returns what was written, without log.c's "YYYY-MM-DD HH:MM:SS " prefixes.
 */
static FILE	*unit_capture_file;
static int	 unit_saved_stderr = -1;

__attribute__((unused)) static void
unit_capture_start(void)
{
	fflush(stderr);
	if (unit_capture_file == NULL && (unit_capture_file = tmpfile()) == NULL) {
		perror("tmpfile");
		exit(2);
	}
	if (ftruncate(fileno(unit_capture_file), 0) == -1) {
		perror("ftruncate");
		exit(2);
	}
	rewind(unit_capture_file);
	unit_saved_stderr = dup(2);
	dup2(fileno(unit_capture_file), 2);
}

__attribute__((unused)) static char *
unit_capture_end(void)
{
	static char	 out[16384];
	char		 line[2048];
	size_t		 len = 0, n;

	fflush(stderr);
	dup2(unit_saved_stderr, 2);
	close(unit_saved_stderr);
	rewind(unit_capture_file);
	out[0] = '\0';
	while (fgets(line, sizeof(line), unit_capture_file) != NULL) {
		const char *p = strlen(line) > 20 && line[4] == '-' &&
		    line[13] == ':' ? line + 20 : line;

		n = strlen(p);
		if (len + n + 1 > sizeof(out))
			break;
		memcpy(out + len, p, n + 1);
		len += n;
	}
	return out;
}

#ifdef ITSMD_H
/*
 * Parses and builds `text` as file "t.conf"; what that said on stderr (the
 * conf errors, file:line:col) lands in *errors.
 */
__attribute__((unused)) static struct config *
unit_conf_load(const char *text, char **errors)
{
	struct conf_err		 err = { 0 };
	struct conf_tree	*tree;
	struct config		*cfg = NULL;

	unit_capture_start();
	if ((tree = conf_parse_string("t.conf", text, &err)) != NULL)
		cfg = conf_build(tree, &err);
	*errors = unit_capture_end();
	if ((cfg == NULL) != (err.count > 0))
		UNIT_CHECK(0, "conf: a config is built exactly when no error was reported",
		    "cfg %p with %d errors", (void *)cfg, err.count);
	return cfg;
}
#endif

#endif
